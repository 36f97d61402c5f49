import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import { SnapshotInvalidError } from '../../src/actors/state-errors.js';
import { RESOLUTION_MS, type EventRecord, type OwnerSnapshot, type Resolution, type WindowState } from '../../src/actors/types.js';
import { mergeDelta } from '../../src/actors/window.js';
import { hash64 } from '../../src/actors/hash.js';

const OPTIONS: OwnerOptions = Object.freeze({
  resolutions: ['1d', '1s', '1h', '1m'] as Resolution[],
  allowedLatenessMs: 5_000,
  dedupHorizonMs: 60_000,
  dedupIdsMax: 1_000,
  hllPrecision: 12,
  namesPerWindowMax: 1_000,
});
/** Midnight UTC, so every resolution's window starts here. */
const DAY0 = 19_675 * 86_400_000;
/** 05:07:00 UTC on DAY0. */
const T = DAY0 + 5 * 3_600_000 + 7 * 60_000;

let nextId = 0;
function event(timestampMs: number, fields: Partial<EventRecord> = {}): EventRecord {
  return {
    id: `e${nextId++}`,
    name: 'click',
    timestampMs,
    clientTimestampMs: timestampMs,
    receivedAtMs: timestampMs,
    userId: undefined,
    category: 'ui',
    severity: 'info',
    tags: [],
    properties: {},
    value: undefined,
    ...fields,
  };
}

function sink(receiptsAll = false): ApplySink {
  return { shard: 7, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 }, receipts: [], receiptsAll, stored: [] };
}

function apply(actor: OwnerActor, records: EventRecord[], nowMs: number, receiptsAll = false): ApplySink {
  const out = sink(receiptsAll);
  actor.applyBatch(records, records.map((_, i) => i), nowMs, out);
  return out;
}

function windowOf(actor: OwnerActor, resolution: Resolution, startMs: number): WindowState {
  const w = actor.window(resolution, startMs);
  assert.ok(w !== undefined, `no ${resolution} window at ${startMs}`);
  return w;
}

void test('window assignment at every resolution, including exact starts and ends', () => {
  const actor = new OwnerActor('o', OPTIONS, DAY0);
  apply(actor, [event(DAY0), event(DAY0 + 999), event(DAY0 + 1_000), event(DAY0 + 60_000)], DAY0);
  assert.deepEqual(actor.openWindows('1s').map((w) => [w.startMs - DAY0, w.total]), [[0, 2], [1_000, 1], [60_000, 1]]);
  assert.deepEqual(actor.openWindows('1m').map((w) => [w.startMs - DAY0, w.total]), [[0, 3], [60_000, 1]]);
  assert.deepEqual(actor.openWindows('1h').map((w) => [w.startMs - DAY0, w.total]), [[0, 4]]);
  assert.deepEqual(actor.openWindows('1d').map((w) => [w.startMs - DAY0, w.total]), [[0, 4]]);

  const last = DAY0 + 86_400_000 - 1;
  const later = new OwnerActor('o', OPTIONS, last);
  apply(later, [event(last)], last);
  for (const resolution of ['1s', '1m', '1h', '1d'] as const) {
    const ms = RESOLUTION_MS[resolution];
    assert.equal(windowOf(later, resolution, last + 1 - ms).total, 1, resolution);
  }
});

