/**
 * Runs the SnapshotStore contract against Redis (a real redis-server spawned on
 * a free port, or TEST_REDIS_URL), then what only the Redis adapter promises:
 * the readable key schema, TTLs, names that would trip a naive encoding, and
 * failures that leave nothing written. The codec tests need no server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { OwnerSnapshot, WindowState } from '../../src/actors/types.js';
import { openSnapshotStore } from '../../src/store/open.js';
import { LmdbSnapshotStore } from '../../src/store/lmdb/snapshot-store.js';
import { decodeSnapshot, encodeSnapshot, windowFields, windowFromFields, checkpointFromFields } from '../../src/store/redis/codec.js';
import { RedisKeys, parseWindowRef } from '../../src/store/redis/keys.js';
import { RedisSnapshotStore, type RedisSnapshotStoreOptions } from '../../src/store/redis/snapshot-store.js';
import { redisAvailability, RedisServer, warnLoudly } from '../helpers/redis.js';
import { snapshotStoreContract } from './snapshot-store.contract.js';
import { ownerSnapshot, T0_MS, windowState } from './samples.js';

/** A window whose record keys would break a naive encoding: `__proto__`, ':' inside names, a name ending in ":sum". */
function trickyWindow(): WindowState {
  const w = windowState('1h', T0_MS - (T0_MS % 3_600_000), 5, 3);
  w.open = true;
  for (const record of [w.byName, w.byCategory]) {
    Object.defineProperty(record, '__proto__', { value: 2, enumerable: true, writable: true, configurable: true });
    record['a:b'] = 1;
  }
  Object.defineProperty(w.values, '__proto__', { value: { count: 1, sum: -0, min: -0, max: 0.1 + 0.2 }, enumerable: true, writable: true, configurable: true });
  w.values['x:sum'] = { count: 2, sum: 1e-300, min: -1.7976931348623157e308, max: 5e-324 };
  return w;
}

function trickySnapshot(owner: string): OwnerSnapshot {
  const snapshot = ownerSnapshot(owner);
  snapshot.windows.push(trickyWindow());
  return snapshot;
}

void describe('redis codec (no server)', () => {
  void test('a snapshot survives encode/decode exactly, __proto__ names and sketches as plain Uint8Array included', () => {
    const snapshot = trickySnapshot('acme');
    const back = decodeSnapshot(encodeSnapshot(snapshot));
    assert.deepEqual(back, snapshot);
    assert.deepEqual(Object.keys(back.windows[2]!.byName), ['page_view', '__proto__', 'a:b']);
    assert.equal(Object.getPrototypeOf(back.windows[2]!.byName), Object.prototype);
    assert.equal(Object.getPrototypeOf(back.windows[0]!.uniquesSketch), Uint8Array.prototype);
  });

  void test('a window hash reads back into the same window, -0 and extreme doubles included', () => {
    const w = trickyWindow();
    const fields = windowFields(w, T0_MS);
    const asHash: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) asHash[fields[i]!] = fields[i + 1]!;
    assert.equal(asHash['n:__proto__'], '2');
    assert.equal(asHash['v:x:sum:sum'], '1e-300');
    assert.equal(asHash['v:__proto__:sum'], '-0');
    assert.equal(asHash.takenAtMs, String(T0_MS));
    assert.deepEqual(windowFromFields(asHash, w.uniquesSketch), w);
  });

  void test('decoders refuse what they did not write, with EVT_STORE_CORRUPT', () => {
    const corrupt = (fn: () => unknown) => assert.throws(fn, (e: unknown) => (e as { code?: string }).code === 'EVT_STORE_CORRUPT');
    corrupt(() => decodeSnapshot(Buffer.from('not msgpack at all \xc1', 'latin1')));
    corrupt(() => decodeSnapshot(encodeSnapshot(ownerSnapshot('a')).subarray(0, 40)));
    const wrongFormat = encodeSnapshot(ownerSnapshot('a'));
    wrongFormat[1] = 9; // the format number follows the array header
    corrupt(() => decodeSnapshot(wrongFormat));
    corrupt(() => windowFromFields({ resolution: '2s', startMs: '0' }, new Uint8Array(1)));
    corrupt(() => windowFromFields({ ...fieldsOf(windowState('1s', 0)), total: 'many' }, new Uint8Array(1)));
    corrupt(() => windowFromFields({ ...fieldsOf(windowState('1s', 0)), 'v:x:median': '1' }, new Uint8Array(1)));
    corrupt(() => checkpointFromFields({ shard: '1', takenAtMs: 'x', logOffset: '0' }));
    corrupt(() => parseWindowRef('1w:0'));
    assert.equal(checkpointFromFields({}), undefined);
  });

  void test('keys put the owner last and the shard in a hash tag, so no owner collides with another', () => {
    const keys = new RedisKeys('evt');
    assert.equal(keys.window(7, '1m', 60_000, 'acme'), 'evt:{7}:win:1m:60000:acme');
    assert.equal(keys.checkpoint(7), 'evt:{7}:checkpoint');
    assert.notEqual(keys.owner(1, 'a:win:1s:0'), keys.window(1, '1s', 0, 'a'));
    assert.throws(() => new RedisKeys('a{b}'));
  });
});

