/**
 * What a shard worker reports about itself beyond the shard host's stats:
 * how long its store calls take and how often they fail, the stores' own
 * counters, its heap and event-loop delay, and log lines (with the request id
 * of the batch they are about), all posted to the edge thread.
 *
 * It sits around the shard host without changing it: the host's stores are
 * wrapped in timing proxies, and the port the host posts through is wrapped so
 * that (1) each `stats` message gets a `telemetry` field, on the host's own
 * 1-s stats tick, and (2) each ingest reply is matched with the request id of
 * its batch, for the log. So the figures ride on messages the worker sends
 * anyway; nothing here runs per event, and per batch it is one Map set and
 * one Map delete.
 *
 * Invariants:
 * - Counters only grow for the life of the worker; `epoch` changes when a
 *   worker is restarted, so the edge can tell a restart from a decrease.
 * - Warnings about a failing store or refused batches are logged once when the
 *   trouble starts (per store operation, per error code) and once when it
 *   ends, never once per call: an outage must not flood the log.
 */
import { jsonFastCounts } from '../actors/json-fast.js';
import { columnarCounts } from '../actors/columns.js';
import { msgpackFastCounts } from '../actors/msgpack-fast.js';
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { MessagePort } from 'node:worker_threads';
import type { BatchReceipt } from '../actors/types.js';
import { forwardingLogger, type Logger, type LogLevel, type LogRecord } from '../log.js';
import type { EventStore, SnapshotStore } from '../store/port.js';
import { BucketCounts, type BucketSnapshot } from './buckets.js';
import type { ReplyMessage, WorkerRequest } from './messages.js';

export type StoreName = 'events' | 'snapshots';

/** One store call's figures, by store and operation (a bounded set: the port's methods). */
export interface StoreOperationStats {
  store: StoreName;
  /** The port method in snake case: `write_events`, `put_snapshots`, ... */
  operation: string;
  latency: BucketSnapshot;
  failures: number;
}

/** The `telemetry` field of a worker's stats message. Plain data. */
export interface WorkerTelemetryStats {
  /** Random per worker start: a new epoch means the counters below started again from zero. */
  epoch: string;
  heapUsedBytes: number;
  /** V8 heap committed by the isolate (used + free space in its pages): what the heap adds to RSS. */
  heapTotalBytes: number;
  /** The isolate's heap limit (workerHeapMbMax, or V8's default): past it the worker dies out of memory. */
  heapLimitBytes: number;
  /** Event-loop delay of the worker thread over the last stats interval, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  storeOperations: StoreOperationStats[];
  /** The store adapters' own numeric counters, when they keep any (MongoDB: retries, dead letters, ...). */
  adapters: Partial<Record<StoreName, Record<string, number>>>;
  /** Bodies the one-pass readers read, and gave up on (the scan and the full parser read those), since the worker started. */
  onePass: { json: { read: number; gaveUp: number }; msgpack: { read: number; gaveUp: number } };
  /** Batches the columnar path took, and gave up on (the record path read those), since the worker started. */
  columnar?: { protobuf: { read: number; gaveUp: number }; msgpack: { read: number; gaveUp: number } };
}

/** Resolution of the worker's event-loop delay monitor, ms. */
const LOOP_MONITOR_RESOLUTION_MS = 10;

const EVENT_STORE_OPERATIONS = {
  writeEvents: 'write_events',
  writePrepared: 'write_events',
  writeRollups: 'write_rollups',
  getEvent: 'get_event',
  queryRollups: 'query_rollups',
} as const satisfies Partial<Record<keyof EventStore, string>>;

const SNAPSHOT_STORE_OPERATIONS = {
  putOwnerSnapshots: 'put_snapshots',
  getOwnerSnapshot: 'get_snapshot',
  deleteOwnerSnapshots: 'delete_snapshots',
  putCheckpoint: 'put_checkpoint',
  getCheckpoint: 'get_checkpoint',
} as const satisfies Partial<Record<keyof SnapshotStore, string>>;

interface Operation {
  stats: StoreOperationStats;
  buckets: BucketCounts;
  /** Consecutive failures; the first one warns, the next success says it recovered. */
  failing: number;
}

interface BatchInFlight {
  requestId: string;
  owner: string;
  shard: number;
}

export interface WorkerTelemetryOptions {
  /** The worker's real port to the edge. */
  port: Pick<MessagePort, 'postMessage'>;
  workerIndex: number;
  logLevel: LogLevel;
}

