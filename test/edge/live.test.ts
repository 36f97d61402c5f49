import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Resolution, WindowDelta, WindowState } from '../../src/actors/types.js';
import type { LiveSource, OwnerDeltas } from '../../src/runtime/router.js';
import { applyDelta, LiveHub, type LiveSubscriber, type LiveWindow } from '../../src/edge/live.js';

const T0_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
const MINUTE_MS = 60_000;
const BUFFERED_BYTES_MAX = 1_000;

/** A LiveSource the test drives: it records watch/unwatch and emits deltas on demand. */
class FakeSource implements LiveSource {
  watches: string[] = [];
  unwatches: string[] = [];
  snapshot: WindowState[] = [];
  failNext = false;
  #listener: ((batch: OwnerDeltas[]) => void) | undefined;

  watch(owner: string, resolution: Resolution): Promise<WindowState[]> {
    this.watches.push(`${owner}/${resolution}`);
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error('worker gone'));
    }
    return Promise.resolve(structuredClone(this.snapshot));
  }
  unwatch(owner: string, resolution: Resolution): void {
    this.unwatches.push(`${owner}/${resolution}`);
  }
  onDeltas(listener: (batch: OwnerDeltas[]) => void): void {
    this.#listener = listener;
  }
  emit(owner: string, ...deltas: WindowDelta[]): void {
    this.emitReceivedAt(owner, T0_MS, ...deltas);
  }
  /** Deltas of batches the edge received at `oldestReceivedAtMs` at the earliest. */
  emitReceivedAt(owner: string, oldestReceivedAtMs: number, ...deltas: WindowDelta[]): void {
    this.#listener?.([{ owner, deltas, oldestReceivedAtMs }]);
  }
}

class FakeSocket implements LiveSubscriber {
  bufferedAmount = 0;
  frames: Array<Record<string, unknown>> = [];
  send(data: string): void {
    this.frames.push(JSON.parse(data) as Record<string, unknown>);
  }
  take(): Array<Record<string, unknown>> {
    const out = this.frames;
    this.frames = [];
    return out;
  }
}

function delta(startMs: number, name: string, count: number, uniques = 0, value?: number): WindowDelta {
  return {
    resolution: '1m',
    startMs,
    total: count,
    late: 0,
    tooLate: 0,
    byName: { [name]: count },
    byCategory: { default: count },
    bySeverity: { info: count },
    values: value === undefined ? {} : { [name]: { count: 1, sum: value, min: value, max: value } },
    uniques,
  };
}

function windowState(startMs: number, total: number): WindowState {
  return {
    resolution: '1m', startMs, total, late: 0, tooLate: 0,
    byName: { click: total }, byCategory: { default: total }, bySeverity: { info: total }, values: {},
    uniquesSketch: new Uint8Array([1, 2, 3]), uniques: 1, open: true,
  };
}

function setup(options: { historyFramesMax?: number; channelsMax?: number } = {}) {
  const source = new FakeSource();
  const clock = { nowMs: T0_MS };
  let epochs = 0;
  const hub = new LiveHub({
    source,
    deltaTickMs: 250,
    deltaHistoryFramesMax: options.historyFramesMax ?? 4,
    wsBufferedBytesMax: BUFFERED_BYTES_MAX,
    liveChannelsMax: options.channelsMax ?? 100,
    liveUnwatchGraceMs: 30_000,
    allowedLatenessMs: 5_000,
    clock: () => clock.nowMs,
    newEpoch: () => `epoch-${++epochs}`,
  });
  return { source, clock, hub };
}

void test('first subscriber watches and gets the snapshot without the sketch bytes', async () => {
  const { source, hub } = setup();
  source.snapshot = [windowState(T0_MS, 5)];
  const socket = new FakeSocket();
  await hub.subscribe(socket, 'acme', '1m');
  assert.deepEqual(source.watches, ['acme/1m']);
  const [snapshot] = socket.take();
  assert.equal(snapshot!.type, 'snapshot');
  assert.deepEqual([snapshot!.channel, snapshot!.epoch, snapshot!.seq], ['acme/1m', 'epoch-1', 0]);
  const windows = snapshot!.windows as LiveWindow[];
  assert.equal(windows.length, 1);
  assert.equal(windows[0]!.total, 5);
  assert.equal('uniquesSketch' in windows[0]!, false);
  assert.equal(hub.counters.subscribers, 1);
});

