/**
 * LZ4 compression of event buckets, rollups and snapshots (src/store/lmdb/env.ts):
 * what it costs per write and read, and what it saves in LMDB pages, the two
 * sides in one process and interleaved round by round (plain, lz4, plain,
 * lz4, ...) so the ratio survives a noisy machine.
 *
 * The values are made by the real path: harness-shaped JSON batches of 10
 * events (20 users, Zipf names, 8 categories) decoded, validated and applied
 * to owner actors; the stored events, the owners' snapshot() and their closed
 * 1-s windows as rollups are what the store gets. Three event shapes, because
 * compression depends on them: `harness` (padded to ~200 bytes of JSON with
 * 'x', as `eventide bench --event-bytes 200` pads: compresses best), `plain`
 * (no padding), `random` (a 32-hex-character random token and a random
 * path in the properties: compresses least).
 *
 * Writes run with noSync, so the time is CPU (encoding, compressing, the
 * B-tree), not the disk. Compression runs inside the write transaction, on
 * the thread that writes (lmdb-js compresses synchronously there), so its
 * cost is in these times.
 *
 * Run: node dist/bench/store/compression.bench.js [rounds]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeBody } from '../../src/actors/decode.js';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import { DEFAULT_EVENT_LIMITS } from '../../src/actors/schema.js';
import { RESOLUTIONS, SEVERITIES, type OwnerSnapshot, type Resolution, type StoredEvent } from '../../src/actors/types.js';
import { createValidator } from '../../src/actors/validate.js';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';
import { LmdbSnapshotStore } from '../../src/store/lmdb/snapshot-store.js';
import type { Rollup } from '../../src/store/port.js';
import { defaults } from '../../config/defaults.js';
import { lmdbPageStats } from './lmdb-pages.js';

const ROUNDS = Number(process.argv[2] ?? 12);
/** Owners per round: each gives one 10-event batch, one snapshot and its closed windows as rollups. */
const OWNERS_PER_ROUND = 1_000;
const BATCH_EVENTS = 10;
const USERS_PER_OWNER = 20;
const EVENT_NAMES = 20;
const T0_MS = 1_700_000_000_000;
/** Reads per round and kind. */
const READS = 500;
type EventShape = 'harness' | 'plain' | 'random';
const SHAPES: readonly EventShape[] = ['harness', 'plain', 'random'];
/** 'x' characters that bring a harness event's JSON to ~200 bytes (src/bench/workload.ts padEvent). */
const HARNESS_PAD_CHARS = 24;

const OPTIONS: OwnerOptions = Object.freeze({
  resolutions: [...RESOLUTIONS] as Resolution[],
  allowedLatenessMs: defaults.allowedLatenessMs,
  dedupHorizonMs: defaults.dedupHorizonMs,
  dedupIdsMax: defaults.dedupIdsMax,
  hllPrecision: defaults.hllPrecision,
  namesPerWindowMax: defaults.namesPerWindowMax,
});
const validator = createValidator(DEFAULT_EVENT_LIMITS);

function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

function properties(shape: EventShape, next: (n: number) => number): Record<string, unknown> {
  const base = { plan: next(2) === 0 ? 'free' : 'pro', n: next(1000), ok: next(2) === 0 };
  if (shape === 'harness') return { ...base, pad: 'x'.repeat(HARNESS_PAD_CHARS) };
  if (shape === 'random') return { ...base, token: randomBytes(16).toString('hex'), path: `/p/${randomBytes(6).toString('base64url')}` };
  return base;
}

interface RoundData {
  events: StoredEvent[];
  snapshots: OwnerSnapshot[];
  rollups: Rollup[];
}

/** One round's values: every owner sends one batch at nowMs, then its 1-s window closes. */
function roundData(shape: EventShape, round: number): RoundData {
  const next = lcg(round + 1);
  const events: StoredEvent[] = [];
  const snapshots: OwnerSnapshot[] = [];
  const rollups: Rollup[] = [];
  const nowMs = T0_MS + round * 1_000;
  for (let o = 0; o < OWNERS_PER_ROUND; o++) {
    const owner = `bench-r1a2b3-o${round * OWNERS_PER_ROUND + o}`;
    const body = {
      events: Array.from({ length: BATCH_EVENTS }, (_, i) => ({
        id: `r1a2b3.${o % 32}.${String(round * 1e6 + o * 100 + i).padStart(12, '0')}-${String(i).padStart(4, '0')}`,
        name: `evt.${String(Math.min(next(EVENT_NAMES), next(EVENT_NAMES))).padStart(3, '0')}`,
        timestamp: nowMs,
        userId: `u${next(USERS_PER_OWNER)}`,
        category: `cat${next(8)}`,
        severity: SEVERITIES[next(SEVERITIES.length)],
        tags: ['bench', `t${next(16)}`],
        properties: properties(shape, next),
        value: next(10_000_000) / 100,
      })),
    };
    const decoded = decodeBody(Buffer.from(JSON.stringify(body)), 'json', 'identity', defaults);
    const batch = validator.validateBatch(decoded.events, { requestId: `req-${o}`, receivedAtMs: nowMs });
    const actor = new OwnerActor(owner, OPTIONS, nowMs);
    const sink: ApplySink = { shard: o % 1024, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 }, receipts: [], receiptsAll: false, stored: [] };
    actor.applyBatch(batch.records, batch.records.map((_, i) => i), nowMs, sink);
    events.push(...sink.stored);
    snapshots.push(actor.snapshot(nowMs));
    // The windows a later close would write as rollups: the owner's 1-s and 1-min windows, closed.
    for (const window of actor.snapshot(nowMs).windows) {
      if (window.resolution === '1s' || window.resolution === '1m') rollups.push({ ...window, open: false, owner });
    }
  }
  return { events, snapshots, rollups };
}

