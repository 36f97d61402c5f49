/**
 * What the server answers, normalized across HTTP and gRPC, and which of it
 * may be re-sent.
 *
 * A whole request that was refused says so itself: HTTP puts `retryable` in
 * the error body and Retry-After in a header; gRPC sends `retry-after-ms`
 * metadata (unary) or a non-zero `retry_after_ms` (stream) only for retryable
 * refusals. A per-event receipt carries only its code, so the codes that may
 * succeed on a resend are listed here; test/client/receipts.test.ts keeps the
 * list equal to the retryable rows of the server's status table
 * (src/edge/status.ts), which the client does not import.
 */
import type { ClientEvent } from './event.js';

export const RECEIPT_STATUSES = ['accepted', 'duplicate', 'late', 'too_late', 'rejected'] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

/** Codes whose refusal may succeed later. Ingest never meets the ws ones, so they are left out. */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'EVT_DRAINING',
  'EVT_REQUEST_TIMEOUT',
  'EVT_MAILBOX_FULL',
  'EVT_STORE_BACKLOG',
  'EVT_WAL_BACKLOG',
  'EVT_WAL_WRITE',
  'EVT_RATE_LIMITED',
  'EVT_QUOTA_EXCEEDED',
  'EVT_WORKER_UNAVAILABLE',
  'EVT_SHARD_TIMEOUT',
  'EVT_STORE_WRITE',
  'EVT_STORE_READ',
]);

export interface BatchCounts {
  accepted: number;
  duplicate: number;
  late: number;
  tooLate: number;
  rejected: number;
}

/** One receipt as the wire carries it (HTTP JSON names; gRPC mapped onto them). */
export interface WireReceipt {
  index: number;
  id: string;
  status: ReceiptStatus;
  code?: string | undefined;
  field?: string | undefined;
  message?: string | undefined;
}

/** A final receipt other than `accepted`, with the application's event. */
export interface ClientReceipt<E extends ClientEvent = ClientEvent> {
  /** The id the event was sent with (the application's or the client's). */
  id: string;
  event: E;
  status: Exclude<ReceiptStatus, 'accepted'>;
  /** For `rejected`: the stable EVT_* code, the field at fault and a message for people. */
  code?: string | undefined;
  field?: string | undefined;
  message?: string | undefined;
}

export function isRetryableReceipt(r: WireReceipt): boolean {
  return r.status === 'rejected' && r.code !== undefined && RETRYABLE_CODES.has(r.code);
}

/** Checks an answer against the batch it answers; a message when it does not fit, else undefined. */
export function answerProblem(counts: BatchCounts, receipts: readonly WireReceipt[], events: number): string | undefined {
  const total = counts.accepted + counts.duplicate + counts.late + counts.tooLate + counts.rejected;
  if (total !== events) return `the answer counts ${total} events for a batch of ${events}`;
  for (const r of receipts) {
    if (!Number.isInteger(r.index) || r.index < 0 || r.index >= events) return `a receipt names index ${r.index} of a batch of ${events}`;
    if (!(RECEIPT_STATUSES as readonly string[]).includes(r.status)) return `a receipt has the unknown status ${String(r.status)}`;
  }
  return undefined;
}
