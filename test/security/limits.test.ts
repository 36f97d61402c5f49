/**
 * Rate limits and quotas on a real server with the in-process counters (the
 * embedded default): the 429 answers, their codes and headers on HTTP, their
 * status and trailers on gRPC, and the owner's view of its quota.
 *
 * Buckets refill in real time, so no test counts on a refusal at an exact
 * request: they send until the first refusal and bound what was admitted by
 * the burst plus what the measured time can have refilled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { IngestRequest, IngestResponse } from '../../src/gen/eventide/v1/ingest.js';
import { call, events, grpcClient, grpcMetadata, grpcRequest, grpcSend, startSecureServer, trailer, type Answer } from './helpers.js';

/** Sends until the first 429 (at most `max`); the number admitted before it and the refusal. */
async function untilRefused(send: () => Promise<Answer>, max = 200): Promise<{ admitted: number; refusal: Answer; admittedAnswers: Answer[] }> {
  const admittedAnswers: Answer[] = [];
  for (let i = 0; i < max; i++) {
    const answer = await send();
    if (answer.status === 429) return { admitted: admittedAnswers.length, refusal: answer, admittedAnswers };
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    admittedAnswers.push(answer);
  }
  throw new Error(`no 429 within ${max} requests`);
}

void test('a key over its requests per second gets 429 EVT_RATE_LIMITED with Retry-After and RateLimit-* headers; other keys do not', async (t) => {
  const server = await startSecureServer(t, { keyRequestsPerSec: 1, keyRequestsBurst: 5 });
  const key = await server.createKey('acme');
  const other = await server.createKey('beta');
  const startedAt = Date.now();
  const { admitted, refusal, admittedAnswers } = await untilRefused(() => call(server, 'GET', '/v1/metrics', key));
  const elapsedS = (Date.now() - startedAt) / 1_000;
  assert.ok(admitted >= 5 && admitted <= 5 + Math.ceil(elapsedS) + 1, `admitted ${admitted} in ${elapsedS} s`);
  assert.equal(admittedAnswers[0]!.headers.get('ratelimit-limit'), '5');
  assert.equal(admittedAnswers[0]!.headers.get('ratelimit-remaining'), '4');
  assert.equal(admittedAnswers[0]!.headers.get('ratelimit-policy'), '5;w=5;comment="requests"');
  assert.equal(refusal.body.error?.code, 'EVT_RATE_LIMITED');
  assert.equal(refusal.body.error?.field, 'requests');
  assert.equal(refusal.body.error?.retryable, true);
  assert.equal(refusal.headers.get('retry-after'), '1');
  assert.equal(refusal.headers.get('ratelimit-remaining'), '0');
  assert.ok(Number(refusal.headers.get('ratelimit-reset')) >= 4);
  assert.equal((await call(server, 'GET', '/v1/metrics', other)).status, 200, 'beta has a bucket of its own');
  assert.equal(server.limits.stats.rateLimited, 1);
});

