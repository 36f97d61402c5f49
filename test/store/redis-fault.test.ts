/**
 * The Redis snapshot store against a real redis-server that stops answering:
 * frozen (SIGSTOP, the socket stays open and nothing answers), killed, and
 * started again on the same port. Calls must fail with a retryable typed error
 * instead of hanging or queueing, and succeed again on the same store object
 * once Redis is back. Needs the redis-server binary (it owns the process), so
 * TEST_REDIS_URL does not apply here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisSnapshotStore } from '../../src/store/redis/snapshot-store.js';
import { redisAvailability, RedisServer, warnLoudly } from '../helpers/redis.js';
import { ownerSnapshot, T0_MS } from './samples.js';

/** Short so a frozen server costs the test little; the assertion is on the error, never on the time taken. */
const COMMAND_TIMEOUT_MS = 300;

/** A rejection with a retryable store error of the given code whose message names the cause. */
async function failsRetryably(call: Promise<unknown>, code: string, cause: RegExp): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    const e = error as { code?: unknown; retryable?: unknown; message: string };
    assert.equal(e.code, code);
    assert.equal(e.retryable, true);
    assert.match(e.message, cause);
    return true;
  });
}

function newStore(url: string): RedisSnapshotStore {
  return new RedisSnapshotStore({ url, commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: 1_000, reconnectDelayMsMax: 100 });
}

const availability = redisAvailability();
if (!availability.ok) {
  warnLoudly(availability.reason);
  if (availability.mustFail) void test('redis-server is required under CI=true', () => assert.fail(availability.reason));
  else void test('redis snapshot store under faults', { skip: availability.reason }, () => undefined);
} else {
  void test('a frozen Redis fails calls at the command timeout; thawed, the same connection serves them again', { timeout: 30_000 }, async (t) => {
    const server = await RedisServer.start();
    const store = newStore(server.url);
    // Close the client before the server, as a deployment would shut down.
    t.after(async () => {
      await store.close();
      await server.stop();
    });

    await store.putOwnerSnapshots(1, [ownerSnapshot('acme')]);
    server.pause();
    await failsRetryably(store.putOwnerSnapshots(1, [ownerSnapshot('acme', T0_MS + 1)]), 'EVT_STORE_WRITE', /timed out/i);
    await failsRetryably(store.getOwnerSnapshot(1, 'acme'), 'EVT_STORE_READ', /timed out/i);
    await failsRetryably(store.putCheckpoint({ shard: 1, takenAtMs: T0_MS, logOffset: 0 }), 'EVT_STORE_WRITE', /timed out/i);
    assert.equal(store.stats().callsFailed, 3);

    server.resume();
    await store.putOwnerSnapshots(1, [ownerSnapshot('acme', T0_MS + 2)]);
    assert.deepEqual(await store.getOwnerSnapshot(1, 'acme'), ownerSnapshot('acme', T0_MS + 2));
  });

  void test('a killed Redis fails calls at once; restarted on the same port, the same store writes and reads again', { timeout: 30_000 }, async (t) => {
    const server = await RedisServer.start();
    const store = newStore(server.url);
    // Close the client before the server, as a deployment would shut down.
    t.after(async () => {
      await store.close();
      await server.stop();
    });

    await store.putOwnerSnapshots(2, [ownerSnapshot('acme')]);
    await store.putCheckpoint({ shard: 2, takenAtMs: T0_MS, logOffset: 7 });
    assert.equal(store.stats().available, true);

    await server.kill();
    // The first call may be the one that finds the socket closed; either way it fails, typed.
    await assert.rejects(store.putOwnerSnapshots(2, [ownerSnapshot('acme')]), { code: 'EVT_STORE_WRITE', retryable: true });
    // From then on the connection is known down: calls fail without waiting for any timeout.
    await failsRetryably(store.getOwnerSnapshot(2, 'acme'), 'EVT_STORE_READ', /unavailable/i);
    await failsRetryably(store.getCheckpoint(2), 'EVT_STORE_READ', /unavailable/i);
    await failsRetryably(store.deleteOwnerSnapshots(2, ['acme']), 'EVT_STORE_WRITE', /unavailable/i);
    const down = store.stats();
    assert.equal(down.available, false);
    assert.ok(down.callsFailed >= 4);
    assert.notEqual(down.lastError, undefined);

    // The restarted server is empty (no persistence): what comes back is what is written after it.
    await server.restart();
    await store.whenAvailable();
    assert.equal(await store.getOwnerSnapshot(2, 'acme'), undefined);
    await store.putOwnerSnapshots(2, [ownerSnapshot('acme', T0_MS + 9)]);
    await store.putCheckpoint({ shard: 2, takenAtMs: T0_MS + 9, logOffset: 8 });
    assert.deepEqual(await store.getOwnerSnapshot(2, 'acme'), ownerSnapshot('acme', T0_MS + 9));
    assert.deepEqual(await store.getCheckpoint(2), { shard: 2, takenAtMs: T0_MS + 9, logOffset: 8 });
    assert.equal(store.stats().available, true);
  });

  void test('a store opened while Redis is down fails its first call, then works once Redis starts', { timeout: 30_000 }, async (t) => {
    const server = await RedisServer.start();
    await server.kill();
    const store = newStore(server.url);
    t.after(async () => {
      await store.close();
      await server.stop();
    });

    await failsRetryably(store.getCheckpoint(4), 'EVT_STORE_READ', /unavailable/i);
    await failsRetryably(store.putCheckpoint({ shard: 4, takenAtMs: T0_MS, logOffset: 1 }), 'EVT_STORE_WRITE', /unavailable/i);
    await server.restart();
    await store.whenAvailable();
    await store.putCheckpoint({ shard: 4, takenAtMs: T0_MS, logOffset: 1 });
    assert.deepEqual(await store.getCheckpoint(4), { shard: 4, takenAtMs: T0_MS, logOffset: 1 });
  });

  void test('closing a store whose Redis is down returns at once', { timeout: 30_000 }, async (t) => {
    const server = await RedisServer.start();
    t.after(() => server.stop());
    const store = newStore(server.url);
    await store.putCheckpoint({ shard: 1, takenAtMs: T0_MS, logOffset: 0 });
    await server.kill();
    await assert.rejects(store.getCheckpoint(1), { code: 'EVT_STORE_READ' });
    await store.close();
    assert.equal(store.stats().status, 'closed');
    await assert.rejects(store.getCheckpoint(1), { code: 'EVT_STORE_CLOSED' });
  });
}
