/**
 * Limits shared through Redis: two edge servers (separate data directories)
 * that hold the same key and share one spawned redis-server allow the key its
 * limit once, not once each; an owner's daily quota is counted across both;
 * and with Redis gone, each server decides in-process instead of failing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LmdbKeyStore } from '../../src/store/lmdb/key-store.js';
import { lmdbPath } from '../../src/store/open.js';
import { RedisLimits } from '../../src/edge/limits-redis.js';
import { redisAvailability, RedisServer, warnLoudly } from '../helpers/redis.js';
import { eventually } from '../helpers.js';
import { call, events, startSecureServer, type SecureServer } from './helpers.js';

/** Copies a key record from one server's store to the other's: the same key (same secret) works on both. */
async function shareKey(from: SecureServer, to: SecureServer, key: string): Promise<void> {
  const source = new LmdbKeyStore({ path: lmdbPath(from.dataDir) });
  const target = new LmdbKeyStore({ path: lmdbPath(to.dataDir) });
  try {
    const record = await source.getByPrefix(key.slice(0, 12));
    assert.ok(record !== undefined);
    await target.put(record);
  } finally {
    await source.close();
    await target.close();
  }
}

const availability = redisAvailability();
if (!availability.ok) {
  warnLoudly(availability.reason);
  if (availability.mustFail) void test('redis-server is required under CI=true', () => assert.fail(availability.reason));
  else void test('limits shared through Redis', { skip: availability.reason }, () => undefined);
} else {
  async function pair(t: Parameters<typeof startSecureServer>[0], overrides: Record<string, unknown>): Promise<{ redis: RedisServer; a: SecureServer; b: SecureServer; key: string }> {
    const redis = await RedisServer.start();
    t.after(() => redis.stop());
    const settings = { redisUrl: redis.url, snapshotStore: 'lmdb', ...overrides };
    const a = await startSecureServer(t, settings);
    const b = await startSecureServer(t, settings);
    assert.equal(a.limits.kind, 'redis');
    const key = await a.createKey('acme');
    await shareKey(a, b, key);
    return { redis, a, b, key };
  }

  void test('two servers sharing Redis allow a key its requests burst once between them', async (t) => {
    const { a, b, key } = await pair(t, { keyRequestsPerSec: 1, keyRequestsBurst: 8 });
    const startedAt = Date.now();
    let admitted = 0;
    const served = { a: 0, b: 0 };
    let refusal: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 100 && refusal === undefined; i++) {
      const server = i % 2 === 0 ? a : b;
      const answer = await call(server, 'GET', '/v1/metrics', key);
      if (answer.status === 429) refusal = answer;
      else {
        assert.equal(answer.status, 200);
        admitted++;
        served[server === a ? 'a' : 'b']++;
      }
    }
    const elapsedS = (Date.now() - startedAt) / 1_000;
    assert.ok(refusal !== undefined, 'refused within 100 requests');
    t.diagnostic(`admitted ${admitted} (A ${served.a}, B ${served.b}) in ${elapsedS.toFixed(2)} s`);
    assert.ok(admitted >= 8 && admitted <= 8 + Math.ceil(elapsedS) + 1, `one burst of 8 between both servers, plus what ${elapsedS} s refilled; got ${admitted}`);
    assert.ok(served.a > 0 && served.b > 0);
    assert.equal(refusal.body.error?.code, 'EVT_RATE_LIMITED');
    assert.equal(refusal.headers.get('ratelimit-limit'), '8');
    assert.equal(a.limits.stats.fallbacks + b.limits.stats.fallbacks, 0, 'every decision was Redis\'s');
  });

  void test('an owner\'s daily quota counts the events taken by both servers; either refuses once it is used up', async (t) => {
    const { a, b, key } = await pair(t, { ownerEventsPerDayMax: 20 });
    assert.equal((await call(a, 'POST', '/v1/events', key, events('a', 15))).status, 200);
    // Settles reach Redis in the background; B sees A's 15 once it has.
    await eventually(async () => (await call(b, 'GET', '/v1/usage', key)).body.events === 15);
    assert.equal((await call(b, 'POST', '/v1/events', key, events('b', 10))).status, 200);
    await eventually(async () => (await call(a, 'GET', '/v1/usage', key)).body.events === 25);
    for (const server of [a, b]) {
      const refused = await call(server, 'POST', '/v1/events', key, events('c', 1));
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error?.code, 'EVT_QUOTA_EXCEEDED');
    }
    const usage = await call(b, 'GET', '/v1/usage', key);
    assert.equal(usage.body.droppedRequests, 2);
    assert.equal(usage.body.remaining, 0);
  });

  void test('with Redis gone, each server decides in-process (counted) and answers; with Redis back, Redis decides again', async (t) => {
    const { redis, a, key } = await pair(t, { keyRequestsPerSec: 1_000, keyRequestsBurst: 1_000 });
    assert.equal((await call(a, 'GET', '/v1/metrics', key)).status, 200);
    await redis.kill();
    for (let i = 0; i < 5; i++) assert.equal((await call(a, 'GET', '/v1/metrics', key)).status, 200);
    assert.ok(a.limits.stats.fallbacks >= 5, `fallbacks ${a.limits.stats.fallbacks}`);
    await redis.restart();
    // The connection comes back by itself; then a request is decided without a fallback.
    await eventually(async () => {
      const before = a.limits.stats.fallbacks;
      assert.equal((await call(a, 'GET', '/v1/metrics', key)).status, 200);
      return a.limits.stats.fallbacks === before;
    });
  });

  void test('RedisLimits answers like MemoryLimits on the same arithmetic (one bucket, one debt)', async (t) => {
    const redis = await RedisServer.start();
    t.after(() => redis.stop());
    const limits = new RedisLimits({ url: redis.url, keyRequestsPerSec: 1, keyRequestsBurst: 3, keyEventsPerSec: 1, keyEventsBurst: 10, limitsEntriesMax: 100 });
    t.after(() => limits.close());
    const input = { keyId: 'k', owner: 'acme', ingest: true, eventsPerDayMax: 0, nowMs: Date.now() };
    for (let i = 0; i < 3; i++) assert.equal((await limits.admit(input)).refusal, undefined);
    const refused = await limits.admit(input);
    assert.equal(refused.refusal?.code, 'EVT_RATE_LIMITED');
    assert.equal(refused.refusal?.field, 'requests');
    const events = new RedisLimits({ url: redis.url, keyRequestsPerSec: 0, keyRequestsBurst: 1, keyEventsPerSec: 1, keyEventsBurst: 10, limitsEntriesMax: 100 });
    t.after(() => events.close());
    assert.equal((await events.admit({ ...input, keyId: 'e' })).refusal, undefined);
    events.settle({ keyId: 'e', owner: 'acme', events: 50, stored: 50, nowMs: Date.now() });
    await eventually(async () => (await events.admit({ ...input, keyId: 'e' })).refusal?.field === 'events');
    const debt = await events.admit({ ...input, keyId: 'e' });
    assert.ok((debt.refusal?.retryAfterMs ?? 0) >= 30_000, `about 41 s of debt, got ${debt.refusal?.retryAfterMs}`);
    assert.equal(events.stats.fallbacks + limits.stats.fallbacks, 0);
  });
}
