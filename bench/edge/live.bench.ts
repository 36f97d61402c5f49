/**
 * The live hub's costs, side by side in one run so the ratios survive a noisy
 * machine:
 * - merging two deltas of one window: mergeDelta (src/actors/window.ts, a new
 *   object per merge, what the hub uses for coalescing and slow subscribers)
 *   vs applyDelta (in-place add into the hub's channel state);
 * - one tick fanned out to SUBSCRIBERS subscribers of one channel: the hub
 *   (one JSON.stringify per channel per tick, then a send per subscriber) vs a
 *   naive fan-out that serializes the frame once per subscriber.
 *
 * Run: node dist/bench/edge/live.bench.js
 */
import { Bench } from 'tinybench';
import { mergeDelta } from '../../src/actors/window.js';
import type { Resolution, WindowDelta, WindowState } from '../../src/actors/types.js';
import type { LiveSource, OwnerDeltas } from '../../src/runtime/router.js';
import { applyDelta, LiveHub, type LiveSubscriber, type LiveWindow } from '../../src/edge/live.js';

/** Subscribers of one channel in the fan-out case. */
const SUBSCRIBERS = 1_000;
/** Distinct event names per delta: a busy dashboard window. */
const NAMES_PER_DELTA = 20;
/** Windows touched per tick (the current one and one late). */
const WINDOWS_PER_TICK = 2;
const BENCH_TIME_MS = 1_500;
const T0_MS = 1_700_000_000_000 - (1_700_000_000_000 % 60_000);

function makeDelta(startMs: number, seed: number): WindowDelta {
  const byName: Record<string, number> = {};
  const values: WindowDelta['values'] = {};
  for (let i = 0; i < NAMES_PER_DELTA; i++) {
    byName[`event_name_${i}`] = (seed + i) % 17;
    values[`event_name_${i}`] = { count: 3, sum: 12.5 + i, min: 1, max: 9 + (seed % 5) };
  }
  return {
    resolution: '1m', startMs, total: 170, late: 2, tooLate: 0, byName,
    byCategory: { web: 100, mobile: 70 }, bySeverity: { info: 150, error: 20 }, values, uniques: 40 + seed,
  };
}

class Source implements LiveSource {
  listener: ((batch: OwnerDeltas[]) => void) | undefined;
  watch(_owner: string, _resolution: Resolution): Promise<WindowState[]> {
    return Promise.resolve([]);
  }
  unwatch(): void {}
  onDeltas(listener: (batch: OwnerDeltas[]) => void): void {
    this.listener = listener;
  }
}

/** A socket that keeps only a byte count: the cost measured is the hub's, not the network's. */
class CountingSocket implements LiveSubscriber {
  bufferedAmount = 0;
  bytes = 0;
  send(data: string): void {
    this.bytes += data.length;
  }
}

const a = makeDelta(T0_MS, 1);
const b = makeDelta(T0_MS, 2);
const state = new Map<number, LiveWindow>();

const source = new Source();
const hub = new LiveHub({
  source, deltaTickMs: 250, deltaHistoryFramesMax: 240, wsBufferedBytesMax: 1 << 20,
  liveChannelsMax: 10, liveUnwatchGraceMs: 30_000, allowedLatenessMs: 5_000, clock: () => T0_MS,
});
const sockets = Array.from({ length: SUBSCRIBERS }, () => new CountingSocket());
for (const socket of sockets) await hub.subscribe(socket, 'acme', '1m');
const tickDeltas = Array.from({ length: WINDOWS_PER_TICK }, (_, i) => makeDelta(T0_MS - i * 60_000, i));
const naiveSockets = Array.from({ length: SUBSCRIBERS }, () => new CountingSocket());
let naiveSeq = 0;
let sink = 0;

const bench = new Bench({ time: BENCH_TIME_MS });
bench
  .add('mergeDelta (new object)', () => {
    sink += mergeDelta(a, b).total;
  })
  .add('applyDelta (in place)', () => {
    applyDelta(state, b);
  })
  .add(`hub tick, ${SUBSCRIBERS} subscribers`, () => {
    source.listener!([{ owner: 'acme', deltas: tickDeltas, oldestReceivedAtMs: T0_MS }]);
    hub.tick();
  })
  .add(`naive fan-out (stringify per subscriber), ${SUBSCRIBERS}`, () => {
    naiveSeq++;
    for (const socket of naiveSockets) {
      socket.send(JSON.stringify({ type: 'delta', channel: 'acme/1m', epoch: 'e', seq: naiveSeq, deltas: tickDeltas }));
    }
  });

await bench.run();
console.table(bench.table());

function medianMs(name: string): number {
  const result = bench.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return result.latency.p50;
}
const merge = medianMs('mergeDelta (new object)');
const apply = medianMs('applyDelta (in place)');
const tick = medianMs(`hub tick, ${SUBSCRIBERS} subscribers`);
const naive = medianMs(`naive fan-out (stringify per subscriber), ${SUBSCRIBERS}`);
console.table([
  { case: 'mergeDelta', 'median': `${(merge * 1e6).toFixed(0)} ns/op` },
  { case: 'applyDelta', 'median': `${(apply * 1e6).toFixed(0)} ns/op` },
  { case: `hub tick -> ${SUBSCRIBERS}`, 'median': `${(tick * 1e3).toFixed(0)} µs/tick, ${((tick * 1e6) / SUBSCRIBERS).toFixed(0)} ns/subscriber` },
  { case: `naive -> ${SUBSCRIBERS}`, 'median': `${(naive * 1e3).toFixed(0)} µs/tick` },
]);
console.log(`ratio mergeDelta / applyDelta: ${(merge / apply).toFixed(1)}x`);
console.log(`ratio naive fan-out / hub tick: ${(naive / tick).toFixed(1)}x`);
console.log(`frame bytes: ${JSON.stringify({ type: 'delta', channel: 'acme/1m', epoch: 'e', seq: 1, deltas: tickDeltas }).length}, frames sent ${hub.counters.framesSent} (checksum ${sink + sockets[0]!.bytes})`);
hub.close();
