/**
 * Errors of the actor state (sketches, windows, dedup, owner snapshots).
 * They are raised when state that crossed a boundary (a store, a worker
 * message) comes back malformed. None is retryable: the same bytes will be
 * just as corrupt on the next read. Decoding and validation of incoming
 * events has its own errors in src/actors/errors.ts.
 */
import { EventideError } from '../errors.js';

/** A serialized HyperLogLog sketch failed validation (bad version, length, precision or registers). */
export class HllCorruptError extends EventideError {
  readonly code = 'EVT_HLL_CORRUPT';
  readonly retryable = false;
  constructor(reason: string, options?: { field?: string }) {
    super(`corrupt HyperLogLog sketch: ${reason}`, options);
  }
}

/** Two sketches of different precision were merged (a deployment changed hllPrecision). */
export class HllPrecisionMismatchError extends EventideError {
  readonly code = 'EVT_HLL_PRECISION_MISMATCH';
  readonly retryable = false;
  constructor(
    readonly expected: number,
    readonly actual: number,
    options?: { field?: string },
  ) {
    super(`cannot merge HyperLogLog sketches of precision ${expected} and ${actual}`, options);
  }
}

/** An OwnerSnapshot or WindowState failed validation on restore; `field` points at the first bad part. */
export class SnapshotInvalidError extends EventideError {
  readonly code = 'EVT_SNAPSHOT_INVALID';
  readonly retryable = false;
  constructor(reason: string, options: { field: string; cause?: unknown }) {
    super(`invalid owner snapshot at ${options.field}: ${reason}`, options);
  }
}