interface Side {
  label: 'plain' | 'lz4';
  dir: string;
  events: LmdbEventStore;
  snapshots: LmdbSnapshotStore;
  ns: Record<string, number[]>;
}

function openSide(root: string, label: Side['label']): Side {
  const dir = path.join(root, label);
  const compress = label === 'lz4';
  return { label, dir, events: new LmdbEventStore({ path: dir, noSync: true, compress }), snapshots: new LmdbSnapshotStore({ path: dir, noSync: true, compress }), ns: {} };
}

async function timed(side: Side, task: string, per: number, run: () => Promise<unknown>): Promise<void> {
  const started = process.hrtime.bigint();
  await run();
  (side.ns[task] ??= []).push(Number(process.hrtime.bigint() - started) / per);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measureShape(shape: EventShape, root: string): Promise<Array<Record<string, string | number>>> {
  const sides = [openSide(path.join(root, shape), 'plain'), openSide(path.join(root, shape), 'lz4')];
  const jsonBytes: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const data = roundData(shape, round);
    jsonBytes.push(JSON.stringify(data.events[0]!.event).length);
    // Alternate which side goes first, so neither always runs on a warmer cache.
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      await timed(side, 'writeEvents', data.events.length, () => side.events.writeEvents(data.events));
      await timed(side, 'putOwnerSnapshots', data.snapshots.length, () => side.snapshots.putOwnerSnapshots(0, data.snapshots));
      await timed(side, 'writeRollups', data.rollups.length, () => side.events.writeRollups(data.rollups));
      await timed(side, 'getEvent', READS, async () => {
        for (let i = 0; i < READS; i++) {
          const e = data.events[(i * 7919) % data.events.length]!;
          await side.events.getEvent(e.owner, e.event.id);
        }
      });
      await timed(side, 'getOwnerSnapshot', READS, async () => {
        for (let i = 0; i < READS; i++) await side.snapshots.getOwnerSnapshot(0, data.snapshots[(i * 7919) % data.snapshots.length]!.owner);
      });
      await timed(side, 'queryRollups', READS, async () => {
        for (let i = 0; i < READS; i++) {
          const r = data.rollups[(i * 7919) % data.rollups.length]!;
          await side.events.queryRollups({ owner: r.owner, resolution: r.resolution, fromMs: r.startMs, toMs: r.startMs + 60_000, limit: 10 });
        }
      });
    }
  }
  const rows: Array<Record<string, string | number>> = [];
  const pages = sides.map((side) => lmdbPageStats(side.dir, ['eventBuckets', 'rollups', 'snapshots']));
  for (const task of Object.keys(sides[0]!.ns)) {
    const [plain, lz4] = sides.map((side) => median(side.ns[task]!.slice(1))); // the first round warms up
    rows.push({ shape, task, 'plain ns/value': Math.round(plain!), 'lz4 ns/value': Math.round(lz4!), 'time lz4/plain': +(lz4! / plain!).toFixed(2) });
  }
  for (const name of ['eventBuckets', 'rollups', 'snapshots']) {
    const [plain, lz4] = pages.map((p) => p.dbs.find((d) => d.name === name)!);
    rows.push({ shape, task: `${name} pages (${plain!.entries} values)`, 'plain ns/value': plain!.bytes / 4096, 'lz4 ns/value': lz4!.bytes / 4096, 'time lz4/plain': +(lz4!.bytes / plain!.bytes).toFixed(2) });
  }
  console.log(`${shape}: an event is ${median(jsonBytes)} bytes of JSON`);
  await Promise.all(sides.flatMap((side) => [side.events.close(), side.snapshots.close()]));
  return rows;
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-bench-lz4-'));
try {
  console.log(`node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ${ROUNDS} rounds of ${OWNERS_PER_ROUND} owners x ${BATCH_EVENTS} events`);
  const rows = [];
  for (const shape of SHAPES) rows.push(...(await measureShape(shape, root)));
  console.table(rows);
  console.log('(page rows: the columns are pages, plain and lz4, and their ratio)');
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