function fieldsOf(w: WindowState): Record<string, string> {
  const fields = windowFields(w, 0);
  const out: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

const availability = process.env.TEST_REDIS_URL === undefined ? redisAvailability() : { ok: true, reason: '', mustFail: false };
if (!availability.ok) {
  warnLoudly(availability.reason);
  if (availability.mustFail) {
    void test('redis-server is required under CI=true', () => assert.fail(availability.reason));
  } else {
    void test('SnapshotStore contract: redis', { skip: availability.reason }, () => undefined);
  }
} else {
  let server: RedisServer | undefined;
  let url = process.env.TEST_REDIS_URL ?? '';
  let admin: Redis;
  let opened = 0;
  before(async () => {
    if (url === '') {
      server = await RedisServer.start();
      url = server.url;
    }
    admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
  });
  after(async () => {
    admin.disconnect();
    await server?.stop();
  });

  /** Every key under a prefix (SCAN, so a shared TEST_REDIS_URL server is not blocked). */
  async function keysUnder(prefix: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found.sort();
  }

  /** A store on its own key prefix, so tests share the server without seeing each other's keys. */
  function newStore(options: Partial<RedisSnapshotStoreOptions> = {}): RedisSnapshotStore {
    opened++;
    return new RedisSnapshotStore({ url, keyPrefix: `test${process.pid}-${opened}`, ...options });
  }

  async function dispose(store: RedisSnapshotStore): Promise<void> {
    await store.close();
    const keys = await keysUnder(store.options.keyPrefix);
    if (keys.length > 0) await admin.del(...keys);
  }

  snapshotStoreContract('redis', () => {
    const store = newStore();
    return Promise.resolve({ store, close: () => dispose(store) });
  });

  void describe('redis snapshot store', () => {
    void test('the readable hashes hold every counter of every open window, and read back into the window', async () => {
      const store = newStore();
      try {
        const snapshot = trickySnapshot('acme');
        await store.putOwnerSnapshots(5, [snapshot]);
        const prefix = store.options.keyPrefix;
        const index = await admin.hgetall(`${prefix}:{5}:owner:acme`);
        assert.equal(index.takenAtMs, String(T0_MS));
        const refs = index.windows!.split(' ');
        assert.equal(refs.length, snapshot.windows.length);
        for (let i = 0; i < refs.length; i++) {
          const { resolution, startMs } = parseWindowRef(refs[i]!);
          const fields = await admin.hgetall(`${prefix}:{5}:win:${resolution}:${startMs}:acme`);
          const sketch = await admin.getBuffer(`${prefix}:{5}:hll:${resolution}:${startMs}:acme`);
          assert.ok(sketch !== null);
          assert.deepEqual(windowFromFields(fields, sketch), snapshot.windows[i]);
        }
        assert.equal((await admin.hgetall(`${prefix}:{5}:win:1s:${T0_MS}:acme`))['n:page_view'], '4');
      } finally {
        await dispose(store);
      }
    });

    void test('every key carries a TTL no longer than keyTtlMs, and each write renews it', async () => {
      const keyTtlMs = 3_600_000;
      const store = newStore({ keyTtlMs });
      try {
        await store.putOwnerSnapshots(1, [ownerSnapshot('acme'), ownerSnapshot('beta')]);
        await store.putCheckpoint({ shard: 1, takenAtMs: T0_MS, logOffset: 4 });
        const keys = await keysUnder(store.options.keyPrefix);
        // snap + owner index + 2 windows x (hash + sketch), per owner; one checkpoint.
        assert.equal(keys.length, 2 * 6 + 1);
        for (const key of keys) {
          const ttl = await admin.pttl(key);
          assert.ok(ttl > 0 && ttl <= keyTtlMs, `${key} has PTTL ${ttl}`);
        }
        const snapKey = `${store.options.keyPrefix}:{1}:snap:acme`;
        await admin.pexpire(snapKey, 1_000);
        await store.putOwnerSnapshots(1, [ownerSnapshot('acme')]);
        assert.ok((await admin.pttl(snapKey)) > 1_000);
      } finally {
        await dispose(store);
      }
    });

    void test('a window rewritten with fewer names loses the old ones; owners that differ only by a suffix stay apart', async () => {
      const store = newStore();
      try {
        const first = ownerSnapshot('a');
        first.windows[0]!.byName = { page_view: 4, signup: 1 };
        await store.putOwnerSnapshots(2, [first, ownerSnapshot('a:win:1s:0'), ownerSnapshot(`a:win:1s:${T0_MS}`)]);
        await store.putOwnerSnapshots(2, [ownerSnapshot('a')]);
        const fields = await admin.hgetall(`${store.options.keyPrefix}:{2}:win:1s:${T0_MS}:a`);
        assert.equal(fields['n:signup'], undefined);
        assert.deepEqual(await store.getOwnerSnapshot(2, 'a'), ownerSnapshot('a'));
        assert.deepEqual(await store.getOwnerSnapshot(2, 'a:win:1s:0'), ownerSnapshot('a:win:1s:0'));
        assert.deepEqual(await store.getOwnerSnapshot(2, `a:win:1s:${T0_MS}`), ownerSnapshot(`a:win:1s:${T0_MS}`));
      } finally {
        await dispose(store);
      }
    });

    void test('deleteOwnerSnapshots removes the window hashes and sketches too', async () => {
      const store = newStore();
      try {
        await store.putOwnerSnapshots(3, [ownerSnapshot('a'), ownerSnapshot('b')]);
        await store.deleteOwnerSnapshots(3, ['a']);
        const keys = await keysUnder(store.options.keyPrefix);
        assert.deepEqual(keys.filter((key) => key.endsWith(':a')), []);
        assert.equal(keys.filter((key) => key.endsWith(':b')).length, 6);
      } finally {
        await dispose(store);
      }
    });

    void test('readableHashes: false writes only the binary snapshots, which still restore exactly', async () => {
      const store = newStore({ readableHashes: false });
      try {
        await store.putOwnerSnapshots(4, [trickySnapshot('acme')]);
        assert.deepEqual(await keysUnder(store.options.keyPrefix), [`${store.options.keyPrefix}:{4}:snap:acme`]);
        assert.deepEqual(await store.getOwnerSnapshot(4, 'acme'), trickySnapshot('acme'));
      } finally {
        await dispose(store);
      }
    });

    void test('a batch with one unstorable snapshot is refused whole, naming the field', async () => {
      const store = newStore();
      try {
        const bad = ownerSnapshot('bad');
        (bad.windows[1] as { uniquesSketch: unknown }).uniquesSketch = [1, 2, 3];
        await assert.rejects(store.putOwnerSnapshots(1, [ownerSnapshot('ok'), bad]), (error: unknown) => {
          assert.equal((error as { code?: unknown }).code, 'EVT_STORE_INPUT');
          assert.equal((error as { field?: unknown }).field, '1/windows/1/uniquesSketch');
          return true;
        });
        const poisoned = ownerSnapshot('poisoned');
        Object.defineProperty(poisoned, 'takenAtMs', {
          enumerable: true,
          get(): never {
            throw new Error('cannot encode');
          },
        });
        await assert.rejects(store.putOwnerSnapshots(1, [ownerSnapshot('ok'), poisoned]), { code: 'EVT_STORE_WRITE' });
        await assert.rejects(store.putOwnerSnapshots(-1, [ownerSnapshot('ok')]), { code: 'EVT_STORE_INPUT', field: 'shard' });
        await assert.rejects(store.getCheckpoint(1.5), { code: 'EVT_STORE_INPUT' });
        assert.deepEqual(await keysUnder(store.options.keyPrefix), []);
      } finally {
        await dispose(store);
      }
    });

    void test('a stored value of the wrong shape or under the wrong owner is EVT_STORE_CORRUPT', async () => {
      const store = newStore();
      try {
        const prefix = store.options.keyPrefix;
        await admin.set(`${prefix}:{1}:snap:garbage`, 'hello');
        await admin.set(`${prefix}:{1}:snap:mallory`, encodeSnapshot(ownerSnapshot('alice')));
        await admin.set(`${prefix}:{1}:checkpoint`, 'a string, not a hash');
        await assert.rejects(store.getOwnerSnapshot(1, 'garbage'), { code: 'EVT_STORE_CORRUPT' });
        await assert.rejects(store.getOwnerSnapshot(1, 'mallory'), { code: 'EVT_STORE_CORRUPT', field: 'owner' });
        // WRONGTYPE is Redis refusing the read: reported as a read failure, with Redis's words.
        await assert.rejects(store.getCheckpoint(1), (error: unknown) => {
          assert.equal((error as { code?: unknown }).code, 'EVT_STORE_READ');
          assert.match((error as Error).message, /WRONGTYPE/);
          return true;
        });
        assert.equal(store.stats().callsFailed, 1);
      } finally {
        await dispose(store);
      }
    });

    void test('a closed store rejects every call with EVT_STORE_CLOSED', async () => {
      const store = newStore();
      await store.putCheckpoint({ shard: 1, takenAtMs: T0_MS, logOffset: 0 });
      await dispose(store);
      await store.close();
      await assert.rejects(store.putOwnerSnapshots(1, [ownerSnapshot('a')]), { code: 'EVT_STORE_CLOSED' });
      await assert.rejects(store.getOwnerSnapshot(1, 'a'), { code: 'EVT_STORE_CLOSED' });
      await assert.rejects(store.deleteOwnerSnapshots(1, ['a']), { code: 'EVT_STORE_CLOSED' });
      await assert.rejects(store.putCheckpoint({ shard: 1, takenAtMs: 0, logOffset: 0 }), { code: 'EVT_STORE_CLOSED' });
      await assert.rejects(store.getCheckpoint(1), { code: 'EVT_STORE_CLOSED' });
      assert.equal(store.stats().status, 'closed');
    });

    void test('openSnapshotStore picks Redis for snapshotStore "redis", LMDB otherwise, and refuses redis without a URL', async () => {
      const redis = await openSnapshotStore({ dataDir: '/nonexistent', eventStore: 'lmdb', snapshotStore: 'redis', redisUrl: url });
      assert.ok(redis instanceof RedisSnapshotStore);
      assert.equal(redis.stats().status, 'wait', 'opening must not connect (lazy)');
      await redis.putCheckpoint({ shard: 3, takenAtMs: T0_MS, logOffset: 1 });
      assert.deepEqual(await redis.getCheckpoint(3), { shard: 3, takenAtMs: T0_MS, logOffset: 1 });
      await admin.del(`${redis.options.keyPrefix}:{3}:checkpoint`);
      await redis.close();
      await assert.rejects(openSnapshotStore({ dataDir: '/tmp', eventStore: 'lmdb', snapshotStore: 'redis' }), { code: 'EVT_STORE_OPEN' });
      const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'eventide-redis-'));
      try {
        const lmdb = await openSnapshotStore({ dataDir, eventStore: 'lmdb', snapshotStore: 'lmdb', redisUrl: url });
        assert.ok(lmdb instanceof LmdbSnapshotStore, 'an explicit lmdb choice wins over a redisUrl');
        await lmdb.close();
      } finally {
        await fs.rm(dataDir, { recursive: true, force: true });
      }
    });
  });
}
