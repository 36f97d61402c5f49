/**
 * Prometheus `/metrics` (prom-client's Registry and text format, its default
 * process and Node.js metrics, our own under `eventide_`).
 *
 * Most figures already exist as plain numbers where the work happens: the
 * mailboxes, the supervisor and each worker's stats (runtime), the live hub
 * and the ws/gRPC servers (edge). Those are read at scrape time by collect
 * callbacks; nothing mirrors them on the hot path. What only the edge sees
 * (events in by outcome and protocol, batches by result, latencies) is
 * counted once per request or batch into typed arrays and fixed-bucket
 * histograms (runtime/buckets.ts), never per event: a batch of 500 events is
 * five additions.
 *
 * Invariants:
 * - Label sets are bounded by configuration, never by traffic: `worker`
 *   (not `shard`: 1024 shards would be 1024 series per metric; a shard maps
 *   to one worker, so the worker's figures are the sum over its shards, and
 *   `eventide_mailbox_shard_depth_max` keeps the deepest shard visible),
 *   `protocol`, `outcome`, `ack`, `result` (an EVT_* code of the status
 *   table, or `ok`), `route` (registered routes; anything else is
 *   `unmatched`), `method`, `code` (HTTP status), `store`, `operation`. No
 *   owner label: owners are unbounded.
 * - Counters only grow. Worker counters are labelled by worker and restart
 *   from zero with the worker (Prometheus sees a counter reset, which rate()
 *   handles). Store-call histograms are summed over workers, so they are
 *   accumulated here from each worker's growth, keyed by the worker's epoch:
 *   a restart adds, it never subtracts.
 * - One Registry per server (not prom-client's global one), so several
 *   servers in one process (tests) do not clash.
 */
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry, type Metric } from 'prom-client';
import type { AckLevel, BatchReceipt } from '../actors/types.js';
import { logLinesDropped } from '../log.js';
import { BucketCounts, bucketsDelta, LATENCY_BUCKETS_S, type BucketSnapshot } from '../runtime/buckets.js';
import type { Mailboxes } from '../runtime/mailbox.js';
import type { StatsMessage } from '../runtime/messages.js';
import type { Readiness, Router } from '../runtime/router.js';
import type { ShardMap } from '../runtime/shard-map.js';
import type { Supervisor } from '../runtime/supervisor.js';
import type { StoreOperationStats, WorkerTelemetryStats } from '../runtime/worker-telemetry.js';
import type { GrpcStats } from './grpc.js';
import type { LiveHubCounters } from './live.js';
import type { RawBodyStats } from './raw-body.js';
import { ALL_CODES, publicErrorOf } from './status.js';
import type { StreamStats } from './ws.js';

export type Protocol = 'http' | 'grpc';
const PROTOCOLS: readonly Protocol[] = ['http', 'grpc'];
const ACKS: readonly AckLevel[] = ['applied', 'durable'];
/** Receipt outcomes, in the order of BatchReceipt.counts, with Prometheus-style names. */
const OUTCOMES = ['accepted', 'duplicate', 'late', 'too_late', 'rejected'] as const;
const KNOWN_CODES: ReadonlySet<string> = new Set(ALL_CODES);
const HTTP_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** What /metrics reads of the runtime; ShardRouter fits. */
export interface RuntimeView {
  readonly supervisor: Pick<Supervisor, 'workerCount' | 'isUp' | 'restarts' | 'stats'>;
  readonly mailboxes: Pick<Mailboxes, 'workerDepth' | 'shardDepth' | 'refusedCountOf'>;
  readonly shardMap: Pick<ShardMap, 'shardsOf'>;
  readiness(): Readiness;
}

/** Figures of the edge's other parts, attached once they exist (they are built after the HTTP server). */
export interface EdgeSources {
  hub?: { readonly counters: Readonly<LiveHubCounters> };
  stream?: Readonly<StreamStats>;
  grpc?: Readonly<GrpcStats>;
  rawBody?: Readonly<RawBodyStats>;
}