void test('late is judged by when the event arrived (its receive time), not when the worker applied it', () => {
  const actor = new OwnerActor('o', OPTIONS, T - 2_000);
  // Both stamped in [T-1s, T); applied at T + 300 ms, after that window ended.
  const onTime = event(T - 500, { receivedAtMs: T - 10 }); // arrived before the window ended: accepted
  const late = event(T - 400, { receivedAtMs: T }); // arrived as it ended: late
  const noReceiveTime = event(T - 300, { receivedAtMs: Number.NaN }); // judged by the actor's clock: late
  const ahead = event(T - 200, { receivedAtMs: T + 60_000 }); // stamped ahead of the clock: judged by the clock, late
  const out = apply(actor, [onTime, late, noReceiveTime, ahead], T + 300);
  assert.deepEqual(out.stored.map((s) => s.status), ['accepted', 'late', 'late', 'late']);
  assert.deepEqual(out.counts, { accepted: 1, duplicate: 0, late: 3, tooLate: 0, rejected: 0 });
  const w = windowOf(actor, '1s', T - 1_000);
  assert.deepEqual([w.total, w.late], [4, 3]);
  // Past end + allowedLatenessMs by the clock it is too late whenever it arrived: the window is gone.
  const tooLate = apply(actor, [event(T - 900, { receivedAtMs: T - 950 })], T + 5_000);
  assert.deepEqual(tooLate.stored.map((s) => s.status), ['too_late']);
});

void test('accepted, late and too_late around the finest window end and the lateness bound', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  // All received now (T).
  const records = [
    event(T, { receivedAtMs: T }), // window [T, T+1s): accepted
    event(T - 1, { receivedAtMs: T }), // window ends at T = arrival: late
    event(T - 5_000, { receivedAtMs: T }), // window ends T-4s, +5 s lateness = T+1s > now: late
    event(T - 5_001, { receivedAtMs: T }), // window ends T-5s, +5 s = T: too_late
    event(T - 3_600_000, { receivedAtMs: T }), // an hour ago: too_late
  ];
  const out = apply(actor, records, T);
  assert.deepEqual(out.counts, { accepted: 1, duplicate: 0, late: 2, tooLate: 2, rejected: 0 });
  assert.deepEqual(out.receipts.map((r) => [r.index, r.id, r.status]), [
    [1, records[1]!.id, 'late'],
    [2, records[2]!.id, 'late'],
    [3, records[3]!.id, 'too_late'],
    [4, records[4]!.id, 'too_late'],
  ]);
  assert.deepEqual(out.stored.map((s) => s.status), ['accepted', 'late', 'late', 'too_late', 'too_late']);
  assert.ok(out.stored.every((s) => s.owner === 'o' && s.shard === 7));
  assert.equal(out.stored[3]!.event, records[3]);

  // Too-late events are in no window of their own, only in tooLate of the arrival window.
  assert.equal(actor.window('1s', T - 6_000), undefined);
  assert.equal(actor.window('1h', T - 7_200_000 + 60_000 * 53), undefined);
  const arrival1s = windowOf(actor, '1s', T);
  assert.deepEqual([arrival1s.total, arrival1s.late, arrival1s.tooLate], [1, 0, 2]);
  const arrival1m = windowOf(actor, '1m', T);
  assert.deepEqual([arrival1m.total, arrival1m.late, arrival1m.tooLate], [1, 0, 2]);
  // The late events of the previous minute count there, with late set at every resolution.
  const previous1m = windowOf(actor, '1m', T - 60_000);
  assert.deepEqual([previous1m.total, previous1m.late, previous1m.tooLate], [2, 2, 0]);
  const hour = windowOf(actor, '1h', DAY0 + 5 * 3_600_000);
  assert.deepEqual([hour.total, hour.late, hour.tooLate], [3, 2, 2]);
  assert.equal(windowOf(actor, '1d', DAY0).total, 3);
});

void test('receiptsAll lists accepted receipts too, at the request indexes given', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  const out = sink(true);
  const records = [event(T), event(T + 1)];
  actor.applyBatch(records, [4, 9], T, out);
  assert.deepEqual(out.receipts, [
    { index: 4, id: records[0]!.id, status: 'accepted' },
    { index: 9, id: records[1]!.id, status: 'accepted' },
  ]);
});

