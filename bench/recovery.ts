/**
 * Recovery time against log length and owner count: a shard host with its
 * write-ahead log on takes N events (500-event JSON batches, ~200 B each)
 * spread over M owners with no snapshot round, is abandoned as after kill -9,
 * and a new host replays the log. Reports the replay time, events/s and the
 * log size; the build phase is not timed.
 *
 *   npm run build && node dist/bench/recovery.js [--events 100000,500000] [--owners 100,10000]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ShardHost } from '../src/runtime/shard-host.js';
import type { ReplyMessage } from '../src/runtime/messages.js';
import { configWith } from '../src/server.js';
import { LmdbEventStore } from '../src/store/lmdb/event-store.js';
import { LmdbSnapshotStore } from '../src/store/lmdb/snapshot-store.js';


function list(argv: string[], name: string, fallback: number[]): number[] {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1]!.split(',').map(Number) : fallback;
}

async function one(events: number, owners: number): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-recovery-bench-'));
  const lmdb = { path: path.join(dir, 'lmdb'), noSync: true };
  const eventStore = new LmdbEventStore(lmdb);
  const snapshotStore = new LmdbSnapshotStore(lmdb);
  // Flushes are left to the replaying host; the builder never flushes, so nothing is in the store.
  const config = configWith({ dataDir: dir, walEnabled: true, flushPendingEventsMax: 100_000_000, flushBatchEventsMax: 10_000, allowedLatenessMs: 3_600_000 });
  const replies = new Map<number, ReplyMessage>();
  const port = { postMessage: (m: { t: string; id?: number }) => void (m.t === 'reply' && replies.set(m.id!, m as ReplyMessage)) };
  const builder = new ShardHost({ workerIndex: 0, config, eventStore, snapshotStore, port, walEpoch: 1 });
  await builder.recover();
  const now = Date.now();
  const padding = 'x'.repeat(120);
  let id = 0;
  // 500-event batches, fewer when there are many owners, so every owner gets some.
  const BATCH = Math.max(1, Math.min(500, Math.floor(events / owners)));
  const batches = Math.ceil(events / BATCH);
  for (let b = 0; b < batches; b++) {
    const owner = `owner-${b % owners}`;
    const body = JSON.stringify({
      events: Array.from({ length: BATCH }, (_, i) => ({ id: `e${b}-${i}`, name: `n${i % 20}`, timestamp: now, userId: `u${i % 1000}`, properties: { p: padding } })),
    });
    builder.handle({ t: 'ingest', id: ++id, shard: b % 1024, owner, body: Buffer.from(body), format: 'json', encoding: 'identity', ack: b === batches - 1 ? 'durable' : 'applied', receiptsAll: false, receivedAtMs: now, requestId: `r${b}` });
    if (b % 200 === 199) await new Promise((resolve) => setImmediate(resolve));
  }
  // The last batch is durable: once it is answered, the whole log is on disk. Then abandon the builder (kill -9).
  while (!replies.has(id)) await new Promise((resolve) => setTimeout(resolve, 5));
  const walBytes = dirBytes(path.join(dir, 'wal'));
  const replayer = new ShardHost({ workerIndex: 0, config, eventStore, snapshotStore, port, walEpoch: 2 });
  const started = performance.now();
  const report = await replayer.recover();
  const ms = performance.now() - started;
  await replayer.close(); // flushes what the replay queued for the store; not timed
  await eventStore.close();
  await snapshotStore.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { events, owners, logMiB: Math.round((walBytes / 1048576) * 10) / 10, replayMs: Math.round(ms), eventsPerS: Math.round((report.events / ms) * 1000), records: report.records };
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

const argv = process.argv.slice(2);
const rows = [];
for (const events of list(argv, '--events', [100_000, 500_000])) {
  for (const owners of list(argv, '--owners', [100, 10_000])) {
    const row = await one(events, owners);
    rows.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  }
}
process.stdout.write('\n| events | owners | log MiB | replay ms | events/s |\n|---:|---:|---:|---:|---:|\n');
for (const r of rows) process.stdout.write(`| ${r.events} | ${r.owners} | ${r.logMiB} | ${r.replayMs} | ${r.eventsPerS} |\n`);