export interface EdgeMetricsOptions {
  runtime: RuntimeView;
  /** Backends by name, for the `backend` label and the adapter counters that exist only for one of them. */
  eventStore: string;
  snapshotStore: string;
  /** In-flight limits, exported so dashboards can show depth against limit. */
  mailboxBatchesMax: number;
  workerBatchesMax: number;
  /** Add prom-client's process and Node.js metrics (heap, RSS, event-loop lag, GC). Default true. */
  defaultMetrics?: boolean;
}

type Labels = Record<string, string>;
interface Sample {
  labels: Labels;
  value: number;
}
interface HistogramSample {
  labels: Labels;
  buckets: BucketSnapshot;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * A metric whose samples are read at scrape time. prom-client's registry
 * takes any object with a name, a type and `get()`; its own Counter and Gauge
 * would make us copy numbers that live elsewhere into them first.
 */
class Collected {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    readonly read: () => Iterable<Sample>,
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${name}`);
  }
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.read()] });
  }
  reset(): void {}
}

/** A histogram whose buckets are read at scrape time (edge latencies, workers' store calls). */
class CollectedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: readonly number[],
    readonly read: () => Iterable<HistogramSample>,
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${name}`);
  }
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Array<Sample & { metricName: string }> }> {
    const values: Array<Sample & { metricName: string }> = [];
    for (const { labels, buckets } of this.read()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += buckets.counts[i] ?? 0;
        const le = i < this.bounds.length ? String(this.bounds[i]) : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: buckets.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: buckets.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
  reset(): void {}
}

/** What one worker reported last, to turn its cumulative figures into growth. */
interface WorkerBaseline {
  epoch: string;
  operations: Map<string, StoreOperationStats>;
  adapters: WorkerTelemetryStats['adapters'];
}

/** Adapter counters exported under their own names, when that adapter is in use. */
const ADAPTER_COUNTERS: ReadonlyArray<{ backend: string; store: 'events' | 'snapshots'; key: string; name: string; help: string }> = [
  { backend: 'mongodb', store: 'events', key: 'eventsInserted', name: 'eventide_mongodb_events_inserted_total', help: 'Event documents MongoDB inserted.' },
  { backend: 'mongodb', store: 'events', key: 'duplicatesIgnored', name: 'eventide_mongodb_duplicates_ignored_total', help: 'Events not inserted because their (owner, id) was stored already (replays, retries).' },
  { backend: 'mongodb', store: 'events', key: 'rollupsWritten', name: 'eventide_mongodb_rollups_written_total', help: 'Closed windows upserted into MongoDB.' },
  { backend: 'mongodb', store: 'events', key: 'retries', name: 'eventide_mongodb_retries_total', help: 'MongoDB calls retried after a transient failure (each one a backoff wait).' },
  { backend: 'mongodb', store: 'events', key: 'deadLetters', name: 'eventide_mongodb_dead_letters_total', help: 'Records that can never be written, moved to the dead_letters collection.' },
  { backend: 'mongodb', store: 'events', key: 'writeFailures', name: 'eventide_mongodb_write_failures_total', help: 'MongoDB writes that failed after their retries.' },
  { backend: 'mongodb', store: 'events', key: 'readFailures', name: 'eventide_mongodb_read_failures_total', help: 'MongoDB reads that failed after their retries.' },
  { backend: 'mongodb', store: 'events', key: 'expiredSwept', name: 'eventide_mongodb_expired_swept_total', help: 'Expired documents removed by the sweep (servers without TTL indexes, e.g. FerretDB).' },
  { backend: 'lmdb', store: 'events', key: 'expiredEvents', name: 'eventide_lmdb_events_expired_total', help: 'Raw events the embedded store removed after lmdbEventsRetentionMs (worker 0 sweeps).' },
  { backend: 'lmdb', store: 'events', key: 'sweepFailures', name: 'eventide_lmdb_sweep_failures_total', help: 'Retention sweeps of the embedded event store that failed (retried on the next round).' },
  { backend: 'redis', store: 'snapshots', key: 'callsFailed', name: 'eventide_redis_calls_failed_total', help: 'Redis snapshot store calls that failed.' },
  { backend: 'redis', store: 'snapshots', key: 'connectionErrors', name: 'eventide_redis_connection_errors_total', help: 'Redis connection errors seen by the snapshot store.' },
];

export class EdgeMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  readonly #runtime: RuntimeView;
  readonly #options: EdgeMetricsOptions;
  readonly #workerLabels: string[];
  #sources: EdgeSources = {};

  /** Events by [protocol][outcome], from receipts. */
  readonly #events = new Float64Array(PROTOCOLS.length * OUTCOMES.length);
  /** Batches answered with a receipt, by protocol. */
  readonly #batchesOk = new Float64Array(PROTOCOLS.length);
  /** Batches refused or failed, by `${protocol}\n${code}`; codes are those of the status table. */
  readonly #batchesFailed = new Map<string, number>();
  /** Ingest latency by [protocol][ack]. */
  readonly #ingestLatency: BucketCounts[] = Array.from({ length: PROTOCOLS.length * ACKS.length }, () => new BucketCounts());
  /** HTTP request latency by `${method} ${route} ${status}`. */
  readonly #http = new Map<string, { labels: Labels; buckets: BucketCounts }>();

  /** Store calls summed over workers (and over worker restarts), by `${store}.${operation}`. */
  readonly #storeCalls = new Map<string, { store: string; operation: string; buckets: BucketCounts; failures: number }>();
  /** Adapter counters summed over workers, by `${store}.${key}`. */
  readonly #adapterTotals = new Map<string, number>();
  readonly #baselines: Array<WorkerBaseline | undefined>;

  constructor(options: EdgeMetricsOptions) {
    this.#options = options;
    this.#runtime = options.runtime;
    const workers = options.runtime.supervisor.workerCount;
    this.#workerLabels = Array.from({ length: workers }, (_, i) => String(i));
    this.#baselines = new Array<WorkerBaseline | undefined>(workers);
    this.registry = new Registry();
    this.contentType = this.registry.contentType;
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    for (const metric of this.#definitions()) this.registry.registerMetric(metric as unknown as Metric);
  }

  /** Adds the hub's, the ws server's, the gRPC server's and the body parsers' figures once they exist. */
  attach(sources: EdgeSources): void {
    this.#sources = { ...this.#sources, ...sources };
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * The router as the HTTP or gRPC server should see it: every ingest is
   * counted (events by outcome, the batch by result, its latency), once per
   * batch. Everything else passes through.
   */
  instrumentRouter(router: Router, protocol: Protocol): Router {
    const p = PROTOCOLS.indexOf(protocol);
    return {
      ingest: (request) => {
        const started = performance.now();
        const latency = this.#ingestLatency[p * ACKS.length + (request.ack === 'durable' ? 1 : 0)]!;
        return router.ingest(request).then(
          (receipt) => {
            latency.observe((performance.now() - started) / 1_000);
            this.#countReceipt(p, receipt);
            return receipt;
          },
          (err: unknown) => {
            latency.observe((performance.now() - started) / 1_000);
            const code = publicErrorOf(err).code;
            const key = `${protocol}\n${KNOWN_CODES.has(code) ? code : 'EVT_INTERNAL'}`;
            this.#batchesFailed.set(key, (this.#batchesFailed.get(key) ?? 0) + 1);
            throw err;
          },
        );
      },
      queryMetrics: (query) => router.queryMetrics(query),
      getEvent: (owner, id) => router.getEvent(owner, id),
      live: router.live,
      readiness: () => router.readiness(),
      close: () => router.close(),
    };
  }

  /** Times every HTTP request (one onResponse hook; fastify measures from the request's start). */
  instrumentHttp(app: FastifyInstance): void {
    app.addHook('onResponse', (request, reply, done) => {
      const method = HTTP_METHODS.has(request.method) ? request.method : 'OTHER';
      const route = request.routeOptions.url ?? 'unmatched';
      const status = String(reply.statusCode);
      const key = `${method} ${route} ${status}`;
      let entry = this.#http.get(key);
      if (entry === undefined) {
        entry = { labels: { method, route, code: status }, buckets: new BucketCounts() };
        this.#http.set(key, entry);
      }
      entry.buckets.observe(reply.elapsedTime / 1_000);
      done();
    });
  }

  #countReceipt(p: number, receipt: BatchReceipt): void {
    const c = receipt.counts;
    const base = p * OUTCOMES.length;
    const events = this.#events;
    events[base]! += c.accepted;
    events[base + 1]! += c.duplicate;
    events[base + 2]! += c.late;
    events[base + 3]! += c.tooLate;
    events[base + 4]! += c.rejected;
    this.#batchesOk[p]!++;
  }

  // ---- reading the runtime ---------------------------------------------------

  *#perWorker(value: (stats: StatsMessage, worker: number) => number | undefined): Iterable<Sample> {
    const supervisor = this.#runtime.supervisor;
    for (let w = 0; w < this.#workerLabels.length; w++) {
      const stats = supervisor.stats(w);
      if (stats === undefined) continue;
      const v = value(stats, w);
      if (v !== undefined) yield { labels: { worker: this.#workerLabels[w]! }, value: v };
    }
  }

  *#eachWorker(value: (worker: number) => number): Iterable<Sample> {
    for (let w = 0; w < this.#workerLabels.length; w++) yield { labels: { worker: this.#workerLabels[w]! }, value: value(w) };
  }

  /**
   * Fold each worker's latest telemetry into the process totals. Idempotent:
   * the same stats add nothing twice. A new epoch (a restarted worker) starts
   * from zero, so its whole figures are growth.
   */
  #absorbWorkers(): void {
    const supervisor = this.#runtime.supervisor;
    for (let w = 0; w < this.#baselines.length; w++) {
      const telemetry = supervisor.stats(w)?.telemetry;
      if (telemetry === undefined) continue;
      const previous = this.#baselines[w];
      const base = previous?.epoch === telemetry.epoch ? previous : undefined;
      const operations = new Map<string, StoreOperationStats>();
      for (const op of telemetry.storeOperations) {
        const key = `${op.store}.${op.operation}`;
        operations.set(key, op);
        const before = base?.operations.get(key);
        let total = this.#storeCalls.get(key);
        if (total === undefined) {
          total = { store: op.store, operation: op.operation, buckets: new BucketCounts(), failures: 0 };
          this.#storeCalls.set(key, total);
        }
        total.buckets.add(before === undefined ? op.latency : bucketsDelta(op.latency, before.latency));
        total.failures += op.failures - (before?.failures ?? 0);
      }
      for (const store of ['events', 'snapshots'] as const) {
        const counters = telemetry.adapters[store];
        if (counters === undefined) continue;
        const before = base?.adapters[store];
        for (const [key, value] of Object.entries(counters)) {
          const totalKey = `${store}.${key}`;
          this.#adapterTotals.set(totalKey, (this.#adapterTotals.get(totalKey) ?? 0) + value - (before?.[key] ?? 0));
        }
      }
      this.#baselines[w] = { epoch: telemetry.epoch, operations, adapters: telemetry.adapters };
    }
  }

  #backendOf(store: string): string {
    return store === 'events' ? this.#options.eventStore : this.#options.snapshotStore;
  }

  // ---- the metrics -----------------------------------------------------------

  #definitions(): Array<Collected | CollectedHistogram> {
    const runtime = this.#runtime;
    const supervisor = runtime.supervisor;
    const mailboxes = runtime.mailboxes;
    const sources = (): EdgeSources => this.#sources;
    const counter = (name: string, help: string, read: () => Iterable<Sample>) => new Collected(name, help, 'counter', read);
    const gauge = (name: string, help: string, read: () => Iterable<Sample>) => new Collected(name, help, 'gauge', read);
    const one = (value: number | undefined): Sample[] => (value === undefined ? [] : [{ labels: {}, value }]);

    const metrics: Array<Collected | CollectedHistogram> = [
      // ---- ingest at the edge
      counter('eventide_events_total', 'Events answered with a receipt, by protocol and outcome (refused batches are not decoded, so their events are not here).', () => {
        const out: Sample[] = [];
        for (let p = 0; p < PROTOCOLS.length; p++) {
          for (let o = 0; o < OUTCOMES.length; o++) out.push({ labels: { protocol: PROTOCOLS[p]!, outcome: OUTCOMES[o]! }, value: this.#events[p * OUTCOMES.length + o]! });
        }
        return out;
      }),
      counter('eventide_ingest_batches_total', 'Ingest requests (HTTP bodies, gRPC messages), by protocol and result: ok, or the EVT_* code they were refused with.', () => {
        const out: Sample[] = PROTOCOLS.map((protocol, p) => ({ labels: { protocol, result: 'ok' }, value: this.#batchesOk[p]! }));
        for (const [key, value] of this.#batchesFailed) {
          const [protocol, result] = key.split('\n') as [string, string];
          out.push({ labels: { protocol, result }, value });
        }
        return out;
      }),
      new CollectedHistogram('eventide_ingest_duration_seconds', 'Time from handing a batch to the router to its answer (mailbox, worker, and for durable the store commit), by protocol and ack level.', LATENCY_BUCKETS_S, () =>
        this.#ingestLatency.map((buckets, i) => ({
          labels: { protocol: PROTOCOLS[Math.floor(i / ACKS.length)]!, ack: ACKS[i % ACKS.length]! },
          buckets: buckets.snapshot(),
        })),
      ),
      new CollectedHistogram('eventide_http_request_duration_seconds', 'HTTP requests from arrival to the last byte of the answer, by method, route and status code.', LATENCY_BUCKETS_S, () =>
        [...this.#http.values()].map(({ labels, buckets }) => ({ labels, buckets: buckets.snapshot() })),
      ),
      counter('eventide_http_body_refusals_total', 'Request bodies refused by the body parsers, by reason.', () => {
        const raw = sources().rawBody;
        if (raw === undefined) return [];
        return [
          { labels: { reason: 'too_large' }, value: raw.tooLarge },
          { labels: { reason: 'length_mismatch' }, value: raw.lengthMismatch },
          { labels: { reason: 'unsupported_media_type' }, value: raw.unsupportedMediaType },
        ];
      }),
      counter('eventide_http_connections_dropped_total', 'Connections closed on arrival because httpConnectionsMax were open.', () => one(sources().rawBody?.connectionsDropped)),
      gauge('eventide_grpc_streams_open', 'gRPC ingest streams open now.', () => one(sources().grpc?.streamsOpen)),
      counter('eventide_grpc_calls_refused_total', 'gRPC calls ended before or outside their handler: metadata over grpcMetadataBytesMax, a message too slow or too large, an idle stream, an unknown grpc-encoding.', () => one(sources().grpc?.callsRefused)),
      counter('eventide_grpc_stream_pauses_total', 'Times a gRPC stream stopped being read (its in-flight batches at the limit, or its client not reading answers).', () => one(sources().grpc?.streamPauses)),

      // ---- readiness and workers
      gauge('eventide_ready', '1 when /readyz answers 200 (workers up, event store writing, not draining), else 0.', () => one(runtime.readiness().ready ? 1 : 0)),
      gauge('eventide_draining', '1 while the process drains (no new work admitted), else 0.', () => one(runtime.readiness().draining ? 1 : 0)),
      gauge('eventide_workers', 'Shard worker threads configured.', () => one(supervisor.workerCount)),
      gauge('eventide_worker_up', '1 when the worker is up, 0 while it is being restarted.', () => this.#eachWorker((w) => (supervisor.isUp(w) ? 1 : 0))),
      counter('eventide_worker_restarts_total', 'Times the worker was restarted after it died.', () => this.#eachWorker((w) => supervisor.restarts(w))),
      gauge('eventide_worker_owners', 'Owners resident in the worker.', () => this.#perWorker((s) => s.owners)),
      counter('eventide_worker_events_applied_total', 'Events the worker applied to windows (since it started).', () => this.#perWorker((s) => s.eventsApplied)),
      gauge('eventide_worker_heap_used_bytes', "V8 heap used by the worker thread's isolate.", () => this.#perWorker((s) => s.telemetry?.heapUsedBytes)),
      gauge('eventide_worker_heap_total_bytes', "V8 heap committed by the worker thread's isolate (used plus free space in its pages).", () => this.#perWorker((s) => s.telemetry?.heapTotalBytes)),
      gauge('eventide_worker_heap_limit_bytes', "V8 heap limit of the worker thread's isolate (workerHeapMbMax, or V8's default); past it the worker dies out of memory and is restarted.", () => this.#perWorker((s) => s.telemetry?.heapLimitBytes)),
      gauge('eventide_worker_event_loop_delay_p99_seconds', "99th percentile of the worker thread's event-loop delay over its last stats interval (1 s).", () => this.#perWorker((s) => (s.telemetry === undefined ? undefined : s.telemetry.loopDelayP99Ms / 1_000))),
      gauge('eventide_worker_event_loop_delay_max_seconds', "Longest event-loop delay of the worker thread over its last stats interval (1 s).", () => this.#perWorker((s) => (s.telemetry === undefined ? undefined : s.telemetry.loopDelayMaxMs / 1_000))),

      // ---- mailboxes (per worker, not per shard: see the invariants)
      gauge('eventide_mailbox_depth_batches', "Batches in flight to the worker (admitted, not yet answered), over all its shards.", () => this.#eachWorker((w) => mailboxes.workerDepth(w))),
      gauge('eventide_mailbox_shard_depth_max_batches', "Batches in flight to the worker's busiest shard.", () =>
        this.#eachWorker((w) => {
          let max = 0;
          for (const shard of runtime.shardMap.shardsOf(w)) max = Math.max(max, mailboxes.shardDepth(shard));
          return max;
        }),
      ),
      gauge('eventide_mailbox_limit_batches', 'In-flight limits: per shard (mailboxBatchesMax) and per worker (workerBatchesMax).', () => [
        { labels: { scope: 'shard' }, value: this.#options.mailboxBatchesMax },
        { labels: { scope: 'worker' }, value: this.#options.workerBatchesMax },
      ]),
      counter('eventide_mailbox_refusals_total', 'Batches refused with 429 EVT_MAILBOX_FULL because the worker or one of its shards was at its in-flight limit.', () => this.#eachWorker((w) => mailboxes.refusedCountOf(w))),

      // ---- flushes, snapshots, stores
      gauge('eventide_flush_pending_events', 'Flush lag: events applied but not yet written to the event store (at flushPendingEventsMax ingest is refused with EVT_STORE_BACKLOG).', () => this.#perWorker((s) => s.flushPendingEvents)),
      gauge('eventide_ingest_held_batches', 'Ingest batches waiting in the worker for the event store (two flush batches behind) or the log (a quarter of walPendingBytesMax behind) to catch up: backpressure by latency.', () => this.#perWorker((s) => s.ingestHeld)),
      counter('eventide_ingest_held_total', 'Ingest batches that waited in the worker for the store or the log, by what they waited for.', () =>
        (['store', 'wal'] as const).flatMap((reason) =>
          [...this.#perWorker((s) => s.ingestHeldTotal?.[reason])].map((sample) => ({ labels: { ...sample.labels, reason }, value: sample.value })),
        ),
      ),
      counter(
        'eventide_decode_one_pass_total',
        'JSON and msgpack bodies the record path read, by whether the worker read them in one pass or gave up (the scan and the full parser then read them: a single event, an unusual body, or a bound).',
        () =>
          (['json', 'msgpack'] as const).flatMap((format) =>
            (['read', 'gave_up'] as const).flatMap((outcome) =>
              [...this.#perWorker((s) => s.telemetry?.onePass?.[format]?.[outcome === 'read' ? 'read' : 'gaveUp'])].map((sample) => ({
                labels: { ...sample.labels, format, outcome },
                value: sample.value,
              })),
            ),
          ),
      ),
      counter(
        'eventide_decode_columnar_total',
        'Protobuf and msgpack batches by whether the columnar path took them or gave them up to the record path (an event without an id, a non-ASCII string, an odd property key or encoding).',
        () =>
          (['protobuf', 'msgpack'] as const).flatMap((format) =>
            (['read', 'gave_up'] as const).flatMap((outcome) =>
              [...this.#perWorker((s) => s.telemetry?.columnar?.[format]?.[outcome === 'read' ? 'read' : 'gaveUp'])].map((sample) => ({
                labels: { ...sample.labels, format, outcome },
                value: sample.value,
              })),
            ),
          ),
      ),
      counter('eventide_flush_failures_total', 'Flushes to the event store that failed (retried with backoff; nothing is dropped).', () => this.#perWorker((s) => s.flushFailures)),
      gauge('eventide_snapshot_age_seconds', "Age of the worker's last complete snapshot round: what a crash now would lose of its window counts.", () => this.#perWorker((s) => s.snapshotAgeMs / 1_000)),
      counter('eventide_snapshot_failures_total', 'Snapshot writes that failed (skipped, retried next round).', () => this.#perWorker((s) => s.snapshotFailures)),
      // ---- write-ahead log
      gauge('eventide_wal_bytes', "Bytes of the worker's write-ahead log not yet freed by a completed snapshot round (at walBytesMax: EVT_WAL_BACKLOG).", () => this.#perWorker((s) => s.wal?.retainedBytes)),
      gauge('eventide_wal_pending_bytes', 'Log bytes appended but not yet written and synced (at walPendingBytesMax: EVT_WAL_BACKLOG).', () => this.#perWorker((s) => s.wal?.pendingBytes)),
      counter('eventide_wal_syncs_total', 'Group commits: one write and fdatasync each.', () => this.#perWorker((s) => s.wal?.syncs)),
      counter(
        'eventide_wal_records_total',
        "Log records appended, by what they hold: the request's body, or the event store's packed buckets of what the batch stored (a quarter of a JSON body's bytes).",
        () =>
          (['body', 'buckets'] as const).flatMap((kind) =>
            [...this.#perWorker((s) => s.wal?.records?.[kind])].map((sample) => ({ labels: { ...sample.labels, kind }, value: sample.value })),
          ),
      ),
      counter('eventide_wal_appended_bytes_total', 'Log bytes appended (records with their headers).', () => this.#perWorker((s) => s.wal?.appendedBytes)),
      counter('eventide_wal_write_failures_total', 'Log writes or syncs that failed (disk full, I/O error); retried with backoff.', () => this.#perWorker((s) => s.wal?.writeFailures)),
      counter(
        'eventide_wal_segments_trimmed_total',
        'Log segments freed after a snapshot round covered them: deleted, or kept as spares to recycle (walRecycleSegments).',
        () => this.#perWorker((s) => s.wal?.segmentsTrimmed),
      ),
      counter(
        'eventide_wal_segments_recycled_total',
        'New log segments that were a spare (a covered segment kept) renamed and overwritten in place, not a new file.',
        () => this.#perWorker((s) => s.wal?.segmentsRecycled),
      ),
      new CollectedHistogram('eventide_store_operation_duration_seconds', 'Store calls of all workers (flush writes, snapshot writes, reads), by store, backend and operation.', LATENCY_BUCKETS_S, () => {
        this.#absorbWorkers();
        return [...this.#storeCalls.values()].map((op) => ({
          labels: { store: op.store, backend: this.#backendOf(op.store), operation: op.operation },
          buckets: op.buckets.snapshot(),
        }));
      }),
      counter('eventide_store_operation_failures_total', 'Store calls that failed, by store, backend and operation.', () => {
        this.#absorbWorkers();
        return [...this.#storeCalls.values()].map((op) => ({
          labels: { store: op.store, backend: this.#backendOf(op.store), operation: op.operation },
          value: op.failures,
        }));
      }),

      // ---- live metric stream (ws)
      gauge('eventide_ws_clients', 'ws connections open now.', () => one(sources().stream?.clients)),
      counter('eventide_ws_refused_total', 'ws connections closed with 1013 because wsClientsMax were open.', () => one(sources().stream?.refusedFull)),
      counter('eventide_ws_auth_failures_total', 'ws connections closed with 1008 (bad key, missing scope, no auth in time).', () => one(sources().stream?.authFailures)),
      counter('eventide_ws_protocol_errors_total', 'ws connections closed for a protocol violation: a frame over 4x wsMessageBytesMax (1009), bad UTF-8 (1007), a malformed frame (1002).', () => one(sources().stream?.protocolErrors)),
      counter('eventide_ws_idle_closed_total', 'ws connections closed because nothing, not even a pong, came for wsIdleTimeoutMs.', () => one(sources().stream?.idleClosed)),
      gauge('eventide_live_subscriptions', 'ws subscriptions now.', () => one(sources().hub?.counters.subscribers)),
      gauge('eventide_live_channels', 'Live channels (owner × resolution) held now.', () => one(sources().hub?.counters.channels)),
      counter('eventide_live_frames_sent_total', 'Frames sent to ws subscribers (delta, merged delta, snapshot, reset).', () => one(sources().hub?.counters.framesSent)),
      counter('eventide_live_merges_total', 'Frames held back from a slow subscriber and merged into its next one.', () => one(sources().hub?.counters.merges)),
      counter('eventide_live_resets_total', 'Resumes that could not be served from history (the client got a fresh snapshot).', () => one(sources().hub?.counters.resets)),
      counter('eventide_live_channels_evicted_total', 'Idle live channels evicted early to make room.', () => one(sources().hub?.counters.channelsEvicted)),
      counter('eventide_live_channels_refused_total', 'New live channels refused because all were busy (EVT_WS_CHANNELS_FULL).', () => one(sources().hub?.counters.channelsRefused)),

      counter('eventide_log_lines_dropped_total', 'Log lines dropped because stdout did not keep up (more than LOG_BUFFER_BYTES_MAX waiting).', () => one(logLinesDropped())),
      gauge('eventide_build_info', 'Always 1; the labels say which eventide and Node.js answer.', () => [{ labels: { version: PACKAGE_VERSION, node: process.version }, value: 1 }]),
    ];

    for (const spec of ADAPTER_COUNTERS) {
      const inUse = spec.store === 'events' ? this.#options.eventStore : this.#options.snapshotStore;
      if (inUse !== spec.backend) continue;
      metrics.push(
        counter(spec.name, spec.help, () => {
          this.#absorbWorkers();
          return one(this.#adapterTotals.get(`${spec.store}.${spec.key}`) ?? 0);
        }),
      );
    }
    if (this.#options.snapshotStore === 'redis') {
      metrics.push(gauge('eventide_redis_available', "1 when the worker's Redis connection is ready, else 0.", () => this.#perWorker((s) => s.telemetry?.adapters.snapshots?.available)));
    }
    return metrics;
  }
}

/** The package's version, for eventide_build_info; the package root is two levels up from src/edge, three from dist/src/edge. */
export const PACKAGE_VERSION: string = (() => {
  for (const rel of ['../../../package.json', '../../package.json']) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (!existsSync(file)) continue;
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (parsed.name === 'eventide' && typeof parsed.version === 'string') return parsed.version;
    } catch {
      // Unreadable: try the next place.
    }
  }
  return 'unknown';
})();
