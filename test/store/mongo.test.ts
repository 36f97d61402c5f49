/**
 * The MongoDB event store: the shared EventStore contract against a real
 * server (a spawned FerretDB, or MONGODB_URI), then what only this adapter
 * promises (escaped keys, dead letters, indexes, retention, write concern),
 * and the pure parts (retry policy, error sorting, options) without a server.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { MongoEventStore } from '../../src/store/mongo/event-store.js';
import { backoffDelayMs, withRetry, type RetryClock } from '../../src/store/mongo/retry.js';
import { documentOutcome, isRetryableMongoError } from '../../src/store/mongo/classify.js';
import { escapeKey, unescapeKey } from '../../src/store/mongo/codec.js';
import { dbNameFromUri, resolveMongoOptions, type MongoEventStoreOptions } from '../../src/store/mongo/options.js';
import { ROLLUP_KEY_INDEX } from '../../src/store/mongo/indexes.js';
import { eventStoreContract } from './event-store.contract.js';
import { rollup, storedEvent, T0_MS } from './samples.js';
import { missingServer, mongoTarget, withDatabase } from '../helpers/ferretdb.js';

const target = await mongoTarget();
const admin = target === undefined ? undefined : new MongoClient(target.uri, { serverSelectionTimeoutMS: 5_000 });
after(async () => {
  await admin?.close();
  await target?.close();
});

/** A clock whose sleeps return at once and record what they were asked. */
function instantClock(): RetryClock & { delaysMs: number[] } {
  const delaysMs: number[] = [];
  return {
    delaysMs,
    sleep(delayMs: number) {
      delaysMs.push(delayMs);
      return Promise.resolve();
    },
    random: () => 0.5,
  };
}

let dbCounter = 0;
async function openStore(options: Partial<MongoEventStoreOptions> = {}): Promise<{ store: MongoEventStore; dbName: string; close: () => Promise<void> }> {
  assert.ok(target !== undefined && admin !== undefined);
  const dbName = `eventide_test_${process.pid}_${dbCounter++}`;
  const store = await MongoEventStore.open({ uri: withDatabase(target.uri, dbName), clock: instantClock(), ...options });
  return {
    store,
    dbName,
    close: async () => {
      await store.close();
      await admin.db(dbName).dropDatabase();
    },
  };
}

