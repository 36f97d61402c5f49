import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash32 } from '../../src/actors/hash.js';
import { HyperLogLog } from '../../src/actors/hll.js';
import { SnapshotInvalidError } from '../../src/actors/state-errors.js';
import type { WindowDelta, WindowState } from '../../src/actors/types.js';
import {
  OTHER_NAME,
  Tally,
  WindowAggregate,
  mergeDelta,
  severityIndex,
  validateWindowState,
  windowStartMs,
} from '../../src/actors/window.js';

const OPTIONS = { hllPrecision: 12, namesPerWindowMax: 1000 };
const START_MS = 1_700_000_040_000; // a whole minute
const INFO = severityIndex('info');
const ERROR = severityIndex('error');

void test('windowStartMs aligns to the UTC epoch; the end belongs to the next window', () => {
  assert.equal(windowStartMs(START_MS, 60_000), START_MS);
  assert.equal(windowStartMs(START_MS + 59_999, 60_000), START_MS);
  assert.equal(windowStartMs(START_MS + 60_000, 60_000), START_MS + 60_000);
  assert.equal(windowStartMs(1_500, 1_000), 1_000);
  assert.equal(windowStartMs(-1, 1_000), -1_000);
  assert.equal(windowStartMs(86_400_000 * 3 + 5, 86_400_000), 86_400_000 * 3);
});

void test('add counts total, late, names, categories, severities, values and uniques', () => {
  const w = new WindowAggregate('1m', START_MS, OPTIONS);
  assert.equal(w.endMs, START_MS + 60_000);
  w.add('click', 'ui', INFO, 2, false, hash32('u1'));
  w.add('click', 'ui', INFO, 5, true, hash32('u2'));
  w.add('view', 'page', ERROR, undefined, false, hash32('u1'));
  w.add('click', 'ui', INFO, -1, false, -1);
  w.addTooLate();
  const state = w.toState(true);
  assert.equal(state.total, 4);
  assert.equal(state.late, 1);
  assert.equal(state.tooLate, 1);
  assert.deepEqual(state.byName, { click: 3, view: 1 });
  assert.deepEqual(state.byCategory, { ui: 3, page: 1 });
  assert.deepEqual(state.bySeverity, { info: 3, error: 1 });
  assert.deepEqual(state.values, { click: { count: 3, sum: 6, min: -1, max: 5 } });
  assert.equal(state.uniques, 2);
  assert.equal(state.open, true);
  assert.equal(HyperLogLog.deserialize(state.uniquesSketch).estimate(), 2);
});

void test('__proto__ and constructor are ordinary names and survive export and import', () => {
  const w = new WindowAggregate('1s', 1_000, OPTIONS);
  w.add('__proto__', 'constructor', INFO, 1, false, -1);
  w.add('__proto__', 'toString', INFO, 3, false, -1);
  const state = w.toState(true);
  assert.equal(Object.getPrototypeOf(state.byName), Object.prototype);
  assert.deepEqual(Object.keys(state.byName), ['__proto__']);
  assert.equal(Object.getOwnPropertyDescriptor(state.byName, '__proto__')?.value, 2);
  assert.equal((Object.getOwnPropertyDescriptor(state.values, '__proto__')?.value as { sum: number } | undefined)?.sum, 4);
  assert.deepEqual(Object.keys(state.byCategory).sort(), ['constructor', 'toString']);
  // Through JSON (a store) and back.
  const back = WindowAggregate.fromState(
    { ...(JSON.parse(JSON.stringify({ ...state, uniquesSketch: [] })) as WindowState), uniquesSketch: state.uniquesSketch },
    OPTIONS,
    'w',
  );
  const backState = back.toState(true);
  assert.equal(Object.getOwnPropertyDescriptor(backState.byName, '__proto__')?.value, 2);
  assert.equal((Object.getOwnPropertyDescriptor(backState.values, '__proto__')?.value as { max: number } | undefined)?.max, 3);
});

void test('names past namesPerWindowMax count under ~other and in the overflow counter', () => {
  const w = new WindowAggregate('1m', START_MS, { hllPrecision: 12, namesPerWindowMax: 3 });
  for (const name of ['a', 'b', 'c', 'd', 'e', 'a', 'd']) w.add(name, `cat-${name}`, INFO, 1, false, -1);
  const state = w.toState(true);
  assert.deepEqual(state.byName, { a: 2, b: 1, c: 1, [OTHER_NAME]: 3 });
  assert.deepEqual(state.byCategory, { 'cat-a': 2, 'cat-b': 1, 'cat-c': 1, [OTHER_NAME]: 3 });
  assert.equal(state.values[OTHER_NAME]?.count, 3);
  assert.equal(w.namesOverflow, 3);
  assert.equal(w.categoriesOverflow, 3);
  assert.equal(state.total, 7);
});

