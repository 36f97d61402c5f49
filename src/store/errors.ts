/**
 * Errors of the store layer. Every adapter (LMDB now, MongoDB and Redis later)
 * raises these and nothing else, so a flusher can decide retry versus
 * dead-letter from `retryable` alone, whichever database sits behind the port.
 */
import { EventideError } from '../errors.js';

/** The store could not be opened (bad path, permissions, a lock held elsewhere). Restarting will not help by itself. */
export class StoreOpenError extends EventideError {
  readonly code = 'EVT_STORE_OPEN';
  readonly retryable = false;
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot open the store at ${path}`, options);
  }
}

/** Configuration names a store this build cannot open yet (e.g. `mongodb` before its adapter exists). */
export class StoreUnsupportedError extends EventideError {
  readonly code = 'EVT_STORE_UNSUPPORTED';
  readonly retryable = false;
  constructor(
    readonly kind: string,
    field: string,
  ) {
    super(`store kind "${kind}" is not available in this build`, { field });
  }
}

/**
 * A write failed. Per the port invariant nothing in that call may be assumed
 * written, and every write is idempotent, so the same call may be retried.
 */
export class StoreWriteError extends EventideError {
  readonly code = 'EVT_STORE_WRITE';
  readonly retryable = true;
  constructor(
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(`store write failed: ${operation}`, options);
  }
}

/** A read failed for a reason outside the data itself (I/O, a closed environment being reopened). */
export class StoreReadError extends EventideError {
  readonly code = 'EVT_STORE_READ';
  readonly retryable = true;
  constructor(
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(`store read failed: ${operation}`, options);
  }
}

/**
 * A stored value did not have the shape it was written with. Reading it again
 * returns the same bytes, so this is not retryable; it points at a bug or at
 * data written by an incompatible version.
 */
export class StoreCorruptError extends EventideError {
  readonly code = 'EVT_STORE_CORRUPT';
  readonly retryable = false;
  constructor(what: string, field?: string) {
    super(`stored value is malformed: ${what}`, field === undefined ? undefined : { field });
  }
}

/** The store was closed; the caller is shutting down or holds a stale handle. */
export class StoreClosedError extends EventideError {
  readonly code = 'EVT_STORE_CLOSED';
  readonly retryable = false;
  constructor(readonly operation: string) {
    super(`store is closed: ${operation}`);
  }
}

/**
 * A record was refused before it reached the database because a key part is
 * not storable (an owner or id too long for an LMDB key, an unknown
 * resolution). Sending it again will not help.
 */
export class StoreInputError extends EventideError {
  readonly code = 'EVT_STORE_INPUT';
  readonly retryable = false;
  constructor(message: string, field: string) {
    super(message, { field });
  }
}
