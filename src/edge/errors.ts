/**
 * Errors the edge raises itself: authentication, media types, the shape of a
 * request (as opposed to the shape of its body, which the actors judge), and
 * the ws protocol. Every code here has a row in src/edge/status.ts, which maps
 * it to an HTTP status and a gRPC status; `retryable` here and there agree
 * (test/edge/status.test.ts checks it).
 */
import { EventideError } from '../errors.js';

/** No credential, or one that no key matches. */
export class UnauthenticatedError extends EventideError {
  readonly code = 'EVT_UNAUTHENTICATED';
  readonly retryable = false;
  constructor(message = 'a valid API key is required (Authorization: Bearer <key> or x-api-key)') {
    super(message, { field: 'authorization' });
  }
}

/** The key is valid but lacks the scope, or names another owner than its own. */
export class ForbiddenError extends EventideError {
  readonly code = 'EVT_FORBIDDEN';
  readonly retryable = false;
  constructor(message: string, field?: string) {
    super(message, field === undefined ? undefined : { field });
  }
}

/** A Content-Type or Content-Encoding the edge does not route. */
export class UnsupportedMediaTypeError extends EventideError {
  readonly code = 'EVT_UNSUPPORTED_MEDIA_TYPE';
  readonly retryable = false;
  constructor(message: string, field: 'content-type' | 'content-encoding') {
    super(message, { field });
  }
}

export class NotFoundError extends EventideError {
  readonly code = 'EVT_NOT_FOUND';
  readonly retryable = false;
  constructor(message: string, field?: string) {
    super(message, field === undefined ? undefined : { field });
  }
}

/**
 * The HTTP server is closing: requests that reach it in that window are told
 * to go elsewhere. (The runtime's DrainingError carries the same code when the
 * router itself is draining.)
 */
export class ServerClosingError extends EventideError {
  readonly code = 'EVT_DRAINING';
  readonly retryable = true;
  constructor(readonly retryAfterMs = 1_000) {
    super('the server is shutting down and takes no new work');
  }
}

/** A query parameter of a read route is missing, malformed or out of range. */
export class QueryInvalidError extends EventideError {
  readonly code = 'EVT_QUERY_INVALID';
  readonly retryable = false;
  constructor(message: string, field: string) {
    super(message, { field });
  }
}

/** The body on the wire is larger than bodyBytesMax (declared or counted while streaming). */
export class RequestBodyTooLargeError extends EventideError {
  readonly code = 'EVT_BODY_TOO_LARGE';
  readonly retryable = false;
  constructor(readonly limitBytes: number) {
    super(`the request body is larger than ${limitBytes} bytes (bodyBytesMax)`, { field: 'body' });
  }
}

/** The body was longer or shorter than its Content-Length, or the connection ended mid-body. */
export class BodyLengthMismatchError extends EventideError {
  readonly code = 'EVT_BODY_LENGTH_MISMATCH';
  readonly retryable = false;
  constructor(message: string) {
    super(message, { field: 'content-length' });
  }
}

/** The HTTP request itself could not be read: a malformed header or URL. */
export class RequestMalformedError extends EventideError {
  readonly code = 'EVT_REQUEST_MALFORMED';
  readonly retryable = false;
  constructor(message = 'the HTTP request is malformed', options?: { cause?: unknown; field?: string }) {
    super(message, options);
  }
}

export class HeadersTooLargeError extends EventideError {
  readonly code = 'EVT_HEADERS_TOO_LARGE';
  readonly retryable = false;
  constructor(message = 'the request headers are too large', field = 'headers') {
    super(message, { field });
  }
}

/** The request (headers and body; a gRPC call's message) did not arrive within the server's timeout for it. */
export class RequestTimeoutError extends EventideError {
  readonly code = 'EVT_REQUEST_TIMEOUT';
  readonly retryable = true;
  constructor(message = 'the request did not arrive in time') {
    super(message);
  }
}

// ---------------------------------------------------------------------------
// ws protocol (/v1/stream). These travel as `{ type: 'error', code, message }`
// frames; the connection stays open unless the code says otherwise.

/** Not JSON, not an object, or a field of the wrong type (`field` says which). */
export class WsMessageInvalidError extends EventideError {
  readonly code = 'EVT_WS_MESSAGE_INVALID';
  readonly retryable = false;
  constructor(message: string, field?: string) {
    super(message, field === undefined ? undefined : { field });
  }
}

