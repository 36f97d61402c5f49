/**
 * What the client makes of answers: the retryable codes are the server's
 * (src/edge/status.ts), HTTP and gRPC answers map onto the same outcomes, and
 * Retry-After is read in both of its forms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ALL_CODES, isRetryable } from '../../src/edge/status.js';
import { RETRYABLE_CODES } from '../../src/client/index.js';
import { outcomeOfHttp } from '../../src/client/http.js';
import { outcomeOfGrpcError } from '../../src/client/grpc.js';
import { answerProblem } from '../../src/client/receipts.js';
import { retryAfterMsOf } from '../../src/client/transport.js';

void test('the client retries exactly the codes the status table calls retryable (ws codes aside)', () => {
  const server = ALL_CODES.filter((c) => isRetryable(c) && !c.startsWith('EVT_WS_')).sort();
  assert.deepEqual([...RETRYABLE_CODES].sort(), server);
});

void test('Retry-After: seconds or an HTTP date', () => {
  const now = Date.parse('2026-01-15T12:00:00Z');
  assert.equal(retryAfterMsOf('3', now), 3_000);
  assert.equal(retryAfterMsOf(' 0 ', now), 0);
  assert.equal(retryAfterMsOf('Thu, 15 Jan 2026 12:00:05 GMT', now), 5_000);
  assert.equal(retryAfterMsOf('Thu, 15 Jan 2026 11:00:00 GMT', now), 0);
  assert.equal(retryAfterMsOf('soon', now), 0);
  assert.equal(retryAfterMsOf(undefined, now), 0);
});

const COUNTS = { accepted: 1, duplicate: 0, late: 0, tooLate: 0, rejected: 1 };

void test('HTTP answers: receipts, refusals with their hint, final failures, and what is not eventide', () => {
  const answered = outcomeOfHttp(200, undefined, JSON.stringify({ counts: COUNTS, receipts: [{ index: 1, id: 'b', status: 'rejected', code: 'EVT_FIELD_MISSING', field: 'name' }] }), 0);
  assert.equal(answered.kind, 'answered');
  assert.deepEqual(answered.kind === 'answered' && answered.receipts[0], { index: 1, id: 'b', status: 'rejected', code: 'EVT_FIELD_MISSING', field: 'name', message: undefined });
  // Every event rejected: 400 with the counts is still an answer per event.
  assert.equal(outcomeOfHttp(400, undefined, JSON.stringify({ error: { code: 'EVT_FIELD_MISSING' }, counts: { ...COUNTS, accepted: 0, rejected: 2 }, receipts: [] }), 0).kind, 'answered');

  const refused = outcomeOfHttp(429, '2', JSON.stringify({ error: { code: 'EVT_MAILBOX_FULL', message: 'full', retryable: true } }), 0);
  assert.equal(refused.kind, 'refused');
  assert.equal(refused.kind === 'refused' && refused.retryAfterMs, 2_000);
  assert.equal(refused.kind === 'refused' && refused.error.code, 'EVT_MAILBOX_FULL');

  // A 503 the server marks final (the store is closed for good) is not retried.
  const closed = outcomeOfHttp(503, undefined, JSON.stringify({ error: { code: 'EVT_STORE_CLOSED', message: 'closed', retryable: false } }), 0);
  assert.equal(closed.kind, 'failed');

  const unauthorized = outcomeOfHttp(401, undefined, JSON.stringify({ error: { code: 'EVT_UNAUTHENTICATED', message: 'no', field: 'authorization', retryable: false } }), 0);
  assert.equal(unauthorized.kind, 'failed');
  assert.equal(unauthorized.kind === 'failed' && unauthorized.error.code, 'EVT_UNAUTHENTICATED');
  assert.equal(unauthorized.kind === 'failed' && unauthorized.error.field, 'authorization');

  // A proxy's 502 page is retried; a 404 page is not eventide's contract.
  assert.equal(outcomeOfHttp(502, undefined, '<html>bad gateway</html>', 0).kind, 'refused');
  const notOurs = outcomeOfHttp(404, undefined, '<html>no</html>', 0);
  assert.equal(notOurs.kind === 'failed' && notOurs.error.code, 'EVT_CLIENT_ANSWER_INVALID');
  const badShape = outcomeOfHttp(200, undefined, JSON.stringify({ counts: { accepted: -1 } }), 0);
  assert.equal(badShape.kind === 'failed' && badShape.error.code, 'EVT_CLIENT_ANSWER_INVALID');
});

function serviceError(code: grpc.status, md: Record<string, string>): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return Object.assign(new Error('x'), { code, details: 'details', metadata });
}

void test('gRPC failures: retry-after-ms marks a refusal, its absence a final answer, transport trouble is retried', () => {
  const refused = outcomeOfGrpcError(grpc, serviceError(grpc.status.RESOURCE_EXHAUSTED, { 'x-eventide-code': 'EVT_MAILBOX_FULL', 'retry-after-ms': '250' }));
  assert.equal(refused.kind === 'refused' && refused.retryAfterMs, 250);
  const final = outcomeOfGrpcError(grpc, serviceError(grpc.status.INVALID_ARGUMENT, { 'x-eventide-code': 'EVT_BODY_MALFORMED', 'x-eventide-field': 'body' }));
  assert.equal(final.kind === 'failed' && final.error.code, 'EVT_BODY_MALFORMED');
  assert.equal(outcomeOfGrpcError(grpc, serviceError(grpc.status.UNAVAILABLE, {})).kind, 'refused');
  // grpc-js's own size limit: the server's bodyBytesMax, final.
  const tooLarge = outcomeOfGrpcError(grpc, serviceError(grpc.status.RESOURCE_EXHAUSTED, {}));
  assert.equal(tooLarge.kind === 'failed' && tooLarge.error.code, 'EVT_BODY_TOO_LARGE');
  assert.equal(outcomeOfGrpcError(grpc, serviceError(grpc.status.UNIMPLEMENTED, {})).kind, 'failed');
});

void test('an answer that does not fit its batch is caught', () => {
  assert.equal(answerProblem(COUNTS, [], 2), undefined);
  assert.match(answerProblem(COUNTS, [], 3)!, /counts 2 events for a batch of 3/);
  assert.match(answerProblem(COUNTS, [{ index: 2, id: '', status: 'rejected' }], 2)!, /index 2/);
});

void test('HTTP refusals: the exact retry-after-ms hint wins over whole-second Retry-After', () => {
  const body = JSON.stringify({ error: { code: 'EVT_MAILBOX_FULL', message: 'full', retryable: true } });
  const exact = outcomeOfHttp(429, '1', body, 0, '37');
  assert.equal(exact.kind === 'refused' && exact.retryAfterMs, 37);
  const junk = outcomeOfHttp(429, '2', body, 0, 'soon');
  assert.equal(junk.kind === 'refused' && junk.retryAfterMs, 2_000);
});
