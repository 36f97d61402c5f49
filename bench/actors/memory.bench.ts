/**
 * Where an owner's bytes go. N synthetic owners are driven through the real
 * path of a shard worker (JSON body -> decodeBody -> validateBatch ->
 * OwnerActor.applyBatch -> closeDue), with the harness's many-owner workload
 * (20 users, 20 names with a Zipf(1) pick, 8 categories, 6 severities, a value
 * on every event, 10-event batches, ids shaped like the harness's), and the
 * heap + ArrayBuffer bytes they hold after a full GC are divided by N.
 *
 * Then the same events feed parts alone, so the breakdown is measured, not
 * estimated: an actor that was never given an event, the dedup memory alone
 * (windows = the rest), one finest window alone and its HLL sketch alone;
 * and what one snapshot() of the owner holds (the snapshot round builds one
 * per dirty owner every snapshotIntervalMs).
 *
 * Both implementations run in the same process on the same events: `before`
 * is the frozen copy in bench/actors/legacy/ (Maps of strings), `after` is
 * src/actors. Both intern nothing across runs except the thread's name table,
 * which the `after` rows include (it is per thread, not per owner; its size is
 * printed).
 *
 * Shapes (named below): `harness-100k` is one batch per owner (the 100K-owner
 * open-loop run gives each owner ~1 batch in 30 s); `harness-20k` is 3 batches
 * 4 s apart (the 20K-owner closed-loop run: ~22 events per owner in 10 s, so
 * several 1-s windows were open); `busy` is 20 batches 1 s apart (200 events).
 *
 * Run: node --expose-gc dist/bench/actors/memory.bench.js [owners]
 */
import { decodeBody } from '../../src/actors/decode.js';
import { DedupMemory } from '../../src/actors/dedup.js';
import { hash32 } from '../../src/actors/hash.js';
import { HyperLogLog } from '../../src/actors/hll.js';
import { internStats } from '../../src/actors/names.js';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import { DEFAULT_EVENT_LIMITS } from '../../src/actors/schema.js';
import { RESOLUTIONS, SEVERITIES, type EventRecord, type Resolution } from '../../src/actors/types.js';
import { createValidator } from '../../src/actors/validate.js';
import { WindowAggregate, severityIndex, windowStartMs } from '../../src/actors/window.js';
import { DedupMemory as LegacyDedupMemory } from './legacy/dedup.js';
import { HyperLogLog as LegacyHyperLogLog } from './legacy/hll.js';
import { OwnerActor as LegacyOwnerActor } from './legacy/owner.js';
import { WindowAggregate as LegacyWindowAggregate } from './legacy/window.js';
import { defaults } from '../../config/defaults.js';

/** The parts of one implementation that the measurement drives. */
interface Impl {
  label: string;
  Owner: typeof OwnerActor | typeof LegacyOwnerActor;
  Dedup: typeof DedupMemory | typeof LegacyDedupMemory;
  Window: typeof WindowAggregate | typeof LegacyWindowAggregate;
  Sketch: typeof HyperLogLog | typeof LegacyHyperLogLog;
}
const IMPLS: readonly Impl[] = [
  { label: 'before', Owner: LegacyOwnerActor, Dedup: LegacyDedupMemory, Window: LegacyWindowAggregate, Sketch: LegacyHyperLogLog },
  { label: 'after', Owner: OwnerActor, Dedup: DedupMemory, Window: WindowAggregate, Sketch: HyperLogLog },
];

const OWNERS = Number(process.argv[2] ?? 5_000);
const USERS_PER_OWNER = 20;
const EVENT_NAMES = 20;
const CATEGORIES = 8;
const BATCH_EVENTS = 10;
const T0_MS = 1_700_000_000_000;

interface Shape {
  name: string;
  batches: number;
  batchIntervalMs: number;
}
const SHAPES: readonly Shape[] = [
  { name: 'harness-100k', batches: 1, batchIntervalMs: 0 },
  { name: 'harness-20k', batches: 3, batchIntervalMs: 4_000 },
  { name: 'busy', batches: 20, batchIntervalMs: 1_000 },
];

