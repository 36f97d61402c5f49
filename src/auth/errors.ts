/**
 * Errors of the auth layer. Each code has a row in src/edge/status.ts (or is
 * listed in test/docs.test.ts as one that never reaches a client) and in
 * docs/errors.md.
 */
import { EventideError } from '../errors.js';

/** The input to createKey or rotateKey is invalid (owner, scopes, expiry, ingestOwners, overlap). */
export class KeyInputError extends EventideError {
  readonly code = 'EVT_KEY_INVALID';
  readonly retryable = false;
  constructor(message: string, field: string) {
    super(message, { field });
  }
}

/** An owner record's input is invalid (owner id, quota). */
export class OwnerInputError extends EventideError {
  readonly code = 'EVT_OWNER_INVALID';
  readonly retryable = false;
  constructor(message: string, field: string) {
    super(message, { field });
  }
}

/** A revoked, expired or already rotated key cannot be rotated: that would hand out access it no longer has. */
export class KeyInactiveError extends EventideError {
  readonly code = 'EVT_KEY_INACTIVE';
  readonly retryable = false;
  constructor(
    readonly prefix: string,
    readonly state: string,
  ) {
    super(`key ${prefix} is ${state}; only an active key can be rotated`, { field: 'prefix' });
  }
}

/** A browser token past its expiry. Not retryable: the same token fails the same way; mint a new one. */
export class TokenExpiredError extends EventideError {
  readonly code = 'EVT_TOKEN_EXPIRED';
  readonly retryable = false;
  constructor(readonly expiredAtMs: number) {
    super(`the token expired at ${new Date(expiredAtMs).toISOString()}; mint a new one (POST /v1/tokens)`, { field: 'authorization' });
  }
}
