/**
 * A store that cannot be reached, seen from the operator's side: MongoDB
 * (FerretDB, spawned here) stops under a running server. /readyz turns 503
 * and names the event store; /metrics shows the failing writes, the flush lag
 * and the refused batches; the log says so once (naming the request id of the
 * first refused batch), not once per call; and all of it turns back when the
 * store returns. (The data side of the same outage: integration/backends-fault.)
 *
 * Effects of background timers are awaited by polling, every poll bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, getJson, postEvents } from '../helpers.js';
import { ferretdbBinary, missingServer, startFerretDb, withDatabase } from '../helpers/ferretdb.js';
import { captureLogger, scrape, startOpsServer, type LogLine } from './helpers.js';

const BATCH_EVENTS = 10;
const FLUSH_PENDING_EVENTS_MAX = 20;
/** A 429 must come well within this many batches: the buffer holds 20 events, a flush in flight 10 more. */
const OUTAGE_BATCHES_MAX = 20;
/** Generous bounds for a loaded 2-core machine; polls end as soon as the condition holds. */
const DOWN_SEEN_MS_MAX = 45_000;
const RECOVERY_MS_MAX = 30_000;
const AHEAD_MS = 2_000;

function batch(prefix: string): string {
  const timestamp = Date.now() + AHEAD_MS;
  return JSON.stringify({ events: Array.from({ length: BATCH_EVENTS }, (_, i) => ({ id: `${prefix}-${i}`, name: 'click', timestamp })) });
}

function linesWith(lines: LogLine[], msg: string): LogLine[] {
  return lines.filter((line) => line.msg === msg);
}

const binary = ferretdbBinary();
if (binary === undefined) {
  void test('MongoDB outage seen through /readyz, /metrics and the log', (t) => missingServer(t, 'test/ops/outage.test.ts (spawns and stops FerretDB itself)'));
} else {
  void test('MongoDB outage seen through /readyz, /metrics and the log, and its end', { timeout: 120_000 }, async (t) => {
    const ferret = await startFerretDb(binary);
    t.after(() => ferret.close());
    const { log, lines } = captureLogger('info');
    const server = await startOpsServer(
      t,
      {
        eventStore: 'mongodb',
        mongodbUri: withDatabase(ferret.uri, 'eventide_ops'),
        mongoServerSelectionTimeoutMs: 500,
        flushBatchEventsMax: BATCH_EVENTS,
        flushPendingEventsMax: FLUSH_PENDING_EVENTS_MAX,
        logLevel: 'info',
      },
      log,
    );
    // The server flushes on close, so it closes while FerretDB still runs (close is idempotent).
    t.after(async () => {
      await server.close();
      await ferret.close();
    });

    assert.equal((await postEvents(server, server.key, batch('before'), {}, '?ack=durable')).status, 200);
    assert.equal((await getJson(`${server.httpUrl}/readyz`, undefined)).status, 200);
    await eventually(async () => (await scrape(server.httpUrl)).sum('eventide_mongodb_events_inserted_total') === BATCH_EVENTS);
    const before = await scrape(server.httpUrl);
    assert.ok(before.get('eventide_store_operation_duration_seconds_count', { store: 'events', backend: 'mongodb', operation: 'write_events' }) >= 1);

    await ferret.stop();

    // Ingest goes on into the bounded buffer, then is refused.
    let refusals = 0;
    let firstRefused = '';
    for (let b = 0; b < OUTAGE_BATCHES_MAX && refusals === 0; b++) {
      const answer = await postEvents(server, server.key, batch(`outage${b}`), { 'x-request-id': `outage-${b}` });
      if (answer.status === 429) {
        refusals++;
        firstRefused = `outage-${b}`;
        assert.equal((answer.body.error as { code: string }).code, 'EVT_STORE_BACKLOG');
      } else {
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
      }
    }
    assert.equal(refusals, 1, `no 429 within ${OUTAGE_BATCHES_MAX} batches while MongoDB was down`);
    for (const extra of ['again-1', 'again-2']) {
      assert.equal((await postEvents(server, server.key, batch(extra), { 'x-request-id': extra })).status, 429);
      refusals++;
    }

    let reason = '';
    await eventually(async () => {
      const { status, body } = await getJson(`${server.httpUrl}/readyz`, undefined);
      reason = (body.reasons as string[]).find((r) => /event store failing/.test(r)) ?? '';
      return status === 503 && reason !== '';
    }, DOWN_SEEN_MS_MAX, 100);
    assert.match(reason, /^worker \d+: event store failing \(EVT_STORE_WRITE\)$/);
    assert.equal((await getJson(`${server.httpUrl}/livez`, undefined)).status, 200);

    const down = await scrape(server.httpUrl);
    assert.equal(down.get('eventide_ready'), 0);
    assert.ok(down.sum('eventide_flush_failures_total') >= 1);
    assert.ok(down.get('eventide_store_operation_failures_total', { store: 'events', backend: 'mongodb', operation: 'write_events' }) >= 1);
    assert.ok(down.sum('eventide_mongodb_write_failures_total') >= 1);
    assert.ok(down.sum('eventide_flush_pending_events') >= FLUSH_PENDING_EVENTS_MAX, 'the flush lag shows the full buffer');
    assert.equal(down.get('eventide_ingest_batches_total', { protocol: 'http', result: 'EVT_STORE_BACKLOG' }), refusals);

    // Said once, each: the first refused batch by its request id, the first failed write with its error.
    const refusing = linesWith(lines, 'refusing batches (logged once until one is applied again)');
    assert.equal(refusing.length, 1, JSON.stringify(refusing));
    assert.equal(refusing[0]!.level, 'warn');
    assert.equal(refusing[0]!.requestId, firstRefused);
    assert.equal(refusing[0]!.code, 'EVT_STORE_BACKLOG');
    assert.equal(typeof refusing[0]!.worker, 'number');
    const failed = linesWith(lines, 'store call failed (logged once until one succeeds)').filter((l) => l.operation === 'write_events');
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]!.level, 'warn');
    assert.equal((failed[0]!.err as { message?: unknown }).message !== undefined, true);

    await ferret.start();
    await eventually(async () => (await getJson(`${server.httpUrl}/readyz`, undefined)).status === 200, RECOVERY_MS_MAX, 100);
    await eventually(async () => (await scrape(server.httpUrl)).sum('eventide_flush_pending_events') === 0, RECOVERY_MS_MAX, 100);
    assert.equal((await postEvents(server, server.key, batch('after'), { 'x-request-id': 'after-1' })).status, 200);
    const up = await scrape(server.httpUrl);
    assert.equal(up.get('eventide_ready'), 1);
    await eventually(() => linesWith(lines, 'batches applied again').length === 1);
    const again = linesWith(lines, 'batches applied again')[0]!;
    assert.equal(again.code, 'EVT_STORE_BACKLOG');
    assert.equal(again.refusedSinceWarning, refusals - 1);
    assert.ok(linesWith(lines, 'store calls succeed again').some((l) => l.operation === 'write_events'));
  });
}
