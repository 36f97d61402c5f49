/**
 * The thread's name table and its bound. node:test runs each file in its own
 * process, so filling the table here leaves other files alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NAMES_INTERNED_MAX, intern, internAt, internStats, nameOf } from '../../src/actors/names.js';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import type { EventRecord, Resolution } from '../../src/actors/types.js';
import { WindowAggregate, severityIndex } from '../../src/actors/window.js';

const OPTIONS: OwnerOptions = Object.freeze({
  resolutions: ['1s', '1m', '1h', '1d'] as Resolution[],
  allowedLatenessMs: 5_000,
  dedupHorizonMs: 60_000,
  dedupIdsMax: 1_000,
  hllPrecision: 12,
  namesPerWindowMax: 1_000,
});
const T = 19_675 * 86_400_000 + 3_600_000;
const INFO = severityIndex('info');

void test('internAt: the id intern gives, whatever slot it is told, however slots are shared and reused', () => {
  const names = ['signup', 'login', 'page_view', 'purchase', 'a', 'b', '__proto__'];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 200; i++) {
      const name = names[(i * 7 + round) % names.length]!;
      // Few slots shared by several names (each takes a slot over from the one before), and no slot.
      const slot = i % 5 === 0 ? -1 : (i * 3) % 4;
      // A copy, not the same string object: equal strings give one id.
      assert.equal(internAt(`${name} `.slice(0, -1), slot), intern(name), `${name} at slot ${slot}`);
    }
  }
});

void test('ids are stable, shared, and name their string; `__proto__` is an ordinary name', () => {
  const a = intern('checkout');
  assert.equal(intern('checkout'), a);
  assert.equal(nameOf(a), 'checkout');
  const proto = intern('__proto__');
  assert.notEqual(proto, a);
  assert.equal(nameOf(proto), '__proto__');
});

void test('past NAMES_INTERNED_MAX the table refuses (counted), and windows keep those names exactly', () => {
  for (let i = internStats().interned; i < NAMES_INTERNED_MAX; i++) assert.ok(intern(`filler-${i}`) >= 0);
  assert.equal(internStats().interned, NAMES_INTERNED_MAX);
  const refusedBefore = internStats().refused;
  assert.equal(intern('one-too-many'), -1);
  assert.equal(internStats().refused, refusedBefore + 1);
  assert.ok(intern('checkout') >= 0, 'known names keep their ids');

  const w = new WindowAggregate('1m', T, { hllPrecision: 12, namesPerWindowMax: 1_000 });
  w.add('late-name-a', 'late-cat', INFO, 2, false, 1);
  w.add('late-name-b', 'late-cat', INFO, undefined, false, 2);
  w.add('late-name-a', 'checkout', INFO, 4, true, 1);
  w.add('checkout', 'late-cat', INFO, undefined, false, 3);
  const state = w.toState(true);
  assert.deepEqual(state.byName, { 'late-name-a': 2, 'late-name-b': 1, checkout: 1 });
  assert.deepEqual(state.byCategory, { 'late-cat': 3, checkout: 1 });
  assert.deepEqual(state.values, { 'late-name-a': { count: 2, sum: 6, min: 2, max: 4 } });
  assert.deepEqual(WindowAggregate.fromState(state, { hllPrecision: 12, namesPerWindowMax: 1_000 }, 'w').toState(true), state);
});

void test('refused names roll up, reach deltas, and survive a snapshot, all exactly', () => {
  assert.equal(intern('never-interned-1'), -1, 'the table is full (previous test)');
  const actor = new OwnerActor('o', OPTIONS, T);
  actor.watch('1m');
  const records: EventRecord[] = [];
  for (let i = 0; i < 30; i++) {
    records.push({
      id: `e${i}`,
      name: `never-interned-${i % 4}`,
      timestampMs: T + (i % 3) * 1_000,
      clientTimestampMs: T,
      receivedAtMs: T,
      userId: `u${i % 5}`,
      category: i % 2 === 0 ? 'checkout' : `cat-never-${i % 3}`,
      severity: 'info',
      tags: [],
      properties: {},
      value: i,
    });
  }
  const out: ApplySink = { shard: 0, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 }, receipts: [], receiptsAll: false, stored: [] };
  actor.applyBatch(records, records.map((_, i) => i), T, out);
  const deltas = actor.takeDeltas();
  assert.deepEqual(deltas.map((d) => d.byName), [{ 'never-interned-0': 8, 'never-interned-1': 8, 'never-interned-2': 7, 'never-interned-3': 7 }]);
  const snapshot = actor.snapshot(T);
  actor.closeDue(T + 10_000); // the 1-s windows roll up into the minute
  const minute = actor.openWindows('1m')[0]!;
  assert.deepEqual(minute.byName, deltas[0]!.byName);
  assert.deepEqual(minute.byCategory, { checkout: 15, 'cat-never-1': 5, 'cat-never-0': 5, 'cat-never-2': 5 });
  assert.equal(minute.values['never-interned-1']?.sum, 1 + 5 + 9 + 13 + 17 + 21 + 25 + 29);
  assert.equal(minute.uniques, 5);
  const restored = OwnerActor.restore(structuredClone(snapshot), OPTIONS, T);
  assert.deepEqual(restored.openWindows('1d')[0]!.byName, minute.byName);
});
