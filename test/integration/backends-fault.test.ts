/**
 * The whole product on real backends while one of them goes away (issue 4,
 * "Fault tests with real servers"): HTTP in, worker threads, stores out.
 *
 * 1. MongoDB (FerretDB) stopped mid-run: ingest goes on into the bounded
 *    per-worker flush buffer, then the edge answers 429 EVT_STORE_BACKLOG with
 *    a Retry-After, and /readyz is 503 naming the event store. Started again on
 *    the same port and data, the backlog drains: every event ever answered
 *    `accepted` is stored exactly once, and the metrics count each once.
 * 2. Redis killed mid-run: ingest goes on (every batch accepted), /readyz stays
 *    200 but says `degraded` (snapshots failing). Restarted on the same port
 *    (empty: no persistence), snapshots resume and Redis holds the full count.
 *
 * Both tests own their server processes (they must stop them), so they spawn
 * FerretDB and redis-server even when MONGODB_URI / REDIS_URL are set. A
 * missing binary skips loudly; under CI=true it fails (the helpers' policy).
 * Effects of background timers are awaited by polling (`eventually`), never by
 * sleeping; every poll is bounded so a broken product fails instead of hanging.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import { eventually, getJson, postEvents, startTestServer, type TestServer } from '../helpers.js';
import { ferretdbBinary, missingServer, startFerretDb, withDatabase } from '../helpers/ferretdb.js';
import { redisAvailability, RedisServer, warnLoudly } from '../helpers/redis.js';
import { RedisKeys, parseWindowRef } from '../../src/store/redis/keys.js';

const OWNER = 'acme';
/** Events per request. */
const BATCH_EVENTS = 10;
/** Small limits so the flush buffer fills within a few requests while MongoDB is down. */
const FLUSH_BATCH_EVENTS_MAX = 10;
const FLUSH_PENDING_EVENTS_MAX = 40;
/** Requests sent with ack=durable before the outage. */
const DURABLE_BATCHES = 3;
/**
 * Upper bound on requests sent while MongoDB is down. The buffer refuses at
 * FLUSH_PENDING_EVENTS_MAX, may hold one batch more (the check runs before a
 * batch is applied) and one flush's worth is in flight: 6 requests at most are
 * accepted, so a 429 must come well within this.
 */
const OUTAGE_BATCHES_MAX = 20;
/**
 * Events stamped this far ahead are `accepted`, never `late`, however slow the
 * machine (as in ingest.test.ts); within the default futureToleranceMs.
 */
const AHEAD_MS = 2_000;
/**
 * The product opens MongoDB with the adapter's defaults (serverSelectionTimeoutMs
 * 5 s, 4 attempts), so in the worst case the first failed flush, and with it
 * the 503, comes some 20 s after the stop; against a stopped FerretDB the
 * driver fails faster (about 1.5 s here). Generous bounds for a loaded 2-core
 * machine; polls end as soon as the condition holds.
 */
const MONGO_DOWN_DETECTED_MS_MAX = 45_000;
const RECOVERY_MS_MAX = 30_000;
/** Worker stats (and so /readyz) are refreshed once a second; snapshots run every 200 ms in tests. */
const REDIS_STATE_SEEN_MS_MAX = 15_000;

function batchBody(prefix: string, count: number): string {
  const timestamp = Date.now() + AHEAD_MS;
  return JSON.stringify({
    events: Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, name: i % 2 === 0 ? 'click' : 'view', timestamp })),
  });
}

function idsOf(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

/** Sends one batch; asserts every event of an answered batch was accepted and returns its ids. */
async function sendAccepted(server: TestServer, prefix: string, query = ''): Promise<string[]> {
  const answer = await postEvents(server, server.key, batchBody(prefix, BATCH_EVENTS), {}, query);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.counts, { accepted: BATCH_EVENTS, duplicate: 0, late: 0, tooLate: 0, rejected: 0 });
  return idsOf(prefix, BATCH_EVENTS);
}

async function readyz(server: TestServer): Promise<{ status: number; body: { reasons: string[]; degraded: string[] } }> {
  const { status, body } = await getJson(`${server.httpUrl}/readyz`, undefined);
  return { status, body: body as unknown as { reasons: string[]; degraded: string[] } };
}

/** Total of the owner's 1-hour windows around now, as GET /v1/metrics reports it. */
async function metricsTotal(server: TestServer): Promise<number> {
  const now = Date.now();
  const { status, body } = await getJson(
    `${server.httpUrl}/v1/metrics?resolution=1h&from=${now - 2 * 3_600_000}&to=${now + 3_600_000}`,
    server.key,
  );
  assert.equal(status, 200, JSON.stringify(body));
  return (body.summary as { total: number }).total;
}

