/**
 * What runs inside one shard worker: the owners of its shards as actors, the
 * pipeline from raw body to receipts, and the worker's own timers (window
 * close, flush, snapshot, live deltas, idle eviction).
 *
 * Invariants:
 * - One owner, one order: an owner's requests run in arrival order. A resident
 *   owner is applied synchronously; while an owner is being loaded from the
 *   snapshot store its requests wait in `#loading` (in order), others go on.
 * - Work runs per batch: one decode, one validate pass, one actor call per
 *   request; flushes, snapshots and deltas run on their own timers.
 * - Everything held is bounded: pending flush events (flushPendingEventsMax:
 *   over it ingest is refused with EVT_STORE_BACKLOG), resident owners
 *   (ownersPerWorkerMax: the least recently active are evicted early, counted),
 *   held ingest (in flight at the edge, so its mailbox limits bound it).
 * - A healthy store or log that is behind slows ingest by latency: new ingest
 *   waits in `#held`, in arrival order, and is admitted as flushes and log
 *   syncs complete. A failing one is never waited for (its hard limit refuses).
 * - With the write-ahead log (walEnabled): every batch applied to an owner is
 *   appended to the worker's log in apply order, with the clock it was
 *   applied at; an acknowledged `durable` batch is synced to the log before
 *   its reply leaves. Without it, a `durable` batch is in the event store
 *   (one committed store write) before its reply leaves.
 * - A snapshot written with the log is consistent: it records the log
 *   position P it was taken at, and is written only once the log is synced to
 *   P and every event and rollup produced before P is committed to the event
 *   store. So recovery = snapshot + replay of the records at or after P, and
 *   segments wholly below the P of a completed round can go.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { decodeBody } from '../actors/decode.js';
import { HyperLogLog } from '../actors/hll.js';
import { OwnerActor, type OwnerOptions, type ApplySink, type ColumnSink } from '../actors/owner.js';
import {
  RESOLUTION_MS,
  type BatchCounts,
  type BatchReceipt,
  type Receipt,
  type EventRecord,
  type OwnerSnapshot,
  type Resolution,
  type StoredEvent,
  type WindowState,
} from '../actors/types.js';
import { createValidator, type Validator } from '../actors/validate.js';
import { eventLimitsFrom } from '../actors/schema.js';
import type { EventStore, LogBucket, PreparedEvents, Rollup, SnapshotStore } from '../store/port.js';
import { decodeBucket, storedEventsOfColumns } from '../store/lmdb/bucket-codec.js';
import { ColumnReader, type EventColumns } from '../actors/columns.js';
import type { ResolvedConfig } from '../config.js';
import { clampRetryAfterMs, StoreBacklogError, toWireError, WalBacklogError, WalWriteError } from './errors.js';
import { listEpochs, listWorkerLogs, logDir, readLog, WalWriter, walRoot, type LogDamage, type ReadRecord, type WalStats } from './wal.js';
import type { IngestMessage, QueryMessage, GetEventMessage, ReplyValue, WorkerRequest, WatchMessage } from './messages.js';
import type { MetricsResult, MetricsWindow } from './router.js';

interface Resident {
  actor: OwnerActor;
  shard: number;
  /** Changed since its last snapshot. */
  dirty: boolean;
  /** The log position of the snapshot it was restored from: replay skips records before it. */
  logPosition: [epoch: number, lsn: number] | undefined;
}

/** What recovery did, for the worker's ready message and the logs. */
export interface RecoveryReport {
  epochsRead: number[];
  records: number;
  recordsSkipped: number;
  recordsForeign: number;
  events: number;
  damaged: LogDamage[];
  ms: number;
}

/** The body of a log record that holds the store's buckets instead. */
const NO_BODY = new Uint8Array(0);

