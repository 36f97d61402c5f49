/**
 * HyperLogLog add cost: hyperloglog-lite (the design card's package) with its
 * own hash, hyperloglog-lite fed our hash32, and src/actors/hll.ts, in one run
 * so the ratios survive a noisy machine. Also the cost of the register update
 * alone (pre-hashed input) and of estimate() and serialize() per mode.
 *
 * Run: node dist/bench/actors/hll.bench.js
 */
import { createRequire } from 'node:module';
import { Bench } from 'tinybench';
import { hash32 } from '../../src/actors/hash.js';
import { HyperLogLog } from '../../src/actors/hll.js';

/** hyperloglog-lite is CommonJS without types: the part of its API used here. */
interface LiteSketch {
  add(hash: number[]): unknown;
  count(): number;
}
interface LiteModule {
  (n: number): LiteSketch;
  hash(value: string): number[];
}
const require = createRequire(import.meta.url);
const lite = require('hyperloglog-lite') as LiteModule;

const PRECISION = 12;
/** Distinct user ids cycled through: well past the sparse limit, so sketches are dense in steady state. */
const DISTINCT_VALUES = 100_000;
/** Adds per task call, so the timer overhead is amortised; results are divided back to one add. */
const ADDS_PER_CALL = 1_000;
const BENCH_TIME_MS = 1_500;

const values = Array.from({ length: DISTINCT_VALUES }, (_, i) => `user-${i}`);
const ourHashes = new Uint32Array(values.map((v) => hash32(v)));
const liteHashes = values.map((v) => lite.hash(v));

let cursor = 0;
function nextStart(): number {
  const start = cursor;
  cursor = (cursor + ADDS_PER_CALL) % (DISTINCT_VALUES - ADDS_PER_CALL);
  return start;
}

const liteOwn = lite(PRECISION);
const liteFed = lite(PRECISION);
const liteRaw = lite(PRECISION);
const ours = new HyperLogLog(PRECISION);
const oursRaw = new HyperLogLog(PRECISION);
/** hyperloglog-lite takes the bucket from word 0's top bits and the rank from words 3 then 2. */
const fedWords = [0, 0, 0, 0];

const bench = new Bench({ time: BENCH_TIME_MS });
bench
  .add('lite: add(lite.hash(s))', () => {
    const start = nextStart();
    for (let i = start; i < start + ADDS_PER_CALL; i++) liteOwn.add(lite.hash(values[i]!));
  })
  .add('lite: add(words from hash32(s))', () => {
    const start = nextStart();
    for (let i = start; i < start + ADDS_PER_CALL; i++) {
      const h = hash32(values[i]!);
      fedWords[0] = h;
      fedWords[3] = h;
      liteFed.add(fedWords);
    }
  })
  .add('ours: addString(s)', () => {
    const start = nextStart();
    for (let i = start; i < start + ADDS_PER_CALL; i++) ours.addString(values[i]!);
  })
  .add('lite: add(pre-hashed)', () => {
    const start = nextStart();
    for (let i = start; i < start + ADDS_PER_CALL; i++) liteRaw.add(liteHashes[i]!);
  })
  .add('ours: add(pre-hashed)', () => {
    const start = nextStart();
    for (let i = start; i < start + ADDS_PER_CALL; i++) oursRaw.add(ourHashes[i]!);
  });

await bench.run();
console.table(bench.table());

/** Nanoseconds per add from the median call (the mean is skewed by GC pauses and neighbours on this machine). */
function nsPerAdd(name: string, stat: 'p50' | 'mean' = 'p50'): number {
  const task = bench.tasks.find((t) => t.name === name);
  const result = task?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return (result.latency[stat] * 1e6) / ADDS_PER_CALL;
}

const rows = [
  'lite: add(lite.hash(s))',
  'lite: add(words from hash32(s))',
  'ours: addString(s)',
  'lite: add(pre-hashed)',
  'ours: add(pre-hashed)',
].map((name) => ({ task: name, 'ns/add (median)': nsPerAdd(name).toFixed(1), 'ns/add (mean)': nsPerAdd(name, 'mean').toFixed(1) }));
console.table(rows);
const baseline = nsPerAdd('ours: addString(s)');
console.log(`ratios from medians. lite(own hash) / ours: ${(nsPerAdd('lite: add(lite.hash(s))') / baseline).toFixed(1)}x`);
console.log(`ratio lite(fed hash32) / ours: ${(nsPerAdd('lite: add(words from hash32(s))') / baseline).toFixed(1)}x`);
console.log(`ratio lite / ours, register update only: ${(nsPerAdd('lite: add(pre-hashed)') / nsPerAdd('ours: add(pre-hashed)')).toFixed(1)}x`);
// Sanity: all three sketches saw the same values; their estimates must be close, or the bench measured nonsense.
console.log(`estimates: lite own ${liteOwn.count()}, lite fed ${liteFed.count()}, ours ${ours.estimate()}`);

// Per-mode costs that a window pays outside add(): estimate (every delta tick) and serialize (every snapshot).
const sparse = new HyperLogLog(PRECISION);
for (let i = 0; i < 100; i++) sparse.add(ourHashes[i]!);
const modes = new Bench({ time: BENCH_TIME_MS / 2 });
modes
  .add('estimate, dense', () => ours.estimate())
  .add('estimate, sparse (100)', () => sparse.estimate())
  .add('serialize, dense', () => ours.serialize())
  .add('serialize, sparse (100)', () => sparse.serialize());
await modes.run();
console.table(modes.table());
console.log(`bytes: sparse(100) table ${sparse.dataBytes}, serialized ${sparse.serialize().length}; dense ${ours.dataBytes}, serialized ${ours.serialize().length}`);

// Merging stored sketches: a range query's windows, a coarse window made of its finer ones. Registers are
// counted once, when the estimate is read; the second task counts them after every merge, as before.
const MERGED_SKETCHES = 60;
const stored = Array.from({ length: MERGED_SKETCHES }, (_, s) => {
  const sketch = new HyperLogLog(PRECISION);
  for (let i = 0; i < 5_000; i++) sketch.add(ourHashes[(s * 1_500 + i) % DISTINCT_VALUES]!);
  return sketch.serialize();
});
const merges = new Bench({ time: BENCH_TIME_MS / 2 });
merges
  .add(`mergeSerialized(${MERGED_SKETCHES} dense), then estimate`, () => HyperLogLog.mergeSerialized(stored, PRECISION).estimate())
  .add(`the same, counting the registers after every merge (before)`, () => {
    const merged = HyperLogLog.deserialize(stored[0]!);
    merged.estimate();
    for (let i = 1; i < stored.length; i++) {
      const next = HyperLogLog.deserialize(stored[i]!);
      next.estimate();
      merged.merge(next).estimate();
    }
    return merged.estimate();
  });
await merges.run();
console.table(merges.table());
const mergeMs = (name: string): number => {
  const result = merges.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return result.latency.p50;
};
console.log(
  `merge of ${MERGED_SKETCHES}: ${mergeMs(`mergeSerialized(${MERGED_SKETCHES} dense), then estimate`).toFixed(3)} ms, ` +
    `${mergeMs('the same, counting the registers after every merge (before)').toFixed(3)} ms counting after every merge ` +
    `(${(mergeMs(`mergeSerialized(${MERGED_SKETCHES} dense), then estimate`) / mergeMs('the same, counting the registers after every merge (before)')).toFixed(2)}x)`,
);
