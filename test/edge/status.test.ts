import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { EventideError } from '../../src/errors.js';
import * as edgeErrors from '../../src/edge/errors.js';
import {
  ALL_CODES,
  errorBody,
  grpcStatusOf,
  httpStatusOf,
  isRetryable,
  publicErrorOf,
  retryAfterSecondsOf,
} from '../../src/edge/status.js';

class StrayError extends EventideError {
  readonly code = 'EVT_SOMETHING_NEW';
  readonly retryable = true;
}

void test('every code in the table maps to an error status on both wires', () => {
  assert.ok(ALL_CODES.length > 30);
  for (const code of ALL_CODES) {
    assert.match(code, /^EVT_[A-Z_]+$/);
    const http = httpStatusOf(code);
    assert.ok(http >= 400 && http < 600, `${code} -> ${http}`);
    assert.notEqual(grpcStatusOf(code), GrpcStatus.OK, code);
  }
});

void test('the codes the other layers raise are in the table with the agreed status', () => {
  const expected: Array<[string, number, GrpcStatus, boolean]> = [
    ['EVT_BODY_MALFORMED', 400, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_BODY_TOO_LARGE', 413, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_BATCH_TOO_LONG', 413, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_BATCH_EMPTY', 400, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_FIELD_MISSING', 400, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_FIELD_TYPE', 400, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_FIELD_TOO_LONG', 400, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_FIELD_TOO_MANY', 400, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_FIELD_INVALID', 400, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_EVENT_TOO_LARGE', 400, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_TIMESTAMP_FUTURE', 400, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_MAILBOX_FULL', 429, GrpcStatus.RESOURCE_EXHAUSTED, true],
    ['EVT_STORE_BACKLOG', 429, GrpcStatus.RESOURCE_EXHAUSTED, true],
    ['EVT_WORKER_UNAVAILABLE', 503, GrpcStatus.UNAVAILABLE, true],
    ['EVT_SHARD_TIMEOUT', 503, GrpcStatus.UNAVAILABLE, true],
    ['EVT_CONFIG_INVALID', 500, GrpcStatus.INTERNAL, false],
    ['EVT_INTERNAL', 500, GrpcStatus.INTERNAL, false],
    ['EVT_UNAUTHENTICATED', 401, GrpcStatus.UNAUTHENTICATED, false],
    ['EVT_FORBIDDEN', 403, GrpcStatus.PERMISSION_DENIED, false],
    ['EVT_UNSUPPORTED_MEDIA_TYPE', 415, GrpcStatus.INVALID_ARGUMENT, false],
    ['EVT_NOT_FOUND', 404, GrpcStatus.NOT_FOUND, false],
    ['EVT_DRAINING', 503, GrpcStatus.UNAVAILABLE, true],
    ['EVT_QUERY_INVALID', 400, GrpcStatus.INVALID_ARGUMENT, false],
  ];
  for (const [code, http, grpc, retryable] of expected) {
    assert.ok(ALL_CODES.includes(code), code);
    assert.equal(httpStatusOf(code), http, code);
    assert.equal(grpcStatusOf(code), grpc, code);
    assert.equal(isRetryable(code), retryable, code);
  }
});

void test('unknown codes map to 500 / INTERNAL, not retryable', () => {
  assert.equal(httpStatusOf('EVT_NOPE'), 500);
  assert.equal(grpcStatusOf('EVT_NOPE'), GrpcStatus.INTERNAL);
  assert.equal(isRetryable('EVT_NOPE'), false);
  // Prototype keys are not codes.
  assert.equal(httpStatusOf('constructor'), 500);
  assert.equal(httpStatusOf('__proto__'), 500);
});

void test('every edge error class has a row, and its retryable agrees with the table', () => {
  let checked = 0;
  for (const value of Object.values(edgeErrors)) {
    if (typeof value !== 'function') continue;
    // Build each class with harmless arguments; constructors take strings or numbers.
    const instance = new (value as unknown as new (...args: unknown[]) => EventideError)('x', 'content-type');
    assert.ok(instance instanceof EventideError);
    assert.ok(ALL_CODES.includes(instance.code), instance.code);
    assert.equal(instance.retryable, isRetryable(instance.code), instance.code);
    checked++;
  }
  assert.ok(checked >= 15);
});

void test('errorBody keeps code, message and field of an EventideError', () => {
  const body = errorBody(new edgeErrors.QueryInvalidError('from must be a date', 'from'));
  assert.deepEqual(body, { error: { code: 'EVT_QUERY_INVALID', message: 'from must be a date', field: 'from', retryable: false } });
});

void test('errorBody hides anything that is not ours behind EVT_INTERNAL', () => {
  const secret = new Error('ENOENT: /etc/eventide/secret.key');
  const body = errorBody(secret);
  assert.deepEqual(body, { error: { code: 'EVT_INTERNAL', message: 'internal error', retryable: false } });
  assert.doesNotMatch(JSON.stringify(body), /secret|stack|at /);
  assert.equal(errorBody('a string').error.code, 'EVT_INTERNAL');
  assert.equal(errorBody(undefined).error.code, 'EVT_INTERNAL');
  // A plain object with an unknown code is not trusted.
  assert.equal(errorBody({ code: 'ENOENT', message: 'path' }).error.code, 'EVT_INTERNAL');
});

void test('a plain object with a known code (crossed a thread) keeps its code and retry hint', () => {
  const pub = publicErrorOf({ code: 'EVT_MAILBOX_FULL', message: 'mailbox of shard 3 is full', retryAfterMs: 2_500 });
  assert.equal(pub.code, 'EVT_MAILBOX_FULL');
  assert.equal(pub.retryable, true);
  assert.equal(pub.retryAfterMs, 2_500);
  assert.equal(retryAfterSecondsOf(pub), 3);
});

void test('an EventideError with a code outside the table keeps its code and its own retryable', () => {
  const pub = publicErrorOf(new StrayError('new'));
  assert.equal(pub.code, 'EVT_SOMETHING_NEW');
  assert.equal(pub.retryable, true);
  assert.equal(httpStatusOf(pub.code), 500);
});

void test('Retry-After: at least one second, absent for answers not worth retrying', () => {
  const base = { code: 'EVT_DRAINING', message: '', field: undefined, retryable: true };
  assert.equal(retryAfterSecondsOf({ ...base, retryAfterMs: 100 }), 1);
  assert.equal(retryAfterSecondsOf({ ...base, retryAfterMs: undefined }), 1);
  assert.equal(retryAfterSecondsOf({ ...base, retryAfterMs: 30_000 }), 30);
  assert.equal(retryAfterSecondsOf({ ...base, retryable: false, retryAfterMs: 5_000 }), undefined);
});