export class WorkerTelemetry {
  /** Lines logged here go to the edge's logger (log.ts: forwardingLogger). */
  readonly log: Logger;
  /** The port to give the shard host: the real one, with telemetry added on the way. */
  readonly port: Pick<MessagePort, 'postMessage'>;
  readonly #real: Pick<MessagePort, 'postMessage'>;
  readonly #epoch = randomUUID();
  readonly #operations = new Map<string, Operation>();
  readonly #adapters = new Map<StoreName, object>();
  /** Ingest requests not answered yet, by message id; bounded by the edge's workerBatchesMax. */
  readonly #batches = new Map<number, BatchInFlight>();
  /** Error codes of refused batches currently warned about, with how many refusals followed the warning. */
  readonly #refusing = new Map<string, number>();
  readonly #loopDelay: IntervalHistogram;

  constructor(options: WorkerTelemetryOptions) {
    this.#real = options.port;
    // The edge adds `worker` (and its runtime logger's bindings) to every line.
    this.log = forwardingLogger(options.logLevel, (record) => this.#forward(record));
    this.port = {
      postMessage: (message: unknown, transfer?: readonly ArrayBuffer[]) => {
        const typed = message as { t?: string };
        if (typed.t === 'reply') this.#replied(message as ReplyMessage);
        else if (typed.t === 'stats') (message as { telemetry?: WorkerTelemetryStats }).telemetry = this.stats();
        this.#real.postMessage(message, transfer as ArrayBuffer[] | undefined);
      },
    };
    this.#loopDelay = monitorEventLoopDelay({ resolution: LOOP_MONITOR_RESOLUTION_MS });
    this.#loopDelay.enable();
  }

  /** Call for every message the worker receives, before the host handles it. */
  received(message: WorkerRequest): void {
    if (message.t === 'ingest') this.#batches.set(message.id, { requestId: message.requestId, owner: message.owner, shard: message.shard });
  }

  /** The stores, timed and counted per operation; every other property is the store's own. */
  timeStores(stores: { events: EventStore; snapshots: SnapshotStore }): { events: EventStore; snapshots: SnapshotStore } {
    this.#adapters.set('events', stores.events);
    this.#adapters.set('snapshots', stores.snapshots);
    return {
      events: this.#timed('events', stores.events, EVENT_STORE_OPERATIONS),
      snapshots: this.#timed('snapshots', stores.snapshots, SNAPSHOT_STORE_OPERATIONS),
    };
  }

  stats(): WorkerTelemetryStats {
    const storeOperations: StoreOperationStats[] = [];
    for (const operation of this.#operations.values()) storeOperations.push({ ...operation.stats, latency: operation.buckets.snapshot() });
    const adapters: WorkerTelemetryStats['adapters'] = {};
    for (const [name, store] of this.#adapters) {
      const counters = adapterCounters(store);
      if (counters !== undefined) adapters[name] = counters;
    }
    // The monitor's samples include its own sampling interval; the delay is what comes on top.
    const loopDelayP99Ms = this.#loopDelay.percentile(99) / 1e6 - LOOP_MONITOR_RESOLUTION_MS;
    const loopDelayMaxMs = this.#loopDelay.max / 1e6 - LOOP_MONITOR_RESOLUTION_MS;
    this.#loopDelay.reset();
    const heap = v8.getHeapStatistics();
    return {
      epoch: this.#epoch,
      heapUsedBytes: heap.used_heap_size,
      heapTotalBytes: heap.total_heap_size,
      heapLimitBytes: heap.heap_size_limit,
      loopDelayP99Ms: Number.isFinite(loopDelayP99Ms) ? Math.max(0, loopDelayP99Ms) : 0,
      loopDelayMaxMs: Number.isFinite(loopDelayMaxMs) ? Math.max(0, loopDelayMaxMs) : 0,
      storeOperations,
      adapters,
      onePass: { json: { ...jsonFastCounts }, msgpack: { ...msgpackFastCounts } },
      columnar: { protobuf: { ...columnarCounts.protobuf }, msgpack: { ...columnarCounts.msgpack } },
    };
  }

  close(): void {
    this.#loopDelay.disable();
  }

  #forward(record: LogRecord): void {
    try {
      this.#real.postMessage({ t: 'log', ...record });
    } catch (err) {
      // A field that cannot be cloned (a function, a socket) must not cost the line, nor throw into the caller.
      this.#real.postMessage({ t: 'log', level: record.level, msg: record.msg, fields: { unclonable: String(err) } });
    }
  }

  #replied(reply: ReplyMessage): void {
    const batch = this.#batches.get(reply.id);
    if (batch === undefined) return;
    this.#batches.delete(reply.id);
    const { requestId, owner, shard } = batch;
    if (!reply.ok) {
      const error = reply.error ?? { code: 'EVT_INTERNAL', message: 'no error given', retryable: false };
      // Retryable codes and internal errors are the server's trouble; the rest are the client's (a malformed body).
      if (!error.retryable && error.code !== 'EVT_INTERNAL') {
        this.log.debug({ requestId, owner, shard, code: error.code, field: error.field, reason: error.message }, 'batch refused');
        return;
      }
      const since = this.#refusing.get(error.code);
      if (since === undefined) {
        this.#refusing.set(error.code, 0);
        const level = error.code === 'EVT_INTERNAL' ? 'error' : 'warn';
        this.log[level]({ requestId, owner, shard, code: error.code, reason: error.message }, 'refusing batches (logged once until one is applied again)');
      } else {
        this.#refusing.set(error.code, since + 1);
      }
      return;
    }
    if (this.#refusing.size > 0) {
      for (const [code, more] of this.#refusing) this.log.info({ requestId, code, refusedSinceWarning: more }, 'batches applied again');
      this.#refusing.clear();
    }
    const receipt = reply.value as BatchReceipt;
    const counts = receipt.counts;
    if (counts.rejected > 0 && this.log.isLevelEnabled('debug')) {
      const total = counts.accepted + counts.duplicate + counts.late + counts.tooLate + counts.rejected;
      const first = receipt.receipts.find((r) => r.status === 'rejected');
      this.log.debug(
        { requestId, owner, shard, rejected: counts.rejected, events: total, firstCode: first?.code, firstField: first?.field },
        counts.rejected === total ? 'batch rejected' : 'events rejected',
      );
    }
    if (this.log.isLevelEnabled('trace')) this.log.trace({ requestId, owner, shard, counts, serviceMs: reply.serviceMs }, 'batch applied');
  }

  #operation(store: StoreName, operation: string): Operation {
    const key = `${store}.${operation}`;
    let entry = this.#operations.get(key);
    if (entry === undefined) {
      const buckets = new BucketCounts();
      entry = { stats: { store, operation, latency: buckets.snapshot(), failures: 0 }, buckets, failing: 0 };
      this.#operations.set(key, entry);
    }
    return entry;
  }