const ferretBinary = ferretdbBinary();
if (ferretBinary === undefined) {
  void test('whole product while MongoDB stops and starts again', (t) => missingServer(t, 'test/integration/backends-fault.test.ts (spawns and stops FerretDB itself, so MONGODB_URI alone is not enough)'));
} else {
  void test('MongoDB stopped mid-run: backlog then 429 EVT_STORE_BACKLOG and 503; restarted, every accepted event is stored once', { timeout: 120_000 }, async (t) => {
    const ferret = await startFerretDb(ferretBinary);
    t.after(() => ferret.close());
    const dbName = 'eventide_fault';
    const server = await startTestServer(t, {
      eventStore: 'mongodb',
      mongodbUri: withDatabase(ferret.uri, dbName),
      flushBatchEventsMax: FLUSH_BATCH_EVENTS_MAX,
      flushPendingEventsMax: FLUSH_PENDING_EVENTS_MAX,
      flushIntervalMs: 50,
    });
    // The product flushes on close, so it must close while FerretDB still runs (close is idempotent).
    t.after(async () => {
      await server.close();
      await ferret.close();
    });

    const accepted: string[] = [];
    for (let b = 0; b < DURABLE_BATCHES; b++) accepted.push(...(await sendAccepted(server, `durable${b}`, '?ack=durable')));
    // A durable answer means the events are in the write-ahead log: found at once, pending or already stored.
    for (const id of accepted) {
      const { status, body } = await getJson(`${server.httpUrl}/v1/events/${id}`, server.key);
      assert.equal(status, 200, JSON.stringify(body));
      assert.ok(body.state === 'pending' || body.state === 'stored', id);
    }
    assert.equal((await readyz(server)).status, 200);

    await ferret.stop();
    const stoppedAtMs = Date.now();

    // Ingest goes on into the bounded buffer, then is refused with an honest 429.
    let refusal: Awaited<ReturnType<typeof postEvents>> | undefined;
    let acceptedDuringOutage = 0;
    for (let b = 0; b < OUTAGE_BATCHES_MAX && refusal === undefined; b++) {
      const prefix = `outage${b}`;
      const answer = await postEvents(server, server.key, batchBody(prefix, BATCH_EVENTS));
      if (answer.status === 429) {
        refusal = answer;
        break;
      }
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal((answer.body.counts as { accepted: number }).accepted, BATCH_EVENTS);
      accepted.push(...idsOf(prefix, BATCH_EVENTS));
      acceptedDuringOutage += BATCH_EVENTS;
    }
    assert.ok(refusal !== undefined, `no 429 after ${OUTAGE_BATCHES_MAX} batches while MongoDB was down`);
    assert.ok(acceptedDuringOutage > 0, 'nothing was accepted into the buffer while MongoDB was down');
    assert.ok(
      acceptedDuringOutage <= FLUSH_PENDING_EVENTS_MAX + FLUSH_BATCH_EVENTS_MAX + BATCH_EVENTS,
      `${acceptedDuringOutage} events accepted while down: the buffer is not bounded`,
    );
    const error = refusal.body.error as { code: string; retryable: boolean };
    assert.equal(error.code, 'EVT_STORE_BACKLOG');
    assert.equal(error.retryable, true);
    assert.match(refusal.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    // Still refused: a refusal applies nothing, and the buffer stays full while the server is away.
    const again = await postEvents(server, server.key, batchBody('refused-again', BATCH_EVENTS));
    assert.equal(again.status, 429, JSON.stringify(again.body));
    assert.equal((again.body.error as { code: string }).code, 'EVT_STORE_BACKLOG');

    // Readiness turns once a flush has failed for good (after the adapter's own retries).
    let unreadyReason = '';
    await eventually(async () => {
      const { status, body } = await readyz(server);
      unreadyReason = body.reasons.find((reason) => /event store failing/.test(reason)) ?? '';
      return status === 503 && unreadyReason !== '';
    }, MONGO_DOWN_DETECTED_MS_MAX, 100);
    const unreadyAfterMs = Date.now() - stoppedAtMs;

    await ferret.start();
    const restartedAtMs = Date.now();

    await eventually(async () => (await readyz(server)).status === 200, RECOVERY_MS_MAX, 100);
    // Information for whoever tunes the limits, never asserted (no timing thresholds in tests).
    t.diagnostic(`${acceptedDuringOutage} events accepted while down; 503 (${unreadyReason}) after ${unreadyAfterMs} ms; ready ${Date.now() - restartedAtMs} ms after the restart`);
    // Drained: the flush buffer takes new batches again.
    accepted.push(...(await sendAccepted(server, 'after', '?ack=durable')));

    for (const id of accepted) {
      const { status, body } = await getJson(`${server.httpUrl}/v1/events/${id}`, server.key);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.state, 'stored', id);
    }
    // Refused batches left nothing behind.
    assert.equal((await getJson(`${server.httpUrl}/v1/events/refused-again-0`, server.key)).status, 404);

    const client = new MongoClient(ferret.uri, { serverSelectionTimeoutMS: 5_000 });
    try {
      const events = client.db(dbName).collection('events');
      // Exactly once: as many documents as accepted events, and each accepted id among them.
      assert.equal(await events.countDocuments({ '_id.o': OWNER }), accepted.length);
      const storedIds = new Set((await events.find({ '_id.o': OWNER }, { projection: { _id: 1 } }).toArray()).map((doc) => (doc._id as unknown as { i: string }).i));
      assert.deepEqual([...storedIds].sort(), [...accepted].sort());
      assert.equal(await client.db(dbName).collection('dead_letters').countDocuments(), 0);
    } finally {
      await client.close();
    }
    assert.equal(await metricsTotal(server), accepted.length);
  });
}