void test('one frame per subscriber per tick; deltas of one window coalesce; seq increments', async () => {
  const { source, hub } = setup();
  const a = new FakeSocket();
  const b = new FakeSocket();
  await hub.subscribe(a, 'acme', '1m');
  await hub.subscribe(b, 'acme', '1m');
  assert.deepEqual(source.watches, ['acme/1m'], 'a second subscriber does not re-watch');
  a.take();
  b.take();

  source.emit('acme', delta(T0_MS, 'click', 2, 1, 5), delta(T0_MS + MINUTE_MS, 'view', 1, 1));
  source.emit('acme', delta(T0_MS, 'click', 3, 2, 1));
  hub.tick();
  const [frame] = a.take();
  assert.equal(b.take().length, 1);
  assert.deepEqual([frame!.type, frame!.seq, frame!.epoch], ['delta', 1, 'epoch-1']);
  const deltas = frame!.deltas as WindowDelta[];
  assert.equal(deltas.length, 2);
  assert.equal(deltas[0]!.total, 5);
  assert.equal(deltas[0]!.uniques, 2, 'uniques are the newest estimate, not a sum');
  assert.deepEqual(deltas[0]!.values.click, { count: 2, sum: 6, min: 1, max: 5 });

  hub.tick();
  assert.equal(a.take().length, 0, 'no news, no frame');
  source.emit('acme', delta(T0_MS, 'click', 1));
  hub.tick();
  assert.equal(a.take()[0]!.seq, 2);
  assert.equal(hub.counters.framesSent, 2 + 2 + 1 + 1);
});

void test('a later subscriber gets the hub state: snapshot plus every applied frame', async () => {
  const { source, hub } = setup();
  source.snapshot = [windowState(T0_MS, 5)];
  await hub.subscribe(new FakeSocket(), 'acme', '1m');
  source.emit('acme', delta(T0_MS, 'click', 2), delta(T0_MS, 'buy', 1));
  hub.tick();
  const late = new FakeSocket();
  await hub.subscribe(late, 'acme', '1m');
  const [snapshot] = late.take();
  assert.equal(snapshot!.seq, 1);
  const [window] = snapshot!.windows as LiveWindow[];
  assert.equal(window!.total, 8);
  assert.deepEqual(window!.byName, { click: 7, buy: 1 });
});

void test('resume within history gets the missed frames merged into one', async () => {
  const { source, hub } = setup({ historyFramesMax: 4 });
  const first = new FakeSocket();
  await hub.subscribe(first, 'acme', '1m');
  for (let i = 0; i < 3; i++) {
    source.emit('acme', delta(T0_MS, 'click', 1));
    hub.tick();
  }
  // The client saw seq 1 and reconnects.
  hub.unsubscribe(first, 'acme', '1m');
  const again = new FakeSocket();
  await hub.subscribe(again, 'acme', '1m', { epoch: 'epoch-1', seq: 1 });
  const [frame] = again.take();
  assert.deepEqual([frame!.type, frame!.fromSeq, frame!.seq], ['delta', 2, 3]);
  assert.equal((frame!.deltas as WindowDelta[])[0]!.total, 2);
  assert.equal(hub.counters.resets, 0);

  // Resuming at the head: nothing missed, an empty frame confirms the position.
  const head = new FakeSocket();
  await hub.subscribe(head, 'acme', '1m', { epoch: 'epoch-1', seq: 3 });
  assert.deepEqual(head.take().map((f) => [f.fromSeq, f.seq, (f.deltas as unknown[]).length]), [[4, 3, 0]]);
});

void test('a delta frame carries the receive time of the oldest batch folded in since the previous frame', async () => {
  const { source, hub } = setup();
  const a = new FakeSocket();
  await hub.subscribe(a, 'acme', '1m');
  await hub.subscribe(a, 'acme', '1s');
  const other = new FakeSocket();
  await hub.subscribe(other, 'zed', '1m');
  a.take();
  other.take();

  source.emitReceivedAt('acme', T0_MS + 300, delta(T0_MS, 'click', 1));
  source.emitReceivedAt('acme', T0_MS + 100, delta(T0_MS, 'click', 1), { ...delta(T0_MS, 'click', 1), resolution: '1s' });
  source.emitReceivedAt('acme', T0_MS + 200, delta(T0_MS + MINUTE_MS, 'view', 1));
  source.emitReceivedAt('zed', T0_MS + 50, delta(T0_MS, 'click', 1));
  hub.tick();
  const frames = a.take();
  assert.deepEqual(frames.map((f) => [f.channel, f.oldestReceivedAtMs]), [['acme/1m', T0_MS + 100], ['acme/1s', T0_MS + 100]]);
  assert.deepEqual(other.take().map((f) => f.oldestReceivedAtMs), [T0_MS + 50], 'another owner keeps its own');

  // The next frame starts over: the figure is of this frame's batches only.
  source.emitReceivedAt('acme', T0_MS + 900, delta(T0_MS, 'click', 1));
  hub.tick();
  assert.deepEqual(a.take().map((f) => [f.channel, f.seq, f.oldestReceivedAtMs]), [['acme/1m', 2, T0_MS + 900]]);

  // A figure that is not a number never reaches the wire.
  source.emitReceivedAt('acme', Number.NaN, delta(T0_MS, 'click', 1));
  hub.tick();
  const [bare] = a.take();
  assert.equal(bare!.seq, 3);
  assert.equal('oldestReceivedAtMs' in bare!, false);
});