const OPTIONS: OwnerOptions = Object.freeze({
  resolutions: [...RESOLUTIONS] as Resolution[],
  allowedLatenessMs: defaults.allowedLatenessMs,
  dedupHorizonMs: defaults.dedupHorizonMs,
  dedupIdsMax: defaults.dedupIdsMax,
  hllPrecision: defaults.hllPrecision,
  namesPerWindowMax: defaults.namesPerWindowMax,
});
const WINDOW_OPTIONS = { hllPrecision: OPTIONS.hllPrecision, namesPerWindowMax: OPTIONS.namesPerWindowMax };

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc');
  process.exit(2);
}

/** A seeded generator, so every run (and every implementation) sees the same events. */
function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

/** Zipf(1) over EVENT_NAMES, as the harness picks names. */
const zipfCdf: number[] = [];
{
  let sum = 0;
  for (let k = 1; k <= EVENT_NAMES; k++) sum += 1 / k;
  let acc = 0;
  for (let k = 1; k <= EVENT_NAMES; k++) zipfCdf.push((acc += 1 / k / sum));
}
function zipfName(next: (n: number) => number): number {
  const u = next(1_000_000) / 1_000_000;
  let k = 0;
  while (k < EVENT_NAMES - 1 && zipfCdf[k]! < u) k++;
  return k;
}

/** The JSON body the harness would send for batch `b` of owner `o` (its strings are fresh per parse, as in a worker). */
function body(o: number, b: number, timestampMs: number, next: (n: number) => number): Uint8Array {
  const events = [];
  for (let i = 0; i < BATCH_EVENTS; i++) {
    events.push({
      id: `r1a2b3.${o % 32}.${String(o * 1_000 + b * BATCH_EVENTS + i).padStart(12, '0')}-${String(i).padStart(4, '0')}`,
      name: `evt.${String(zipfName(next)).padStart(3, '0')}`,
      timestamp: timestampMs,
      userId: `u${next(USERS_PER_OWNER)}`,
      category: `cat${next(CATEGORIES)}`,
      severity: SEVERITIES[next(SEVERITIES.length)],
      tags: ['bench', `t${next(16)}`],
      properties: { plan: next(2) === 0 ? 'free' : 'pro', n: next(1000), ok: next(2) === 0 },
      value: next(10_000_000) / 100,
    });
  }
  return Buffer.from(JSON.stringify({ events }));
}

const validator = createValidator(DEFAULT_EVENT_LIMITS);

/** The validated batches of every owner for a shape: [owner][batch] -> records. Built once, outside the measurement. */
function workload(shape: Shape): { batches: EventRecord[][][]; nowMs: number[] } {
  const next = lcg(7);
  const batches: EventRecord[][][] = [];
  const nowMs: number[] = [];
  for (let b = 0; b < shape.batches; b++) nowMs.push(T0_MS + b * shape.batchIntervalMs);
  for (let o = 0; o < OWNERS; o++) {
    const perOwner: EventRecord[][] = [];
    for (let b = 0; b < shape.batches; b++) {
      // Owners are spread over the batch interval, so their 1-s windows differ as they would.
      const sendMs = nowMs[b]! + (o % 997);
      const decoded = decodeBody(body(o, b, sendMs, next), 'json', 'identity', defaults);
      const batch = validator.validateBatch(decoded.events, { requestId: `req-${o}-${b}`, receivedAtMs: sendMs });
      perOwner.push(batch.records);
    }
    batches.push(perOwner);
  }
  return { batches, nowMs };
}

function heapBytes(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Bytes per owner held by what `build` returns for every owner. */
function measure<T>(build: (o: number) => T): number {
  const before = heapBytes();
  const held: T[] = new Array<T>(OWNERS);
  for (let o = 0; o < OWNERS; o++) held[o] = build(o);
  const after = heapBytes();
  if (held.length !== OWNERS) throw new Error('unreachable');
  return (after - before) / OWNERS;
}

const indexes = Array.from({ length: BATCH_EVENTS }, (_, i) => i);
function sink(): ApplySink {
  return { shard: 0, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 }, receipts: [], receiptsAll: false, stored: [] };
}

