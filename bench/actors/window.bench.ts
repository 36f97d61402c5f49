/**
 * WindowAggregate costs, side by side in one run: add() without and with a
 * delta accumulator (a watched resolution), toState() of a window whose
 * sketch is sparse vs dense (every snapshot and rollup pays it), and
 * takeDelta() + mergeDelta(). Also a batch's window starts found by
 * windowStartMs (two floating-point remainders: an fmod call each past 2^31)
 * against the owner's check of the last window's range first (owner.ts
 * countEvent), on 500 timestamps a millisecond apart.
 *
 * Run: node dist/bench/actors/window.bench.js
 */
import { Bench } from 'tinybench';
import { hash32 } from '../../src/actors/hash.js';
import { Tally, WindowAggregate, mergeDelta, severityIndex, windowStartMs } from '../../src/actors/window.js';

/** Events added per task call; results are divided back to one event. */
const EVENTS_PER_CALL = 500;
const NAMES = 20;
const USERS_DENSE = 5_000;
const USERS_SPARSE = 100;
const BENCH_TIME_MS = 1_500;
const OPTIONS = { hllPrecision: 12, namesPerWindowMax: 1_000 };
const START_MS = 1_700_000_040_000;

const names = Array.from({ length: NAMES }, (_, i) => `event_${i}`);
const userHashes = Array.from({ length: USERS_DENSE }, (_, i) => hash32(`user-${i}`));
const info = severityIndex('info');

function fill(window: WindowAggregate, users: number): void {
  for (let i = 0; i < EVENTS_PER_CALL; i++) {
    window.add(names[i % NAMES]!, `cat${i % 5}`, info, i % 3 === 0 ? i : undefined, false, userHashes[(i * 31) % users]!);
  }
}

const plain = new WindowAggregate('1m', START_MS, OPTIONS);
const watched = new WindowAggregate('1m', START_MS, OPTIONS);
watched.delta = new Tally();
const sparse = new WindowAggregate('1m', START_MS, OPTIONS);
fill(sparse, USERS_SPARSE);
const dense = new WindowAggregate('1m', START_MS, OPTIONS);
for (let k = 0; k < 20; k++) fill(dense, USERS_DENSE);
const deltaSource = new WindowAggregate('1m', START_MS, OPTIONS);
deltaSource.delta = new Tally();

const timestamps = Float64Array.from({ length: EVENTS_PER_CALL }, (_, i) => START_MS + 700 + i);
let startsSum = 0;

const bench = new Bench({ time: BENCH_TIME_MS });
bench
  .add('window start x500, windowStartMs', () => {
    for (let i = 0; i < EVENTS_PER_CALL; i++) startsSum += windowStartMs(timestamps[i]!, 1_000);
  })
  .add('window start x500, last range first', () => {
    let last = -1;
    for (let i = 0; i < EVENTS_PER_CALL; i++) {
      const t = timestamps[i]!;
      if (!(last >= 0 && t >= last && t < last + 1_000)) last = windowStartMs(t, 1_000);
      startsSum += last;
    }
  })
  .add('add x500, not watched', () => fill(plain, USERS_DENSE))
  .add('add x500, watched (delta)', () => {
    fill(watched, USERS_DENSE);
    watched.delta!.reset();
  })
  .add('toState, sparse sketch', () => sparse.toState(true))
  .add('toState, dense sketch', () => dense.toState(true))
  .add('add x500 + takeDelta x2 + mergeDelta', () => {
    fill(deltaSource, USERS_SPARSE);
    const a = deltaSource.takeDelta()!;
    fill(deltaSource, USERS_SPARSE);
    mergeDelta(a, deltaSource.takeDelta()!);
  });
await bench.run();
console.table(bench.table());

function medianMs(name: string): number {
  const result = bench.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return result.latency.p50;
}
const addPlain = (medianMs('add x500, not watched') * 1e6) / EVENTS_PER_CALL;
const addWatched = (medianMs('add x500, watched (delta)') * 1e6) / EVENTS_PER_CALL;
console.log(`add: ${addPlain.toFixed(1)} ns/event not watched, ${addWatched.toFixed(1)} ns/event watched; ratio ${(addWatched / addPlain).toFixed(2)}x`);
console.log(`toState: sparse ${(medianMs('toState, sparse sketch') * 1e3).toFixed(1)} us, dense ${(medianMs('toState, dense sketch') * 1e3).toFixed(1)} us`);
const startPlain = medianMs('window start x500, windowStartMs');
const startCached = medianMs('window start x500, last range first');
console.log(`window start: ${((startPlain * 1e6) / EVENTS_PER_CALL).toFixed(1)} ns/event by windowStartMs, ${((startCached * 1e6) / EVENTS_PER_CALL).toFixed(1)} by the last range first; ratio ${(startCached / startPlain).toFixed(2)}x (sum ${startsSum > 0 ? 'used' : 'unused'})`);
console.log(`approxBytes: sparse window ${sparse.approxBytes()}, dense window ${dense.approxBytes()}`);