void test('merged frames carry the oldest receive time of the frames they cover; a resume that missed nothing none', async () => {
  const { source, hub } = setup({ historyFramesMax: 8 });
  const fast = new FakeSocket();
  const slow = new FakeSocket();
  await hub.subscribe(fast, 'acme', '1m');
  await hub.subscribe(slow, 'acme', '1m');
  fast.take();
  slow.take();
  slow.bufferedAmount = BUFFERED_BYTES_MAX + 1;
  const received = [T0_MS + 400, T0_MS + 200, T0_MS + 600];
  for (const at of received) {
    source.emitReceivedAt('acme', at, delta(T0_MS, 'click', 1));
    hub.tick();
  }
  assert.deepEqual(fast.take().map((f) => f.oldestReceivedAtMs), received);
  slow.bufferedAmount = 0;
  hub.tick();
  assert.deepEqual(slow.take().map((f) => [f.fromSeq, f.seq, f.oldestReceivedAtMs]), [[1, 3, T0_MS + 200]]);

  // Resumes: from seq 2 the frames 3 (received +600); from seq 0 all three; at the head, nothing.
  hub.unsubscribe(fast, 'acme', '1m');
  const cases: Array<[number, Array<unknown>]> = [
    [2, [3, 3, T0_MS + 600]],
    [0, [1, 3, T0_MS + 200]],
    [3, [4, 3, undefined]],
  ];
  for (const [seq, expected] of cases) {
    const socket = new FakeSocket();
    await hub.subscribe(socket, 'acme', '1m', { epoch: 'epoch-1', seq });
    assert.deepEqual(socket.take().map((f) => [f.fromSeq, f.seq, f.oldestReceivedAtMs]), [expected], `resume from ${seq}`);
  }
});

void test('resume beyond history, from another epoch or from the future is a reset then a snapshot', async () => {
  const { source, hub } = setup({ historyFramesMax: 2 });
  await hub.subscribe(new FakeSocket(), 'acme', '1m');
  for (let i = 0; i < 5; i++) {
    source.emit('acme', delta(T0_MS, 'click', 1));
    hub.tick();
  }
  const cases: Array<[{ epoch: string; seq: number }, string]> = [
    [{ epoch: 'epoch-1', seq: 2 }, 'history'],
    [{ epoch: 'epoch-0', seq: 5 }, 'epoch'],
    [{ epoch: 'epoch-1', seq: 9 }, 'history'],
  ];
  for (const [resume, reason] of cases) {
    const socket = new FakeSocket();
    await hub.subscribe(socket, 'acme', '1m', resume);
    const frames = socket.take();
    assert.deepEqual(frames.map((f) => f.type), ['reset', 'snapshot']);
    assert.equal(frames[0]!.reason, reason);
    assert.equal(frames[1]!.seq, 5);
    assert.equal((frames[1]!.windows as LiveWindow[])[0]!.total, 5);
  }
  // seq 3 is the oldest kept predecessor: frames 4 and 5 are held.
  const edge = new FakeSocket();
  await hub.subscribe(edge, 'acme', '1m', { epoch: 'epoch-1', seq: 3 });
  assert.deepEqual(edge.take().map((f) => [f.type, f.fromSeq, f.seq]), [['delta', 4, 5]]);
  assert.equal(hub.counters.resets, 3);
});