/** The owner actor, driven as a shard worker drives it (closeDue at every batch, as the 250-ms close timer would). */
function runActor(impl: Impl, records: EventRecord[][], nowMs: readonly number[], o: number): OwnerActor | LegacyOwnerActor {
  const actor = new impl.Owner(`bench-r1a2b3-o${o}`, OPTIONS, nowMs[0]! + (o % 997));
  for (let b = 0; b < records.length; b++) {
    const now = nowMs[b]! + (o % 997);
    actor.applyBatch(records[b]!, indexes, now, sink());
    actor.closeDue(now);
  }
  return actor;
}

const rows: Array<Record<string, string | number>> = [];
for (const shape of SHAPES) {
  const { batches, nowMs } = workload(shape);
  const lastNow = (o: number) => nowMs[nowMs.length - 1]! + (o % 997);
  for (const impl of IMPLS) {
    const actors = measure((o) => runActor(impl, batches[o]!, nowMs, o));
    const empty = measure((o) => new impl.Owner(`bench-r1a2b3-o${o}`, OPTIONS, T0_MS));
    const dedup = measure((o) => {
      const memory = new impl.Dedup(OPTIONS.dedupHorizonMs, OPTIONS.dedupIdsMax, nowMs[0]!);
      for (let b = 0; b < batches[o]!.length; b++) for (const r of batches[o]![b]!) memory.seen(r.id, nowMs[b]! + (o % 997));
      return memory;
    });
    // One finest window alone, with the events of the owner's last second, and its sketch alone.
    const lastSecond = (o: number): EventRecord[] => {
      const last = batches[o]![batches[o]!.length - 1]!;
      const start = windowStartMs(last[0]!.timestampMs, 1_000);
      return last.filter((r) => windowStartMs(r.timestampMs, 1_000) === start);
    };
    const window1s = measure((o) => {
      const records = lastSecond(o);
      const w = new impl.Window('1s', windowStartMs(records[0]!.timestampMs, 1_000), WINDOW_OPTIONS);
      for (const r of records) w.add(r.name, r.category, severityIndex(r.severity), r.value, false, r.userId === undefined ? -1 : hash32(r.userId));
      return w;
    });
    const sketch1s = measure((o) => {
      const sketch = new impl.Sketch(OPTIONS.hllPrecision);
      for (const r of lastSecond(o)) if (r.userId !== undefined) sketch.addString(r.userId);
      return sketch;
    });
    // What one snapshot of the owner holds while it is written (every dirty owner, every snapshotIntervalMs).
    const held: Array<OwnerActor | LegacyOwnerActor> = [];
    for (let o = 0; o < OWNERS; o++) held.push(runActor(impl, batches[o]!, nowMs, o));
    const snapshot = measure((o) => held[o]!.snapshot(lastNow(o)));
    const openWindows = held.reduce((n, actor, o) => n + actor.snapshot(lastNow(o)).windows.length, 0) / OWNERS;
    rows.push({
      shape: `${shape.name} (${shape.batches * BATCH_EVENTS} ev)`,
      impl: impl.label,
      'owner B': Math.round(actors),
      'empty actor B': Math.round(empty),
      'dedup B': Math.round(dedup),
      'windows B (rest)': Math.round(actors - empty - dedup),
      'open windows': openWindows.toFixed(1),
      'a 1s window alone B': Math.round(window1s),
      'its HLL alone B': Math.round(sketch1s),
      'snapshot() B': Math.round(snapshot),
    });
  }
}
console.log(`${OWNERS} owners per shape; bytes per owner = (heapUsed + arrayBuffers) after gc, divided by owners (node ${process.version})`);
console.table(rows);
const names = internStats();
console.log(`thread name table after the run: ${names.interned} names (shared by every owner of the thread; not in the rows), ${names.refused} refused`);
