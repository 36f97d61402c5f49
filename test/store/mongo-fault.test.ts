/**
 * The MongoDB event store while its server goes away and comes back: a real
 * FerretDB, stopped mid-run and started again on the same port and data
 * directory. Writes fail clearly while it is down (a retryable typed error,
 * within a bound set by serverSelectionTimeoutMs and the retry policy), then
 * succeed; replaying everything afterwards stores nothing twice.
 * This test always spawns its own server (it must be able to stop it), so it
 * needs the FerretDB binary even when MONGODB_URI is set.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { MongoEventStore } from '../../src/store/mongo/event-store.js';
import type { RetryClock } from '../../src/store/mongo/retry.js';
import { StoreReadError, StoreWriteError } from '../../src/store/errors.js';
import { storedEvent, rollup, T0_MS } from './samples.js';
import { missingServer, mongoTarget, withDatabase } from '../helpers/ferretdb.js';

const target = await mongoTarget('always');
after(() => target?.close());

const BATCH_EVENTS = 500;
const ATTEMPTS_MAX = 3;

if (target === undefined || target.ferretdb === undefined) {
  void test('MongoDB event store across a server restart', (t) => missingServer(t, 'test/store/mongo-fault.test.ts'));
} else {
  const server = target.ferretdb;
  void test('writes fail with a retryable EVT_STORE_WRITE while the server is down, then succeed, and nothing is stored twice', async () => {
    const sleeps: number[] = [];
    const clock: RetryClock = {
      sleep: (delayMs) => {
        sleeps.push(delayMs);
        return Promise.resolve();
      },
      random: () => 1 - Number.EPSILON,
    };
    const store = await MongoEventStore.open({
      uri: withDatabase(server.uri, 'fault'),
      serverSelectionTimeoutMs: 300,
      retry: { attemptsMax: ATTEMPTS_MAX, delayMsMin: 10, delayMsMax: 40 },
      clock,
    });
    try {
      const before = Array.from({ length: BATCH_EVENTS }, (_, i) => storedEvent('acme', `a-${i}`));
      const during = Array.from({ length: BATCH_EVENTS }, (_, i) => storedEvent('acme', `b-${i}`));
      await store.writeEvents(before);

      await server.stop();
      const error: unknown = await store.writeEvents(during).then(
        () => assert.fail('a write to a stopped server resolved'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof StoreWriteError, String(error));
      assert.equal(error.code, 'EVT_STORE_WRITE');
      assert.equal(error.retryable, true);
      // Bounded: the policy's attempts, with the policy's (injected) delays between them.
      assert.equal(store.stats.retries, ATTEMPTS_MAX - 1);
      assert.deepEqual(sleeps, [9, 19]);
      await assert.rejects(store.writeRollups([rollup('acme', '1m', T0_MS)]), { code: 'EVT_STORE_WRITE', retryable: true });
      await assert.rejects(store.getEvent('acme', 'a-0'), (e: unknown) => e instanceof StoreReadError && e.retryable);
      assert.equal(store.stats.writeFailures, 2);

      await server.start();
      await store.writeEvents(during);
      await store.writeRollups([rollup('acme', '1m', T0_MS)]);
      // A replay of everything (what the runtime does after a crash) adds nothing.
      const insertedBefore = store.stats.eventsInserted;
      await store.writeEvents([...before, ...during]);
      assert.equal(store.stats.eventsInserted, insertedBefore);
      assert.equal((await store.getEvent('acme', 'b-499'))?.event.id, 'b-499');

      const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 2_000 });
      try {
        assert.equal(await client.db('fault').collection('events').countDocuments(), 2 * BATCH_EVENTS);
        assert.equal(await client.db('fault').collection('rollups').countDocuments(), 1);
        assert.equal(await client.db('fault').collection('dead_letters').countDocuments(), 0);
      } finally {
        await client.close();
      }
    } finally {
      await store.close();
    }
  });

  void test('a store created while the server is down starts once it is back (indexes made on the first write)', async () => {
    await server.stop();
    // Several attempts: after a restart the driver rediscovers the server within
    // its minimum heartbeat interval (500 ms), longer than one 300 ms selection.
    const store = new MongoEventStore({
      uri: withDatabase(server.uri, 'late'),
      serverSelectionTimeoutMs: 300,
      retry: { attemptsMax: 6 },
      clock: { sleep: () => Promise.resolve(), random: () => 0 },
    });
    try {
      await assert.rejects(store.writeEvents([storedEvent('acme', 'x')]), { code: 'EVT_STORE_WRITE' });
      assert.equal(store.ttlMode, undefined);
      await server.start();
      await store.writeEvents([storedEvent('acme', 'x')]);
      assert.notEqual(store.ttlMode, undefined);
      assert.equal((await store.getEvent('acme', 'x'))?.event.id, 'x');
    } finally {
      await store.close();
    }
  });
}