void test('dedup: duplicates within the horizon are neither stored nor counted; after it they count again', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  const first = event(T, { id: 'same' });
  const out = apply(actor, [first, event(T, { id: 'same' })], T);
  assert.deepEqual(out.counts, { accepted: 1, duplicate: 1, late: 0, tooLate: 0, rejected: 0 });
  assert.deepEqual(out.receipts, [{ index: 1, id: 'same', status: 'duplicate' }]);
  assert.equal(out.stored.length, 1);
  const later = T + OPTIONS.dedupHorizonMs - 1;
  assert.equal(apply(actor, [event(later, { id: 'same' })], later).counts.duplicate, 1);
  const after = T + OPTIONS.dedupHorizonMs;
  assert.equal(apply(actor, [event(after, { id: 'same' })], after).counts.accepted, 1);
  assert.equal(windowOf(actor, '1d', DAY0).total, 2);
});

void test('storedIdWords: the first word of hash64 of each stored event id, in step with stored (duplicates and none else left out)', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  const out: ApplySink = { ...sink(), storedIdWords: [] };
  const records = [event(T, { id: 'a' }), event(T, { id: 'b' }), event(T, { id: 'a' }), event(T - 3 * 86_400_000, { id: 'old' }), event(T, { id: 'c' })];
  actor.applyBatch(records, records.map((_, i) => i), T, out);
  const word = (id: string): number => {
    const h = new Uint32Array(2);
    hash64(id, h);
    return h[0]!;
  };
  assert.deepEqual(out.stored.map((s) => s.event.id), ['a', 'b', 'old', 'c']);
  assert.deepEqual(out.storedIdWords, ['a', 'b', 'old', 'c'].map(word));
});

void test('names, categories, severities, values and uniques are counted per window', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  const records: EventRecord[] = [];
  const users = 3_000;
  for (let i = 0; i < 6_000; i++) {
    records.push(
      event(T + (i % 1_000), {
        name: i % 3 === 0 ? 'buy' : 'view',
        category: i % 2 === 0 ? 'shop' : 'page',
        severity: i % 10 === 0 ? 'error' : 'info',
        value: i % 3 === 0 ? i : undefined,
        userId: `user-${i % users}`,
      }),
    );
  }
  apply(actor, records, T);
  const w = windowOf(actor, '1m', T);
  assert.equal(w.total, 6_000);
  assert.deepEqual(w.byName, { buy: 2_000, view: 4_000 });
  assert.deepEqual(w.byCategory, { shop: 3_000, page: 3_000 });
  assert.deepEqual(w.bySeverity, { error: 600, info: 5_400 });
  // Values of i = 0, 3, ..., 5997.
  assert.deepEqual(w.values, { buy: { count: 2_000, sum: 3 * ((1_999 * 2_000) / 2), min: 0, max: 5_997 } });
  const standardError = 1.04 / Math.sqrt(4_096);
  assert.ok(Math.abs(w.uniques - users) / users < 3 * standardError, `uniques ${w.uniques}`);
  // All events share one 1s window: the 1 s and 1 min windows agree.
  assert.equal(windowOf(actor, '1s', T).uniques, w.uniques);
});

void test('the names bound folds into ~other and is counted on the actor, also where windows roll up', () => {
  const actor = new OwnerActor('o', { ...OPTIONS, namesPerWindowMax: 2 }, T);
  apply(actor, ['a', 'b', 'c', 'd'].map((name) => event(T, { name })), T);
  assert.deepEqual(windowOf(actor, '1s', T).byName, { a: 1, b: 1, '~other': 2 });
  assert.deepEqual(windowOf(actor, '1d', DAY0).byName, { a: 1, b: 1, '~other': 2 });
  // The two events fold once, in the 1-s window; the coarser windows get them folded already.
  assert.equal(actor.counters.namesOverflow, 2);
  // Another second brings two other names: each window holds a, b and ~other, so the
  // minute folds them when the seconds roll up into it (counted then), and keeps them folded.
  apply(actor, ['e', 'f'].map((name) => event(T + 1_000, { name })), T + 1_000);
  assert.deepEqual(windowOf(actor, '1s', T + 1_000).byName, { e: 1, f: 1 });
  actor.closeDue(T + 1_000 + 6_000);
  assert.deepEqual(windowOf(actor, '1m', T).byName, { a: 1, b: 1, '~other': 4 });
  assert.equal(actor.counters.namesOverflow, 4);
  assert.equal(actor.counters.categoriesOverflow, 0);
});