const redis = redisAvailability();
if (!redis.ok) {
  warnLoudly(redis.reason);
  if (redis.mustFail) void test('redis-server is required under CI=true', () => assert.fail(redis.reason));
  else void test('whole product while Redis is killed and restarted', { skip: redis.reason }, () => undefined);
} else {
  /**
   * Sum of the 1-day window totals of the owner's snapshot, read as another
   * program would (docs/redis.md). Days, not hours: a snapshot holds open
   * windows only, and a 1-day window closes during the test only if it runs
   * across midnight UTC plus the allowed lateness.
   */
  async function redisDayTotal(reader: Redis, keys: RedisKeys, shard: number): Promise<number | undefined> {
    const windows = await reader.hget(keys.owner(shard, OWNER), 'windows');
    if (windows === null) return undefined;
    let total = 0;
    for (const ref of windows.split(' ').filter((part) => part !== '')) {
      const { resolution, startMs } = parseWindowRef(ref);
      if (resolution !== '1d') continue;
      const field = await reader.hget(keys.window(shard, resolution, startMs, OWNER), 'total');
      if (field === null) return undefined;
      total += Number(field);
    }
    return total;
  }

  void test('Redis killed mid-run: ingest goes on, /readyz degraded; restarted, snapshots resume with the full count', { timeout: 60_000 }, async (t) => {
    const redisServer = await RedisServer.start();
    t.after(() => redisServer.stop());
    const server = await startTestServer(t, { snapshotStore: 'redis', redisUrl: redisServer.url });
    const reader = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true });
    // Product first (it snapshots on close), then the reader, then the server.
    t.after(async () => {
      await server.close();
      reader.disconnect();
      await redisServer.stop();
    });
    const keys = new RedisKeys();
    const shard = server.router.shardMap.shardOf(OWNER);

    const accepted: string[] = [];
    for (let b = 0; b < 3; b++) accepted.push(...(await sendAccepted(server, `before${b}`)));
    await eventually(async () => (await redisDayTotal(reader, keys, shard)) === accepted.length, REDIS_STATE_SEEN_MS_MAX, 50);
    reader.disconnect();

    await redisServer.kill();
    for (let b = 0; b < 5; b++) accepted.push(...(await sendAccepted(server, `during${b}`)));
    await eventually(async () => {
      const { status, body } = await readyz(server);
      assert.equal(status, 200, `snapshots failing must not make the product unready: ${JSON.stringify(body)}`);
      return body.degraded.some((entry) => /snapshots failing/.test(entry));
    }, REDIS_STATE_SEEN_MS_MAX, 100);
    // Still taking events while degraded.
    accepted.push(...(await sendAccepted(server, 'degraded')));

    await redisServer.restart();
    await eventually(async () => {
      const { status, body } = await readyz(server);
      assert.equal(status, 200, JSON.stringify(body));
      return body.degraded.length === 0;
    }, REDIS_STATE_SEEN_MS_MAX, 100);
    // The restarted Redis started empty: what it holds now was written after it came back.
    await reader.connect();
    await eventually(async () => (await redisDayTotal(reader, keys, shard)) === accepted.length, REDIS_STATE_SEEN_MS_MAX, 50);
    assert.equal(await metricsTotal(server), accepted.length);
  });
}
