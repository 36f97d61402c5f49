import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intern } from '../../src/actors/names.js';
import { FOLDED_CATS_UNIT, LINEAR_ROWS_MAX, Tally } from '../../src/actors/tally.js';
import { SEVERITIES } from '../../src/actors/types.js';

function countAll(tally: Tally, events: Array<[name: string, category: string, severity: number, value: number | undefined]>): void {
  for (const [name, category, severity, value] of events) tally.count(intern(name), name, intern(category), category, severity, value, false);
}

/** The same counts the plain way. */
function reference(events: Array<[string, string, number, number | undefined]>) {
  const byName: Record<string, number> = {};
  const byCategory: Record<string, number> = {};
  const bySeverity: Record<string, number> = {};
  const values: Record<string, { count: number; sum: number; min: number; max: number }> = {};
  for (const [name, category, severity, value] of events) {
    byName[name] = (byName[name] ?? 0) + 1;
    byCategory[category] = (byCategory[category] ?? 0) + 1;
    bySeverity[SEVERITIES[severity]!] = (bySeverity[SEVERITIES[severity]!] ?? 0) + 1;
    if (value !== undefined) {
      const v = values[name];
      if (v === undefined) values[name] = { count: 1, sum: value, min: value, max: value };
      else values[name] = { count: v.count + 1, sum: v.sum + value, min: Math.min(v.min, value), max: Math.max(v.max, value) };
    }
  }
  return { total: events.length, late: 0, tooLate: 0, byName, byCategory, bySeverity, values };
}

void test('rows past LINEAR_ROWS_MAX are found through the index; counts equal the plain way, in first-seen order', () => {
  const events: Array<[string, string, number, number | undefined]> = [];
  for (let i = 0; i < 5_000; i++) events.push([`name-${(i * 7) % 300}`, `cat-${i % 40}`, i % 6, i % 3 === 0 ? undefined : i - 2_500]);
  const tally = new Tally();
  countAll(tally, events);
  assert.ok(tally.nameRows > LINEAR_ROWS_MAX && tally.catRows > LINEAR_ROWS_MAX);
  const records = tally.toRecords();
  assert.deepEqual(records, reference(events));
  assert.deepEqual(Object.keys(records.byName).slice(0, 3), ['name-0', 'name-7', 'name-14'], 'first-seen order');
  // addRecords of the records rebuilds the same tally.
  const again = new Tally();
  again.addRecords(records);
  assert.deepEqual(again.toRecords(), records);
});

void test('mergeFrom adds counts and folds names past the bound into the given id, reporting how many events folded', () => {
  const into = new Tally();
  countAll(into, [
    ['a', 'x', 0, 1],
    ['b', 'y', 1, undefined],
  ]);
  const from = new Tally();
  countAll(from, [
    ['a', 'x', 0, -3],
    ['c', 'z', 2, 5],
    ['c', 'z', 2, 7],
    ['d', 'x', 2, undefined],
  ]);
  const other = intern('~other');
  const folded = into.mergeFrom(from, 2, other);
  assert.equal(folded % FOLDED_CATS_UNIT, 3, 'c twice and d once');
  assert.equal(Math.floor(folded / FOLDED_CATS_UNIT), 2, 'category z twice');
  assert.deepEqual(into.toRecords(), {
    total: 6,
    late: 0,
    tooLate: 0,
    byName: { a: 2, b: 1, '~other': 3 },
    byCategory: { x: 3, y: 1, '~other': 2 },
    bySeverity: { debug: 2, info: 1, notice: 3 },
    values: { a: { count: 2, sum: -2, min: -3, max: 1 }, '~other': { count: 2, sum: 12, min: 5, max: 7 } },
  });
});

void test('reset empties the counts and keeps working; an empty tally lists nothing', () => {
  const tally = new Tally();
  assert.equal(tally.isEmpty(), true);
  assert.deepEqual(tally.toRecords(), { total: 0, late: 0, tooLate: 0, byName: {}, byCategory: {}, bySeverity: {}, values: {} });
  const events: Array<[string, string, number, number | undefined]> = [];
  for (let i = 0; i < 100; i++) events.push([`n${i % 20}`, `c${i % 15}`, i % 6, i]);
  countAll(tally, events);
  tally.reset();
  assert.equal(tally.isEmpty(), true);
  assert.deepEqual(tally.toRecords(), { total: 0, late: 0, tooLate: 0, byName: {}, byCategory: {}, bySeverity: {}, values: {} });
  countAll(tally, events.slice(0, 7));
  assert.deepEqual(tally.toRecords(), reference(events.slice(0, 7)));
});
