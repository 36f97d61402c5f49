/**
 * Errors of the runtime: refusals that are the honest answer to pressure
 * (retryable, with a Retry-After derived from the real backlog), and errors
 * that come back from a worker thread as plain `{ code, message, field }`.
 */
import { EventideError } from '../errors.js';

/** Retry hints are clamped to this range so a client neither hammers nor gives up. */
export const RETRY_AFTER_MS_MIN = 100;
export const RETRY_AFTER_MS_MAX = 30_000;

export function clampRetryAfterMs(ms: number): number {
  return Math.min(RETRY_AFTER_MS_MAX, Math.max(RETRY_AFTER_MS_MIN, Math.ceil(ms)));
}

export abstract class RefusalError extends EventideError {
  readonly retryable = true;
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

export class MailboxFullError extends RefusalError {
  readonly code = 'EVT_MAILBOX_FULL';
  constructor(
    readonly shard: number,
    readonly depth: number,
    retryAfterMs: number,
  ) {
    super(`mailbox of shard ${shard} is full (${depth} batches in flight)`, retryAfterMs);
  }
}

export class StoreBacklogError extends RefusalError {
  readonly code = 'EVT_STORE_BACKLOG';
  constructor(
    readonly pendingEvents: number,
    retryAfterMs: number,
  ) {
    super(`the event store is behind (${pendingEvents} events waiting to be flushed)`, retryAfterMs);
  }
}

export class WorkerUnavailableError extends RefusalError {
  readonly code = 'EVT_WORKER_UNAVAILABLE';
  constructor(
    readonly worker: number,
    reason: string,
    retryAfterMs: number,
  ) {
    super(`worker ${worker} is unavailable: ${reason}`, retryAfterMs);
  }
}

export class ShardTimeoutError extends RefusalError {
  readonly code = 'EVT_SHARD_TIMEOUT';
  constructor(
    readonly worker: number,
    timeoutMs: number,
  ) {
    super(`worker ${worker} did not answer within ${timeoutMs} ms`, timeoutMs);
  }
}

/** The write-ahead log is behind (queued bytes or segments on disk over their limits): a refusal with Retry-After. */
export class WalBacklogError extends RefusalError {
  readonly code = 'EVT_WAL_BACKLOG';
  constructor(what: string, retryAfterMs: number) {
    super(`the write-ahead log is behind (${what})`, retryAfterMs);
  }
}

/**
 * The write-ahead log could not be written or synced (disk full, I/O error).
 * A `durable` batch is not acknowledged; one already applied stays applied and
 * its resend is answered `duplicate` once the log is written.
 */
export class WalWriteError extends RefusalError {
  readonly code = 'EVT_WAL_WRITE';
  constructor(reason: string, retryAfterMs = 1_000) {
    super(`the write-ahead log could not be written: ${reason}`, retryAfterMs);
  }
}

export class DrainingError extends RefusalError {
  readonly code = 'EVT_DRAINING';
  constructor(retryAfterMs: number) {
    super('the server is shutting down and takes no new work', retryAfterMs);
  }
}

/** The plain form in which an error crosses a thread boundary. */
export interface WireError {
  code: string;
  message: string;
  field?: string;
  retryable: boolean;
  retryAfterMs?: number;
}

/** An error raised in a worker thread, rebuilt on the edge thread with its code intact. */
export class RemoteError extends EventideError {
  readonly code: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(wire: WireError) {
    super(wire.message, wire.field === undefined ? undefined : { field: wire.field });
    this.code = wire.code;
    this.retryable = wire.retryable;
    this.retryAfterMs = wire.retryAfterMs;
  }
}

export function toWireError(err: unknown): WireError {
  if (err instanceof EventideError) {
    const wire: WireError = { code: err.code, message: err.message, retryable: err.retryable };
    if (err.field !== undefined) wire.field = err.field;
    const retryAfterMs = (err as { retryAfterMs?: unknown }).retryAfterMs;
    if (typeof retryAfterMs === 'number') wire.retryAfterMs = retryAfterMs;
    return wire;
  }
  return { code: 'EVT_INTERNAL', message: 'internal error', retryable: false };
}
