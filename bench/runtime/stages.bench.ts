/**
 * Where a shard worker's time per event goes on its hot path, by stage:
 * decode (the one-pass JSON reader), validate, apply (OwnerActor: dedup,
 * classification, windows), pack (LmdbEventStore.prepareEvents: the bucket
 * codec and id lists), for 500-event batches of harness-like events over 50
 * owners, one thread, after a warm-up. What it leaves out is what the
 * worker does besides (messages, the log, the store's writes, snapshots,
 * GC of other work): compare with the server's profile (bench/RESULTS.md).
 *
 * Run: node dist/bench/runtime/stages.bench.js [batches=4000]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeBody } from '../../src/actors/decode.js';
import { createValidator } from '../../src/actors/validate.js';
import { DEFAULT_EVENT_LIMITS } from '../../src/actors/schema.js';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';
import { defaults } from '../../config/defaults.js';

const T = Date.now();
const BATCH_EVENTS = 500;
const OWNERS = 50;
let seed = 7;
const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'];
const body = (b: number): Buffer =>
  Buffer.from(
    JSON.stringify({
      events: Array.from({ length: BATCH_EVENTS }, (_, i) => ({
        id: `r1a2b3.3.${String(1e11 + b * BATCH_EVENTS + i)}-${String(i).padStart(4, '0')}`,
        name: `event_${Math.floor(random() * 20)}`,
        timestamp: T + i,
        userId: `user-${Math.floor(random() * 1000)}`,
        category: `cat${Math.floor(random() * 8)}`,
        severity: SEVERITIES[Math.floor(random() * 6)],
        tags: ['bench', `t${Math.floor(random() * 16)}`],
        properties: { plan: random() < 0.5 ? 'free' : 'pro', n: Math.floor(random() * 1000), ok: random() < 0.5, pad: 'x'.repeat(20) },
        value: Math.round(random() * 100_000) / 100,
      })),
    }),
  );
// 200 bodies sent round robin, the clock 1 ms on per batch: with a dedup horizon of 100 ms an id is
// forgotten long before its body comes round again, so every event is new (applied, stored, packed).
const bodies = Array.from({ length: 200 }, (_, b) => body(b));
const validator = createValidator(DEFAULT_EVENT_LIMITS);
const options: OwnerOptions = { resolutions: ['1s', '1m', '1h', '1d'], allowedLatenessMs: 5_000, dedupHorizonMs: 100, dedupIdsMax: 100_000, hllPrecision: 12, namesPerWindowMax: 1_000 };
const actors = Array.from({ length: OWNERS }, (_, o) => new OwnerActor(`owner-${o}`, options, T));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-alloc-'));
const store = new LmdbEventStore({ path: dir });

const BATCHES = Number(process.argv[2] ?? 4_000);
const spent = { decode: 0n, validate: 0n, apply: 0n, pack: 0n };

function timed(k: number): void {
  const t0 = process.hrtime.bigint();
  const decoded = decodeBody(bodies[k % bodies.length]!, 'json', 'identity', defaults);
  const t1 = process.hrtime.bigint();
  const validated = validator.validateBatch(decoded.events, { receivedAtMs: T, requestId: 'r' });
  const t2 = process.hrtime.bigint();
  const sink: ApplySink = {
    shard: 1,
    counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: validated.rejected },
    receipts: validated.receipts,
    receiptsAll: false,
    stored: [],
    storedIdWords: [],
  };
  actors[k % OWNERS]!.applyBatch(validated.records, validated.indexes, T + k, sink);
  const t3 = process.hrtime.bigint();
  if (sink.counts.duplicate !== 0) throw new Error('a duplicate: the bench means every event to be new');
  store.prepareEvents(sink.stored, sink.storedIdWords);
  const t4 = process.hrtime.bigint();
  spent.decode += t1 - t0;
  spent.validate += t2 - t1;
  spent.apply += t3 - t2;
  spent.pack += t4 - t3;
}

try {
  for (let k = 0; k < 3_000; k++) timed(k);
  for (const stage of Object.keys(spent) as Array<keyof typeof spent>) spent[stage] = 0n;
  for (let k = 3_000; k < 3_000 + BATCHES; k++) timed(k);
  const total = Object.values(spent).reduce((a, b) => a + b, 0n);
  const perEvent = (ns: bigint): string => (Number(ns) / BATCHES / BATCH_EVENTS).toFixed(0).padStart(5);
  for (const [stage, ns] of Object.entries(spent)) console.log(`${stage.padEnd(9)} ${perEvent(ns)} ns per event  ${((100 * Number(ns)) / Number(total)).toFixed(1)} %`);
  console.log(`${'total'.padEnd(9)} ${perEvent(total)} ns per event (${BATCHES} batches of ${BATCH_EVENTS}; Node ${process.version})`);
} finally {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
