/**
 * The dashboard's frame logic (browser/app.ts, DashboardState) in Node: the
 * built browser module is imported as it is served; it starts the page only
 * where there is a document. Frames are the ws protocol of docs/http-api.md.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

type Resolution = '1s' | '1m' | '1h' | '1d';

interface PageWindow {
  startMs: number;
  total: number;
  late: number;
  tooLate: number;
  byName: Map<string, number>;
  uniques: number;
}

interface StateLike {
  channels: Map<Resolution, { epoch: string | undefined; seq: number; synced: boolean; windows: Map<number, PageWindow> }>;
  owner: string | undefined;
  resets: number;
  channel(resolution: Resolution): unknown;
  resumePoint(resolution: Resolution): { epoch: string; seq: number } | undefined;
  onFrame(frame: unknown): { kind: string; [key: string]: unknown };
  addHistory(resolution: Resolution, windows: unknown[]): number;
  prune(nowMs: number): void;
  view(resolution: Resolution, nowMs: number): {
    startMs: number; total: number; late: number; tooLate: number; uniques: number;
    names: Array<[string, number]>; namesHidden: number; eventsHidden: number; series: number[]; seriesStartMs: number;
  };
  rate(nowMs: number): { last: number; average: number; peak: number };
}

interface AppModule {
  DashboardState: new () => StateLike;
  NAMES_SHOWN_MAX: number;
  WINDOWS_SHOWN: Record<Resolution, number>;
}

// dist/test/dashboard/ -> dist/src/edge/dashboard/browser/app.js, the file /dashboard/app.js serves.
const app = (await import(new URL('../../src/edge/dashboard/browser/app.js', import.meta.url).href)) as AppModule;

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

function win(startMs: number, total: number, byName: Record<string, number>, extra: Record<string, unknown> = {}) {
  return { resolution: '1m', startMs, total, late: 0, tooLate: 0, byName, byCategory: {}, bySeverity: {}, values: {}, uniques: 0, ...extra };
}

function subscribed(resolution: Resolution = '1m'): StateLike {
  const state = new app.DashboardState();
  state.channel(resolution);
  return state;
}

void test('a snapshot, then deltas: counts add, uniques replace, seq advances', () => {
  const state = subscribed();
  assert.equal(state.onFrame({ type: 'snapshot', channel: 'acme/1m', epoch: 'e1', seq: 4, windows: [win(T0, 3, { a: 3 }, { uniques: 2, open: true })] }).kind, 'snapshot');
  assert.equal(state.owner, 'acme');
  assert.deepEqual(state.resumePoint('1m'), { epoch: 'e1', seq: 4 });
  assert.deepEqual(state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e1', seq: 5, deltas: [win(T0, 2, { a: 1, b: 1 }, { uniques: 3, late: 1, tooLate: 4 })] }), {
    kind: 'delta', resolution: '1m', resumed: false,
  });
  const view = state.view('1m', T0 + 30_000);
  assert.deepEqual([view.total, view.late, view.tooLate, view.uniques], [5, 1, 4, 3]);
  assert.deepEqual(view.names, [['a', 4], ['b', 1]]);
  assert.deepEqual(state.resumePoint('1m'), { epoch: 'e1', seq: 5 });

  // The same frame again changes nothing; a frame of another epoch is not ours.
  assert.equal(state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e1', seq: 5, deltas: [win(T0, 2, { a: 2 })] }).kind, 'ignored');
  assert.equal(state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e0', seq: 6, deltas: [win(T0, 2, { a: 2 })] }).kind, 'ignored');
  assert.equal(state.view('1m', T0).total, 5);
});

void test('a gap asks for a resume once; the resume frame (fromSeq) repairs it', () => {
  const state = subscribed();
  state.onFrame({ type: 'snapshot', channel: 'acme/1m', epoch: 'e1', seq: 1, windows: [] });
  assert.equal(state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e1', seq: 3, deltas: [win(T0, 1, { a: 1 })] }).kind, 'gap');
  // Frames that were in flight before the server took the resume are covered by its answer.
  assert.equal(state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e1', seq: 4, deltas: [win(T0, 1, { a: 1 })] }).kind, 'ignored');
  assert.deepEqual(state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e1', fromSeq: 2, seq: 4, deltas: [win(T0, 7, { a: 7 })] }), {
    kind: 'delta', resolution: '1m', resumed: true,
  });
  assert.equal(state.view('1m', T0).total, 7);
  assert.equal(state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e1', seq: 5, deltas: [win(T0, 1, { a: 1 })] }).kind, 'delta');
  assert.equal(state.view('1m', T0).total, 8);
});

void test('a reset drops what the page held; the snapshot after it is the new truth', () => {
  const state = subscribed();
  state.onFrame({ type: 'snapshot', channel: 'acme/1m', epoch: 'e1', seq: 9, windows: [win(T0, 5, { a: 5 })] });
  assert.deepEqual(state.onFrame({ type: 'reset', channel: 'acme/1m', reason: 'history' }), { kind: 'reset', resolution: '1m', reason: 'history' });
  assert.equal(state.resets, 1);
  assert.equal(state.resumePoint('1m'), undefined, 'nothing to resume from');
  assert.equal(state.view('1m', T0).total, 0);
  assert.equal(state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e1', seq: 10, deltas: [win(T0, 1, { a: 1 })] }).kind, 'ignored', 'no deltas before the snapshot');
  state.onFrame({ type: 'snapshot', channel: 'acme/1m', epoch: 'e2', seq: 0, windows: [win(T0, 8, { a: 8 })] });
  assert.equal(state.view('1m', T0).total, 8);
});

void test('event names are data: __proto__ is a name like any other', () => {
  const state = subscribed();
  state.onFrame({ type: 'snapshot', channel: 'acme/1m', epoch: 'e1', seq: 0, windows: [] });
  state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e1', seq: 1, deltas: [win(T0, 2, JSON.parse('{"__proto__": 2}') as Record<string, number>)] });
  state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e1', seq: 2, deltas: [win(T0, 1, JSON.parse('{"__proto__": 1}') as Record<string, number>)] });
  assert.deepEqual(state.view('1m', T0).names, [['__proto__', 3]]);
});

void test('history fills closed windows only, never one the ws brought or one still open', () => {
  const state = subscribed();
  assert.equal(state.addHistory('1m', [win(T0 - MINUTE, 4, { a: 4 })]), 0, 'nothing before the snapshot');
  state.onFrame({ type: 'snapshot', channel: 'acme/1m', epoch: 'e1', seq: 0, windows: [win(T0, 5, { a: 5 })] });
  const added = state.addHistory('1m', [
    win(T0 - 2 * MINUTE, 4, { a: 4 }, { open: false }),
    win(T0 - MINUTE, 6, { a: 6 }, { open: true }),
    win(T0, 99, { a: 99 }, { open: false }),
    { startMs: 'not a number' },
  ]);
  assert.equal(added, 1);
  const view = state.view('1m', T0 + 1);
  assert.equal(view.series.length, app.WINDOWS_SHOWN['1m']);
  assert.deepEqual(view.series.slice(-3), [4, 0, 5]);
  assert.equal(view.seriesStartMs, T0 - (app.WINDOWS_SHOWN['1m'] - 1) * MINUTE);

  // Windows older than what is shown are forgotten.
  state.prune(T0 + (app.WINDOWS_SHOWN['1m'] - 1) * MINUTE);
  assert.deepEqual([...state.channels.get('1m')!.windows.keys()], [T0]);
  state.prune(T0 + app.WINDOWS_SHOWN['1m'] * MINUTE);
  assert.equal(state.channels.get('1m')!.windows.size, 0);
});

void test('the names table is bounded; the rest are summed in one line', () => {
  const state = subscribed();
  const byName: Record<string, number> = {};
  for (let i = 0; i < app.NAMES_SHOWN_MAX + 3; i++) byName[`n${String(i).padStart(3, '0')}`] = i + 1;
  state.onFrame({ type: 'snapshot', channel: 'acme/1m', epoch: 'e1', seq: 0, windows: [win(T0, 0, byName)] });
  const view = state.view('1m', T0);
  assert.equal(view.names.length, app.NAMES_SHOWN_MAX);
  assert.deepEqual(view.names[0], [`n${String(app.NAMES_SHOWN_MAX + 2).padStart(3, '0')}`, app.NAMES_SHOWN_MAX + 3]);
  assert.equal(view.namesHidden, 3);
  assert.equal(view.eventsHidden, 1 + 2 + 3);
});

void test('events/s: the last complete second, the mean of ten, the busiest kept', () => {
  const state = subscribed('1s');
  const second = (startMs: number, total: number) => ({ ...win(startMs, total, {}), resolution: '1s' });
  state.onFrame({ type: 'snapshot', channel: 'acme/1s', epoch: 'e1', seq: 0, windows: [second(T0 - 3_000, 30), second(T0 - 2_000, 12), second(T0 - 1_000, 8), second(T0, 50)] });
  // At T0 + 400 ms the second starting at T0 is still filling: the last complete one started at T0 - 1 s.
  assert.deepEqual(state.rate(T0 + 400), { last: 8, average: (30 + 12 + 8) / 10, peak: 50 });
  assert.equal(state.view('1s', T0 + 400).total, 8, 'at 1 s the cards show the last complete second too');
});