if (target === undefined) {
  void test('MongoDB event store against a real server', (t) => missingServer(t, 'test/store/mongo.test.ts'));
} else {
  eventStoreContract(target.ferretdb === undefined ? 'mongodb (MONGODB_URI)' : 'mongodb on FerretDB', () => openStore());

  const isFerretDb = async (): Promise<boolean> => {
    const info = await admin!.db('admin').command({ buildInfo: 1 });
    return typeof info.ferretdbVersion === 'string';
  };

  void describe('MongoEventStore beyond the contract', () => {
    void test('keys with dots, dollars, percent signs and __proto__ round-trip exactly', async () => {
      const { store, close } = await openStore();
      try {
        const event = storedEvent('acme', 'e-keys');
        event.event.properties = JSON.parse('{"a.b": 1, "$x": "y", "50%": true, "%2E": "literal", "__proto__": "data"}') as Record<string, string>;
        await store.writeEvents([event]);
        assert.deepEqual(await store.getEvent('acme', 'e-keys'), event);
        const written = rollup('acme', '1m', T0_MS);
        written.byName = { 'page.view': 3, $bad: 1 };
        written.values = { 'cart.total': { count: 1, sum: 2, min: 2, max: 2 } };
        await store.writeRollups([written]);
        assert.deepEqual(await store.queryRollups({ owner: 'acme', resolution: '1m', fromMs: T0_MS, toMs: T0_MS + 1, limit: 1 }), [written]);
      } finally {
        await close();
      }
    });

    void test('duplicates are counted, not stored twice, and the store counts what it inserted', async () => {
      const { store, close } = await openStore({ writeBatchDocsMax: 7 });
      try {
        const batch = Array.from({ length: 20 }, (_, i) => storedEvent('acme', `e-${i}`));
        await store.writeEvents(batch);
        await store.writeEvents([...batch.slice(0, 5), storedEvent('acme', 'e-new'), storedEvent('acme', 'e-new')]);
        assert.equal(store.stats.eventsInserted, 21);
        assert.equal(store.stats.duplicatesIgnored, 6);
        assert.equal(store.stats.deadLetters, 0);
      } finally {
        await close();
      }
    });

    void test('a document the server refuses for good goes to dead letters with reason and code; the rest is written', async (t) => {
      // FerretDB refuses non-finite doubles (a documented difference); MongoDB stores them, so this probe needs FerretDB.
      if (!(await isFerretDb())) {
        t.skip('needs FerretDB: MongoDB accepts every document this test could send');
        return;
      }
      const { store, dbName, close } = await openStore();
      try {
        const bad = storedEvent('acme', 'e-bad');
        bad.event.value = Number.POSITIVE_INFINITY;
        const events = [storedEvent('acme', 'e-1'), bad, storedEvent('acme', 'e-2')];
        await store.writeEvents(events);
        await store.writeEvents(events); // a retried call: no second dead letter, no error
        assert.equal((await store.getEvent('acme', 'e-1'))?.event.id, 'e-1');
        assert.equal((await store.getEvent('acme', 'e-2'))?.event.id, 'e-2');
        assert.equal(await store.getEvent('acme', 'e-bad'), undefined);

        const badRollup = rollup('acme', '1s', T0_MS + 1_000);
        badRollup.values = { x: { count: 1, sum: Number.NEGATIVE_INFINITY, min: 0, max: 0 } };
        const rollups = [rollup('acme', '1s', T0_MS), badRollup, rollup('acme', '1s', T0_MS + 2_000)];
        await store.writeRollups(rollups);
        const found = await store.queryRollups({ owner: 'acme', resolution: '1s', fromMs: T0_MS, toMs: T0_MS + 3_000, limit: 10 });
        assert.deepEqual(
          found.map((r) => r.startMs),
          [T0_MS, T0_MS + 2_000],
        );

        const letters = await admin!.db(dbName).collection<{ kind: string; owner: string; code: string; reason: string; payload: string }>('dead_letters').find({}).sort({ kind: 1 }).toArray();
        assert.equal(letters.length, 2);
        assert.deepEqual(
          letters.map((l) => [l.kind, l.owner, l.code]),
          [
            ['event', 'acme', 'mongo:2'],
            ['rollup', 'acme', 'mongo:2'],
          ],
        );
        assert.match(letters[0]!.reason, /infinity/i);
        assert.equal((JSON.parse(letters[0]!.payload) as { event: { id: string } }).event.id, 'e-bad');
        assert.equal(store.stats.deadLetters, 2);
      } finally {
        await close();
      }
    });

    void test('indexes exist for the rollup key and expiry, and sweepExpired removes only what expired', async () => {
      const { store, dbName, close } = await openStore({ eventsRetentionMs: 60_000, rollupsRetentionMs: { '1s': 60_000 } });
      try {
        const indexes = (await admin!.db(dbName).collection('rollups').listIndexes().toArray()) as Array<{ name: string; key: Record<string, number>; unique?: boolean }>;
        const key = indexes.find((index) => index.name === ROLLUP_KEY_INDEX);
        assert.deepEqual(key?.key, { owner: 1, resolution: 1, startMs: 1 });
        assert.equal(key?.unique, true);
        assert.ok(indexes.some((index) => index.key.expiresAt === 1));
        if (await isFerretDb()) assert.equal(store.ttlMode, 'sweep');

        const old = storedEvent('acme', 'old');
        const fresh = storedEvent('acme', 'fresh');
        fresh.event.receivedAtMs = T0_MS + 120_000;
        await store.writeEvents([old, fresh]);
        await store.writeRollups([rollup('acme', '1s', T0_MS), rollup('acme', '1s', T0_MS + 120_000), rollup('acme', '1d', 0)]);
        // old expires at T0+3+60s, fresh at T0+180,003; the 1s rollups at T0+60s and T0+180s; 1d is kept forever (default 0).
        assert.equal(await store.sweepExpired(T0_MS + 100_000), 2);
        assert.equal(await store.getEvent('acme', 'old'), undefined);
        assert.equal((await store.getEvent('acme', 'fresh'))?.event.id, 'fresh');
        const left = await store.queryRollups({ owner: 'acme', resolution: '1s', fromMs: 0, toMs: T0_MS * 2, limit: 10 });
        assert.deepEqual(
          left.map((r) => r.startMs),
          [T0_MS + 120_000],
        );
        assert.equal((await store.queryRollups({ owner: 'acme', resolution: '1d', fromMs: 0, toMs: 1, limit: 1 })).length, 1);
        assert.equal(store.stats.expiredSwept, 2);
      } finally {
        await close();
      }
    });

    void test('input that cannot be a key is refused before anything is written', async () => {
      const { store, close } = await openStore();
      try {
        await assert.rejects(store.writeEvents([storedEvent('acme', 'ok'), storedEvent('', 'e')]), { code: 'EVT_STORE_INPUT', field: '1/owner' });
        await assert.rejects(store.writeEvents([storedEvent('acme', 'a\0b')]), { code: 'EVT_STORE_INPUT', field: '0/event/id' });
        await assert.rejects(store.writeRollups([{ ...rollup('acme', '1s', T0_MS), resolution: '2s' as '1s' }]), { code: 'EVT_STORE_INPUT' });
        assert.equal(await store.getEvent('acme', 'ok'), undefined);
      } finally {
        await close();
      }
    });

    void test('a closed store refuses calls with EVT_STORE_CLOSED', async () => {
      const { store, close } = await openStore();
      await close();
      await assert.rejects(store.writeEvents([storedEvent('acme', 'e')]), { code: 'EVT_STORE_CLOSED' });
      await assert.rejects(store.getEvent('acme', 'e'), { code: 'EVT_STORE_CLOSED' });
    });

    void test('opening against an unreachable server fails with EVT_STORE_OPEN within serverSelectionTimeoutMs', async () => {
      await assert.rejects(MongoEventStore.open({ uri: 'mongodb://127.0.0.1:1/x', serverSelectionTimeoutMs: 200 }), { code: 'EVT_STORE_OPEN' });
    });

    void test('w=0 in the URI is refused unless allowUnacknowledged is set', async () => {
      await assert.rejects(MongoEventStore.open({ uri: withDatabase(target.uri, 'x') + '?w=0' }), { code: 'EVT_STORE_INPUT', field: 'mongodbUri' });
    });
  });
}