void test('a slow subscriber is not sent to; its frames merge and go out as one when it drains', async () => {
  const { source, hub } = setup();
  const fast = new FakeSocket();
  const slow = new FakeSocket();
  await hub.subscribe(fast, 'acme', '1m');
  await hub.subscribe(slow, 'acme', '1m');
  fast.take();
  slow.take();
  slow.bufferedAmount = BUFFERED_BYTES_MAX + 1;
  source.emit('acme', delta(T0_MS, 'click', 1, 1, 10));
  hub.tick();
  source.emit('acme', delta(T0_MS, 'click', 2, 3, 2), delta(T0_MS + MINUTE_MS, 'view', 4, 1));
  hub.tick();
  assert.equal(fast.take().length, 2);
  assert.equal(slow.take().length, 0);
  assert.equal(hub.counters.merges, 2);

  slow.bufferedAmount = 0;
  hub.tick();
  const [merged] = slow.take();
  assert.deepEqual([merged!.type, merged!.fromSeq, merged!.seq], ['delta', 1, 2]);
  const deltas = merged!.deltas as WindowDelta[];
  assert.deepEqual(deltas.map((d) => [d.startMs, d.total, d.uniques]), [[T0_MS, 3, 3], [T0_MS + MINUTE_MS, 4, 1]]);
  assert.deepEqual(deltas[0]!.values.click, { count: 2, sum: 12, min: 2, max: 10 });
  assert.equal(fast.take().length, 0, 'the drain tick sends nothing new to the others');

  // Caught up again: the next frame is a plain one.
  source.emit('acme', delta(T0_MS, 'click', 1));
  hub.tick();
  assert.deepEqual(slow.take().map((f) => [f.seq, f.fromSeq]), [[3, undefined]]);
});

void test('last subscriber gone: unwatch only after the grace period, and a resume in grace works', async () => {
  const { source, clock, hub } = setup();
  const socket = new FakeSocket();
  await hub.subscribe(socket, 'acme', '1m');
  hub.unsubscribe(socket, 'acme', '1m');
  clock.nowMs += 29_000;
  hub.tick();
  assert.deepEqual(source.unwatches, []);
  const back = new FakeSocket();
  await hub.subscribe(back, 'acme', '1m', { epoch: 'epoch-1', seq: 0 });
  assert.equal(back.take()[0]!.type, 'delta');
  hub.unsubscribe(back, 'acme', '1m');
  clock.nowMs += 30_000;
  hub.tick();
  assert.deepEqual(source.unwatches, ['acme/1m']);
  assert.equal(hub.counters.channels, 0);
  // Deltas for the unwatched owner are counted, not routed.
  source.emit('acme', delta(T0_MS, 'click', 1));
  assert.equal(hub.counters.deltasUnrouted, 1);
  // A new channel has a new epoch, so an old resume point resets.
  const later = new FakeSocket();
  await hub.subscribe(later, 'acme', '1m', { epoch: 'epoch-1', seq: 0 });
  assert.deepEqual(later.take().map((f) => [f.type, f.epoch]), [['reset', undefined], ['snapshot', 'epoch-2']]);
});

void test('channels are bounded: an idle one is evicted, otherwise EVT_WS_CHANNELS_FULL', async () => {
  const { source, hub } = setup({ channelsMax: 2 });
  const a = new FakeSocket();
  await hub.subscribe(a, 'a', '1m');
  await hub.subscribe(a, 'b', '1m');
  hub.unsubscribe(a, 'a', '1m');
  await hub.subscribe(a, 'c', '1m');
  assert.deepEqual(source.unwatches, ['a/1m']);
  assert.equal(hub.counters.channelsEvicted, 1);
  await assert.rejects(hub.subscribe(a, 'd', '1m'), { code: 'EVT_WS_CHANNELS_FULL' });
  assert.equal(hub.counters.channelsRefused, 1);
});

void test('a failed watch rejects the subscribe and leaves no channel behind', async () => {
  const { source, hub } = setup();
  source.failNext = true;
  await assert.rejects(hub.subscribe(new FakeSocket(), 'acme', '1m'), /worker gone/);
  assert.equal(hub.counters.channels, 0);
  await hub.subscribe(new FakeSocket(), 'acme', '1m');
  assert.equal(hub.counters.subscribers, 1);
});

void test('closed windows leave the channel state after their lateness', async () => {
  const { source, clock, hub } = setup();
  source.snapshot = [windowState(T0_MS, 1)];
  await hub.subscribe(new FakeSocket(), 'acme', '1m');
  clock.nowMs = T0_MS + MINUTE_MS + 5_001;
  source.emit('acme', delta(T0_MS + MINUTE_MS, 'click', 1));
  hub.tick();
  const late = new FakeSocket();
  await hub.subscribe(late, 'acme', '1m');
  assert.deepEqual((late.take()[0]!.windows as LiveWindow[]).map((w) => w.startMs), [T0_MS + MINUTE_MS]);
});

void test('applyDelta keeps a __proto__ event name as a plain key', () => {
  const state = new Map<number, LiveWindow>();
  const d = delta(T0_MS, 'x', 1);
  d.byName = JSON.parse('{"__proto__": 2}') as Record<string, number>;
  applyDelta(state, d);
  applyDelta(state, d);
  const window = state.get(T0_MS)!;
  assert.equal(Object.getPrototypeOf(window.byName), Object.prototype);
  assert.equal(JSON.stringify(window.byName), '{"__proto__":4}');
});
