/**
 * Errors of the client SDK. Two kinds reach the application:
 *
 * - thrown synchronously, for the caller's own mistakes: a bad option
 *   (createClient) or an event that cannot be encoded (send);
 * - handed to `onError`, for events the client gave up on: the server refused
 *   the request for good (its own EVT_* code, kept as is), answered something
 *   that is not eventide's contract, or kept refusing until retry.attemptsMax.
 *
 * Every error handed to `onError` lists the events it cost (`events`, with the
 * id each was sent with), so an application can keep them elsewhere.
 */
import { EventideError } from '../errors.js';
import type { ClientEvent } from './event.js';

/** An event the client gave up on, with the id it was sent under. */
export interface LostEvent<E extends ClientEvent = ClientEvent> {
  id: string;
  event: E;
}

/** A createClient option is missing, of the wrong type or out of bounds; `field` names it. */
export class ClientOptionError extends EventideError {
  readonly code = 'EVT_CLIENT_OPTION';
  readonly retryable = false;
  constructor(message: string, field: string) {
    super(message, { field });
  }
}

/** An event given to send() cannot be encoded; `field` names the part at fault (`events/3/timestamp`). */
export class ClientEventError extends EventideError {
  readonly code = 'EVT_CLIENT_EVENT_INVALID';
  readonly retryable = false;
  constructor(message: string, field: string) {
    super(message, { field });
  }
}

/** Base of what `onError` receives. */
export abstract class ClientDeliveryError<E extends ClientEvent = ClientEvent> extends EventideError {
  /** The events this failure cost; they are counted in `stats().dropped`. */
  events: ReadonlyArray<LostEvent<E>> = [];
}

/**
 * The server refused the request with a final answer (400, 401, 403, 413,
 * 415, a non-retryable 5xx, or the gRPC equivalent). `code` is the server's
 * EVT_* code; `status` the HTTP status or the gRPC status number.
 */
export class RequestFailedError<E extends ClientEvent = ClientEvent> extends ClientDeliveryError<E> {
  readonly retryable = false;
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    field: string | undefined,
  ) {
    super(message, field === undefined ? undefined : { field });
  }
}

/**
 * The server refused the whole request for now (429 / RESOURCE_EXHAUSTED,
 * 503 / UNAVAILABLE, a refused stream batch): nothing of it was applied, or,
 * for EVT_WORKER_UNAVAILABLE and EVT_SHARD_TIMEOUT, maybe some of it, which
 * the resend's ids sort out. Retried; `onError` sees it only as the cause of a
 * RetriesExhaustedError.
 */
export class RequestRefusedError extends EventideError {
  readonly retryable = true;
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    /** The server's hint, ms; 0 when it gave none. */
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/**
 * No answer: the connection was refused, reset or timed out
 * (requestTimeoutMs). Retried like a refusal; `onError` sees it only as the
 * cause of a RetriesExhaustedError.
 */
export class NetworkError extends EventideError {
  readonly code = 'EVT_CLIENT_NETWORK';
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The server answered something that is not eventide's wire contract (not JSON, no counts, a mismatched stream answer). */
export class AnswerInvalidError<E extends ClientEvent = ClientEvent> extends ClientDeliveryError<E> {
  readonly code = 'EVT_CLIENT_ANSWER_INVALID';
  readonly retryable = false;
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** A batch was refused (or got no answer) retry.attemptsMax times; `cause` is the last refusal. */
export class RetriesExhaustedError<E extends ClientEvent = ClientEvent> extends ClientDeliveryError<E> {
  readonly code = 'EVT_CLIENT_RETRIES_EXHAUSTED';
  readonly retryable = false;
  constructor(
    readonly attempts: number,
    readonly lastCode: string,
    cause: unknown,
  ) {
    super(`gave up after ${attempts} attempts; the last answer was ${lastCode}`, { cause });
  }
}
