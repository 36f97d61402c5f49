/**
 * The one table from stable EVT_* codes to HTTP status, gRPC status and
 * retryability. Both servers of the edge (HTTP and gRPC) and the ws protocol
 * answer through it, so a code means the same thing on every wire.
 *
 * Invariants:
 * - Every code any layer raises on purpose has a row here; a code without a
 *   row answers 500 / INTERNAL, which is the honest answer for "we did not
 *   plan for this".
 * - `retryable` here is the truth for a known code; an error instance that
 *   disagrees is a bug (test/edge/status.test.ts checks the edge's classes).
 * - An answer never carries a stack trace or the message of an error we did
 *   not raise on purpose: those may hold paths, keys or user data.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { EventideError } from '../errors.js';

export interface StatusRow {
  readonly http: number;
  readonly grpc: GrpcStatus;
  readonly retryable: boolean;
}

function row(http: number, grpc: GrpcStatus, retryable = false): StatusRow {
  return Object.freeze({ http, grpc, retryable });
}

const TABLE: Readonly<Record<string, StatusRow>> = Object.freeze({
  // Edge: credentials, routing, request shape.
  EVT_UNAUTHENTICATED: row(401, GrpcStatus.UNAUTHENTICATED),
  EVT_FORBIDDEN: row(403, GrpcStatus.PERMISSION_DENIED),
  EVT_UNSUPPORTED_MEDIA_TYPE: row(415, GrpcStatus.INVALID_ARGUMENT),
  EVT_NOT_FOUND: row(404, GrpcStatus.NOT_FOUND),
  EVT_DRAINING: row(503, GrpcStatus.UNAVAILABLE, true),
  EVT_QUERY_INVALID: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_BODY_LENGTH_MISMATCH: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_REQUEST_MALFORMED: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_HEADERS_TOO_LARGE: row(431, GrpcStatus.INVALID_ARGUMENT),
  EVT_REQUEST_TIMEOUT: row(408, GrpcStatus.DEADLINE_EXCEEDED, true),

  // Auth and administration (src/auth, src/edge/admin.ts, tokens.ts).
  EVT_TOKEN_EXPIRED: row(401, GrpcStatus.UNAUTHENTICATED),
  EVT_KEY_INVALID: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_OWNER_INVALID: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_KEY_INACTIVE: row(409, GrpcStatus.FAILED_PRECONDITION),

  // Limits (src/edge/limits.ts): refused before any work, retry after Retry-After.
  EVT_RATE_LIMITED: row(429, GrpcStatus.RESOURCE_EXHAUSTED, true),
  EVT_QUOTA_EXCEEDED: row(429, GrpcStatus.RESOURCE_EXHAUSTED, true),

  // Edge: ws protocol. HTTP statuses apply when one is refused at upgrade time.
  EVT_WS_MESSAGE_INVALID: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_WS_MESSAGE_TYPE_UNKNOWN: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_WS_MESSAGE_TOO_LARGE: row(413, GrpcStatus.INVALID_ARGUMENT),
  EVT_WS_SUBSCRIPTIONS_MAX: row(429, GrpcStatus.RESOURCE_EXHAUSTED),
  EVT_WS_NOT_SUBSCRIBED: row(400, GrpcStatus.FAILED_PRECONDITION),
  EVT_WS_ALREADY_SUBSCRIBED: row(409, GrpcStatus.ALREADY_EXISTS),
  EVT_WS_AUTH_TIMEOUT: row(401, GrpcStatus.UNAUTHENTICATED),
  EVT_WS_IDLE_TIMEOUT: row(408, GrpcStatus.DEADLINE_EXCEEDED, true),
  EVT_WS_SERVER_FULL: row(503, GrpcStatus.UNAVAILABLE, true),
  EVT_WS_CHANNELS_FULL: row(503, GrpcStatus.UNAVAILABLE, true),
  EVT_WS_BUSY: row(429, GrpcStatus.RESOURCE_EXHAUSTED, true),

  // Actors: whole-body errors. A body over the wire limit is a client error
  // that resending will not fix: 413 on HTTP, and INVALID_ARGUMENT on gRPC
  // because RESOURCE_EXHAUSTED invites a retry.
  EVT_BODY_MALFORMED: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_BODY_TOO_LARGE: row(413, GrpcStatus.INVALID_ARGUMENT),
  EVT_BATCH_TOO_LONG: row(413, GrpcStatus.INVALID_ARGUMENT),
  EVT_BATCH_EMPTY: row(400, GrpcStatus.INVALID_ARGUMENT),

  // Actors: per-event rejections. They normally live inside receipts; they
  // become a request status only when a single-event body is rejected.
  EVT_FIELD_MISSING: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_FIELD_TYPE: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_FIELD_TOO_LONG: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_FIELD_TOO_MANY: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_FIELD_INVALID: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_EVENT_TOO_LARGE: row(400, GrpcStatus.INVALID_ARGUMENT),
  EVT_TIMESTAMP_FUTURE: row(400, GrpcStatus.INVALID_ARGUMENT),

  // Runtime: honest backpressure and worker trouble.
  EVT_MAILBOX_FULL: row(429, GrpcStatus.RESOURCE_EXHAUSTED, true),
  EVT_STORE_BACKLOG: row(429, GrpcStatus.RESOURCE_EXHAUSTED, true),
  EVT_WAL_BACKLOG: row(429, GrpcStatus.RESOURCE_EXHAUSTED, true),
  EVT_WAL_WRITE: row(503, GrpcStatus.UNAVAILABLE, true),
  EVT_WORKER_UNAVAILABLE: row(503, GrpcStatus.UNAVAILABLE, true),
  EVT_SHARD_TIMEOUT: row(503, GrpcStatus.UNAVAILABLE, true),
  EVT_CONFIG_INVALID: row(500, GrpcStatus.INTERNAL),
  EVT_INTERNAL: row(500, GrpcStatus.INTERNAL),

  // Store: a failed read or write may succeed later; the rest will not.
  EVT_STORE_OPEN: row(500, GrpcStatus.INTERNAL),
  EVT_STORE_UNSUPPORTED: row(500, GrpcStatus.INTERNAL),
  EVT_STORE_WRITE: row(503, GrpcStatus.UNAVAILABLE, true),
  EVT_STORE_READ: row(503, GrpcStatus.UNAVAILABLE, true),
  EVT_STORE_CORRUPT: row(500, GrpcStatus.INTERNAL),
  EVT_STORE_CLOSED: row(503, GrpcStatus.UNAVAILABLE),
  EVT_STORE_INPUT: row(400, GrpcStatus.INVALID_ARGUMENT),

  // Actors: state read back from a store that fails validation (restoring an
  // owner on ingest, merging stored sketches for GET /v1/metrics). The same
  // bytes fail the same way on the next read, so none is retryable.
  EVT_SNAPSHOT_INVALID: row(500, GrpcStatus.INTERNAL),
  EVT_HLL_CORRUPT: row(500, GrpcStatus.INTERNAL),
  EVT_HLL_PRECISION_MISMATCH: row(500, GrpcStatus.INTERNAL),
});

const UNKNOWN: StatusRow = TABLE.EVT_INTERNAL!;

/** Every code the table knows, for docs and tests. */
export const ALL_CODES: readonly string[] = Object.freeze(Object.keys(TABLE));

