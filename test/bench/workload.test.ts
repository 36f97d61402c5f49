import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOwnerPicker, type WorkloadOptions } from '../../src/bench/workload.js';

const OPTIONS: WorkloadOptions = {
  seed: 3, owners: 1_000, ownerZipfS: 1, usersPerOwner: 10, eventNames: 4, eventBytes: 150, batchEvents: 10,
  templateCount: 2, duplicatePct: 0, latePct: 0, invalidPct: 0, skewPct: 0, lateByMs: 1_000, skewMs: 1_000,
};

void test('touch: the units visit every owner exactly once first, then pick by Zipf', () => {
  const units = 3;
  const pickers = Array.from({ length: units }, (_, u) => createOwnerPicker(OPTIONS, u, { units }));
  const seen = new Map<number, number>();
  for (let u = 0; u < units; u++) {
    // Unit u's share: ceil((owners - u) / units) owners, in order u, u + units, ...
    const share = Math.ceil((OPTIONS.owners - u) / units);
    for (let i = 0; i < share; i++) {
      const owner = pickers[u]!();
      assert.equal(owner, u + i * units);
      seen.set(owner, (seen.get(owner) ?? 0) + 1);
    }
  }
  assert.equal(seen.size, OPTIONS.owners);
  assert.ok([...seen.values()].every((n) => n === 1));
  // Then Zipf(1): the first owner is by far the most picked.
  const after = new Map<number, number>();
  for (let i = 0; i < 5_000; i++) {
    const owner = pickers[0]!();
    after.set(owner, (after.get(owner) ?? 0) + 1);
  }
  assert.ok(after.get(0)! > 5_000 / 20, `owner 0 picked ${after.get(0)} times of 5000`);
});

void test('without touch, random picks leave owners untouched after as many picks as owners', () => {
  const pick = createOwnerPicker({ ...OPTIONS, ownerZipfS: 0 }, 0);
  const seen = new Set<number>();
  for (let i = 0; i < OPTIONS.owners; i++) seen.add(pick());
  // 1 - 1/e of them, about 632: the reason --touch-owners exists.
  assert.ok(seen.size > 550 && seen.size < 700, `${seen.size} owners`);
});