void test('closeDue closes exactly the windows whose end + lateness has passed; they never reopen', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  apply(actor, [event(T), event(T + 1_000)], T + 1_000);
  assert.equal(actor.hasDue(T + 1_000 + 4_999), false);
  assert.deepEqual(actor.closeDue(T + 1_000 + 4_999), []);
  assert.equal(actor.hasDue(T + 1_000 + 5_000), true, 'hasDue agrees with closeDue');
  const closed = actor.closeDue(T + 1_000 + 5_000);
  assert.equal(actor.hasDue(T + 1_000 + 5_000), false, 'nothing due right after');
  assert.deepEqual(closed.map((w) => [w.resolution, w.startMs - T, w.open, w.total]), [['1s', 0, false, 1]]);
  assert.equal(actor.window('1s', T), undefined);
  assert.equal(actor.openWindows('1s').length, 1);
  // A later batch with an earlier clock still sees the advanced clock: too late, not a reopened window.
  const out = apply(actor, [event(T + 10)], T);
  assert.equal(out.counts.tooLate, 1);
  assert.equal(actor.window('1s', T), undefined);
  // Everything closes by the end of the day plus lateness, oldest first per resolution.
  const all = actor.closeDue(DAY0 + 86_400_000 + 5_000);
  assert.deepEqual(all.map((w) => w.resolution), ['1s', '1s', '1m', '1h', '1d']);
  assert.ok(all.every((w) => !w.open));
  assert.equal(actor.approxBytes() > 0, true);
  assert.deepEqual(actor.openWindows('1d'), []);
});

void test('snapshot / restore round trip is equal, across a structured clone, and dedup carries over', () => {
  const actor = new OwnerActor('owner-1', OPTIONS, T);
  const records: EventRecord[] = [];
  for (let i = 0; i < 700; i++) {
    records.push(event(T - 4_000 + i * 7, { name: `n${i % 5}`, value: i % 2 ? i : undefined, userId: `u${i % 600}`, severity: i % 4 ? 'info' : 'warning' }));
  }
  records.push(event(T - 60_000));
  apply(actor, records, T);
  const snapshot = actor.snapshot(T);
  assert.equal(snapshot.owner, 'owner-1');
  assert.equal(snapshot.takenAtMs, T);
  assert.deepEqual(snapshot.recentIds, [], 'ids are written hashed');
  assert.equal(snapshot.recentIdHashes?.length, 16 + 12 * 701);
  const restored = OwnerActor.restore(structuredClone(snapshot), OPTIONS, T);
  assert.deepEqual(restored.snapshot(T), snapshot);
  for (const r of ['1s', '1m', '1h', '1d'] as const) assert.deepEqual(restored.openWindows(r), actor.openWindows(r));
  const again = apply(restored, [{ ...records[10]! }], T + 1);
  assert.equal(again.counts.duplicate, 1);
  // Closing still works on restored windows.
  assert.ok(restored.closeDue(T + 10_000).length > 0);
});

