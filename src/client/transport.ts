/**
 * The wire side of the client: one batch out, one Outcome back. A transport
 * never throws and never rejects; whatever happens becomes one of three
 * outcomes, and the client (client.ts) decides what to do with it.
 */
import type { AnswerInvalidError, NetworkError, RequestFailedError, RequestRefusedError } from './errors.js';
import type { PendingEvent } from './event.js';
import type { BatchCounts, WireReceipt } from './receipts.js';

export type Outcome =
  /** The server took the batch and answered per event (HTTP 200, or 400 when every event was rejected). */
  | { kind: 'answered'; counts: BatchCounts; receipts: WireReceipt[] }
  /** Refused for now or not answered at all; the whole batch may be re-sent. `retryAfterMs` is the server's hint, 0 for none. */
  | { kind: 'refused'; error: RequestRefusedError | NetworkError; retryAfterMs: number }
  /** Refused for good; re-sending the same batch would fail the same way. */
  | { kind: 'failed'; error: RequestFailedError | AnswerInvalidError };

export interface ClientTransport {
  /** Sends one batch; `requestId` goes along as x-request-id. Resolves with the outcome, never rejects. */
  send(events: readonly PendingEvent[], requestId: string): Promise<Outcome>;
  /** Releases sockets and channels. Called once, after the last send has settled. */
  close(): Promise<void>;
}

/** Largest answer read, bytes: receipts for a full batch of rejected events fit many times over. */
export const ANSWER_BYTES_MAX = 16 * 1024 * 1024;

/** Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3); ms from now, 0 when absent or unreadable. */
export function retryAfterMsOf(header: string | null | undefined, nowMs: number): number {
  if (header === undefined || header === null || header === '') return 0;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : 0;
}
