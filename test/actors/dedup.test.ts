import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DedupMemory } from '../../src/actors/dedup.js';

const HORIZON_MS = 10_000;
const T0 = 1_700_000_000_000;

void test('an id is a duplicate within the horizon and new again at exactly the horizon', () => {
  const memory = new DedupMemory(HORIZON_MS, 1_000, T0);
  assert.equal(memory.seen('a', T0), false);
  assert.equal(memory.seen('a', T0), true);
  assert.equal(memory.seen('a', T0 + HORIZON_MS - 1), true);
  assert.equal(memory.seen('a', T0 + HORIZON_MS), false, 'at the horizon it is new again');
  assert.equal(memory.seen('a', T0 + HORIZON_MS + 1), true, 're-seen ids start a new horizon');
});

void test('the horizon holds across time rotations, whatever the rotation phase', () => {
  for (const phaseMs of [0, 1, HORIZON_MS / 2, HORIZON_MS - 1]) {
    const memory = new DedupMemory(HORIZON_MS, 1_000, T0);
    const firstMs = T0 + phaseMs;
    assert.equal(memory.seen('x', firstMs), false);
    // Other traffic forces rotations in between.
    for (let t = firstMs; t < firstMs + HORIZON_MS; t += 1_000) memory.seen(`other-${t}`, t);
    assert.equal(memory.seen('x', firstMs + HORIZON_MS - 1), true, `phase ${phaseMs}`);
    assert.equal(memory.seen('y', firstMs + 3 * HORIZON_MS), false);
    assert.equal(memory.seen('x', firstMs + 3 * HORIZON_MS), false, `phase ${phaseMs}: forgotten`);
  }
});

void test('count bound: remembered while fewer than idsMax/2 ids came in between, rotations counted', () => {
  const idsMax = 10;
  const memory = new DedupMemory(HORIZON_MS, idsMax, T0);
  // Fill so the tracked id sits at every possible position of a generation.
  for (let offset = 0; offset < idsMax; offset++) {
    const probe = `probe-${offset}`;
    assert.equal(memory.seen(probe, T0), false);
    for (let i = 0; i < idsMax / 2 - 1; i++) memory.seen(`fill-${offset}-${i}`, T0);
    assert.equal(memory.seen(probe, T0), true, `4 ids after, offset ${offset}`);
  }
  assert.ok(memory.earlyRotations > 0);
  assert.ok(memory.size <= idsMax);
});

void test('count bound: an id is forgotten once idsMax ids came after it', () => {
  const memory = new DedupMemory(HORIZON_MS, 10, T0);
  memory.seen('old', T0);
  for (let i = 0; i < 10; i++) memory.seen(`n${i}`, T0);
  assert.equal(memory.seen('old', T0), false);
  assert.ok(memory.size <= 10);
});

void test('export lists live ids once with their first-seen time; import keeps the guarantee', () => {
  const memory = new DedupMemory(HORIZON_MS, 100, T0);
  memory.seen('early', T0);
  memory.seen('mid', T0 + 6_000);
  memory.seen('late', T0 + 12_000); // rotation: early, mid now in the previous generation
  memory.seen('early', T0 + 12_000); // past its horizon: recorded again
  const exported = memory.export(T0 + 15_000);
  assert.deepEqual(
    [...exported].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])),
    [
      ['mid', T0 + 6_000],
      ['early', T0 + 12_000],
      ['late', T0 + 12_000],
    ],
  );
  const restored = DedupMemory.import(exported, HORIZON_MS, 100, T0 + 15_000);
  assert.equal(restored.seen('mid', T0 + 15_999), true);
  assert.equal(restored.seen('late', T0 + 21_999), true);
  assert.equal(restored.seen('mid', T0 + 16_000), false, 'mid expires on its own horizon');
  assert.equal(restored.seen('nobody', T0 + 16_000), false);
  // Entries past the horizon at import time are dropped.
  const stale = DedupMemory.import([['gone', T0]], HORIZON_MS, 100, T0 + HORIZON_MS);
  assert.equal(stale.size, 0);
});

void test('import replays in time order and stays within idsMax', () => {
  const entries: Array<[string, number]> = [];
  for (let i = 0; i < 50; i++) entries.push([`id-${i}`, T0 + 49 - i]); // newest first
  const restored = DedupMemory.import(entries, HORIZON_MS, 20, T0 + 100);
  assert.ok(restored.size <= 20);
  // The newest ids (fewer than 10 after them) are kept.
  for (let i = 0; i < 9; i++) assert.equal(restored.seen(`id-${i}`, T0 + 100), true, `id-${i}`);
  assert.equal(restored.earlyRotations, 0);
});

void test('bad bounds are our bug: assertions', () => {
  assert.throws(() => new DedupMemory(0, 10, T0), assert.AssertionError);
  assert.throws(() => new DedupMemory(10, 1, T0), assert.AssertionError);
});