void test('restore rejects malformed snapshots with the field at fault, and drops unkept resolutions', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  apply(actor, [event(T, { userId: 'u' })], T);
  const good = actor.snapshot(T);
  const cases: Array<[string, unknown]> = [
    ['', null],
    ['owner', { ...good, owner: 3 }],
    ['takenAtMs', { ...good, takenAtMs: 'now' }],
    ['windows', { ...good, windows: {} }],
    ['recentIds', { ...good, recentIds: null }],
    ['recentIds/0', { ...good, recentIds: [['a']] }],
    ['recentIds/1', { ...good, recentIds: [['a', 1], [2, 1]] }],
    ['windows/0/total', { ...good, windows: [{ ...good.windows[0]!, total: -3 }] }],
    ['windows/1/startMs', { ...good, windows: [good.windows[0]!, good.windows[0]!] }],
    ['windows/0/uniquesSketch', { ...good, windows: [{ ...good.windows[0]!, uniquesSketch: new Uint8Array([1, 2, 3]) }] }],
  ];
  for (const [field, bad] of cases) {
    assert.throws(
      () => OwnerActor.restore(bad as OwnerSnapshot, OPTIONS, T),
      (error: unknown) => {
        assert.ok(error instanceof SnapshotInvalidError, field);
        assert.equal(error.field, field);
        return true;
      },
      field,
    );
  }
  const narrow = OwnerActor.restore(good, { ...OPTIONS, resolutions: ['1m'] }, T);
  assert.equal(narrow.counters.windowsDroppedOnRestore, 3);
  assert.equal(narrow.openWindows('1m')[0]?.total, 1);
});

void test('deltas of a watched resolution add up to the window; unwatched ones produce none', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  apply(actor, [event(T, { value: 3 })], T);
  assert.deepEqual(actor.takeDeltas(), []);
  actor.watch('1m');
  assert.equal(actor.isWatched(), true);
  const atWatch = actor.openWindows('1m');
  assert.deepEqual(actor.takeDeltas(), []);

  const batches = [
    [event(T + 5, { name: 'a', value: 10, userId: 'u1' }), event(T + 6, { severity: 'error', userId: 'u2' })],
    [event(T + 60_000, { category: 'other', value: -2 }), event(T - 1, { name: 'a' })], // new window, and a late one
    [event(T - 60_000)], // too late: tooLate of the arrival window
  ];
  const collected: ReturnType<OwnerActor['takeDeltas']> = [];
  for (const records of batches) {
    apply(actor, records, T + 10);
    const deltas = actor.takeDeltas();
    assert.ok(deltas.every((d) => d.resolution === '1m'));
    collected.push(...deltas);
  }
  assert.deepEqual(actor.takeDeltas(), []);
  // Rebuild every 1m window from the state at watch time plus the deltas.
  const rebuilt = new Map<number, ReturnType<typeof mergeDelta>>();
  for (const w of atWatch) rebuilt.set(w.startMs, { ...w, uniques: w.uniques });
  for (const d of collected) {
    const previous = rebuilt.get(d.startMs);
    rebuilt.set(d.startMs, previous === undefined ? d : mergeDelta(previous, d));
  }
  for (const w of actor.openWindows('1m')) {
    const r = rebuilt.get(w.startMs);
    assert.ok(r !== undefined);
    const { uniquesSketch: _sketch, open: _open, ...expected } = w;
    assert.deepEqual({ ...r, resolution: w.resolution }, expected, `window ${w.startMs - T}`);
  }
});

void test('watch is ref-counted; the last unwatch drops pending deltas', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  actor.watch('1s');
  apply(actor, [event(T)], T);
  // A second watcher must not discard what the first one has pending.
  actor.watch('1s');
  actor.unwatch('1s');
  apply(actor, [event(T)], T);
  assert.deepEqual(actor.takeDeltas().map((d) => d.total), [2]);
  apply(actor, [event(T)], T);
  actor.unwatch('1s');
  assert.equal(actor.isWatched(), false);
  assert.deepEqual(actor.takeDeltas(), []);
  apply(actor, [event(T)], T);
  assert.deepEqual(actor.takeDeltas(), []);
  actor.unwatch('1s'); // an extra unwatch is harmless
  assert.throws(() => new OwnerActor('o', { ...OPTIONS, resolutions: ['1m'] }, T).watch('1s'), assert.AssertionError);
});

