/**
 * OwnerActor.applyBatch throughput: one 500-event batch (4 resolutions, ~20
 * names, 1000 users, a few late events) per call, with no resolution watched
 * and with '1s' watched (deltas taken every TICK_BATCHES batches, as the
 * 250 ms delta tick would), in one run so the ratio survives a noisy machine.
 * A third task only renumbers the ids (every batch needs fresh ids, or dedup
 * answers `duplicate` and skips the work); its cost is inside the other two.
 *
 * Run: node dist/bench/actors/owner.bench.js
 */
import { Bench } from 'tinybench';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import type { EventRecord, Resolution } from '../../src/actors/types.js';

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
function scenario(watch: Resolution | undefined): () => void {
  const records = makeBatch();
  let round = 0;
  let nowMs = T0;
  const actor = new OwnerActor('owner-bench', OPTIONS, nowMs);
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
  .add('applyBatch 500, none watched', scenario(undefined))
  .add("applyBatch 500, '1s' watched", scenario('1s'))
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
const plain = medianMs('applyBatch 500, none watched');
const watched = medianMs("applyBatch 500, '1s' watched");
const renumber = medianMs('renumber ids only');
console.table([
  { task: 'none watched', 'events/s (median batch)': Math.round((BATCH_EVENTS / plain) * 1000), 'ns/event': ((plain * 1e6) / BATCH_EVENTS).toFixed(0) },
  { task: "'1s' watched", 'events/s (median batch)': Math.round((BATCH_EVENTS / watched) * 1000), 'ns/event': ((watched * 1e6) / BATCH_EVENTS).toFixed(0) },
  { task: 'renumber only', 'events/s (median batch)': Math.round((BATCH_EVENTS / renumber) * 1000), 'ns/event': ((renumber * 1e6) / BATCH_EVENTS).toFixed(0) },
]);
console.log(`ratio watched / none watched (time per batch): ${(watched / plain).toFixed(2)}x`);

// Memory: resident owners with a typical small load each (run with --expose-gc to measure).
/** Owners created for the memory estimate, and the events each gets (spread over a few seconds). */
const MEMORY_OWNERS = 2_000;
const MEMORY_EVENTS_PER_OWNER = 200;
const MEMORY_USERS_PER_OWNER = 50;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.log('memory: run with node --expose-gc to measure heap bytes per owner');
} else {
  gc();
  const before = process.memoryUsage().heapUsed;
  const owners: OwnerActor[] = [];
  let approx = 0;
  const nowMs = T0 + 10_000;
  for (let o = 0; o < MEMORY_OWNERS; o++) {
    const actor = new OwnerActor(`owner-${o}`, OPTIONS, nowMs);
    const batch = makeBatch().slice(0, MEMORY_EVENTS_PER_OWNER);
    for (let i = 0; i < batch.length; i++) {
      batch[i]!.id = `o${o}-e${i}`;
      batch[i]!.userId = users[i % MEMORY_USERS_PER_OWNER];
      batch[i]!.timestampMs = nowMs - (i % 4) * 1_000;
    }
    const sink: ApplySink = { shard: 0, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 }, receipts: [], receiptsAll: false, stored: [] };
    actor.applyBatch(batch, indexes.slice(0, batch.length), nowMs, sink);
    owners.push(actor);
  }
  gc();
  const perOwner = (process.memoryUsage().heapUsed - before) / MEMORY_OWNERS;
  for (const actor of owners) approx += actor.approxBytes();
  console.log(
    `memory: ${MEMORY_OWNERS} owners x ${MEMORY_EVENTS_PER_OWNER} events (${MEMORY_USERS_PER_OWNER} users, 4 resolutions, 7 open windows): ` +
      `${Math.round(perOwner)} heap bytes/owner measured (windows + dedup ids; the actor keeps no event records), ` +
      `approxBytes() says ${Math.round(approx / MEMORY_OWNERS)}`,
  );
}
