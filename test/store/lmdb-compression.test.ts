/**
 * LZ4 compression of event buckets, rollups and snapshots (src/store/lmdb/env.ts):
 * values are stored compressed and come back whole, and a data directory
 * written uncompressed (as versions before compression wrote it) is still
 * read, and can be written on, by the current code. Event buckets are
 * compressed only with eventCompression 'lz4' (lmdbEventCompression); either
 * setting reads what the other wrote.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'lmdb';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';
import { LmdbSnapshotStore } from '../../src/store/lmdb/snapshot-store.js';
import { DB_NAMES, LMDB_COMPRESSION_THRESHOLD_BYTES, LMDB_DBS_MAX } from '../../src/store/lmdb/env.js';
import { BUCKET_MARK } from '../../src/store/lmdb/bucket-codec.js';
import { lmdbPath, openEventStore } from '../../src/store/open.js';
import type { StoredEvent } from '../../src/actors/types.js';
import { tempDir } from '../helpers.js';
import { ownerSnapshot, recentIdHashes, rollup, storedEvent, T0_MS } from './samples.js';

/** lmdb-js's marker of a compressed value (first byte; 255 for values of 16 MiB and more). */
const LZ4_MARKER = 254;
const EVENTS = 1_200;

function events(prefix: string): StoredEvent[] {
  // Realistic repetition (same names, tags and property keys), distinct ids and values.
  return Array.from({ length: EVENTS }, (_, i) =>
    storedEvent(`owner-${i % 7}`, `${prefix}-${i}`, { shard: i % 7 }),
  ).map((stored, i) => ({ ...stored, event: { ...stored.event, value: i * 1.5, userId: `user-${i % 97}` } }));
}

/** Every value of a database as stored on disk (no decompression, no decoding). */
function rawValues(dir: string, name: string): Buffer[] {
  const root = open({ path: dir, maxDbs: LMDB_DBS_MAX, readOnly: true });
  try {
    const db = root.openDB({ name, encoding: 'binary' });
    return [...db.getRange({})].map((entry) => Buffer.from(entry.value as Buffer));
  } finally {
    void root.close();
  }
}

async function writeAll(dir: string, compress: boolean, prefix: string, eventCompression: 'none' | 'lz4' = 'lz4'): Promise<void> {
  const eventStore = new LmdbEventStore({ path: dir, noSync: true, compress, eventCompression });
  const snapshotStore = new LmdbSnapshotStore({ path: dir, noSync: true, compress });
  await eventStore.writeEvents(events(prefix));
  await eventStore.writeRollups([rollup('owner-1', '1s', T0_MS, 3), rollup('owner-1', '1m', T0_MS - (T0_MS % 60_000), 4)]);
  await snapshotStore.putOwnerSnapshots(3, [{ ...ownerSnapshot(`${prefix}-owner`), recentIdHashes: recentIdHashes() }]);
  await eventStore.close();
  await snapshotStore.close();
}

async function readBack(t: TestContext, dir: string, prefix: string, eventCompression: 'none' | 'lz4' = 'none'): Promise<void> {
  const eventStore = new LmdbEventStore({ path: dir, eventCompression });
  const snapshotStore = new LmdbSnapshotStore({ path: dir });
  t.after(() => Promise.all([eventStore.close(), snapshotStore.close()]));
  const expected = events(prefix);
  for (const i of [0, 1, 499, 500, 777, EVENTS - 1]) {
    assert.deepEqual(await eventStore.getEvent(expected[i]!.owner, expected[i]!.event.id), expected[i]);
  }
  const rollups = await eventStore.queryRollups({ owner: 'owner-1', resolution: '1s', fromMs: T0_MS, toMs: T0_MS + 1_000, limit: 10 });
  assert.deepEqual(rollups, [rollup('owner-1', '1s', T0_MS, 3)]);
  assert.deepEqual(await snapshotStore.getOwnerSnapshot(3, `${prefix}-owner`), { ...ownerSnapshot(`${prefix}-owner`), recentIdHashes: recentIdHashes() });
}