void test('takeOwnerDeltas carries the receive time of the oldest batch counted since the last take', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  const batch = (receivedAtMs: number, ...records: EventRecord[]): EventRecord[] => records.map((r) => ({ ...r, receivedAtMs }));
  // Nothing watched: no deltas, and the batch leaves no receive time behind.
  apply(actor, batch(T - 900, event(T)), T);
  assert.equal(actor.takeOwnerDeltas(), undefined);

  actor.watch('1s');
  actor.watch('1m');
  const repeated = event(T + 1);
  apply(actor, batch(T + 300, event(T + 2), repeated), T + 300);
  apply(actor, batch(T + 100, event(T + 3)), T + 300); // received earlier, applied later (another connection)
  apply(actor, batch(T + 500, event(T - 60_000)), T + 500); // too late: counted in tooLate, so in the deltas
  const first = actor.takeOwnerDeltas();
  assert.ok(first !== undefined);
  assert.equal(first.owner, 'o');
  assert.equal(first.oldestReceivedAtMs, T + 100);
  assert.deepEqual(first.deltas.map((d) => [d.resolution, d.total, d.tooLate]), [['1s', 3, 1], ['1m', 3, 1]]);

  // A batch of duplicates only counts nothing: it is in no delta and its time is not taken.
  apply(actor, batch(T + 600, event(T + 4)), T + 600);
  apply(actor, batch(T + 50, { ...repeated }), T + 600);
  const second = actor.takeOwnerDeltas();
  assert.equal(second?.oldestReceivedAtMs, T + 600);
  assert.equal(actor.takeOwnerDeltas(), undefined, 'taken: nothing pending');

  // The last unwatch drops pending deltas and their receive time with them.
  apply(actor, batch(T + 700, event(T + 5)), T + 700);
  actor.unwatch('1s');
  actor.unwatch('1m');
  actor.watch('1s');
  apply(actor, batch(T + 800, event(T + 6)), T + 800);
  assert.equal(actor.takeOwnerDeltas()?.oldestReceivedAtMs, T + 800);
  // takeDeltas takes the same deltas without the time.
  apply(actor, batch(T + 900, event(T + 7)), T + 900);
  assert.deepEqual(actor.takeDeltas().map((d) => d.total), [1]);
  assert.equal(actor.takeOwnerDeltas(), undefined);
});

void test('deltas of a window that closed before the tick are still delivered', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  actor.watch('1s');
  apply(actor, [event(T)], T);
  assert.equal(actor.closeDue(T + 6_000).length, 1);
  assert.deepEqual(actor.takeDeltas().map((d) => [d.startMs - T, d.total]), [[0, 1]]);
});

void test('lastActiveMs and approxBytes follow the actor', () => {
  const actor = new OwnerActor('o', OPTIONS, T);
  assert.equal(actor.lastActiveMs, T);
  const before = actor.approxBytes();
  apply(actor, [event(T + 20, { name: 'a-fairly-long-event-name', userId: 'u' })], T + 20);
  assert.equal(actor.lastActiveMs, T + 20);
  assert.ok(actor.approxBytes() > before);
});

void test('invalid options are our bug: assertions', () => {
  const bad: Array<Partial<OwnerOptions>> = [
    { resolutions: [] },
    { resolutions: ['5m' as Resolution] },
    { resolutions: ['1s', '1s'] },
    { allowedLatenessMs: -1 },
    { dedupHorizonMs: 0 },
    { dedupIdsMax: 1 },
    { hllPrecision: 20 },
    { namesPerWindowMax: 0 },
  ];
  for (const patch of bad) {
    assert.throws(() => new OwnerActor('o', { ...OPTIONS, ...patch }, T), assert.AssertionError, JSON.stringify(patch));
  }
});

void test('ids pushed out by dedupIdsMax before their horizon are counted on the actor', () => {
  const actor = new OwnerActor('o', { ...OPTIONS, dedupIdsMax: 10 }, T);
  apply(actor, Array.from({ length: 15 }, () => event(T)), T);
  assert.equal(actor.counters.dedupEvictedEarly, 5);
  assert.equal(actor.counters.dedupEarlyRotations, 5, 'the old name counts the same');
});
