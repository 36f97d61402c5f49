/**
 * OwnerActor.applyBatch throughput: one 500-event batch (4 resolutions, ~20
 * names, 1000 users, a few late events) per call, with no resolution watched
 * and with '1s' watched (deltas taken every TICK_BATCHES batches, as the
 * 250 ms delta tick would), in one run so the ratio survives a noisy machine.
 * A third task only renumbers the ids (every batch needs fresh ids, or dedup
 * answers `duplicate` and skips the work); its cost is inside the other two.
 *
 * Each scenario runs twice in the same process: `before` is the frozen
 * pre-memory-work implementation (bench/actors/legacy/: a Map of string ids,
 * every event counted at every resolution in Maps), `after` is src/actors.
 * The ratio before/after is the figure to read; absolute numbers drift.
 *
 * Run: node dist/bench/actors/owner.bench.js
 */
import { Bench } from 'tinybench';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import type { EventRecord, Resolution } from '../../src/actors/types.js';
import { OwnerActor as LegacyOwnerActor } from './legacy/owner.js';

const BATCH_EVENTS = 500;
const NAMES = 20;
const USERS = 1_000;
const CATEGORIES = 5;
/** Simulated time between batches of one owner (20 batches/s: 10K events/s for this owner). */
const BATCH_INTERVAL_MS = 50;
/** Batches per delta tick: 250 ms / 50 ms. */
const TICK_BATCHES = 5;
/** Event timestamps lag the clock by 0..EVENT_SPREAD_MS: some fall in an earlier second and count late. */
const EVENT_SPREAD_MS = 1_500;
const BENCH_TIME_MS = 3_000;
const T0 = 1_700_000_000_000;

const OPTIONS: OwnerOptions = Object.freeze({
  resolutions: ['1s', '1m', '1h', '1d'] as Resolution[],
  allowedLatenessMs: 5_000,
  dedupHorizonMs: 600_000,
  dedupIdsMax: 100_000,
  hllPrecision: 12,
  namesPerWindowMax: 1_000,
});

const names = Array.from({ length: NAMES }, (_, i) => `event_${['view', 'click', 'buy', 'signup'][i % 4]}_${i}`);
const users = Array.from({ length: USERS }, (_, i) => `user-${(i * 7919) % 100_003}`);
const severities = ['info', 'info', 'info', 'notice', 'warning', 'error'] as const;

function makeBatch(): EventRecord[] {
  const records: EventRecord[] = [];
  let seed = 42;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < BATCH_EVENTS; i++) {
    records.push({
      id: `b0-${i}`,
      name: names[next(NAMES)]!,
      timestampMs: T0,
      clientTimestampMs: T0,
      receivedAtMs: T0,
      userId: users[next(USERS)],
      category: `cat${next(CATEGORIES)}`,
      severity: severities[next(severities.length)]!,
      tags: [],
      properties: { plan: 'pro' },
      value: next(3) === 0 ? next(1_000) / 10 : undefined,
    });
  }
  return records;
}

const indexes = Array.from({ length: BATCH_EVENTS }, (_, i) => i);

/** A clock, a batch and an actor per task, so the tasks do not share state. */
function scenario(Owner: typeof OwnerActor | typeof LegacyOwnerActor, watch: Resolution | undefined): () => void {
  const records = makeBatch();
  let round = 0;
  let nowMs = T0;
  const actor = new Owner('owner-bench', OPTIONS, nowMs);
  if (watch !== undefined) actor.watch(watch);
  const sink: ApplySink = {
    shard: 3,
    counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 },
    receipts: [],
    receiptsAll: false,
    stored: [],
  };
  return () => {
    round++;
    nowMs += BATCH_INTERVAL_MS;
    for (let i = 0; i < BATCH_EVENTS; i++) {
      const record = records[i]!;
      record.id = `b${round}-${i}`;
      record.timestampMs = nowMs - ((i * 37) % EVENT_SPREAD_MS);
    }
    sink.receipts.length = 0;
    sink.stored.length = 0;
    actor.applyBatch(records, indexes, nowMs, sink);
    actor.closeDue(nowMs);
    if (watch !== undefined && round % TICK_BATCHES === 0) actor.takeDeltas();
  };
}

const records = makeBatch();
let renumberRound = 0;
const bench = new Bench({ time: BENCH_TIME_MS });
bench
  .add('before: applyBatch 500, none watched', scenario(LegacyOwnerActor, undefined))
  .add('after: applyBatch 500, none watched', scenario(OwnerActor, undefined))
  .add("before: applyBatch 500, '1s' watched", scenario(LegacyOwnerActor, '1s'))
  .add("after: applyBatch 500, '1s' watched", scenario(OwnerActor, '1s'))
  .add("before: applyBatch 500, '1m' watched", scenario(LegacyOwnerActor, '1m'))
  .add("after: applyBatch 500, '1m' watched", scenario(OwnerActor, '1m'))
  .add('renumber ids only', () => {
    renumberRound++;
    for (let i = 0; i < BATCH_EVENTS; i++) records[i]!.id = `b${renumberRound}-${i}`;
  });
await bench.run();
console.table(bench.table());

function medianMs(name: string): number {
  const result = bench.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return result.latency.p50;
}
const rows = [];
for (const task of ['applyBatch 500, none watched', "applyBatch 500, '1s' watched", "applyBatch 500, '1m' watched"]) {
  const before = medianMs(`before: ${task}`);
  const after = medianMs(`after: ${task}`);
  rows.push({
    task,
    'before ns/event': ((before * 1e6) / BATCH_EVENTS).toFixed(0),
    'after ns/event': ((after * 1e6) / BATCH_EVENTS).toFixed(0),
    'after events/s': Math.round((BATCH_EVENTS / after) * 1000),
    'speed-up (before/after)': `${(before / after).toFixed(2)}x`,
  });
}
const renumber = medianMs('renumber ids only');
rows.push({ task: 'renumber ids only (inside every task)', 'before ns/event': ((renumber * 1e6) / BATCH_EVENTS).toFixed(0), 'after ns/event': '', 'after events/s': 0, 'speed-up (before/after)': '' });
console.table(rows);

// Memory per owner, before and after: bench/actors/memory.bench.ts.
