/**
 * Runs the three store contracts against LMDB, each test in its own temporary
 * directory, then checks what only the LMDB adapters promise: persistence
 * across reopen, one shared environment per path, several threads on one
 * path, and failures that leave nothing written.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { pack, Packr } from 'msgpackr';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { idWord, LmdbEventStore, nextCandidate, SWEEP_BUCKETS_PER_TXN } from '../../src/store/lmdb/event-store.js';
import { LmdbSnapshotStore } from '../../src/store/lmdb/snapshot-store.js';
import { LmdbKeyStore } from '../../src/store/lmdb/key-store.js';
import { acquireLmdbEnv, DB_NAMES, lmdbEnvRefs, releaseLmdbEnv } from '../../src/store/lmdb/env.js';
import { lmdbPath, lmdbSnapshotsPath, openStores, snapshotEnvPath } from '../../src/store/open.js';
import type { StoredEvent } from '../../src/actors/types.js';
import { hash32 } from '../../src/actors/hash.js';
import { decodeBucket, encodeBucket } from '../../src/store/lmdb/bucket-codec.js';
import { eventStoreContract } from './event-store.contract.js';
import { snapshotStoreContract } from './snapshot-store.contract.js';
import { keyStoreContract } from './key-store.contract.js';
import { manyIdHashes, ownerSnapshot, recentIdHashes, rollup, storedEvent, T0_MS } from './samples.js';

const tempDirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'eventide-lmdb-'));
  tempDirs.push(dir);
  return dir;
}
after(async () => {
  await Promise.all(tempDirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

function opener<S extends { close(): Promise<void> }>(make: (dir: string) => S) {
  return async () => {
    const dir = await tempDir();
    const store = make(dir);
    return {
      store,
      async close() {
        await store.close();
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  };
}

eventStoreContract('lmdb', opener((dir) => new LmdbEventStore({ path: dir })));
snapshotStoreContract('lmdb', opener((dir) => new LmdbSnapshotStore({ path: dir })));
keyStoreContract('lmdb', opener((dir) => new LmdbKeyStore({ path: dir })));

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code);
    return true;
  });
}

void test('what was written survives closing and reopening the path', async () => {
  const dir = await tempDir();
  const events = new LmdbEventStore({ path: dir });
  const snapshots = new LmdbSnapshotStore({ path: dir });
  await events.writeEvents([storedEvent('acme', 'e-1')]);
  await events.writeRollups([rollup('acme', '1m', T0_MS)]);
  await snapshots.putOwnerSnapshots(2, [ownerSnapshot('acme')]);
  await snapshots.putCheckpoint({ shard: 2, takenAtMs: T0_MS, logOffset: 3 });
  await events.close();
  await snapshots.close();
  assert.equal(lmdbEnvRefs(dir), 0);

  const reopened = new LmdbEventStore({ path: dir });
  const reopenedSnapshots = new LmdbSnapshotStore({ path: dir });
  assert.deepEqual(await reopened.getEvent('acme', 'e-1'), storedEvent('acme', 'e-1'));
  assert.equal((await reopened.queryRollups({ owner: 'acme', resolution: '1m', fromMs: 0, toMs: T0_MS + 1, limit: 5 })).length, 1);
  assert.deepEqual(await reopenedSnapshots.getOwnerSnapshot(2, 'acme'), ownerSnapshot('acme'));
  assert.equal((await reopenedSnapshots.getCheckpoint(2))?.logOffset, 3);
  await reopened.close();
  await reopenedSnapshots.close();
});

void test('stores on one path share one environment, closed with the last of them; the snapshot store has its own', async () => {
  const dir = await tempDir();
  const stores = await openStores({ dataDir: dir, eventStore: 'lmdb', snapshotStore: 'lmdb' });
  assert.equal(lmdbEnvRefs(lmdbPath(dir)), 2, 'events and keys');
  assert.equal(lmdbEnvRefs(lmdbSnapshotsPath(dir)), 1, 'snapshots');
  await stores.events.close();
  await stores.events.close();
  assert.equal(lmdbEnvRefs(lmdbPath(dir)), 1);
  await stores.close();
  assert.equal(lmdbEnvRefs(lmdbPath(dir)), 0);
  assert.equal(lmdbEnvRefs(lmdbSnapshotsPath(dir)), 0);
});

void test('a new data directory keeps snapshots in their own environment; one with snapshots in the main environment keeps them there', async () => {
  const fresh = await tempDir();
  const a = await openStores({ dataDir: fresh, eventStore: 'lmdb', snapshotStore: 'lmdb' });
  await a.snapshots.putCheckpoint({ shard: 1, takenAtMs: T0_MS, logOffset: 7 });
  await a.snapshots.putOwnerSnapshots(1, [ownerSnapshot('acme')]);
  await a.close();
  assert.equal(snapshotEnvPath(fresh), lmdbSnapshotsPath(fresh));
  const main = acquireLmdbEnv({ path: lmdbPath(fresh) });
  try {
    assert.equal([...main.db(DB_NAMES.checkpoints).getKeys({})].length, 0, 'nothing in the main environment');
    assert.equal([...main.db(DB_NAMES.snapshots).getKeys({})].length, 0);
  } finally {
    await releaseLmdbEnv(main);
  }
  const again = await openStores({ dataDir: fresh, eventStore: 'lmdb', snapshotStore: 'lmdb' });
  assert.equal((await again.snapshots.getCheckpoint(1))?.logOffset, 7, 'read back after a restart');
  assert.equal((await again.snapshots.getOwnerSnapshot(1, 'acme'))?.owner, 'acme');
  await again.close();

  // Written before the split: a checkpoint and a snapshot in <dataDir>/lmdb, no lmdb-snapshots.
  const old = await tempDir();
  const before = new LmdbSnapshotStore({ path: lmdbPath(old) });
  await before.putCheckpoint({ shard: 2, takenAtMs: T0_MS, logOffset: 11 });
  await before.putOwnerSnapshots(2, [ownerSnapshot('beta')]);
  await before.close();
  assert.equal(snapshotEnvPath(old), lmdbPath(old));
  const upgraded = await openStores({ dataDir: old, eventStore: 'lmdb', snapshotStore: 'lmdb' });
  assert.equal((await upgraded.snapshots.getCheckpoint(2))?.logOffset, 11, 'the old checkpoint is where it was');
  assert.equal((await upgraded.snapshots.getOwnerSnapshot(2, 'beta'))?.owner, 'beta');
  await upgraded.snapshots.putCheckpoint({ shard: 2, takenAtMs: T0_MS + 1, logOffset: 12 });
  await upgraded.close();
  await assert.rejects(fs.access(lmdbSnapshotsPath(old)), 'no own environment was made');
  const reopened = await openStores({ dataDir: old, eventStore: 'lmdb', snapshotStore: 'lmdb' });
  assert.equal((await reopened.snapshots.getCheckpoint(2))?.logOffset, 12);
  await reopened.close();
});

void test('openStores refuses an unknown store kind, or a real one without its URL, and leaves nothing open', async () => {
  const dir = await tempDir();
  const unknown = 'cassandra' as unknown as 'lmdb';
  await rejectsWithCode(openStores({ dataDir: dir, eventStore: 'lmdb', snapshotStore: unknown }), 'EVT_STORE_UNSUPPORTED');
  await rejectsWithCode(openStores({ dataDir: dir, eventStore: unknown, snapshotStore: 'lmdb' }), 'EVT_STORE_UNSUPPORTED');
  await rejectsWithCode(openStores({ dataDir: dir, eventStore: 'lmdb', snapshotStore: 'redis' }), 'EVT_STORE_OPEN');
  await rejectsWithCode(openStores({ dataDir: dir, eventStore: 'mongodb', snapshotStore: 'lmdb' }), 'EVT_STORE_OPEN');
  assert.equal(lmdbEnvRefs(lmdbPath(dir)), 0);
});

void test('a closed store rejects every call with EVT_STORE_CLOSED', async () => {
  const dir = await tempDir();
  const events = new LmdbEventStore({ path: dir });
  const snapshots = new LmdbSnapshotStore({ path: dir });
  const keys = new LmdbKeyStore({ path: dir });
  await Promise.all([events.close(), snapshots.close(), keys.close()]);
  await rejectsWithCode(events.writeEvents([storedEvent('a', 'e')]), 'EVT_STORE_CLOSED');
  await rejectsWithCode(events.getEvent('a', 'e'), 'EVT_STORE_CLOSED');
  await rejectsWithCode(events.queryRollups({ owner: 'a', resolution: '1s', fromMs: 0, toMs: 1, limit: 1 }), 'EVT_STORE_CLOSED');
  await rejectsWithCode(snapshots.getCheckpoint(1), 'EVT_STORE_CLOSED');
  await rejectsWithCode(keys.list(), 'EVT_STORE_CLOSED');
});

void test('a batch with one unstorable event is refused whole, naming the field', async () => {
  const dir = await tempDir();
  const events = new LmdbEventStore({ path: dir });
  const batch = [storedEvent('acme', 'ok-1'), storedEvent('acme', 'x'.repeat(513)), storedEvent('acme', 'ok-2')];
  await assert.rejects(events.writeEvents(batch), (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, 'EVT_STORE_INPUT');
    assert.equal((error as { field?: unknown }).field, '1/event/id');
    return true;
  });
  await rejectsWithCode(events.writeRollups([{ ...rollup('acme', '1s', T0_MS), resolution: '2s' as '1s' }]), 'EVT_STORE_INPUT');
  assert.equal(await events.getEvent('acme', 'ok-1'), undefined);
  await events.close();
});

void test('a failure in the middle of a write transaction leaves nothing of it written', async () => {
  const dir = await tempDir();
  const events = new LmdbEventStore({ path: dir });
  // The third event throws while being encoded. Buckets are packed before the
  // write transaction opens, so nothing of the batch is written, and the
  // error names the input at fault rather than a failed write.
  const poisoned = storedEvent('acme', 'e-3');
  Object.defineProperty(poisoned, 'status', {
    enumerable: true,
    get(): never {
      throw new Error('cannot encode');
    },
  });
  const batch: StoredEvent[] = [storedEvent('acme', 'e-1'), storedEvent('acme', 'e-2'), poisoned];
  await rejectsWithCode(events.writeEvents(batch), 'EVT_STORE_INPUT');
  assert.equal(await events.getEvent('acme', 'e-1'), undefined);
  assert.equal(await events.getEvent('acme', 'e-2'), undefined);
  // The store stays usable after the failed transaction; the retry succeeds.
  await events.writeEvents([storedEvent('acme', 'e-1')]);
  assert.equal((await events.getEvent('acme', 'e-1'))?.event.id, 'e-1');
  await events.close();
});

void test('a stored value of the wrong shape is reported as EVT_STORE_CORRUPT', async () => {
  const dir = await tempDir();
  const env = acquireLmdbEnv({ path: dir });
  await env.db(DB_NAMES.eventIndex).put(['acme', 'e-1'], [1, 2, 0]);
  await env.db(DB_NAMES.eventBuckets).put([1, 2], pack([{ not: 'an event' }]));
  await env.db(DB_NAMES.eventIndex).put(['acme', 'e-2'], 'not a pointer');
  await env.db(DB_NAMES.rollups).put(['acme', '1s', T0_MS], { ...rollup('acme', '1s', T0_MS), uniquesSketch: 'text' });
  const events = new LmdbEventStore({ path: dir });
  await rejectsWithCode(events.getEvent('acme', 'e-1'), 'EVT_STORE_CORRUPT');
  await rejectsWithCode(events.getEvent('acme', 'e-2'), 'EVT_STORE_CORRUPT');
  await rejectsWithCode(events.queryRollups({ owner: 'acme', resolution: '1s', fromMs: 0, toMs: T0_MS + 1, limit: 5 }), 'EVT_STORE_CORRUPT');
  await events.close();
  await releaseLmdbEnv(env);
});

void test("a busy owner's dedup hashes are kept apart, uncompressed, beside its snapshot; a missing or short copy is EVT_STORE_CORRUPT", async () => {
  const dir = await tempDir();
  const snapshots = new LmdbSnapshotStore({ path: dir });
  const busy = { ...ownerSnapshot('acme'), recentIds: [], recentIdHashes: manyIdHashes(10_000) };
  const small = { ...ownerSnapshot('beta'), recentIds: [], recentIdHashes: recentIdHashes() };
  await snapshots.putOwnerSnapshots(3, [busy, small]);
  const env = acquireLmdbEnv({ path: dir });
  const apart = env.db(DB_NAMES.snapshotIdHashes);
  assert.equal((apart.get([3, 'acme']) as Buffer).length, busy.recentIdHashes.length, 'the busy owner\'s hashes, as they are');
  assert.equal(apart.get([3, 'beta']), undefined, 'a few hashes stay in the snapshot');
  const stored = env.db(DB_NAMES.snapshots).get([3, 'acme']) as Record<string, unknown>;
  assert.equal(stored.recentIdHashes, undefined);
  assert.equal(stored.recentIdHashesApart, busy.recentIdHashes.length);
  assert.deepEqual(await snapshots.getOwnerSnapshot(3, 'acme'), busy);
  // The copy apart lost or cut: refused, not read as an owner without recent ids (which would count re-sent events again).
  await apart.put([3, 'acme'], Buffer.alloc(16));
  await rejectsWithCode(snapshots.getOwnerSnapshot(3, 'acme'), 'EVT_STORE_CORRUPT');
  await apart.remove([3, 'acme']);
  await rejectsWithCode(snapshots.getOwnerSnapshot(3, 'acme'), 'EVT_STORE_CORRUPT');
  // Deleting the snapshot deletes its hashes too.
  await snapshots.putOwnerSnapshots(3, [busy]);
  await snapshots.deleteOwnerSnapshots(3, ['acme']);
  assert.equal(apart.get([3, 'acme']), undefined);
  await snapshots.close();
  await releaseLmdbEnv(env);
});

void test('a data dir written with the per-event index is still read, and its copy wins over a later one', async () => {
  const dir = await tempDir();
  const env = acquireLmdbEnv({ path: dir });
  // The layout before the owner bucket lists: a bucket of records plus [owner, id] -> [tag, seq, position].
  const old = storedEvent('acme', 'old-1', { status: 'late' });
  await env.db(DB_NAMES.eventBuckets).put([77, 3], new Packr({ useRecords: true, moreTypes: false }).pack([storedEvent('acme', 'old-0'), old]));
  await env.db(DB_NAMES.eventIndex).put(['acme', 'old-1'], [77, 3, 1]);
  const events = new LmdbEventStore({ path: dir });
  assert.deepEqual(await events.getEvent('acme', 'old-1'), old);
  await events.writeEvents([storedEvent('acme', 'old-1'), storedEvent('acme', 'new-1')]);
  assert.equal((await events.getEvent('acme', 'old-1'))?.status, 'late', 'the first copy (the legacy one) wins');
  assert.equal((await events.getEvent('acme', 'new-1'))?.event.id, 'new-1');
  await events.close();
  await releaseLmdbEnv(env);
});

void test('buckets in both formats are read: the fixed layout, and msgpack (events of another shape, data written before it)', async () => {
  const dir = await tempDir();
  const events = new LmdbEventStore({ path: dir });
  const plain = [storedEvent('acme', 'c-1'), storedEvent('acme', 'c-2', { status: 'too_late' })];
  // One owner on two shards cannot be a fixed-layout bucket (the layout holds one shard): msgpack.
  const odd = [storedEvent('acme', 'm-1', { shard: 1 }), storedEvent('acme', 'm-2', { shard: 2 })];
  await events.writeEvents(plain);
  await events.writeEvents(odd);
  // Written before the codec: a msgpack bucket and its owner entry, as that version wrote them.
  const env = acquireLmdbEnv({ path: dir });
  const before = storedEvent('acme', 'old-1', { status: 'late' });
  const ids = Buffer.alloc(12);
  ids.writeUInt32LE(1, 0);
  ids.writeUInt32LE(1, 4);
  ids.writeUInt32LE(hash32('old-1'), 8);
  await env.db(DB_NAMES.eventBuckets).put([5, 1], new Packr({ useRecords: true, moreTypes: false }).pack([before]));
  await env.db(DB_NAMES.eventsByOwner).put(['acme', 1, 5, 1], ids);
  const firstBytes = [...env.db(DB_NAMES.eventBuckets).getRange({})].map(({ value }) => (value as Uint8Array)[0]);
  assert.equal(firstBytes.filter((b) => b === 0xc1).length, 1, 'one bucket in the fixed layout');
  assert.equal(firstBytes.length, 3);
  for (const e of [...plain, ...odd, before]) assert.deepEqual(await events.getEvent('acme', e.event.id), e, e.event.id);
  await events.close();
  await releaseLmdbEnv(env);
});

void test('owner bucket lists: owners that prefix each other stay apart; ids whose hashes collide are both found', async () => {
  const dir = await tempDir();
  const events = new LmdbEventStore({ path: dir });
  await events.writeEvents([storedEvent('ab', 'x', { shard: 1 }), storedEvent('a', 'x', { shard: 2 }), storedEvent('abc', 'y', { shard: 3 })]);
  assert.equal((await events.getEvent('a', 'x'))?.shard, 2);
  assert.equal((await events.getEvent('ab', 'x'))?.shard, 1);
  assert.equal(await events.getEvent('a', 'y'), undefined);
  assert.equal(await events.getEvent('ab', 'y'), undefined);
  // Two ids with one id-list word (the first word of hash64; found by search, ~80K tries on average): the list finds both, each its own.
  const [first, second] = collidingIds((id) => idWord(id));
  await events.writeEvents([storedEvent('acme', second, { shard: 20 }), storedEvent('acme', 'z'), storedEvent('acme', first, { shard: 10 })]);
  assert.equal((await events.getEvent('acme', first))?.shard, 10);
  assert.equal((await events.getEvent('acme', second))?.shard, 20);
  // A later write of the first id (another bucket) does not shadow the first copy.
  await events.writeEvents([storedEvent('acme', first, { shard: 99 })]);
  assert.equal((await events.getEvent('acme', first))?.shard, 10);
  // More events than one bucket, in one write: every one found.
  const many = Array.from({ length: 1_203 }, (_, i) => storedEvent('bulk', `m-${i}`, { shard: i }));
  await events.writeEvents(many);
  for (const i of [0, 499, 500, 1_000, 1_202]) assert.equal((await events.getEvent('bulk', `m-${i}`))?.shard, i);
  await events.close();
});

void test('id lists written by the previous version (hash32, sorted, the bucket in that order) are still read, colliding hashes included', async () => {
  const dir = await tempDir();
  const env = acquireLmdbEnv({ path: dir });
  // Format 1: the bucket's events sorted by hash32 of their ids (equal hashes in arrival order), the list ascending.
  const [first, second] = collidingIds((id) => hash32(id));
  // One shard (the fixed layout holds one); copies told apart by their value.
  const marked = (id: string, value: number): StoredEvent => {
    const e = storedEvent('acme', id);
    return { ...e, event: { ...e.event, value } };
  };
  const events = [marked(second, 20), marked('z', 0), marked(first, 10), marked(first, 11)];
  const sorted = events.map((e, place) => ({ e, hash: hash32(e.event.id), place })).sort((x, y) => x.hash - y.hash || x.place - y.place);
  const ids = Buffer.alloc(8 + 4 * sorted.length);
  ids.writeUInt32LE(1, 0);
  ids.writeUInt32LE(sorted.length, 4);
  sorted.forEach(({ hash }, k) => ids.writeUInt32LE(hash, 8 + 4 * k));
  await env.db(DB_NAMES.eventBuckets).put([6, 1], encodeBucket(sorted.map(({ e }) => e))!);
  await env.db(DB_NAMES.eventsByOwner).put(['acme', 1, 6, 1], ids);
  const store = new LmdbEventStore({ path: dir });
  assert.equal((await store.getEvent('acme', first))?.event.value, 10, 'the first copy of a repeated id');
  assert.equal((await store.getEvent('acme', second))?.event.value, 20);
  assert.equal((await store.getEvent('acme', 'z'))?.event.id, 'z');
  assert.equal(await store.getEvent('acme', 'absent'), undefined);
  // A later bucket in the current format beside it: the old copy still wins, new ids are found.
  await store.writeEvents([marked(first, 99), marked('new-1', 7)]);
  assert.equal((await store.getEvent('acme', first))?.event.value, 10);
  assert.equal((await store.getEvent('acme', 'new-1'))?.event.value, 7);
  await store.close();
  await releaseLmdbEnv(env);
});

void test('buckets keep the order events came in; id words passed by the caller give the same store as words hashed here', async () => {
  const dirA = await tempDir();
  const dirB = await tempDir();
  const a = new LmdbEventStore({ path: dirA });
  const b = new LmdbEventStore({ path: dirB });
  try {
    const events = Array.from({ length: 1_100 }, (_, i) => {
      const e = storedEvent(i % 3 === 0 ? 'beta' : 'acme', `w-${(i * 37) % 900}`);
      return { ...e, event: { ...e.event, value: i } };
    });
    const words = events.map((e) => idWord(e.event.id));
    const withWords = a.prepareEvents(events, words);
    const hashedHere = b.prepareEvents(events);
    type Bucket = { owner: string; value: Buffer; bytes: Buffer; entry: Buffer; order: Uint16Array };
    const bucketsOf = (prepared: typeof withWords): Bucket[] => (prepared as unknown as { lmdbBuckets: Bucket[] }).lmdbBuckets;
    assert.equal(bucketsOf(withWords).length, 3, 'acme: 733 events in two buckets (500 + 233), beta: 367 in one');
    for (const [x, y] of bucketsOf(withWords).map((bucket, k) => [bucket, bucketsOf(hashedHere)[k]!] as const)) {
      assert.deepEqual(x.value, y.value);
      assert.deepEqual(x.entry, y.entry);
      assert.deepEqual([...x.order], [...x.order.keys()], 'the identity: a bucket holds its events in the order they came');
    }
    await a.writePrepared([withWords]);
    await b.writePrepared([hashedHere]);
    // Ids repeat (w-0 .. w-899 over 1,100 events): the first copy of each, by owner, is what both return.
    const firstCopy = new Map<string, StoredEvent>();
    for (const e of events) if (!firstCopy.has(`${e.owner}/${e.event.id}`)) firstCopy.set(`${e.owner}/${e.event.id}`, e);
    for (const [key, e] of firstCopy) {
      assert.equal((await a.getEvent(e.owner, e.event.id))?.event.value, e.event.value, key);
      assert.equal((await b.getEvent(e.owner, e.event.id))?.event.value, e.event.value, key);
    }
    assert.throws(() => a.prepareEvents(events, words.slice(1)), (error: unknown) => (error as { code?: unknown }).code === 'EVT_STORE_INPUT');
  } finally {
    await a.close();
    await b.close();
  }
});

void test('an id list is searched the same at any byte offset (aligned: the native search; else word by word)', () => {
  const ids = ['a', 'b', 'a', 'c', 'a'];
  for (const offset of [0, 1, 2, 3, 4]) {
    const bytes = new Uint8Array(offset + 8 + 4 * ids.length);
    const view = new DataView(bytes.buffer, offset);
    view.setUint32(0, 2, true);
    view.setUint32(4, ids.length, true);
    ids.forEach((id, k) => view.setUint32(8 + 4 * k, idWord(id), true));
    const all = (id: string): number[] => {
      const found: number[] = [];
      const words: [number, number] = [idWord(id), -1];
      for (let p = nextCandidate(view, 8, 2, ids.length, id, words, 0); p >= 0; p = nextCandidate(view, 8, 2, ids.length, id, words, p + 1)) found.push(p);
      return found;
    };
    assert.deepEqual(all('a'), [0, 2, 4], `offset ${offset}`);
    assert.deepEqual(all('c'), [3], `offset ${offset}`);
    assert.deepEqual(all('z'), [], `offset ${offset}`);
  }
});

void test('a bucket\'s id words follow it in its own value (format 3); the owner entry holds their count only', async () => {
  const dir = await tempDir();
  const store = new LmdbEventStore({ path: dir });
  const events = Array.from({ length: 503 }, (_, i) => storedEvent('acme', `f3-${i}`, { status: i % 7 === 0 ? 'late' : 'accepted' }));
  await store.writeEvents(events);
  await store.close();
  const env = acquireLmdbEnv({ path: dir });
  try {
    const entries = [...env.db(DB_NAMES.eventsByOwner).getRange({ start: ['acme'], end: ['acme', Number.MAX_SAFE_INTEGER] })];
    assert.equal(entries.length, 2, '500 + 3');
    let from = 0;
    for (const { key, value } of entries) {
      const entry = value as Buffer;
      assert.equal(entry.length, 8);
      assert.equal(entry.readUInt32LE(0), 3, 'format 3');
      const count = entry.readUInt32LE(4);
      const at = key as number[];
      const stored = env.db(DB_NAMES.eventBuckets).get([at[2]!, at[3]!]) as Buffer;
      const bucket = stored.subarray(0, stored.length - 4 * count);
      const run = events.slice(from, from + count);
      assert.deepEqual(bucket, encodeBucket(run), 'the bucket, as encodeBucket writes it');
      assert.deepEqual(decodeBucket(bucket), run);
      for (let k = 0; k < count; k++) assert.equal(stored.readUInt32LE(bucket.length + 4 * k), idWord(run[k]!.event.id), `word ${k}`);
      from += count;
    }
    assert.equal(from, events.length);
  } finally {
    await releaseLmdbEnv(env);
  }
  const reopened = new LmdbEventStore({ path: dir });
  for (const i of [0, 7, 499, 500, 502]) assert.deepEqual(await reopened.getEvent('acme', `f3-${i}`), events[i]);
  assert.equal(await reopened.getEvent('acme', 'f3-503'), undefined);
  await reopened.close();
});

void test('id lists in the owner entry (format 2, written by the previous version) are still read, beside format 3', async () => {
  const dir = await tempDir();
  const env = acquireLmdbEnv({ path: dir });
  // Format 2: the bucket alone under its key, the first word of hash64 of each id in the entry, in the bucket's order.
  const [first, second] = collidingIds((id) => idWord(id));
  const marked = (id: string, value: number): StoredEvent => {
    const e = storedEvent('acme', id);
    return { ...e, event: { ...e.event, value } };
  };
  const old = [marked(second, 20), marked('z', 0), marked(first, 10), marked(first, 11)];
  const ids = Buffer.alloc(8 + 4 * old.length);
  ids.writeUInt32LE(2, 0);
  ids.writeUInt32LE(old.length, 4);
  old.forEach((e, k) => ids.writeUInt32LE(idWord(e.event.id), 8 + 4 * k));
  await env.db(DB_NAMES.eventBuckets).put([6, 1], encodeBucket(old)!);
  await env.db(DB_NAMES.eventsByOwner).put(['acme', 1, 6, 1], ids);
  const store = new LmdbEventStore({ path: dir });
  assert.equal((await store.getEvent('acme', first))?.event.value, 10, 'the first copy of a repeated id');
  assert.equal((await store.getEvent('acme', second))?.event.value, 20);
  assert.equal((await store.getEvent('acme', 'z'))?.event.id, 'z');
  await store.writeEvents([marked(first, 99), marked('new-1', 7), marked(second, 98)]);
  assert.equal((await store.getEvent('acme', first))?.event.value, 10, 'the old copy still wins');
  assert.equal((await store.getEvent('acme', second))?.event.value, 20);
  assert.equal((await store.getEvent('acme', 'new-1'))?.event.value, 7, 'found in the format 3 bucket after it');
  assert.equal(await store.getEvent('acme', 'absent'), undefined);
  await store.close();
  await releaseLmdbEnv(env);
});

void test('a damaged format 3 bucket entry is reported as EVT_STORE_CORRUPT', async () => {
  const dir = await tempDir();
  const env = acquireLmdbEnv({ path: dir });
  const entry = (count: number, extra = 0): Buffer => {
    const b = Buffer.alloc(8 + extra);
    b.writeUInt32LE(3, 0);
    b.writeUInt32LE(count, 4);
    return b;
  };
  const bucket = encodeBucket([storedEvent('acme', 'e-1')], 4)!;
  bucket.writeUInt32LE(idWord('e-1'), bucket.length - 4);
  // The entry longer than its header; the bucket missing; the bucket shorter than its words; a count the bucket does not hold.
  await env.db(DB_NAMES.eventBuckets).put([8, 1], bucket);
  await env.db(DB_NAMES.eventsByOwner).put(['long', 1, 8, 1], entry(1, 4));
  await env.db(DB_NAMES.eventsByOwner).put(['fine', 1, 8, 1], entry(1));
  await env.db(DB_NAMES.eventsByOwner).put(['gone', 1, 8, 2], entry(1));
  await env.db(DB_NAMES.eventBuckets).put([8, 3], Buffer.from([1, 2, 3, 4]));
  await env.db(DB_NAMES.eventsByOwner).put(['short', 1, 8, 3], entry(1));
  const twice = Buffer.concat([bucket, bucket.subarray(bucket.length - 4)]);
  await env.db(DB_NAMES.eventBuckets).put([8, 4], twice);
  await env.db(DB_NAMES.eventsByOwner).put(['count', 1, 8, 4], entry(2));
  const events = new LmdbEventStore({ path: dir });
  assert.equal((await events.getEvent('fine', 'e-1'))?.event.id, 'e-1', 'the same bucket under a sound entry');
  for (const owner of ['long', 'gone', 'short', 'count']) await rejectsWithCode(events.getEvent(owner, 'e-1'), 'EVT_STORE_CORRUPT');
  await events.close();
  await releaseLmdbEnv(env);
});

void test('retention: sweepExpired removes the buckets written before now - eventsRetentionMs, with their entries; the rest stay', async () => {
  const dir = await tempDir();
  let now = T0_MS;
  const HOUR = 3_600_000;
  const store = new LmdbEventStore({ path: dir, eventsRetentionMs: 2 * HOUR, clock: () => now });
  assert.equal(store.ttlMode, 'sweep');
  // Owners that prefix each other ('a', 'ab'), written at three times; one write of 1,203 events (three buckets) at the first.
  await store.writeEvents([storedEvent('a', 'a-old'), storedEvent('ab', 'ab-old'), ...Array.from({ length: 1_203 }, (_, i) => storedEvent('bulk', `b-${i}`))]);
  now += HOUR;
  await store.writeEvents([storedEvent('a', 'a-mid'), storedEvent('ab', 'ab-mid')]);
  now += 2 * HOUR;
  await store.writeEvents([storedEvent('a', 'a-new'), storedEvent('zeta', 'z-new')]);
  // At T0 + 3 h the cutoff is T0 + 1 h: the first write goes, the second (written at the cutoff) stays.
  assert.equal(await store.sweepExpired(), 1 + 1 + 1_203);
  assert.deepEqual(store.stats, { expiredEvents: 1_205, expiredBuckets: 5, sweepFailures: 0 });
  for (const [owner, id] of [['a', 'a-old'], ['ab', 'ab-old'], ['bulk', 'b-0'], ['bulk', 'b-1202']] as const) assert.equal(await store.getEvent(owner, id), undefined, id);
  for (const [owner, id] of [['a', 'a-mid'], ['ab', 'ab-mid'], ['a', 'a-new'], ['zeta', 'z-new']] as const) assert.equal((await store.getEvent(owner, id))?.event.id, id, id);
  assert.equal(await store.sweepExpired(), 0, 'nothing more');
  now += HOUR + 1;
  assert.equal(await store.sweepExpired(), 2, 'the second write, once past the cutoff');
  await store.close();
  const env = acquireLmdbEnv({ path: dir });
  try {
    const owners = [...env.db(DB_NAMES.eventsByOwner).getKeys({})].map((key) => (key as unknown[])[0]);
    assert.deepEqual(owners, ['a', 'zeta']);
    assert.equal([...env.db(DB_NAMES.eventBuckets).getKeys({})].length, 2, 'the buckets went with their entries');
  } finally {
    await releaseLmdbEnv(env);
  }
});

void test('retention: a sweep over more than one transaction of buckets, format 2 entries included; no retention sweeps nothing', async () => {
  const dir = await tempDir();
  let now = T0_MS;
  const env = acquireLmdbEnv({ path: dir });
  // A format 2 entry (the previous version's), old.
  const ids = Buffer.alloc(12);
  ids.writeUInt32LE(2, 0);
  ids.writeUInt32LE(1, 4);
  ids.writeUInt32LE(idWord('v2'), 8);
  await env.db(DB_NAMES.eventBuckets).put([9, 1], encodeBucket([storedEvent('m', 'v2')])!);
  await env.db(DB_NAMES.eventsByOwner).put(['m', T0_MS - 1, 9, 1], ids);
  const keep = new LmdbEventStore({ path: dir });
  assert.equal(keep.ttlMode, undefined);
  assert.equal(await keep.sweepExpired(T0_MS + 1e12), 0);
  await keep.close();
  const store = new LmdbEventStore({ path: dir, eventsRetentionMs: 1_000, clock: () => now });
  // One bucket per owner per write: more buckets than one sweep transaction takes, over owners and within one.
  const owners = SWEEP_BUCKETS_PER_TXN + 7;
  await store.writeEvents(Array.from({ length: owners }, (_, i) => storedEvent(`o-${i}`, `e-${i}`)));
  for (let k = 0; k < 3; k++) await store.writeEvents([storedEvent('o-5', `again-${k}`)]);
  now += 1_001;
  await store.writeEvents([storedEvent('o-5', 'late-one')]);
  assert.equal(await store.sweepExpired(), owners + 3 + 1, 'every old bucket, the format 2 one too');
  assert.equal(store.stats.expiredBuckets, owners + 3 + 1);
  assert.equal(await store.getEvent('m', 'v2'), undefined);
  assert.equal(await store.getEvent('o-5', 'again-2'), undefined);
  assert.equal((await store.getEvent('o-5', 'late-one'))?.event.id, 'late-one');
  assert.deepEqual([...env.db(DB_NAMES.eventsByOwner).getKeys({})].map((key) => (key as unknown[])[0]), ['o-5']);
  // Two calls at once run one sweep.
  const [x, y] = [store.sweepExpired(now + 10_000), store.sweepExpired(now + 10_000)];
  assert.equal(x, y);
  assert.equal(await x, 1);
  await store.close();
  await assert.rejects(store.sweepExpired(), (error: unknown) => (error as { code?: unknown }).code === 'EVT_STORE_CLOSED');
  await releaseLmdbEnv(env);
});

void test('a damaged owner bucket list is reported as EVT_STORE_CORRUPT', async () => {
  const dir = await tempDir();
  const env = acquireLmdbEnv({ path: dir });
  await env.db(DB_NAMES.eventsByOwner).put(['acme', 1, 5, 5], Buffer.from([1, 0, 0, 0, 9, 0, 0, 0]));
  await env.db(DB_NAMES.eventsByOwner).put(['zeta', 1, 5, 6], Buffer.from('nonsense'));
  const events = new LmdbEventStore({ path: dir });
  await rejectsWithCode(events.getEvent('acme', 'e-1'), 'EVT_STORE_CORRUPT');
  await rejectsWithCode(events.getEvent('zeta', 'e-1'), 'EVT_STORE_CORRUPT');
  await events.close();
  await releaseLmdbEnv(env);
});

void test('a worker thread opens the path the main thread holds open, and each reads the other\'s writes', async () => {
  const dir = await tempDir();
  const events = new LmdbEventStore({ path: dir });
  await events.writeEvents([storedEvent('acme', 'from-main')]);
  const storeUrl = pathToFileURL(path.resolve('dist/src/store/lmdb/event-store.js')).href;
  const source = `
    import { parentPort, workerData } from 'node:worker_threads';
    import { LmdbEventStore } from ${JSON.stringify(storeUrl)};
    const store = new LmdbEventStore({ path: workerData.dir });
    const seen = await store.getEvent('acme', 'from-main');
    await store.writeEvents([{ ...seen, event: { ...seen.event, id: 'from-worker' } }]);
    await store.close();
    parentPort.postMessage(seen.event.id);
  `;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), { workerData: { dir } });
  const seenByWorker = await new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(seenByWorker, 'from-main');
  assert.equal((await events.getEvent('acme', 'from-worker'))?.event.id, 'from-worker');
  await events.close();
});

void test('prepared events: written in order with writeEvents, first write wins across both, found while pending', async () => {
  const dir = await tempDir();
  const store = new LmdbEventStore({ path: dir });
  try {
    const first = Array.from({ length: 600 }, (_, i) => storedEvent(i % 2 === 0 ? 'acme' : 'beta', `e-${i}`, { status: 'accepted' }));
    const prepared = store.prepareEvents(first);
    assert.equal(prepared.count, 600);
    // Found before it is written: the first copy, for its own owner only.
    assert.deepEqual(store.findPrepared(prepared, 'acme', 'e-598'), first[598]);
    assert.equal(store.findPrepared(prepared, 'beta', 'e-598'), undefined);
    assert.equal(store.findPrepared(prepared, 'acme', 'e-9999'), undefined);
    assert.equal(await store.getEvent('acme', 'e-0'), undefined, 'not written by preparing');
    // A later copy of e-0 (late) prepared after the first: the first write wins.
    const later = store.prepareEvents([storedEvent('acme', 'e-0', { status: 'late' })]);
    await store.writePrepared([prepared, later]);
    assert.equal((await store.getEvent('acme', 'e-0'))?.status, 'accepted');
    for (let i = 0; i < 600; i++) assert.deepEqual(await store.getEvent(i % 2 === 0 ? 'acme' : 'beta', `e-${i}`), first[i]);
    // And a plain writeEvents afterwards adds a later copy that getEvent does not return.
    await store.writeEvents([storedEvent('acme', 'e-2', { status: 'late' })]);
    assert.equal((await store.getEvent('acme', 'e-2'))?.status, 'accepted');
  } finally {
    await store.close();
  }
});

void test('prepareEvents refuses what writeEvents refuses, and writePrepared only what this store prepared', async () => {
  const dir = await tempDir();
  const store = new LmdbEventStore({ path: dir });
  try {
    assert.throws(
      () => store.prepareEvents([storedEvent('acme', 'ok'), storedEvent('acme', '')]),
      (error: unknown) => (error as { code?: unknown; field?: unknown }).code === 'EVT_STORE_INPUT' && (error as { field?: unknown }).field === '1/event/id',
    );
    assert.throws(() => store.prepareEvents([storedEvent('x'.repeat(65), 'a')]), (error: unknown) => (error as { code?: unknown }).code === 'EVT_STORE_INPUT');
    await rejectsWithCode(store.writePrepared([{ count: 1 }]), 'EVT_STORE_INPUT');
  } finally {
    await store.close();
  }
});

/** Two ids with one 32-bit `hash` (found by search; ~80K tries on average). */
function collidingIds(hash: (id: string) => number): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const id = `c-${i}`;
    const h = hash(id);
    const other = seen.get(h);
    if (other !== undefined) return [other, id];
    seen.set(h, id);
  }
}
