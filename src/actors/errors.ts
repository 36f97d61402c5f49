/**
 * Errors of the actor layer: what decoding and validating a request body can
 * go wrong with.
 *
 * Two kinds:
 * - Whole-body errors are thrown (classes below). Nothing of the batch was
 *   applied; the edge answers the request with the mapped status.
 * - Per-event rejections are not thrown. The validator returns them as
 *   `{ code, field, message }` and they end up as `rejected` receipts while
 *   the rest of the batch goes on (REJECTION_CODES below).
 *
 * Status mapping (src/edge/status.ts owns the table; these are its rows):
 *
 *   code                   HTTP  gRPC                retryable
 *   EVT_BODY_MALFORMED     400   INVALID_ARGUMENT    no
 *   EVT_BODY_TOO_LARGE     413   INVALID_ARGUMENT    no   (RESOURCE_EXHAUSTED would invite a retry)
 *   EVT_BATCH_TOO_LONG     413   INVALID_ARGUMENT    no
 *   EVT_BATCH_EMPTY        400   INVALID_ARGUMENT    no
 *
 * Per-event codes only appear inside receipts (the request itself succeeds,
 * 200 / OK). When an edge answers a rejected single-event body with an error
 * status, all of them are 400 / INVALID_ARGUMENT: EVT_FIELD_MISSING,
 * EVT_FIELD_TYPE, EVT_FIELD_TOO_LONG, EVT_FIELD_TOO_MANY, EVT_FIELD_INVALID,
 * EVT_EVENT_TOO_LARGE, EVT_TIMESTAMP_FUTURE.
 */
import { EventideError } from '../errors.js';

/** The body is not valid JSON / msgpack / protobuf / gzip, or has the wrong shape. */
export class BodyMalformedError extends EventideError {
  readonly code = 'EVT_BODY_MALFORMED';
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options);
  }
}

/** The body inflates past bodyInflatedBytesMax (a gzip bomb, or just too much). */
export class BodyTooLargeError extends EventideError {
  readonly code = 'EVT_BODY_TOO_LARGE';
  readonly retryable = false;
  constructor(
    readonly limitBytes: number,
    options?: { cause?: unknown },
  ) {
    super(`the body inflates to more than ${limitBytes} bytes (bodyInflatedBytesMax)`, options);
  }
}

/** More than batchEventsMax events in one request. Split the batch. */
export class BatchTooLongError extends EventideError {
  readonly code = 'EVT_BATCH_TOO_LONG';
  readonly retryable = false;
  /** `exact` false: the count stopped at `length` (a scan that refuses early); the body holds at least that many. */
  constructor(
    readonly length: number,
    readonly limit: number,
    exact = true,
  ) {
    super(`the batch holds ${exact ? '' : 'at least '}${length} events, more than ${limit} (batchEventsMax)`, { field: 'events' });
  }
}

/** A batch with no events: almost always a client bug, so it is refused rather than acknowledged. */
export class BatchEmptyError extends EventideError {
  readonly code = 'EVT_BATCH_EMPTY';
  readonly retryable = false;
  constructor() {
    super('the batch holds no events', { field: 'events' });
  }
}

/** Codes of per-event rejections, as they appear in receipts. */
export const REJECTION_CODES = [
  /** A required field is absent (`name`), or a property has no value. */
  'EVT_FIELD_MISSING',
  /** A field has the wrong type (a number where a string belongs, an object that is not plain). */
  'EVT_FIELD_TYPE',
  /** A string is longer than its *CharsMax limit. */
  'EVT_FIELD_TOO_LONG',
  /** More tags than tagsMax or properties than propertiesMax. */
  'EVT_FIELD_TOO_MANY',
  /** A value of the right type that is not allowed: NaN, Infinity, an unknown severity, an empty tag, `__proto__`. */
  'EVT_FIELD_INVALID',
  /** The event's estimated size is over eventBytesMax. */
  'EVT_EVENT_TOO_LARGE',
  /** The corrected timestamp is more than futureToleranceMs after the receive time. */
  'EVT_TIMESTAMP_FUTURE',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

/** Why one event was rejected. `field` is the path within the event: `name`, `tags/3`, `properties/color`. */
export interface Rejection {
  code: RejectionCode;
  field: string;
  message: string;
}