void test('toState / fromState round trip is equal', () => {
  const w = new WindowAggregate('1h', 3_600_000 * 10, OPTIONS);
  for (let i = 0; i < 2_000; i++) w.add(`n${i % 7}`, `c${i % 3}`, i % 6, i % 5 === 0 ? undefined : i / 3, i % 11 === 0, hash32(`u${i % 900}`));
  w.addTooLate();
  const state = w.toState(false);
  const back = WindowAggregate.fromState(state, OPTIONS, 'w').toState(false);
  assert.deepEqual(back, state);
});

void test('deltas count what the window counted since the last take; uniques is the current estimate', () => {
  const w = new WindowAggregate('1m', START_MS, OPTIONS);
  w.add('a', 'x', INFO, 1, false, hash32('u1'));
  assert.equal(w.takeDelta(), null, 'no delta while not watched');
  w.delta = new Tally();
  assert.equal(w.takeDelta(), null, 'no delta when nothing changed');
  w.add('a', 'x', INFO, 4, false, hash32('u2'));
  w.add('b', 'y', ERROR, undefined, true, hash32('u2'));
  w.addTooLate();
  const d1 = w.takeDelta();
  assert.deepEqual(d1, {
    resolution: '1m',
    startMs: START_MS,
    total: 2,
    late: 1,
    tooLate: 1,
    byName: { a: 1, b: 1 },
    byCategory: { x: 1, y: 1 },
    bySeverity: { info: 1, error: 1 },
    values: { a: { count: 1, sum: 4, min: 4, max: 4 } },
    uniques: 2,
  });
  assert.equal(w.takeDelta(), null);
});

void test('mergeDelta adds counts, merges min/max and keeps the newer uniques', () => {
  const base = { resolution: '1s' as const, startMs: 5_000, late: 0, tooLate: 0, bySeverity: {} };
  const a: WindowDelta = { ...base, total: 2, byName: { x: 2 }, byCategory: { c: 2 }, values: { x: { count: 2, sum: 3, min: 1, max: 2 } }, uniques: 4, late: 1 };
  const b: WindowDelta = {
    ...base,
    total: 3,
    tooLate: 2,
    byName: { x: 1, y: 2 },
    byCategory: { c: 3 },
    bySeverity: { info: 3 },
    values: { x: { count: 1, sum: -5, min: -5, max: -5 }, y: { count: 1, sum: 7, min: 7, max: 7 } },
    uniques: 6,
  };
  const merged = mergeDelta(a, b);
  assert.deepEqual(merged, {
    resolution: '1s',
    startMs: 5_000,
    total: 5,
    late: 1,
    tooLate: 2,
    byName: { x: 3, y: 2 },
    byCategory: { c: 5 },
    bySeverity: { info: 3 },
    values: { x: { count: 3, sum: -2, min: -5, max: 2 }, y: { count: 1, sum: 7, min: 7, max: 7 } },
    uniques: 6,
  });
  // Inputs are untouched.
  assert.deepEqual(a.byName, { x: 2 });
  assert.throws(() => mergeDelta(a, { ...b, startMs: 6_000 }), RangeError);
});

void test('validateWindowState rejects malformed states with the field at fault', () => {
  const good = new WindowAggregate('1m', START_MS, OPTIONS);
  good.add('a', 'x', INFO, 1, false, hash32('u'));
  const state = good.toState(true);
  const cases: Array<[string, unknown]> = [
    ['w', null],
    ['w/resolution', { ...state, resolution: '5m' }],
    ['w/startMs', { ...state, startMs: START_MS + 1 }],
    ['w/total', { ...state, total: -1 }],
    ['w/late', { ...state, late: 2 }],
    ['w/tooLate', { ...state, tooLate: 1.5 }],
    ['w/byName', { ...state, byName: [] }],
    ['w/byName/a', { ...state, byName: { a: 'one' } }],
    ['w/bySeverity/loud', { ...state, bySeverity: { loud: 1 } }],
    ['w/values/a', { ...state, values: { a: { count: 0, sum: 0, min: 0, max: 0 } } }],
    ['w/values/a/sum', { ...state, values: { a: { count: 1, sum: Number.NaN, min: 0, max: 0 } } }],
    ['w/values/a', { ...state, values: { a: { count: 1, sum: 0, min: 2, max: 1 } } }],
    ['w/uniquesSketch', { ...state, uniquesSketch: [1, 2] }],
    ['w/uniquesSketch', { ...state, uniquesSketch: new Uint8Array([1, 12, 9, 0]) }],
    ['w/uniquesSketch', { ...state, uniquesSketch: new HyperLogLog(10).serialize() }],
  ];
  for (const [field, bad] of cases) {
    assert.throws(
      () => WindowAggregate.fromState(bad as WindowState, OPTIONS, 'w'),
      (error: unknown) => {
        assert.ok(error instanceof SnapshotInvalidError, field);
        assert.equal(error.code, 'EVT_SNAPSHOT_INVALID');
        assert.equal(error.field, field);
        return true;
      },
      field,
    );
  }
  assert.doesNotThrow(() => validateWindowState(state, 'w'));
});
