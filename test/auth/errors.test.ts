import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyInactiveError, KeyInputError, OwnerInputError, TokenExpiredError } from '../../src/auth/errors.js';
import { QuotaExceededError, RateLimitedError } from '../../src/edge/errors.js';
import { ALL_CODES, errorBody, isRetryable } from '../../src/edge/status.js';

void test('auth and limit errors have a status row, and their retryable agrees with it', () => {
  const errors = [
    new KeyInputError('m', 'owner'),
    new OwnerInputError('m', 'owner'),
    new KeyInactiveError('evt_AAAAAAAA', 'revoked'),
    new TokenExpiredError(0),
    new RateLimitedError('requests', 100),
    new QuotaExceededError(10, 1_000),
  ];
  for (const error of errors) {
    assert.ok(ALL_CODES.includes(error.code), error.code);
    assert.equal(error.retryable, isRetryable(error.code), error.code);
    assert.equal(errorBody(error).error.code, error.code);
  }
});
