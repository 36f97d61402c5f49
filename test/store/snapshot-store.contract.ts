/**
 * The SnapshotStore contract, run against every adapter (LMDB now, Redis later).
 * Each test opens a fresh, empty store through `open`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SnapshotStore } from '../../src/store/port.js';
import { manyIdHashes, ownerSnapshot, recentIdHashes, sketchBytes, T0_MS } from './samples.js';

export interface OpenedSnapshotStore {
  store: SnapshotStore;
  close(): Promise<void>;
}

export function snapshotStoreContract(name: string, open: () => Promise<OpenedSnapshotStore>): void {
  async function withStore(body: (store: SnapshotStore) => Promise<void>): Promise<void> {
    const opened = await open();
    try {
      await body(opened.store);
    } finally {
      await opened.close();
    }
  }

  void describe(`SnapshotStore contract: ${name}`, () => {
    void test('a snapshot reads back as written, sketches as plain Uint8Array', () =>
      withStore(async (store) => {
        await store.putOwnerSnapshots(3, [ownerSnapshot('acme'), ownerSnapshot('beta')]);
        const read = await store.getOwnerSnapshot(3, 'acme');
        assert.deepEqual(read, ownerSnapshot('acme'));
        assert.equal(Object.getPrototypeOf(read?.windows[0]?.uniquesSketch), Uint8Array.prototype);
        assert.deepEqual(read?.windows[1]?.uniquesSketch, sketchBytes(2));
        assert.deepEqual(await store.getOwnerSnapshot(3, 'beta'), ownerSnapshot('beta'));
      }));

    void test('event names and categories that are JavaScript object keys survive exactly (`__proto__`, `constructor`)', () =>
      withStore(async (store) => {
        const snapshot = ownerSnapshot('acme');
        const window = snapshot.windows[0]!;
        window.byName = Object.fromEntries([['__proto__', 3], ['constructor', 2], ['a:b', 1]]);
        window.byCategory = Object.fromEntries([['__proto__', 6]]);
        window.values = Object.fromEntries([['__proto__', { count: 1, sum: 2, min: 2, max: 2 }]]);
        await store.putOwnerSnapshots(3, [snapshot]);
        const read = await store.getOwnerSnapshot(3, 'acme');
        assert.deepEqual(Object.keys(read!.windows[0]!.byName).sort(), ['__proto__', 'a:b', 'constructor']);
        assert.equal(Object.getOwnPropertyDescriptor(read!.windows[0]!.byName, '__proto__')?.value, 3);
        assert.deepEqual(read, snapshot);
      }));

    void test('recent ids as packed hashes read back as written (plain Uint8Array); snapshots with plain ids still read', () =>
      withStore(async (store) => {
        const hashed = ownerSnapshot('acme');
        hashed.recentIds = [];
        hashed.recentIdHashes = recentIdHashes();
        await store.putOwnerSnapshots(3, [hashed, ownerSnapshot('old-format')]);
        const read = await store.getOwnerSnapshot(3, 'acme');
        assert.deepEqual(read, hashed);
        assert.equal(Object.getPrototypeOf(read?.recentIdHashes), Uint8Array.prototype);
        const old = await store.getOwnerSnapshot(3, 'old-format');
        assert.deepEqual(old, ownerSnapshot('old-format'));
        assert.equal(old?.recentIdHashes, undefined);
      }));

    void test("a busy owner's 100K id hashes read back exactly; then a few again, then deleted", () =>
      withStore(async (store) => {
        const busy = ownerSnapshot('acme');
        busy.recentIds = [];
        busy.recentIdHashes = manyIdHashes(100_000);
        await store.putOwnerSnapshots(3, [busy, ownerSnapshot('beta')]);
        const read = await store.getOwnerSnapshot(3, 'acme');
        assert.deepEqual(read, busy);
        assert.equal(Object.getPrototypeOf(read?.recentIdHashes), Uint8Array.prototype);
        // Its memory shrinks back to two ids: the next snapshot has those, not the 100K.
        const quiet = { ...busy, takenAtMs: busy.takenAtMs + 5_000, recentIdHashes: recentIdHashes() };
        await store.putOwnerSnapshots(3, [quiet]);
        assert.deepEqual(await store.getOwnerSnapshot(3, 'acme'), quiet);
        // And busy again, then gone.
        await store.putOwnerSnapshots(3, [busy]);
        assert.deepEqual(await store.getOwnerSnapshot(3, 'acme'), busy);
        await store.deleteOwnerSnapshots(3, ['acme']);
        assert.equal(await store.getOwnerSnapshot(3, 'acme'), undefined);
        assert.deepEqual(await store.getOwnerSnapshot(3, 'beta'), ownerSnapshot('beta'));
      }));

    void test('missing snapshots are undefined, including the same owner under another shard', () =>
      withStore(async (store) => {
        assert.equal(await store.getOwnerSnapshot(3, 'acme'), undefined);
        await store.putOwnerSnapshots(3, [ownerSnapshot('acme')]);
        assert.equal(await store.getOwnerSnapshot(4, 'acme'), undefined);
        assert.equal(await store.getOwnerSnapshot(3, 'acm'), undefined);
      }));

    void test('putOwnerSnapshots replaces the owner\'s previous snapshot', () =>
      withStore(async (store) => {
        await store.putOwnerSnapshots(1, [ownerSnapshot('acme', T0_MS)]);
        const next = ownerSnapshot('acme', T0_MS + 5_000);
        next.windows = next.windows.slice(0, 1);
        next.recentIds = [];
        await store.putOwnerSnapshots(1, [next]);
        assert.deepEqual(await store.getOwnerSnapshot(1, 'acme'), next);
      }));

    void test('deleteOwnerSnapshots removes exactly the listed owners of that shard', () =>
      withStore(async (store) => {
        await store.putOwnerSnapshots(1, [ownerSnapshot('a'), ownerSnapshot('b'), ownerSnapshot('c')]);
        await store.putOwnerSnapshots(2, [ownerSnapshot('a')]);
        await store.deleteOwnerSnapshots(1, ['a', 'c', 'never-written']);
        assert.equal(await store.getOwnerSnapshot(1, 'a'), undefined);
        assert.equal(await store.getOwnerSnapshot(1, 'c'), undefined);
        assert.deepEqual(await store.getOwnerSnapshot(1, 'b'), ownerSnapshot('b'));
        assert.deepEqual(await store.getOwnerSnapshot(2, 'a'), ownerSnapshot('a'));
        await store.deleteOwnerSnapshots(1, []);
      }));

    void test('checkpoints are per shard and the last one wins', () =>
      withStore(async (store) => {
        assert.equal(await store.getCheckpoint(9), undefined);
        await store.putCheckpoint({ shard: 9, takenAtMs: T0_MS, logOffset: 10 });
        await store.putCheckpoint({ shard: 9, takenAtMs: T0_MS + 1, logOffset: 25 });
        await store.putCheckpoint({ shard: 10, takenAtMs: T0_MS, logOffset: 0 });
        assert.deepEqual(await store.getCheckpoint(9), { shard: 9, takenAtMs: T0_MS + 1, logOffset: 25 });
        assert.deepEqual(await store.getCheckpoint(10), { shard: 10, takenAtMs: T0_MS, logOffset: 0 });
        assert.equal(await store.getCheckpoint(11), undefined);
      }));
  });
}
