/**
 * Messages between the edge thread and the shard workers. Each request
 * carries an `id`; the worker answers each with exactly one `reply` of the
 * same id, in no promised order across owners (an owner being loaded from the
 * snapshot store waits; others go on), but in arrival order per owner.
 *
 * Checked on both sides: the worker validates what it gets (isWorkerRequest),
 * the edge validates replies through the typed handlers in supervisor.ts.
 */
import type { BatchReceipt, Resolution, WindowState } from '../actors/types.js';
import type { WireError } from './errors.js';
import type { RecoveryReport } from './shard-host.js';
import type { WalStats } from './wal.js';
import type { LogRecord } from '../log.js';
import type { WorkerTelemetryStats } from './worker-telemetry.js';
import type { EventLocation, IngestRequest, MetricsQuery, MetricsResult, OwnerDeltas } from './router.js';

/** An ingest request as the edge received it, addressed to a shard (the body is transferred, not copied). */
export interface IngestMessage extends IngestRequest {
  t: 'ingest';
  id: number;
  shard: number;
}

export interface QueryMessage {
  t: 'query';
  id: number;
  shard: number;
  query: MetricsQuery;
}

export interface GetEventMessage {
  t: 'getEvent';
  id: number;
  shard: number;
  owner: string;
  eventId: string;
}

export interface WatchMessage {
  t: 'watch';
  id: number;
  shard: number;
  owner: string;
  resolution: Resolution;
}

export interface UnwatchMessage {
  t: 'unwatch';
  shard: number;
  owner: string;
  resolution: Resolution;
}

/** Flush everything, snapshot every owner, close the stores, then answer. */
export interface CloseMessage {
  t: 'close';
  id: number;
}

export type WorkerRequest = IngestMessage | QueryMessage | GetEventMessage | WatchMessage | UnwatchMessage | CloseMessage;

export type ReplyValue = BatchReceipt | MetricsResult | Omit<EventLocation, 'worker'> | WindowState[] | null;

export interface ReplyMessage {
  t: 'reply';
  id: number;
  ok: boolean;
  value?: ReplyValue;
  error?: WireError;
  /** Time the worker spent on this request, ms (feeds the Retry-After estimate). */
  serviceMs: number;
}

export interface DeltasMessage {
  t: 'deltas';
  batch: OwnerDeltas[];
}

export interface ReadyMessage {
  t: 'ready';
  /** What replaying the write-ahead log did (absent without a log). */
  recovery?: RecoveryReport;
}

/** Everything this worker replayed at start is covered by snapshots and the store: older logs may go. */
export interface RecoveredMessage {
  t: 'recovered';
}

/** A worker's write-ahead log, as its stats report it. */
export interface WalStatsReport extends WalStats {
  retainedBytes: number;
  segmentsTrimmed: number;
}

/** Sent periodically; what /readyz and the logs report about a worker. */
export interface StatsMessage {
  t: 'stats';
  owners: number;
  flushPendingEvents: number;
  /** Ingest batches waiting for the store or the log to catch up (shard-host.ts FLUSH_HOLD_BATCHES, WAL_HOLD_SHARE). */
  ingestHeld: number;
  /** Batches ever held, by what they waited for. */
  ingestHeldTotal: { store: number; wal: number };
  flushFailures: number;
  lastFlushErrorCode: string | undefined;
  snapshotAgeMs: number;
  snapshotFailures: number;
  lastSnapshotErrorCode: string | undefined;
  eventsApplied: number;
  wal: WalStatsReport | undefined;
  /** Added on the way out by worker-telemetry.ts (store timings, heap, loop delay); read by /metrics. */
  telemetry?: WorkerTelemetryStats;
}

/** A log line of the worker, written by the edge's logger (log.ts: forwardingLogger / writeLogRecord). */
export interface LogMessage extends LogRecord {
  t: 'log';
}

export type WorkerReply = ReplyMessage | DeltasMessage | ReadyMessage | RecoveredMessage | StatsMessage | LogMessage;

export interface WorkerData {
  workerIndex: number;
  shards: number[];
  /** The resolved, frozen configuration (plain data). */
  config: Record<string, unknown>;
  /** This worker life's write-ahead log epoch (with walEnabled); each restart gets a new one. */
  walEpoch: number | undefined;
  /** The epoch of this process's first worker lives: older logs belong to earlier processes. */
  walProcessEpoch: number | undefined;
}

const REQUEST_TYPES = new Set(['ingest', 'query', 'getEvent', 'watch', 'unwatch', 'close']);

/** A cheap structural check of what arrives on the worker's port; a bad message is our bug. */
export function isWorkerRequest(value: unknown): value is WorkerRequest {
  return (
    typeof value === 'object' &&
    value !== null &&
    REQUEST_TYPES.has((value as { t?: unknown }).t as string) &&
    ((value as { t: string }).t === 'unwatch' || typeof (value as { id?: unknown }).id === 'number')
  );
}
