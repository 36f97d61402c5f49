/**
 * Snapshots written before ids were hashed (and before windows rolled up)
 * still restore: the dedup memory hashes their ids, their windows come back
 * whole and go on counting. The fixture was written by that implementation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import type { EventRecord, OwnerSnapshot, Resolution } from '../../src/actors/types.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/store/redis/codec.js';
import { SNAPSHOT_WITH_IDS_JSON } from './fixtures/owner-snapshot-ids.js';

const OPTIONS: OwnerOptions = Object.freeze({
  resolutions: ['1s', '1m', '1h', '1d'] as Resolution[],
  allowedLatenessMs: 5_000,
  dedupHorizonMs: 600_000,
  dedupIdsMax: 100_000,
  hllPrecision: 12,
  namesPerWindowMax: 1_000,
});
const T = 1_700_000_000_000;

function oldSnapshot(): OwnerSnapshot {
  const parsed = JSON.parse(SNAPSHOT_WITH_IDS_JSON) as Omit<OwnerSnapshot, 'windows'> & { windows: Array<Record<string, unknown>> };
  for (const w of parsed.windows) w.uniquesSketch = new Uint8Array(Buffer.from(w.uniquesSketch as string, 'base64'));
  return parsed as unknown as OwnerSnapshot;
}

function apply(actor: OwnerActor, records: EventRecord[], nowMs: number): ApplySink {
  const out: ApplySink = { shard: 3, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 }, receipts: [], receiptsAll: false, stored: [] };
  actor.applyBatch(records, records.map((_, i) => i), nowMs, out);
  return out;
}

function event(id: string, timestampMs: number): EventRecord {
  return { id, name: 'checkout', timestampMs, clientTimestampMs: timestampMs, receivedAtMs: timestampMs, userId: 'user-new', category: 'web', severity: 'info', tags: [], properties: {}, value: 2 };
}

void test('an owner snapshot with ids as strings restores: ids are still duplicates, windows whole and counting on', () => {
  const snapshot = oldSnapshot();
  assert.equal(snapshot.recentIds.length, 40);
  assert.equal(snapshot.recentIdHashes, undefined);
  const now = T + 1_000;
  const actor = OwnerActor.restore(snapshot, OPTIONS, now);
  // Every remembered id is a duplicate; a new one is not.
  const again = apply(actor, snapshot.recentIds.map(([id]) => event(id, now)), now);
  assert.equal(again.counts.duplicate, 40);
  for (const r of ['1s', '1m', '1h', '1d'] as const) {
    const expected = snapshot.windows.filter((w) => w.resolution === r).map((w) => ({ ...w, open: true }));
    assert.deepEqual(actor.openWindows(r), expected, r);
  }
  assert.equal(Object.getOwnPropertyDescriptor(actor.openWindows('1d')[0]!.byName, '__proto__')?.value, 13);
  // A new event counts on top, at every resolution; nothing is counted twice when windows close.
  const before = new Map(snapshot.windows.map((w) => [`${w.resolution}@${w.startMs}`, w.total]));
  assert.equal(apply(actor, [event('new-1', now)], now).counts.accepted, 1);
  const dayStart = actor.openWindows('1d')[0]!.startMs;
  assert.equal(actor.openWindows('1d')[0]!.total, before.get(`1d@${dayStart}`)! + 1);
  // A new snapshot is in the new form: no ids, packed hashes.
  const fresh = actor.snapshot(now);
  assert.deepEqual(fresh.recentIds, []);
  assert.equal(fresh.recentIdHashes?.length, 16 + 12 * 41);
  const closed = actor.closeDue(T + 2 * 86_400_000);
  const totals = Object.fromEntries(closed.map((w) => [`${w.resolution}@${w.startMs}`, w.total]));
  for (const [key, total] of before) {
    const [resolution, start] = key.split('@') as [Resolution, string];
    const holdsNew = Number(start) === now - (now % { '1s': 1_000, '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 }[resolution]);
    assert.equal(totals[key], total + (holdsNew ? 1 : 0), key);
  }
});

void test('through the Redis binary form too: an old snapshot (no hashes) and a new one (hashes) both restore', () => {
  const now = T + 1_000;
  const oldBlob = encodeSnapshot(oldSnapshot());
  const fromOld = OwnerActor.restore(decodeSnapshot(oldBlob), OPTIONS, now);
  assert.equal(apply(fromOld, [event('order-7', now)], now).counts.duplicate, 1);
  const newBlob = encodeSnapshot(fromOld.snapshot(now));
  const fromNew = OwnerActor.restore(decodeSnapshot(newBlob), OPTIONS, now);
  assert.equal(apply(fromNew, [event('order-8', now), event('order-7', now), event('new-2', now)], now).counts.duplicate, 2);
  assert.ok(newBlob.length < oldBlob.length, `hashed ids pack smaller: ${newBlob.length} < ${oldBlob.length}`);
});