  /**
   * A proxy that times the named async methods and passes everything else
   * through, bound to the store itself: adapters have private fields and
   * extra members the host looks for (ttlMode, sweepExpired), which a copy
   * or a subclass would lose.
   */
  #timed<T extends object>(store: StoreName, target: T, operations: Readonly<Record<string, string>>): T {
    const timedMethods = new Map<PropertyKey, unknown>();
    for (const [method, operation] of Object.entries(operations)) {
      const original = (target as Record<string, unknown>)[method];
      if (typeof original !== 'function') continue;
      const entry = this.#operation(store, operation);
      timedMethods.set(method, (...args: unknown[]) => {
        const started = performance.now();
        const settle = (failed: unknown): void => {
          entry.buckets.observe((performance.now() - started) / 1_000);
          if (failed === undefined) {
            if (entry.failing > 0) this.log.info({ store, operation, failures: entry.failing }, 'store calls succeed again');
            entry.failing = 0;
            return;
          }
          entry.stats.failures++;
          if (entry.failing++ === 0) {
            this.log.warn({ store, operation, err: failed }, 'store call failed (logged once until one succeeds)');
          }
        };
        return (original as (...a: unknown[]) => Promise<unknown>).apply(target, args).then(
          (value) => {
            settle(undefined);
            return value;
          },
          (err: unknown) => {
            settle(err ?? new Error('rejected without a reason'));
            throw err;
          },
        );
      });
    }
    return new Proxy(target, {
      get(object, property) {
        const timed = timedMethods.get(property);
        if (timed !== undefined) return timed;
        const value: unknown = Reflect.get(object, property, object);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(object) : value;
      },
    });
  }
}

/** The numeric counters an adapter keeps (`stats` getter or method), or undefined when it keeps none. */
function adapterCounters(store: object): Record<string, number> | undefined {
  const stats: unknown = (store as { stats?: unknown }).stats;
  const value: unknown = typeof stats === 'function' ? (stats as () => unknown).call(store) : stats;
  if (typeof value !== 'object' || value === null) return undefined;
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(value)) {
    if (typeof n === 'number') out[key] = n;
    else if (typeof n === 'boolean') out[key] = n ? 1 : 0;
  }
  return out;
}
