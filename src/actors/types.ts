/**
 * Data shapes shared by the actors, the runtime, the stores and the edge.
 * Plain objects only: everything here crosses a worker boundary
 * (structured clone) or is written to a store.
 *
 * Units are last in every name: `timestampMs`, `windowMs`.
 */

export const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Resolutions in window length order; their names are the wire names. */
export const RESOLUTIONS = ['1s', '1m', '1h', '1d'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];
export const RESOLUTION_MS: Readonly<Record<Resolution, number>> = Object.freeze({
  '1s': 1_000,
  '1m': 60_000,
  '1h': 3_600_000,
  '1d': 86_400_000,
});

/** An event after decoding and validation, with server-side fields filled in. */
export interface EventRecord {
  id: string;
  name: string;
  /** Event time after clock-skew correction, unix ms. */
  timestampMs: number;
  /** What the client sent as `timestamp`, unix ms (before correction). */
  clientTimestampMs: number;
  /** When the edge received the batch, unix ms. */
  receivedAtMs: number;
  userId: string | undefined;
  category: string;
  severity: Severity;
  tags: string[];
  properties: Record<string, string | number | boolean>;
  value: number | undefined;
}

export const RECEIPT_STATUSES = ['accepted', 'duplicate', 'late', 'too_late', 'rejected'] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

/** One event's answer. In a batch answer only non-`accepted` receipts are listed unless all are asked for. */
export interface Receipt {
  /** Position of the event in the request's batch, from 0. */
  index: number;
  /** The event id (the client's, or the one the server assigned). Empty when the event could not be read at all. */
  id: string;
  status: ReceiptStatus;
  /** For `rejected`: a stable EVT_* code. */
  code?: string;
  /** For `rejected`: the field at fault, e.g. `name` or `properties/color`. */
  field?: string;
  message?: string;
}

export interface BatchCounts {
  accepted: number;
  duplicate: number;
  late: number;
  tooLate: number;
  rejected: number;
}

export interface BatchReceipt {
  /** Echo of the client's batch id (protobuf `batch_id`, JSON `batchId`), when it sent one. */
  batchId?: string;
  /** True when the body was one event rather than a batch (HTTP answers a rejected single event with 400). */
  single: boolean;
  counts: BatchCounts;
  /** Non-accepted receipts always; accepted ones too when the request asked for `receipts=all`. */
  receipts: Receipt[];
}

/** Sum, min, max and count of `value` for one event name within one window. */
export interface ValueStats {
  count: number;
  sum: number;
  min: number;
  max: number;
}

/**
 * A window's aggregate, as stored (rollup, snapshot) and as sent in a ws
 * snapshot. Treat it as immutable: the windows of one OwnerSnapshot may share
 * their records and sketch bytes (a minute and an hour that hold the same
 * seconds), so change a copy, never a state in place.
 */
export interface WindowState {
  resolution: Resolution;
  /** Window start, unix ms, aligned to the resolution (UTC). */
  startMs: number;
  total: number;
  /** Events that arrived after their window's end and were still counted. */
  late: number;
  /** Events that arrived (by arrival time) in this window but were too late for their own; not in `total`. */
  tooLate: number;
  byName: Record<string, number>;
  byCategory: Record<string, number>;
  bySeverity: Record<string, number>;
  values: Record<string, ValueStats>;
  /** HyperLogLog sketch of user ids, serialized (see src/actors/hll.ts). */
  uniquesSketch: Uint8Array;
  /** The sketch's estimate, for readers that do not merge. */
  uniques: number;
  /** True while the window is still open (may still change). */
  open: boolean;
}

/**
 * What changed in one window since the last delta. Counts add; `uniques` is
 * the window's current estimate (replace, not add), because unique counts do
 * not subtract; min/max merge by min/max.
 */
export type WindowDelta = Omit<WindowState, 'uniquesSketch' | 'open'>;

/** Per-owner state that leaves memory: open windows plus recent event ids. */
export interface OwnerSnapshot {
  owner: string;
  /** Open windows of every resolution. */
  windows: WindowState[];
  /**
   * Recent event ids for dedup, with the time each was seen (unix ms): the
   * format of snapshots written before ids were hashed. New snapshots leave
   * it empty and write recentIdHashes; restore reads both.
   */
  recentIds: Array<[id: string, seenAtMs: number]>;
  /**
   * Recent event ids for dedup as 64-bit hashes with the time each was seen,
   * packed (layout in src/actors/dedup.ts, version byte first). Bounded by
   * dedupIdsMax. Absent when no id is within the horizon, and in older snapshots.
   */
  recentIdHashes?: Uint8Array;
  takenAtMs: number;
  /**
   * Where the write-ahead log stood when this snapshot was taken, as
   * [epoch, lsn]: the snapshot holds the effect of every logged record before
   * it, so replay skips those. Absent without a log.
   */
  logPosition?: [epoch: number, lsn: number];
}

export type BodyFormat = 'json' | 'msgpack' | 'protobuf';
export type BodyEncoding = 'identity' | 'gzip';
export type AckLevel = 'applied' | 'durable';

/** An event as stored in the event store. */
export interface StoredEvent {
  owner: string;
  shard: number;
  status: Exclude<ReceiptStatus, 'rejected' | 'duplicate'>;
  event: EventRecord;
}