export class WsMessageTypeUnknownError extends EventideError {
  readonly code = 'EVT_WS_MESSAGE_TYPE_UNKNOWN';
  readonly retryable = false;
  constructor(type: string) {
    super(`unknown message type "${type.slice(0, 64)}"`, { field: 'type' });
  }
}

export class WsMessageTooLargeError extends EventideError {
  readonly code = 'EVT_WS_MESSAGE_TOO_LARGE';
  readonly retryable = false;
  constructor(readonly limitBytes: number) {
    super(`a message is larger than ${limitBytes} bytes (wsMessageBytesMax)`);
  }
}

export class WsSubscriptionsMaxError extends EventideError {
  readonly code = 'EVT_WS_SUBSCRIPTIONS_MAX';
  readonly retryable = false;
  constructor(readonly limit: number) {
    super(`a connection may hold at most ${limit} subscriptions (wsSubscriptionsMax)`, { field: 'resolution' });
  }
}

export class WsNotSubscribedError extends EventideError {
  readonly code = 'EVT_WS_NOT_SUBSCRIBED';
  readonly retryable = false;
  constructor(resolution: string) {
    super(`not subscribed to resolution ${resolution}`, { field: 'resolution' });
  }
}

export class WsAlreadySubscribedError extends EventideError {
  readonly code = 'EVT_WS_ALREADY_SUBSCRIBED';
  readonly retryable = false;
  constructor(resolution: string) {
    super(`already subscribed to resolution ${resolution}; unsubscribe first`, { field: 'resolution' });
  }
}

/** No credential arrived within the auth window after the connection opened. */
export class WsAuthTimeoutError extends EventideError {
  readonly code = 'EVT_WS_AUTH_TIMEOUT';
  readonly retryable = false;
  constructor(readonly timeoutMs: number) {
    super(`no auth message within ${timeoutMs} ms`);
  }
}

/** Nothing came from the client, not even a pong, for wsIdleTimeoutMs; sent with close code 1008. A new connection is welcome. */
export class WsIdleTimeoutError extends EventideError {
  readonly code = 'EVT_WS_IDLE_TIMEOUT';
  readonly retryable = true;
  constructor(readonly timeoutMs: number) {
    super(`nothing received for ${timeoutMs} ms (wsIdleTimeoutMs), not even a pong`);
  }
}

/** wsClientsMax connections are open; sent with close code 1013 (try again later). */
export class WsServerFullError extends EventideError {
  readonly code = 'EVT_WS_SERVER_FULL';
  readonly retryable = true;
  constructor(readonly limit: number) {
    super(`the server holds its maximum of ${limit} ws clients (wsClientsMax)`);
  }
}

/** The live hub holds its maximum of channels and none is idle enough to evict. */
export class WsChannelsFullError extends EventideError {
  readonly code = 'EVT_WS_CHANNELS_FULL';
  readonly retryable = true;
  constructor(readonly limit: number) {
    super(`the live hub holds its maximum of ${limit} channels (liveChannelsMax)`);
  }
}

/** The client sent messages faster than they could be handled (a queue of wsPendingMessagesMax). */
export class WsBusyError extends EventideError {
  readonly code = 'EVT_WS_BUSY';
  readonly retryable = true;
  constructor(readonly limit: number) {
    super(`more than ${limit} messages are waiting to be handled on this connection; message dropped`);
  }
}

// ---------------------------------------------------------------------------
// Limits (src/edge/limits.ts). Both are refusals before any work: nothing of
// the request was applied, and the same request succeeds after Retry-After.

/** A per-key token bucket (requests/s or events/s) is empty. */
export class RateLimitedError extends EventideError {
  readonly code = 'EVT_RATE_LIMITED';
  readonly retryable = true;
  constructor(
    readonly limit: 'requests' | 'events',
    readonly retryAfterMs: number,
  ) {
    super(`the key's ${limit} per second limit is reached; retry after ${Math.ceil(retryAfterMs / 1_000)} s`, { field: limit });
  }
}

/** The owner's events-per-day quota is used up until the next UTC day. */
export class QuotaExceededError extends EventideError {
  readonly code = 'EVT_QUOTA_EXCEEDED';
  readonly retryable = true;
  constructor(
    readonly eventsPerDayMax: number,
    readonly retryAfterMs: number,
  ) {
    super(`the owner's quota of ${eventsPerDayMax} events per UTC day is used up; it renews at 00:00 UTC`, { field: 'eventsPerDay' });
  }
}