/** Position a is before position b. */
function before(a: readonly [number, number], b: readonly [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/** A failed flush is retried after this, doubling per consecutive failure, up to FLUSH_RETRY_MS_MAX. */
const FLUSH_RETRY_MS_MIN = 100;
const FLUSH_RETRY_MS_MAX = 5_000;
const STATS_INTERVAL_MS = 1_000;
const IDLE_SWEEP_MS = 1_000;
/**
 * A snapshot round builds snapshots for this long, then lets ingest take a
 * turn. At half of saturation (150K events/s, hot owners holding 100K dedup
 * ids each) a round is 18-49 ms of work per worker: in 4 ms slices the ack
 * p99 of 12 s runs was 18.5-34.6 ms (mean 24.9, six runs), in 1 ms slices
 * 16.8-20.1 ms (mean 18.3, four runs, alternated on one machine).
 */
const SNAPSHOT_SLICE_MS = 1;
/**
 * Ingest waits (is held, in arrival order) while this many flush batches
 * (flushBatchEventsMax each) are pending and the store is healthy, so a
 * worker that takes batches faster than its store writes them slows its
 * senders by latency instead of filling flushPendingEventsMax and refusing
 * them all with EVT_STORE_BACKLOG (measured in bench/RESULTS.md).
 */
export const FLUSH_HOLD_BATCHES = 2;
/** Likewise while the log has this share of walPendingBytesMax waiting to be written and synced. */
export const WAL_HOLD_SHARE = 0.25;
/**
 * A request that stores at least this many events has them encoded for the
 * store right after it is applied (EventStore.prepareEvents), so only bytes
 * wait for the flush: the objects die young, and the flush is puts. Smaller
 * ones wait as objects and are encoded at the flush, grouped per owner, so a
 * stream of single events does not become a bucket per event.
 */
export const PREPARE_EVENTS_MIN = 64;
/**
 * Window close passes run this long, then let requests take a turn: with
 * 100K owners a minute boundary closes ~24K windows per worker, which took
 * 530-646 ms in one synchronous pass (and a pass that closed nothing, 20-30 ms).
 */
const CLOSE_SLICE_MS = 2;
/** Owners between two looks at the clock in a close pass. */
const CLOSE_CHECK_OWNERS = 64;
/**
 * Rollups per flush: the store encodes and puts them inside its write
 * transaction, on this thread (24K rollups: 512-682 ms in one flush). The
 * next flush starts at once when more are waiting.
 */
export const FLUSH_ROLLUPS_MAX = 1_000;
/** Events held as objects that the flush encodes between two turns for requests. */
const PREPARE_RUN_EVENTS_MAX = 2_000;

/** One applied request's events waiting for the store: prepared by the store, or as objects. */
interface PendingChunk {
  readonly count: number;
  readonly events?: StoredEvent[];
  readonly prepared?: PreparedEvents;
}
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** How often expired events are swept where the store cannot expire them itself. */
const RETENTION_SWEEP_MS = 10 * 60_000;

export interface ShardHostOptions {
  workerIndex: number;
  config: ResolvedConfig;
  eventStore: EventStore;
  snapshotStore: SnapshotStore;
  port: Pick<MessagePort, 'postMessage'>;
  now?: () => number;
  /** This worker life's log epoch; required with walEnabled. */
  walEpoch?: number;
  /** The epoch of this process's first worker lives (default walEpoch): logs from before it belong to an earlier process. */
  walProcessEpoch?: number;
  /** Shards this worker hosts (recovery replays only their records); all when absent. */
  shards?: readonly number[];
  /** How long a snapshot round builds before ingest gets a turn (default SNAPSHOT_SLICE_MS; tests use 0: a turn between every two owners). */
  snapshotSliceMs?: number;
  /** Likewise a window close pass (default CLOSE_SLICE_MS; 0: a turn every CLOSE_CHECK_OWNERS owners). */
  closeSliceMs?: number;
}

/**
 * The events of a bucket log record, back in the order they were applied
 * (each bucket holds the next run of them, its own order in `order`);
 * undefined when a bucket does not decode, is another owner's, or its order is
 * not a permutation. The record passed its checksum, so that means a bug, not
 * a torn write: the record is skipped and counted, like a body that no longer decodes.
 */
export function loggedRecords(buckets: readonly LogBucket[], owner: string): EventRecord[] | undefined {
  const records: EventRecord[] = [];
  for (const bucket of buckets) {
    let stored: StoredEvent[];
    try {
      stored = decodeBucket(bucket.bytes);
    } catch {
      return undefined;
    }
    const order = bucket.order;
    if (stored.length !== order.length) return undefined;
    const base = records.length;
    records.length = base + stored.length;
    for (let k = 0; k < stored.length; k++) {
      const place = order[k]!;
      if (place >= stored.length || records[base + place] !== undefined || stored[k]!.owner !== owner) return undefined;
      records[base + place] = stored[k]!.event;
    }
  }
  return records;
}

export class ShardHost {
  readonly #config: ResolvedConfig;
  readonly #workerIndex: number;
  readonly #events: EventStore;
  /** The store's prepareEvents when it has one (and writePrepared), bound once. */
  readonly #prepare: ((events: readonly StoredEvent[], idWords?: readonly number[]) => PreparedEvents) | undefined;
  readonly #snapshots: SnapshotStore;
  readonly #port: Pick<MessagePort, 'postMessage'>;
  readonly #now: () => number;
  readonly #snapshotSliceMs: number;
  readonly #closeSliceMs: number;
  readonly #validator: Validator;
  /** The columnar path's reader (columnarPath, with a store that prepares columns); undefined: every batch takes the record path. */
  readonly #columnReader: ColumnReader | undefined;
  readonly #ownerOptions: OwnerOptions;
  readonly #owners = new Map<string, Resident>();
  readonly #loading = new Map<string, Array<(resident: Resident | Error) => void>>();
  /** Owners on their way out: their snapshot is being written. A returning owner is restored from here. */
  readonly #evicting = new Map<string, { snapshot: OwnerSnapshot; shard: number }>();
  /** Owners with at least one watched resolution. */
  readonly #watched = new Set<string>();
  /** Events waiting for the store, in apply order, a chunk per request; #pendingEvents counts them. */
  #flushBuffer: PendingChunk[] = [];
  #pendingEvents = 0;
  /** Durable acks waiting for the flush that covers them: `upTo` counts events ever flushed. FIFO, `upTo` ascending. */
  #flushWaiters: Array<{ upTo: number; release: () => void }> = [];
  /** Events written to the event store since start; with the buffer length it numbers every pending event. */
  #flushedCount = 0;
  #rollupBuffer: Rollup[] = [];
  #flushing: Promise<void> | undefined;
  /** The events of the flush in progress: no longer in the buffer, not yet in the store. */
  #flushingChunks: readonly PendingChunk[] = [];
  #flushingCount = 0;
  /** Likewise the rollups of the flush in progress: closed windows that reads must still see. */
  #flushingRollups: readonly Rollup[] = [];
  #flushFailures = 0;
  #consecutiveFlushFailures = 0;
  #lastFlushErrorCode: string | undefined;
  #lastSnapshotMs: number;
  #snapshotFailures = 0;
  #snapshotting: Promise<void> | undefined;
  #lastSnapshotErrorCode: string | undefined;
  #eventsApplied = 0;
  #ownersEvictedEarly = 0;
  #wal: WalWriter | undefined;
  readonly #walEpoch: number;
  readonly #walProcessEpoch: number;
  readonly #shards: ReadonlySet<number> | undefined;
  #rollupsFlushed = 0;
  /** Snapshot rounds waiting for the store to commit what they cover. */
  #coverageWaiters: Array<{ events: number; rollups: number; resolve: () => void }> = [];
  #walTrimmed = 0;
  #recovery: RecoveryReport | undefined;
  #recoveryPosted = false;
  #timers: NodeJS.Timeout[] = [];
  #closed = false;
  /** The close pass in progress (closeTick). */
  #closingWindows: Promise<void> | undefined;
  /** Ingest waiting for the store or the log to catch up (FLUSH_HOLD_BATCHES, WAL_HOLD_SHARE), in arrival order. */
  #held: Array<{ message: IngestMessage; started: number }> = [];
  #releasing = false;
  /** What the line of held ingest last waited for: a batch that joins the line behind others is counted with it. */
  #lastHoldReason: 'store' | 'wal' = 'store';
  readonly #heldTotal = { store: 0, wal: 0 };

  constructor(options: ShardHostOptions) {
    const config = options.config;
    this.#config = config;
    this.#workerIndex = options.workerIndex;
    this.#events = options.eventStore;
    const store = this.#events;
    this.#prepare =
      typeof store.prepareEvents === 'function' && typeof store.writePrepared === 'function'
        ? (events: readonly StoredEvent[], idWords?: readonly number[]) => store.prepareEvents!(events, idWords)
        : undefined;
    this.#snapshots = options.snapshotStore;
    this.#port = options.port;
    this.#now = options.now ?? Date.now;
    this.#snapshotSliceMs = options.snapshotSliceMs ?? SNAPSHOT_SLICE_MS;
    this.#closeSliceMs = options.closeSliceMs ?? CLOSE_SLICE_MS;
    this.#validator = createValidator(eventLimitsFrom(config));
    this.#columnReader =
      config.columnarPath && typeof store.prepareColumns === 'function' && typeof store.writePrepared === 'function'
        ? new ColumnReader({ ...eventLimitsFrom(config), bodyDepthMax: config.bodyDepthMax })
        : undefined;
    this.#ownerOptions = Object.freeze({
      resolutions: ['1s', '1m', '1h', '1d'] as Resolution[],
      allowedLatenessMs: config.allowedLatenessMs,
      dedupHorizonMs: config.dedupHorizonMs,
      dedupIdsMax: config.dedupIdsMax,
      hllPrecision: config.hllPrecision,
      namesPerWindowMax: config.namesPerWindowMax,
    });
    this.#lastSnapshotMs = this.#now();
    this.#walEpoch = options.walEpoch ?? 0;
    this.#walProcessEpoch = options.walProcessEpoch ?? this.#walEpoch;
    this.#shards = options.shards === undefined ? undefined : new Set(options.shards);
    if (config.walEnabled && options.walEpoch === undefined) throw new Error('walEnabled needs a walEpoch');
  }

  /** Start the worker's timers. Tests drive the tick methods by hand instead. */
  startTimers(): void {
    const every = (ms: number, fn: () => void) => {
      const timer = setInterval(fn, ms);
      this.#timers.push(timer);
    };
    every(this.#config.closeIntervalMs, () => void this.closeTick());
    every(this.#config.flushIntervalMs, () => void this.flush());
    every(this.#config.snapshotIntervalMs, () => void this.snapshotTick());
    every(this.#config.deltaTickMs, () => this.deltaTick());
    every(IDLE_SWEEP_MS, () => void this.idleTick().catch(() => undefined));
    every(STATS_INTERVAL_MS, () => this.#postStats());
    if (this.#workerIndex === 0) every(RETENTION_SWEEP_MS, () => void this.retentionTick());
  }

  /**
   * Removes expired events from a store that does not expire them itself
   * (the embedded LMDB store with lmdbEventsRetentionMs; FerretDB 1.x, which
   * has no TTL indexes): worker 0 alone calls it, every RETENTION_SWEEP_MS.
   * Resolves to the events removed; a failure is counted by the store and
   * the next round sweeps what this one left.
   */
  async retentionTick(): Promise<number> {
    const sweeper = this.#events as EventStore & { ttlMode?: string; sweepExpired?: (nowMs: number) => Promise<number> };
    if (typeof sweeper.sweepExpired !== 'function' || sweeper.ttlMode !== 'sweep') return 0;
    return sweeper.sweepExpired(this.#now()).catch(() => 0);
  }

  // ---- recovery ---------------------------------------------------------------

  /**
   * Replays the write-ahead log, then opens this worker's log of the current
   * epoch for appending. Run before the timers start and before any request:
   * replay applies each record with its logged clock, and a timer running on
   * the wall clock would move owners' clocks past it.
   *
   * Reads, oldest epoch first, every worker log of earlier processes (records
   * of shards this worker hosts; the others belong to other workers), then the
   * logs of this worker's earlier lives in this process (when it is a restart of
   * one that died). Each life writes a log of its own epoch, so a write still
   * in flight from a dead life can never land inside the new life's log.
   * A record before its owner's snapshot position
   * is already in the snapshot and is skipped; the rest are applied again.
   * Their events go to the store again, where the first write of an id wins,
   * so nothing is stored twice.
   */
  async recover(): Promise<RecoveryReport> {
    const started = performance.now();
    const report: RecoveryReport = { epochsRead: [], records: 0, recordsSkipped: 0, recordsForeign: 0, events: 0, damaged: [], ms: 0 };
    const root = walRoot(this.#config.dataDir);
    const recordBytesMax = Math.max(this.#config.walSegmentBytesMax, this.#config.bodyBytesMax) + 64 * 1024;
    for (const epoch of listEpochs(root)) {
      if (epoch >= this.#walEpoch) continue;
      const earlierProcess = epoch < this.#walProcessEpoch;
      const workers = earlierProcess ? listWorkerLogs(root, epoch) : [this.#workerIndex];
      let read = false;
      for (const worker of workers) {
        // Only a log's own worker cuts a damaged tail; the others stop reading at it.
        const cut = worker === this.#workerIndex;
        const shards = this.#shards;
        const wanted = shards === undefined ? undefined : (shard: number) => shards.has(shard);
        const logRecords = readLog(
          logDir(root, epoch, worker),
          recordBytesMax,
          (damage) => report.damaged.push(damage),
          cut,
          wanted,
          (count) => (report.recordsForeign += count),
        );
        for (const records of logRecords) {
          read = true;
          await this.#replay(epoch, records, report);
        }
      }
      if (read) report.epochsRead.push(epoch);
    }
    this.#wal = new WalWriter({
      root,
      epoch: this.#walEpoch,
      worker: this.#workerIndex,
      segmentBytesMax: this.#config.walSegmentBytesMax,
      syncIntervalMs: this.#config.walSyncIntervalMs,
      recycleSegments: this.#config.walRecycleSegments,
    });
    report.ms = performance.now() - started;
    this.#recovery = report;
    // Nothing replayed: nothing for a snapshot round to cover.
    if (report.records === report.recordsSkipped) this.#recoveryDone();
    return report;
  }

  /**
   * What was replayed is covered by snapshots and the store: this worker's
   * logs of earlier lives in this process go now; logs of earlier processes go
   * when every worker is done (the main thread deletes them).
   */
  #recoveryDone(): void {
    this.#recoveryPosted = true;
    const root = walRoot(this.#config.dataDir);
    for (const epoch of listEpochs(root)) {
      if (epoch < this.#walProcessEpoch || epoch >= this.#walEpoch) continue;
      fs.rmSync(logDir(root, epoch, this.#workerIndex), { recursive: true, force: true });
    }
    this.#port.postMessage({ t: 'recovered' });
  }

  async #replay(epoch: number, records: readonly ReadRecord[], report: RecoveryReport): Promise<void> {
    // Load every owner of this chunk first (in order of first appearance, with
    // the clock of its first record), so the records then apply synchronously.
    const firstSeen = new Map<string, ReadRecord>();
    for (const record of records) {
      if (this.#shards !== undefined && !this.#shards.has(record.shard)) continue;
      if (!this.#owners.has(record.owner) && !firstSeen.has(record.owner)) firstSeen.set(record.owner, record);
    }
    for (const record of firstSeen.values()) await this.#loadForReplay(record);
    for (const record of records) {
      if (this.#shards !== undefined && !this.#shards.has(record.shard)) {
        report.recordsForeign++;
        continue;
      }
      report.records++;
      const resident = this.#owners.get(record.owner)!;
      if (resident.logPosition !== undefined && before([epoch, record.lsn], resident.logPosition)) {
        report.recordsSkipped++;
        continue;
      }
      let batch;
      if (record.buckets !== undefined) {
        // What the batch stored, packed by the store, in the order it was applied; validated when it was logged.
        const records = loggedRecords(record.buckets, record.owner);
        if (records === undefined) {
          report.recordsSkipped++;
          continue;
        }
        batch = { records, indexes: records.map((_, i) => i), receipts: [], rejected: 0 };
      } else {
        let decoded;
        try {
          decoded = decodeBody(record.body, record.format, record.encoding, this.#config);
        } catch {
          // It decoded when it was logged; only a changed limit makes it fail now. Counted, not applied.
          report.recordsSkipped++;
          continue;
        }
        batch = this.#validator.validateBatch(decoded.events, { receivedAtMs: record.receivedAtMs, requestId: record.requestId ?? '' });
      }
      this.#queueRollups(record.owner, resident.actor.closeDue(record.nowMs));
      const sink: ApplySink = {
        shard: record.shard,
        counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: batch.rejected },
        receipts: batch.receipts,
        receiptsAll: false,
        stored: [],
        storedIdWords: [],
      };
      resident.actor.applyBatch(batch.records, batch.indexes, record.nowMs, sink);
      this.#queueStored(sink.stored, sink.storedIdWords);
      resident.dirty = true;
      report.events += batch.records.length;
    }
    // Bounded like live ingest: over the pending limit, wait for the store to take some.
    while (this.#pendingEvents >= this.#config.flushPendingEventsMax) await this.flush();
    if (this.#pendingEvents >= this.#config.flushBatchEventsMax) void this.flush();
  }

  async #loadForReplay(record: ReadRecord): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const resident = await this.#load(record.owner, record.shard, record.nowMs);
        this.#owners.set(record.owner, resident);
        return;
      } catch (err) {
        // The snapshot store is down: replay cannot go on without the owner's state. Wait and retry.
        if (this.#closed) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.min(FLUSH_RETRY_MS_MAX, FLUSH_RETRY_MS_MIN * 2 ** attempt)));
      }
    }
  }

  get recovery(): RecoveryReport | undefined {
    return this.#recovery;
  }

  handle(message: WorkerRequest): void {
    const started = performance.now();
    switch (message.t) {
      case 'ingest':
        return this.#ingest(message, started);
      case 'query':
        return this.#settle(message.id, started, this.#query(message));
      case 'getEvent':
        return this.#settle(message.id, started, this.#getEvent(message));
      case 'watch':
        return this.#settle(message.id, started, this.#watch(message));
      case 'unwatch': {
        const resident = this.#owners.get(message.owner);
        resident?.actor.unwatch(message.resolution);
        if (resident !== undefined && !resident.actor.isWatched()) this.#watched.delete(message.owner);
        return;
      }
      case 'close':
        // The worker entry owns closing (it also closes the stores).
        throw new Error('close is handled by the worker entry, not the shard host');
    }
  }

  // ---- ingest -------------------------------------------------------------

  #ingest(message: IngestMessage, started: number): void {
    // Behind someone held, or behind a store or log that is catching up: wait in line.
    // (#holdReason, not #holdFor: only the release loop waits, and it catches what it waits on.)
    if (this.#held.length > 0 || this.#holdReason() !== undefined) {
      this.#held.push({ message, started });
      this.#heldTotal[this.#holdReason() ?? this.#lastHoldReason]++;
      void this.#releaseHeld();
      return;
    }
    this.#admit(message, started);
  }

  /** Why ingest should wait now: the store is FLUSH_HOLD_BATCHES behind, or the log WAL_HOLD_SHARE. Never while either is failing. */
  #holdReason(): 'store' | 'wal' | undefined {
    if (this.#closed) return undefined;
    if (this.#consecutiveFlushFailures === 0 && this.#pendingEvents >= this.#config.flushBatchEventsMax * FLUSH_HOLD_BATCHES) return 'store';
    const wal = this.#wal;
    if (wal !== undefined && !wal.failing && wal.pendingBytes >= this.#config.walPendingBytesMax * WAL_HOLD_SHARE) return 'wal';
    return undefined;
  }

  /** What held ingest waits for now (a flush, a log sync), or undefined when it may run. */
  #holdFor(): Promise<unknown> | undefined {
    switch (this.#holdReason()) {
      case 'store':
        return this.flush();
      case 'wal':
        return this.#wal!.whenSynced(this.#wal!.appendedLsn);
      default:
        return undefined;
    }
  }

  /** Admits held ingest in order while nothing is behind; one loop at a time. */
  async #releaseHeld(): Promise<void> {
    if (this.#releasing) return;
    this.#releasing = true;
    try {
      while (this.#held.length > 0) {
        const wait = this.#holdFor();
        if (wait !== undefined) {
          this.#lastHoldReason = this.#holdReason() ?? this.#lastHoldReason;
          // A failure shows in the store's or the log's state; the next #holdFor sees it and lets ingest meet the hard limits.
          await wait.catch(() => undefined);
          continue;
        }
        const { message, started } = this.#held.shift()!;
        this.#admit(message, started);
      }
    } finally {
      this.#releasing = false;
    }
  }

  #admit(message: IngestMessage, started: number): void {
    if (this.#pendingEvents >= this.#config.flushPendingEventsMax) {
      const retryAfterMs = clampRetryAfterMs(this.#config.flushIntervalMs * (1 + this.#consecutiveFlushFailures));
      this.#replyError(message.id, started, new StoreBacklogError(this.#pendingEvents, retryAfterMs));
      return;
    }
    const walRefusal = this.#walRefusal();
    if (walRefusal !== undefined) {
      this.#replyError(message.id, started, walRefusal);
      return;
    }
    if (this.#admitColumns(message, started)) return;
    let decoded;
    try {
      decoded = decodeBody(message.body, message.format, message.encoding, this.#config);
    } catch (err) {
      this.#replyError(message.id, started, err);
      return;
    }
    const batch = this.#validator.validateBatch(decoded.events, {
      receivedAtMs: message.receivedAtMs,
      requestId: message.requestId,
    });
    const receiptsAll = message.receiptsAll || decoded.receiptsAll === true;
    // The stronger of the two asks wins: a client that asked for `durable` anywhere gets it.
    const ack = decoded.ack === 'durable' || message.ack === 'durable' ? 'durable' : 'applied';
    if (ack === 'durable' && this.#wal?.failing === true) {
      // Not applied: the client resends once the log writes again, and nothing counts twice.
      this.#replyError(message.id, started, this.#walFailing(this.#wal));
      return;
    }
    this.#withOwner(message.owner, message.shard, (resident) => {
      if (resident instanceof Error) {
        this.#replyError(message.id, started, resident);
        return;
      }
      const sink: ApplySink = {
        shard: message.shard,
        counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: batch.rejected },
        receipts: batch.receipts,
        receiptsAll,
        stored: [],
        storedIdWords: [],
      };
      resident.actor.applyBatch(batch.records, batch.indexes, this.#now(), sink);
      const prepared = this.#queueStored(sink.stored, sink.storedIdWords);
      this.#answerApplied(message, started, resident, {
        applied: batch.records.length,
        stored: sink.stored.length,
        prepared,
        receiptsAll,
        ack,
        counts: sink.counts,
        receipts: sink.receipts,
        single: decoded.single,
        batchId: decoded.batchId,
      });
    });
  }

  /**
   * The columnar path (src/actors/columns.ts, docs/columnar-path.md): a
   * protobuf or msgpack batch of plain valid events, read into columns, applied and
   * packed for the store with no object per event. Only for an owner already
   * resident (the columns are this worker's scratch, so the batch cannot
   * wait for a load) and a store that prepares columns; true when it took
   * the batch, false when the record path must (nothing was done then).
   */
  #admitColumns(message: IngestMessage, started: number): boolean {
    const reader = this.#columnReader;
    const format = message.format;
    if (reader === undefined || (format !== 'protobuf' && format !== 'msgpack') || message.encoding !== 'identity') return false;
    const resident = this.#owners.get(message.owner);
    if (resident === undefined || !reader.read(message.body, message.receivedAtMs, format)) return false;
    const cols = reader.columns;
    const receiptsAll = message.receiptsAll || cols.receiptsAll;
    const ack = cols.ack === 'durable' || message.ack === 'durable' ? 'durable' : 'applied';
    if (ack === 'durable' && this.#wal?.failing === true) {
      cols.release();
      this.#replyError(message.id, started, this.#walFailing(this.#wal));
      return true;
    }
    const sink: ColumnSink = { counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: cols.rejected }, receipts: cols.rejections, receiptsAll };
    resident.actor.applyColumns(cols, this.#now(), sink);
    const applied = cols.n - cols.rejected;
    const stored = applied - sink.counts.duplicate;
    const prepared = stored > 0 ? this.#queueColumns(message.owner, message.shard, cols, stored) : undefined;
    const batchId = cols.batchId;
    cols.release();
    this.#answerApplied(message, started, resident, { applied, stored, prepared, receiptsAll, ack, counts: sink.counts, receipts: sink.receipts, single: false, batchId });
    return true;
  }

  /** What both paths do once a batch is applied and its events queued: the log, the flush, the answer. */
  #answerApplied(
    message: IngestMessage,
    started: number,
    resident: Resident,
    done: {
      applied: number;
      stored: number;
      prepared: PreparedEvents | undefined;
      receiptsAll: boolean;
      ack: 'applied' | 'durable';
      counts: BatchCounts;
      receipts: Receipt[];
      single: boolean;
      batchId: string | undefined;
    },
  ): void {
    const { applied, stored, prepared, receiptsAll, ack, counts, receipts } = done;
    resident.dirty = true;
    this.#eventsApplied += applied;
    let loggedTo = -1;
    if (this.#wal !== undefined && applied > 0) {
      // The clock the actor actually used (it never goes back), so replay classifies the same way.
      // The store's packed buckets when it packed all the batch stored (a quarter of a JSON body's bytes), else the body.
      const buckets = prepared?.logBuckets;
      loggedTo = this.#wal.append({
        shard: message.shard,
        owner: message.owner,
        format: message.format,
        encoding: message.encoding,
        receiptsAll,
        nowMs: resident.actor.lastActiveMs,
        receivedAtMs: message.receivedAtMs,
        requestId: message.requestId,
        body: buckets === undefined ? message.body : NO_BODY,
        buckets,
      });
    }
    if (receipts.length > 1) receipts.sort((a, b) => a.index - b.index);
    const receipt: BatchReceipt = { single: done.single, counts, receipts };
    if (done.batchId !== undefined) receipt.batchId = done.batchId;
    if (this.#pendingEvents >= this.#config.flushBatchEventsMax) void this.flush();
    if (ack === 'durable' && this.#wal !== undefined && applied > 0) {
      // Answer once the log is synced past this batch (and so past any earlier copy of a duplicate).
      this.#wal.whenSynced(loggedTo).then(
        () => this.#reply(message.id, started, receipt),
        (err: unknown) => this.#replyError(message.id, started, err),
      );
    } else if (ack === 'durable' && this.#wal === undefined && stored > 0) {
      // Answer once the flush that holds these events has committed.
      this.#flushWaiters.push({
        upTo: this.#flushedCount + this.#flushingCount + this.#pendingEvents,
        release: () => this.#reply(message.id, started, receipt),
      });
    } else {
      this.#reply(message.id, started, receipt);
    }
  }

  /** The answer to a durable batch while the log cannot write: not applied, so the client's resend counts once. */
  #walFailing(wal: WalWriter): WalWriteError {
    return new WalWriteError(`${wal.stats().lastErrorCode ?? 'write failed'}; durable batches are refused until it recovers`);
  }

  /** A refusal when the log is too far behind to take more, else undefined. */
  #walRefusal(): WalBacklogError | undefined {
    const wal = this.#wal;
    if (wal === undefined) return undefined;
    if (wal.pendingBytes >= this.#config.walPendingBytesMax) {
      return new WalBacklogError(`${wal.pendingBytes} bytes waiting to be written`, clampRetryAfterMs(100 + this.#config.walSyncIntervalMs * 10));
    }
    if (wal.retainedBytes >= this.#config.walBytesMax) {
      // Only a completed snapshot round frees segments.
      return new WalBacklogError(`${wal.retainedBytes} bytes not yet covered by snapshots`, clampRetryAfterMs(this.#config.snapshotIntervalMs));
    }
    return undefined;
  }

  // ---- owners: residency, loading, eviction ---------------------------------

  #withOwner(owner: string, shard: number, job: (resident: Resident | Error) => void, nowMs?: number): void {
    const resident = this.#owners.get(owner);
    if (resident !== undefined) {
      job(resident);
      return;
    }
    const waiting = this.#loading.get(owner);
    if (waiting !== undefined) {
      waiting.push(job);
      return;
    }
    this.#loading.set(owner, [job]);
    this.#load(owner, shard, nowMs ?? this.#now()).then(
      (loaded) => {
        const jobs = this.#loading.get(owner) ?? [];
        this.#loading.delete(owner);
        this.#owners.set(owner, loaded);
        for (const waitingJob of jobs) waitingJob(loaded);
      },
      (err: unknown) => {
        const jobs = this.#loading.get(owner) ?? [];
        this.#loading.delete(owner);
        const error = err instanceof Error ? err : new Error(String(err));
        for (const waitingJob of jobs) waitingJob(error);
      },
    );
  }

  async #load(owner: string, shard: number, nowMs: number): Promise<Resident> {
    const snapshot = this.#evicting.get(owner)?.snapshot ?? (await this.#snapshots.getOwnerSnapshot(shard, owner));
    const actor =
      snapshot === undefined
        ? new OwnerActor(owner, this.#ownerOptions, nowMs)
        : OwnerActor.restore(snapshot, this.#ownerOptions, nowMs);
    // Windows that should have closed while the owner was away close now.
    this.#queueRollups(owner, actor.closeDue(nowMs));
    return { actor, shard, dirty: false, logPosition: snapshot?.logPosition };
  }

  /** Evict owners idle longer than ownerIdleMs, and the least recently active beyond ownersPerWorkerMax. */
  async idleTick(): Promise<void> {
    const nowMs = this.#now();
    const idleBefore = nowMs - this.#config.ownerIdleMs;
    const leaving: Array<[string, Resident]> = [];
    for (const entry of this.#owners) {
      if (entry[1].actor.lastActiveMs < idleBefore && !this.#watched.has(entry[0])) leaving.push(entry);
    }
    const over = this.#owners.size - leaving.length - this.#config.ownersPerWorkerMax;
    if (over > 0) {
      const rest = [...this.#owners].filter(([owner, r]) => r.actor.lastActiveMs >= idleBefore && !this.#watched.has(owner));
      rest.sort((a, b) => a[1].actor.lastActiveMs - b[1].actor.lastActiveMs);
      const early = rest.slice(0, over);
      this.#ownersEvictedEarly += early.length;
      leaving.push(...early);
    }
    if (leaving.length > 0) await this.#evict(leaving, nowMs);
  }

  async #evict(leaving: Array<[string, Resident]>, nowMs: number): Promise<void> {
    const byShard = new Map<number, OwnerSnapshot[]>();
    const position = this.#logPosition();
    for (const [owner, resident] of leaving) {
      const snapshot = resident.actor.snapshot(nowMs);
      if (position !== undefined) snapshot.logPosition = position;
      this.#owners.delete(owner);
      this.#evicting.set(owner, { snapshot, shard: resident.shard });
      // Open windows go to the event store too, so range queries see an evicted owner's counts.
      this.#queueRollups(owner, snapshot.windows);
      const list = byShard.get(resident.shard);
      if (list === undefined) byShard.set(resident.shard, [snapshot]);
      else list.push(snapshot);
    }
    const mark = this.#producedMark();
    try {
      await this.#covered(position, mark);
      for (const [shard, snapshots] of byShard) await this.#snapshots.putOwnerSnapshots(shard, snapshots);
    } catch (err) {
      // The snapshot store failed: nothing may be lost, so the owners stay (unless one came back meanwhile).
      this.#snapshotFailures++;
      this.#lastSnapshotErrorCode = toWireError(err).code;
      for (const [owner, resident] of leaving) {
        if (!this.#owners.has(owner)) this.#owners.set(owner, { ...resident, dirty: true });
      }
      throw err;
    } finally {
      for (const [owner] of leaving) this.#evicting.delete(owner);
    }
  }

  // ---- timers ---------------------------------------------------------------

  /**
   * Closes the due windows of every resident owner, CLOSE_SLICE_MS at a time
   * with a turn for requests between slices; one pass at a time.
   */
  closeTick(): Promise<void> {
    if (this.#closingWindows !== undefined) return this.#closingWindows;
    this.#closingWindows = this.#closePass().finally(() => (this.#closingWindows = undefined));
    return this.#closingWindows;
  }

  async #closePass(): Promise<void> {
    let nowMs = this.#now();
    let sliceStarted = performance.now();
    let sinceCheck = 0;
    for (const [owner, resident] of this.#owners) {
      if (++sinceCheck >= CLOSE_CHECK_OWNERS && !this.#closed) {
        sinceCheck = 0;
        if (performance.now() - sliceStarted >= this.#closeSliceMs) {
          await yieldTurn();
          sliceStarted = performance.now();
          nowMs = this.#now();
          // Evicted meanwhile: its open windows left with it (as rollups).
          if (this.#owners.get(owner) !== resident) continue;
        }
      }
      // Most owners have nothing due: skip them without a call that allocates (a pass over 40K owners took 20-30 ms).
      if (!resident.actor.hasDue(nowMs)) continue;
      const closed = resident.actor.closeDue(nowMs);
      if (closed.length > 0) {
        this.#queueRollups(owner, closed);
        resident.dirty = true;
      }
    }
  }

  #queueRollups(owner: string, windows: readonly WindowState[]): void {
    for (const window of windows) this.#rollupBuffer.push({ ...window, owner });
  }

  /** Write pending events and rollups; one flush at a time; a failure keeps them for the next try. */
  flush(): Promise<void> {
    if (this.#flushing !== undefined) return this.#flushing;
    if (this.#pendingEvents === 0 && this.#rollupBuffer.length === 0) return Promise.resolve();
    // Whole chunks from the front, at least one, up to flushBatchEventsMax events (more when one request stored more).
    let take = 0;
    let count = 0;
    while (take < this.#flushBuffer.length && (take === 0 || count + this.#flushBuffer[take]!.count <= this.#config.flushBatchEventsMax)) {
      count += this.#flushBuffer[take]!.count;
      take++;
    }
    const chunks = this.#flushBuffer.splice(0, take);
    this.#pendingEvents -= count;
    const rollups = this.#rollupBuffer.splice(0, FLUSH_ROLLUPS_MAX);
    this.#flushingChunks = chunks;
    this.#flushingCount = count;
    this.#flushingRollups = rollups;
    this.#flushing = (async () => {
      try {
        if (count > 0) await this.#writeChunks(chunks);
        if (rollups.length > 0) await this.#events.writeRollups(rollups);
        this.#flushedCount += count;
        this.#rollupsFlushed += rollups.length;
        this.#consecutiveFlushFailures = 0;
        this.#lastFlushErrorCode = undefined;
        this.#releaseWaiters();
        this.#releaseCoverage();
      } catch (err) {
        // Put everything back in order, ahead of what arrived meanwhile; nothing is dropped.
        this.#flushBuffer.unshift(...chunks);
        this.#pendingEvents += count;
        this.#rollupBuffer.unshift(...rollups);
        this.#flushFailures++;
        this.#consecutiveFlushFailures++;
        this.#lastFlushErrorCode = toWireError(err).code;
        const delayMs = Math.min(FLUSH_RETRY_MS_MAX, FLUSH_RETRY_MS_MIN * 2 ** this.#consecutiveFlushFailures);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      } finally {
        this.#flushing = undefined;
        this.#flushingChunks = [];
        this.#flushingCount = 0;
        this.#flushingRollups = [];
      }
      const more = this.#pendingEvents >= this.#config.flushBatchEventsMax || this.#rollupBuffer.length >= FLUSH_ROLLUPS_MAX;
      if (more && !this.#closed) void this.flush();
    })();
    return this.#flushing;
  }

  /**
   * One applied request's stored events into the buffer: encoded by the store now when there are enough.
   * Returns what the store prepared, if it did (the log may keep those bytes instead of the body).
   */
  #queueStored(stored: StoredEvent[], idWords?: readonly number[]): PreparedEvents | undefined {
    if (stored.length === 0) return undefined;
    let chunk: PendingChunk = { count: stored.length, events: stored };
    if (stored.length >= PREPARE_EVENTS_MIN && this.#prepare !== undefined) {
      try {
        chunk = { count: stored.length, prepared: this.#prepare(stored, idWords) };
      } catch {
        // Kept as objects: the flush's write names what the store cannot take, and retries like any failure.
      }
    }
    this.#flushBuffer.push(chunk);
    this.#pendingEvents += stored.length;
    return chunk.prepared;
  }

  /**
   * #queueStored for the columnar path: the store packs the columns' events
   * now. If it cannot (an owner it cannot key), they wait as objects, made
   * from the columns through the bucket codec, and the flush's write names
   * the fault as for the record path.
   */
  #queueColumns(owner: string, shard: number, cols: EventColumns, count: number): PreparedEvents | undefined {
    let chunk: PendingChunk;
    try {
      chunk = { count, prepared: this.#events.prepareColumns!(owner, shard, cols, count) };
    } catch {
      chunk = { count, events: storedEventsOfColumns(owner, shard, cols, count) };
    }
    this.#flushBuffer.push(chunk);
    this.#pendingEvents += count;
    return chunk.prepared;
  }

  /**
   * Writes chunks in order as one store write. With a preparing store, the
   * chunks still held as objects are encoded here, a run at a time with a
   * turn for requests between runs.
   */
  async #writeChunks(chunks: readonly PendingChunk[]): Promise<void> {
    const store = this.#events;
    if (this.#prepare === undefined || store.writePrepared === undefined) {
      const events: StoredEvent[] = [];
      for (const chunk of chunks) for (const stored of chunk.events!) events.push(stored);
      return store.writeEvents(events);
    }
    const prepared: PreparedEvents[] = [];
    let run: StoredEvent[] = [];
    const endRun = async (): Promise<void> => {
      if (run.length === 0) return;
      prepared.push(this.#prepare!(run));
      run = [];
      await yieldTurn();
    };
    for (const chunk of chunks) {
      if (chunk.prepared !== undefined) {
        await endRun();
        prepared.push(chunk.prepared);
        continue;
      }
      for (const stored of chunk.events!) run.push(stored);
      if (run.length >= PREPARE_RUN_EVENTS_MAX) await endRun();
    }
    await endRun();
    return store.writePrepared(prepared);
  }

  #releaseWaiters(): void {
    let released = 0;
    while (released < this.#flushWaiters.length && this.#flushWaiters[released]!.upTo <= this.#flushedCount) {
      this.#flushWaiters[released]!.release();
      released++;
    }
    if (released > 0) this.#flushWaiters.splice(0, released);
  }

  // ---- log positions and coverage ----------------------------------------------

  /** Where the log stands now (everything applied so far is before it); undefined without a log. */
  #logPosition(): [number, number] | undefined {
    return this.#wal === undefined ? undefined : [this.#walEpoch, this.#wal.appendedLsn];
  }

  /** Events and rollups produced so far, counted from start (committed + in flight + buffered). */
  #producedMark(): { events: number; rollups: number } {
    return {
      events: this.#flushedCount + this.#flushingCount + this.#pendingEvents,
      rollups: this.#rollupsFlushed + this.#flushingRollups.length + this.#rollupBuffer.length,
    };
  }

  /**
   * Resolves once a snapshot taken at `position` may be written: the log is
   * synced up to it and the store holds every event and rollup produced before
   * it. Without a log there is nothing to wait for.
   */
  async #covered(position: [number, number] | undefined, mark: { events: number; rollups: number }): Promise<void> {
    if (position === undefined || this.#wal === undefined) return;
    await this.#wal.whenSynced(position[1]);
    if (this.#flushedCount >= mark.events && this.#rollupsFlushed >= mark.rollups) return;
    await new Promise<void>((resolve) => {
      this.#coverageWaiters.push({ ...mark, resolve });
      void this.flush();
    });
  }

  #releaseCoverage(): void {
    if (this.#coverageWaiters.length === 0) return;
    const keep = [];
    for (const waiter of this.#coverageWaiters) {
      if (this.#flushedCount >= waiter.events && this.#rollupsFlushed >= waiter.rollups) waiter.resolve();
      else keep.push(waiter);
    }
    this.#coverageWaiters = keep;
  }

  /** Snapshot every owner changed since the last round, grouped by shard, then a checkpoint per shard. */
  async snapshotTick(): Promise<void> {
    // A round slower than the interval (100K owners to a remote store) must not overlap the next.
    if (this.#snapshotting !== undefined) return this.#snapshotting;
    this.#snapshotting = this.#snapshotRound().finally(() => {
      this.#snapshotting = undefined;
    });
    return this.#snapshotting;
  }

  async #snapshotRound(): Promise<void> {
    const nowMs = this.#now();
    // The round's start: its checkpoint, and where the log may be trimmed once it is written.
    const position = this.#logPosition();
    const recoveryCovered = this.#recovery !== undefined && !this.#recoveryPosted;
    const byShard = new Map<number, OwnerSnapshot[]>();
    const add = (shard: number, snapshot: OwnerSnapshot) => {
      const list = byShard.get(shard);
      if (list === undefined) byShard.set(shard, [snapshot]);
      else list.push(snapshot);
    };
    // Built in slices of SNAPSHOT_SLICE_MS with ingest in between: one pass over
    // a hundred busy owners took 20-40 ms and showed as the ack p99 of its
    // second. Each snapshot carries the log position it was taken at (replay
    // skips that owner's records below it), so an owner snapshotted after a
    // slice also holds the batches applied meanwhile, exactly once.
    let latest = position;
    let sliceNowMs = nowMs;
    let sliceStarted = performance.now();
    for (const [owner, resident] of this.#owners) {
      if (!resident.dirty) continue;
      if (performance.now() - sliceStarted >= this.#snapshotSliceMs) {
        await yieldTurn();
        sliceStarted = performance.now();
        sliceNowMs = this.#now();
        latest = this.#logPosition();
        // Evicted meanwhile (its own snapshot is on its way out) or snapshotted by the eviction path.
        if (this.#owners.get(owner) !== resident || !resident.dirty) continue;
      }
      resident.dirty = false;
      const snapshot = resident.actor.snapshot(sliceNowMs);
      if (latest !== undefined) snapshot.logPosition = latest;
      add(resident.shard, snapshot);
    }
    // Owners on their way out are part of this round too: if their own write
    // fails after this round completes, the log below `position` is gone.
    if (position !== undefined) {
      for (const { snapshot, shard } of this.#evicting.values()) add(shard, snapshot);
    }
    const mark = this.#producedMark();
    try {
      // Every snapshot's position synced in the log, every event before it in the store.
      await this.#covered(latest, mark);
    } catch (err) {
      this.#snapshotFailures++;
      this.#lastSnapshotErrorCode = toWireError(err).code;
      for (const snapshots of byShard.values()) this.#redirty(snapshots);
      return;
    }
    let failed = false;
    for (const [shard, snapshots] of byShard) {
      try {
        await this.#snapshots.putOwnerSnapshots(shard, snapshots);
        await this.#snapshots.putCheckpoint({ shard, takenAtMs: nowMs, logOffset: position?.[1] ?? 0 });
      } catch (err) {
        // Skipped, counted, retried next round: ingest goes on while the snapshot store is down.
        failed = true;
        this.#snapshotFailures++;
        this.#lastSnapshotErrorCode = toWireError(err).code;
        this.#redirty(snapshots);
      }
    }
    if (!failed) {
      this.#lastSnapshotMs = nowMs;
      this.#lastSnapshotErrorCode = undefined;
      if (position !== undefined && this.#wal !== undefined) {
        // Every owner's state at `position` is in the snapshot store and its events in the event store.
        this.#walTrimmed += await this.#wal.trimBefore(position[1]);
        if (recoveryCovered && !this.#recoveryPosted) this.#recoveryDone();
      }
    }
  }

  #redirty(snapshots: readonly OwnerSnapshot[]): void {
    for (const snapshot of snapshots) {
      const resident = this.#owners.get(snapshot.owner);
      if (resident !== undefined) resident.dirty = true;
    }
  }


  deltaTick(): void {
    if (this.#watched.size === 0) return;
    const batch = [];
    for (const owner of this.#watched) {
      const resident = this.#owners.get(owner);
      if (resident === undefined) continue;
      const taken = resident.actor.takeOwnerDeltas();
      if (taken !== undefined) batch.push(taken);
    }
    if (batch.length > 0) this.#port.postMessage({ t: 'deltas', batch });
  }

  #postStats(): void {
    this.#port.postMessage({
      t: 'stats',
      owners: this.#owners.size,
      flushPendingEvents: this.#pendingEvents,
      ingestHeld: this.#held.length,
      ingestHeldTotal: { ...this.#heldTotal },
      flushFailures: this.#flushFailures,
      lastFlushErrorCode: this.#lastFlushErrorCode,
      snapshotAgeMs: this.#now() - this.#lastSnapshotMs,
      snapshotFailures: this.#snapshotFailures,
      lastSnapshotErrorCode: this.#lastSnapshotErrorCode,
      eventsApplied: this.#eventsApplied,
      wal: this.#wal === undefined ? undefined : { ...this.#wal.stats(), retainedBytes: this.#wal.retainedBytes, segmentsTrimmed: this.#walTrimmed },
    });
  }

  // ---- reads ----------------------------------------------------------------

  #residentOf(owner: string, shard: number): Promise<Resident> {
    return new Promise((resolve, reject) => {
      this.#withOwner(owner, shard, (resident) => (resident instanceof Error ? reject(resident) : resolve(resident)));
    });
  }

  async #query(message: QueryMessage): Promise<MetricsResult> {
    const { query } = message;
    const windowMs = RESOLUTION_MS[query.resolution];
    const fromMs = query.fromMs - (query.fromMs % windowMs);
    const limit = this.#config.queryWindowsMax;
    const resident = await this.#residentOf(query.owner, message.shard);
    const stored = await this.#events.queryRollups({
      owner: query.owner,
      resolution: query.resolution,
      fromMs,
      toMs: query.toMs,
      limit: limit + 1,
    });
    const byStart = new Map<number, WindowState>();
    for (const rollup of stored) byStart.set(rollup.startMs, rollup);
    // Windows closed but not yet committed are newer than the store and gone from memory:
    // read them from the flush in flight, then the buffer (in that order, newest last).
    for (const pending of [this.#flushingRollups, this.#rollupBuffer]) {
      for (const rollup of pending) {
        if (rollup.owner === query.owner && rollup.resolution === query.resolution && rollup.startMs >= fromMs && rollup.startMs < query.toMs) {
          byStart.set(rollup.startMs, rollup);
        }
      }
    }
    // Open windows in memory are newer than any copy in the store.
    for (const window of resident.actor.openWindows(query.resolution)) {
      if (window.startMs >= fromMs && window.startMs < query.toMs) byStart.set(window.startMs, window);
    }
    const starts = [...byStart.keys()].sort((a, b) => a - b);
    const truncated = starts.length > limit;
    const nowMs = this.#now();
    const sketches: Uint8Array[] = [];
    const windows: MetricsWindow[] = [];
    const summary = { total: 0, late: 0, tooLate: 0, uniques: 0, byName: Object.create(null) as Record<string, number> };
    for (const startMs of starts.slice(0, limit)) {
      const window = byStart.get(startMs)!;
      const endMs = startMs + windowMs;
      const { uniquesSketch, ...rest } = window;
      const out: MetricsWindow = { ...rest, endMs, open: nowMs < endMs + this.#config.allowedLatenessMs };
      if (query.name !== undefined) {
        // Names are user input (`__proto__` is a valid event name): read own keys only, write with defineProperty semantics.
        const count = Object.hasOwn(window.byName, query.name) ? window.byName[query.name]! : 0;
        out.byName = count > 0 ? Object.fromEntries([[query.name, count]]) : {};
        const stats = Object.hasOwn(window.values, query.name) ? window.values[query.name] : undefined;
        out.values = stats === undefined ? {} : Object.fromEntries([[query.name, stats]]);
        out.total = count;
      }
      windows.push(out);
      sketches.push(uniquesSketch);
      summary.total += out.total;
      summary.late += out.late;
      summary.tooLate += out.tooLate;
      for (const [name, count] of Object.entries(out.byName)) summary.byName[name] = (summary.byName[name] ?? 0) + count;
    }
    summary.uniques = sketches.length === 0 ? 0 : HyperLogLog.mergeSerialized(sketches).estimate();
    summary.byName = Object.fromEntries(Object.entries(summary.byName));
    return { owner: query.owner, resolution: query.resolution, fromMs, toMs: query.toMs, windows, summary, truncated };
  }

  async #getEvent(message: GetEventMessage): Promise<ReplyValue> {
    // The store keeps the first write of an id, so the oldest pending copy is the one that will stay.
    for (const pending of [this.#flushingChunks, this.#flushBuffer]) {
      for (const chunk of pending) {
        const found =
          chunk.prepared !== undefined
            ? this.#events.findPrepared?.(chunk.prepared, message.owner, message.eventId)
            : chunk.events!.find((stored) => stored.owner === message.owner && stored.event.id === message.eventId);
        if (found !== undefined) return { state: 'pending', shard: message.shard, event: found };
      }
    }
    const stored = await this.#events.getEvent(message.owner, message.eventId);
    return stored === undefined ? null : { state: 'stored', shard: message.shard, event: stored };
  }

  async #watch(message: WatchMessage): Promise<WindowState[]> {
    const resident = await this.#residentOf(message.owner, message.shard);
    // Deltas already accumulated are in the snapshot below: send them first, so
    // they arrive before the reply (the hub ignores deltas of a pending watch).
    this.deltaTick();
    resident.actor.watch(message.resolution);
    this.#watched.add(message.owner);
    return resident.actor.openWindows(message.resolution);
  }

  // ---- replies and close ----------------------------------------------------

  #settle(id: number, started: number, work: Promise<ReplyValue>): void {
    work.then(
      (value) => this.#reply(id, started, value),
      (err: unknown) => this.#replyError(id, started, err),
    );
  }

  #reply(id: number, started: number, value: ReplyValue): void {
    this.#port.postMessage({ t: 'reply', id, ok: true, value, serviceMs: performance.now() - started });
  }

  #replyError(id: number, started: number, err: unknown): void {
    this.#port.postMessage({ t: 'reply', id, ok: false, error: toWireError(err), serviceMs: performance.now() - started });
  }

  /**
   * Stop the timers, flush everything, snapshot every resident owner, sync and
   * close the log. After a clean close the log holds nothing a snapshot does not
   * cover (one segment may remain; replay skips all of it).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    // Held ingest was admitted by the edge before it began to close: apply it (or refuse it by the hard limits) now.
    while (this.#held.length > 0) {
      const { message, started } = this.#held.shift()!;
      this.#admit(message, started);
    }
    // A pass in progress began before the close; one more sees the closing clock for every owner.
    await this.#closingWindows;
    await this.closeTick();
    await this.#drainFlushes();
    await this.#snapshotting; // a round in flight may predate the last events
    for (const resident of this.#owners.values()) resident.dirty = true;
    await this.snapshotTick();
    await this.#drainFlushes();
    await this.#wal?.close();
  }

  async #drainFlushes(): Promise<void> {
    const before = this.#flushFailures;
    while (this.#pendingEvents > 0 || this.#rollupBuffer.length > 0 || this.#flushing !== undefined) {
      await this.flush();
      if (this.#flushFailures > before + 3) throw new Error('event store keeps failing; pending events could not be flushed');
    }
  }

  get ownerCount(): number {
    return this.#owners.size;
  }

  get ownersEvictedEarly(): number {
    return this.#ownersEvictedEarly;
  }

  get flushPendingEvents(): number {
    return this.#pendingEvents;
  }

  /** Ingest batches waiting now for the store or the log to catch up. */
  /** The log writer's counters; undefined without a log. */
  walStats(): WalStats | undefined {
    return this.#wal?.stats();
  }

  get ingestHeld(): number {
    return this.#held.length;
  }

  /** Batches ever held, by what they waited for. */
  get ingestHeldTotal(): { store: number; wal: number } {
    return { ...this.#heldTotal };
  }
}