export function statusRowOf(code: string): StatusRow {
  return Object.hasOwn(TABLE, code) ? TABLE[code]! : UNKNOWN;
}

export function httpStatusOf(code: string): number {
  return statusRowOf(code).http;
}

export function grpcStatusOf(code: string): GrpcStatus {
  return statusRowOf(code).grpc;
}

export function isRetryable(code: string): boolean {
  return statusRowOf(code).retryable;
}

export interface ErrorBody {
  error: { code: string; message: string; field?: string; retryable: boolean };
}

/** What the edge knows about an error once it has decided it may be shown. */
export interface PublicError {
  code: string;
  message: string;
  field: string | undefined;
  retryable: boolean;
  /** From the error's own `retryAfterMs`, when it has one (runtime refusals do). */
  retryAfterMs: number | undefined;
}

const INTERNAL_MESSAGE = 'internal error';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Reduce any thrown value to what may be shown to a client. An EventideError
 * keeps its code, message and field. A plain object with a known EVT_* code
 * (an error that crossed a thread boundary and lost its class) is trusted the
 * same way. Anything else becomes EVT_INTERNAL with a generic message.
 */
export function publicErrorOf(err: unknown): PublicError {
  let code: string | undefined;
  let message = INTERNAL_MESSAGE;
  let field: string | undefined;
  let ownRetryable = false;
  if (err instanceof EventideError) {
    code = err.code;
    message = err.message;
    field = err.field;
    ownRetryable = err.retryable;
  } else if (isRecord(err) && typeof err.code === 'string' && Object.hasOwn(TABLE, err.code)) {
    code = err.code;
    if (typeof err.message === 'string') message = err.message;
    if (typeof err.field === 'string') field = err.field;
  }
  if (code === undefined) {
    return { code: 'EVT_INTERNAL', message, field: undefined, retryable: false, retryAfterMs: undefined };
  }
  const known = Object.hasOwn(TABLE, code);
  const retryAfter = isRecord(err) ? err.retryAfterMs : undefined;
  return {
    code,
    message,
    field,
    // For a code outside the table the thrower's own word is all we have.
    retryable: known ? TABLE[code]!.retryable : ownRetryable,
    retryAfterMs: typeof retryAfter === 'number' && Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
  };
}

export function errorBodyOf(pub: PublicError): ErrorBody {
  const error: ErrorBody['error'] = { code: pub.code, message: pub.message, retryable: pub.retryable };
  if (pub.field !== undefined) error.field = pub.field;
  return { error };
}

/** `{ error: { code, message, field?, retryable } }` for any thrown value; never a stack trace. */
export function errorBody(err: unknown): ErrorBody {
  return errorBodyOf(publicErrorOf(err));
}

/**
 * Retry-After in whole seconds (at least 1) for a retryable answer, from the
 * error's own hint when it has one. Undefined for answers not worth retrying.
 */
export function retryAfterSecondsOf(pub: PublicError): number | undefined {
  if (!pub.retryable) return undefined;
  const ms = pub.retryAfterMs ?? 1_000;
  return Math.max(1, Math.ceil(ms / 1_000));
}