void test('events are counted after each batch: a key over its events per second is refused on HTTP and gRPC (unary and stream)', async (t) => {
  const server = await startSecureServer(t, { keyEventsPerSec: 1, keyEventsBurst: 10 });
  const key = await server.createKey('acme');
  // The first batch is admitted with a full bucket and overdraws it by 40 events.
  assert.equal((await call(server, 'POST', '/v1/events', key, events('big', 50))).status, 200);
  const refused = await call(server, 'POST', '/v1/events', key, events('next', 1));
  assert.equal(refused.status, 429);
  assert.equal(refused.body.error?.code, 'EVT_RATE_LIMITED');
  assert.equal(refused.body.error?.field, 'events');
  assert.ok(Number(refused.headers.get('retry-after')) >= 30, 'about 41 s of debt at 1 event/s');
  assert.equal((await call(server, 'GET', '/v1/metrics', key)).status, 200, 'reads do not spend events');

  const client = grpcClient(t, server.grpcTarget);
  const unary = await grpcSend(client, grpcRequest('g', 1), grpcMetadata(key));
  assert.equal(unary.error?.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.equal(trailer(unary.error, 'x-eventide-code'), 'EVT_RATE_LIMITED');
  assert.ok(Number(trailer(unary.error, 'retry-after-ms')) >= 30_000);

  const stream: ClientDuplexStream<IngestRequest, IngestResponse> = client.stream(grpcMetadata(key));
  stream.on('error', () => undefined);
  const answer = new Promise<IngestResponse>((resolve) => stream.once('data', resolve));
  stream.write(grpcRequest('s', 1));
  const refusedBatch = await answer;
  stream.end();
  assert.equal(refusedBatch.errorCode, 'EVT_RATE_LIMITED');
  assert.ok(refusedBatch.retryAfterMs >= 30_000);
  assert.equal(refusedBatch.accepted, 0);
});

void test('an owner\'s daily quota: stored events count, duplicates do not; then 429 EVT_QUOTA_EXCEEDED until 00:00 UTC, drops visible to the owner', async (t) => {
  const server = await startSecureServer(t);
  const admin = await server.createKey('ops', { scopes: ['admin'] });
  assert.equal((await call(server, 'POST', '/v1/admin/owners', admin, { owner: 'acme', eventsPerDayMax: 20 })).status, 201);
  const key = await server.createKey('acme');
  const other = await server.createKey('beta');

  assert.equal((await call(server, 'POST', '/v1/events', key, events('a', 15))).status, 200);
  const again = await call(server, 'POST', '/v1/events', key, events('a', 15));
  assert.equal((again.body.counts as { duplicate: number }).duplicate, 15, 'duplicates are answered but not counted');
  const usage = await call(server, 'GET', '/v1/usage', key);
  assert.equal(usage.body.events, 15);
  assert.equal(usage.body.remaining, 5);
  // 15 < 20: this batch is admitted whole, though it takes the day to 25.
  const crossing = await call(server, 'POST', '/v1/events', key, events('b', 10));
  assert.equal(crossing.status, 200);
  assert.equal(crossing.headers.get('ratelimit-policy')?.includes('20;w=86400;comment="events-per-day"'), true);

  const refused = await call(server, 'POST', '/v1/events', key, events('c', 1));
  assert.equal(refused.status, 429);
  assert.equal(refused.body.error?.code, 'EVT_QUOTA_EXCEEDED');
  assert.equal(refused.body.error?.retryable, true);
  const untilMidnightS = Math.ceil((Math.ceil(Date.now() / 86_400_000) * 86_400_000 - Date.now()) / 1_000);
  const retryAfter = Number(refused.headers.get('retry-after'));
  assert.ok(Math.abs(retryAfter - untilMidnightS) <= 5, `Retry-After ${retryAfter} s, midnight in ${untilMidnightS} s`);

  const client = grpcClient(t, server.grpcTarget);
  const unary = await grpcSend(client, grpcRequest('g', 1), grpcMetadata(key));
  assert.equal(unary.error?.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.equal(trailer(unary.error, 'x-eventide-code'), 'EVT_QUOTA_EXCEEDED');

  const seen = await call(server, 'GET', '/v1/usage', key);
  assert.deepEqual(
    { events: seen.body.events, remaining: seen.body.remaining, droppedRequests: seen.body.droppedRequests, eventsPerDayMax: seen.body.eventsPerDayMax },
    { events: 25, remaining: 0, droppedRequests: 2, eventsPerDayMax: 20 },
  );
  assert.equal((await call(server, 'GET', '/v1/metrics', key)).status, 200, 'reads go on');
  assert.equal((await call(server, 'POST', '/v1/events', other, events('beta', 30))).status, 200, 'beta has no quota');
});

void test('limits of 0 are off: no refusal and no RateLimit headers', async (t) => {
  const server = await startSecureServer(t, { keyRequestsPerSec: 0, keyEventsPerSec: 0 });
  const key = await server.createKey('acme');
  const answer = await call(server, 'POST', '/v1/events', key, events('x', 5));
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get('ratelimit-limit'), null);
  assert.equal(answer.headers.get('ratelimit-policy'), null);
});