void describe('retry policy', () => {
  void test('backoff ceilings double from delayMsMin and stop at delayMsMax; the draw scales within them', () => {
    const policy = { attemptsMax: 10, delayMsMin: 50, delayMsMax: 300 };
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((retry) => backoffDelayMs(policy, retry, 0.999999)),
      [49, 99, 199, 299, 299],
    );
    assert.equal(backoffDelayMs(policy, 3, 0), 0);
    assert.equal(backoffDelayMs(policy, 3, 0.5), 100);
  });

  void test('retries a retryable error up to attemptsMax calls, then rethrows it', async () => {
    const clock = instantClock();
    let calls = 0;
    let retries = 0;
    const failure = new Error('down');
    await assert.rejects(
      withRetry(
        () => {
          calls++;
          return Promise.reject(failure);
        },
        { attemptsMax: 3, delayMsMin: 10, delayMsMax: 1_000 },
        clock,
        () => true,
        () => retries++,
      ),
      (error) => error === failure,
    );
    assert.equal(calls, 3);
    assert.equal(retries, 2);
    assert.deepEqual(clock.delaysMs, [5, 10]);
  });

  void test('does not retry an error that is not retryable, and returns the first success', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        () => {
          calls++;
          return Promise.reject(new Error('bad'));
        },
        { attemptsMax: 5, delayMsMin: 1, delayMsMax: 1 },
        instantClock(),
        () => false,
        () => undefined,
      ),
    );
    assert.equal(calls, 1);
    const value = await withRetry(
      (attempt) => (attempt < 2 ? Promise.reject(new Error('once')) : Promise.resolve(attempt)),
      { attemptsMax: 5, delayMsMin: 1, delayMsMax: 1 },
      instantClock(),
      () => true,
      () => undefined,
    );
    assert.equal(value, 2);
  });
});