test('with eventCompression lz4, buckets, rollups and snapshots are stored LZ4-compressed and read back whole', async (t) => {
  const dir = tempDir(t, 'eventide-lmdb-lz4-');
  await writeAll(dir, true, 'new');
  await readBack(t, dir, 'new');
  for (const name of [DB_NAMES.eventBuckets, DB_NAMES.rollups, DB_NAMES.snapshots]) {
    const values = rawValues(dir, name);
    assert.ok(values.length > 0, name);
    for (const value of values) {
      if (value.length < LMDB_COMPRESSION_THRESHOLD_BYTES) continue;
      assert.equal(value[0], LZ4_MARKER, `${name}: a value of ${value.length} bytes is not compressed`);
    }
  }
  // The events repeat names, tags and keys: their buckets shrink (uncompressed they are ~100 bytes per event).
  const bucketBytes = rawValues(dir, DB_NAMES.eventBuckets).reduce((a, v) => a + v.length, 0);
  assert.ok(bucketBytes < EVENTS * 60, `buckets hold ${bucketBytes} bytes for ${EVENTS} events`);
});

test('a data directory written uncompressed (before compression) is still read, and written on', async (t) => {
  const dir = tempDir(t, 'eventide-lmdb-old-');
  await writeAll(dir, false, 'old');
  for (const name of [DB_NAMES.eventBuckets, DB_NAMES.rollups, DB_NAMES.snapshots]) {
    for (const value of rawValues(dir, name)) assert.ok(value[0]! < 250, `${name}: an old value starts with ${value[0]}`);
  }
  // (The stores readBack opens stay open to the end, and the first opener of a database decides its compression: lz4 here.)
  await readBack(t, dir, 'old', 'lz4');
  // The current code adds compressed values beside the old ones; both stay readable.
  await writeAll(dir, true, 'new');
  await readBack(t, dir, 'old', 'lz4');
  await readBack(t, dir, 'new', 'lz4');
  const buckets = rawValues(dir, DB_NAMES.eventBuckets);
  assert.ok(buckets.some((v) => v[0] === LZ4_MARKER) && buckets.some((v) => v[0]! < 250));
});

test('by default (eventCompression none) buckets are stored as the bucket codec lays them out, rollups and snapshots compressed; each setting reads the other\'s buckets', async (t) => {
  const dir = tempDir(t, 'eventide-lmdb-none-');
  await writeAll(dir, true, 'plain', 'none');
  const buckets = rawValues(dir, DB_NAMES.eventBuckets);
  assert.ok(buckets.length > 0);
  for (const value of buckets) assert.equal(value[0], BUCKET_MARK, `a bucket of ${value.length} bytes is not stored as laid out`);
  for (const name of [DB_NAMES.rollups, DB_NAMES.snapshots]) {
    for (const value of rawValues(dir, name)) if (value.length >= LMDB_COMPRESSION_THRESHOLD_BYTES) assert.equal(value[0], LZ4_MARKER, name);
  }
  // The codec's string table is the compression: still well under the ~100 bytes per event written out.
  const bucketBytes = buckets.reduce((a, v) => a + v.length, 0);
  assert.ok(bucketBytes < EVENTS * 70, `buckets hold ${bucketBytes} bytes for ${EVENTS} events`);
  await readBack(t, dir, 'plain', 'lz4');
  await writeAll(dir, true, 'packed', 'lz4');
  await readBack(t, dir, 'plain', 'none');
  await readBack(t, dir, 'packed', 'none');
  const both = rawValues(dir, DB_NAMES.eventBuckets);
  assert.ok(both.some((v) => v[0] === LZ4_MARKER) && both.some((v) => v[0] === BUCKET_MARK));
});

test('lmdbEventCompression reaches the event store that openEventStore opens (the workers open theirs this way)', async (t) => {
  for (const [setting, first] of [['lz4', LZ4_MARKER], ['none', BUCKET_MARK]] as const) {
    const dir = tempDir(t, `eventide-lmdb-setting-${setting}-`);
    const store = await openEventStore({ dataDir: dir, eventStore: 'lmdb', snapshotStore: 'lmdb', lmdbEventCompression: setting }, { noSync: true });
    await store.writeEvents(events(setting));
    await store.close();
    const buckets = rawValues(lmdbPath(dir), DB_NAMES.eventBuckets);
    assert.ok(buckets.length > 0 && buckets.every((v) => v[0] === first), `${setting}: buckets start with ${[...new Set(buckets.map((v) => v[0]))].join(', ')}`);
  }
});