void describe('error sorting', () => {
  void test('network and server-selection failures are retryable; a duplicate key is not an error; bad data is permanent', () => {
    assert.equal(isRetryableMongoError(new MongoNetworkError('reset')), true);
    assert.equal(isRetryableMongoError(new MongoServerSelectionError('none', { type: 'Unknown', servers: new Map(), stale: false, compatible: true, heartbeatFrequencyMS: 0, localThresholdMS: 0, setName: null, maxElectionId: null, maxSetVersion: null, commonWireVersion: 0, logicalSessionTimeoutMinutes: null } as never)), true);
    assert.equal(isRetryableMongoError(new MongoServerError({ code: 10107, message: 'not primary' })), true);
    assert.equal(isRetryableMongoError(new MongoServerError({ code: 18, message: 'auth failed' })), false);
    assert.equal(isRetryableMongoError(new Error('plain')), false);
    assert.equal(documentOutcome(11000), 'duplicate');
    assert.equal(documentOutcome(91), 'transient');
    assert.equal(documentOutcome(2), 'permanent');
  });
});

void describe('options and keys', () => {
  void test('defaults acknowledge writes (majority), and every bound is checked', () => {
    const resolved = resolveMongoOptions({ uri: 'mongodb://h:1/db1?x=1' });
    assert.deepEqual(resolved.writeConcern, { w: 'majority' });
    assert.equal(resolved.dbName, 'db1');
    assert.equal(Object.isFrozen(resolved), true);
    assert.throws(() => resolveMongoOptions({ uri: 'http://h' }), { code: 'EVT_STORE_INPUT', field: 'mongodbUri' });
    assert.throws(() => resolveMongoOptions({ uri: 'mongodb://h', writeConcern: { w: 0 } }), { code: 'EVT_STORE_INPUT', field: 'writeConcern/w' });
    assert.equal(resolveMongoOptions({ uri: 'mongodb://h', writeConcern: { w: 0 }, allowUnacknowledged: true }).writeConcern.w, 0);
    assert.throws(() => resolveMongoOptions({ uri: 'mongodb://h', writeBatchDocsMax: 0 }), { field: 'writeBatchDocsMax' });
    assert.throws(() => resolveMongoOptions({ uri: 'mongodb://h', eventsRetentionMs: -1 }), { field: 'eventsRetentionMs' });
    assert.throws(() => resolveMongoOptions({ uri: 'mongodb://h', rollupsRetentionMs: { '1m': 1.5 } }), { field: 'rollupsRetentionMs/1m' });
    assert.throws(() => resolveMongoOptions({ uri: 'mongodb://h', retry: { delayMsMin: 10, delayMsMax: 5 } }), { field: 'retry/delayMsMax' });
    assert.throws(() => resolveMongoOptions({ uri: 'mongodb://h', collectionPrefix: 'a.b' }), { field: 'collectionPrefix' });
  });

  void test('the database comes from the URI path when there is one', () => {
    assert.equal(dbNameFromUri('mongodb://a:1,b:2/events?replicaSet=rs'), 'events');
    assert.equal(dbNameFromUri('mongodb://a:1/?w=1'), undefined);
    assert.equal(dbNameFromUri('mongodb+srv://user:p@cluster'), undefined);
  });

  void test('key escaping is exact both ways and leaves plain keys alone', () => {
    for (const key of ['plain', 'a.b', '$x', '%', '%2E', 'a\0b', '..$$%%']) {
      assert.equal(unescapeKey(escapeKey(key)), key);
      assert.ok(!escapeKey(key).includes('.') && !escapeKey(key).startsWith('$') && !escapeKey(key).includes('\0'));
    }
    assert.equal(escapeKey('plain'), 'plain');
  });
});
