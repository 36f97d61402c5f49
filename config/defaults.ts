/**
 * Every tunable of eventide with its default. Names end in their unit
 * (`Ms`, `Bytes`) and a qualifier (`Max`). Each bounded thing says what
 * happens when the bound is reached. docs/configuration.md mirrors this file.
 */
export const defaults = {
  /** Host the HTTP and ws server binds to. */
  host: '127.0.0.1',
  /** HTTP + ws port. 0 picks a free port (tests). */
  httpPort: 8080,
  /** gRPC port. 0 picks a free port. */
  grpcPort: 50051,
  /** Directory of the embedded LMDB store. */
  dataDir: './data',
  /** Log level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'. */
  logLevel: 'info',
  /** Serve Prometheus metrics at GET /metrics (on httpPort, or on metricsPort when that is set). */
  metricsEnabled: true,
  /** Bearer token GET /metrics requires. Empty: none, as Prometheus scrapes usually are; set it when /metrics is reachable from outside. */
  metricsToken: '',

  /** Owners hash to shards, shards map to workers. Fixed for the life of a deployment's data. */
  shardCount: 1024,
  /** Worker threads hosting shard actors. 0 means one per core. */
  workers: 0,
  /**
   * V8 old generation of each worker thread, MiB (its resourceLimits). 0: V8's own limit for the machine,
   * capped at 2000 (WORKER_HEAP_MB_AUTO_MAX in src/runtime/supervisor.ts): under 2 GiB V8 collects sooner
   * (~2x the live data instead of ~4x: bench/results/memory.md). A worker whose live data outgrows it dies
   * and is restarted; set more (e.g. 4096) for more than ~400K busy owners per worker.
   */
  workerHeapMbMax: 0,
  /**
   * Where V8 starts the old generation's limit in each worker thread, MiB (V8's --initial-old-space-size,
   * which applies to every isolate created after it is set); 0: V8's own start, a few MiB. A worker's live
   * heap is small (tens of MiB with 100 owners) but it promotes batch data steadily, so from V8's own start
   * it ran a full collection every ~300 ms; from 128 MiB, a handful per run: 0.91x the server CPU per event,
   * ~100 MiB more RSS (bench/results/memory.md). Above workerHeapMbMax it is clamped to it.
   */
  workerHeapInitialMb: 128,

  /** Request bodies larger than this on the wire get 413 EVT_BODY_TOO_LARGE. */
  bodyBytesMax: 4 * 1024 * 1024,
  /** A gzip body that inflates past this is refused with 413 EVT_BODY_TOO_LARGE (gzip bombs). */
  bodyInflatedBytesMax: 16 * 1024 * 1024,
  /** Events per request; more is 413 EVT_BATCH_TOO_LONG. */
  batchEventsMax: 5_000,
  /** Nesting of a JSON or msgpack body (an envelope's event's properties are level 4); deeper is 400 EVT_BODY_MALFORMED, refused before parsing. */
  bodyDepthMax: 16,
  /** Estimated size of one event (sum of its strings and 8 per number); more rejects that event (EVT_EVENT_TOO_LARGE). */
  eventBytesMax: 16 * 1024,
  /** Length of `id`, `name`, `userId` (UTF-16 units). */
  idCharsMax: 128,
  nameCharsMax: 128,
  categoryCharsMax: 64,
  /** Tags per event, and the length of one tag. */
  tagsMax: 32,
  tagCharsMax: 64,
  /** Properties per event, the length of a key, and of a string value. */
  propertiesMax: 64,
  propertyKeyCharsMax: 64,
  propertyValueCharsMax: 1024,
  /** Events whose corrected timestamp is further than this in the future are rejected (EVT_TIMESTAMP_FUTURE). */
  futureToleranceMs: 60_000,

  /** In-flight batches per shard. Full: 429 (HTTP) / RESOURCE_EXHAUSTED (gRPC) with Retry-After. */
  mailboxBatchesMax: 64,
  /** In-flight batches per worker, across its shards. Full: same answer as above. */
  workerBatchesMax: 256,
  /** A worker that does not answer within this is considered stuck; the request fails with 503 EVT_SHARD_TIMEOUT. */
  requestTimeoutMs: 10_000,
  /** Delay before restarting a worker that died; doubles per consecutive crash, up to 10 s. */
  workerRestartDelayMs: 100,

  /** Events later than their window's end plus this are `too_late`: stored, not counted. */
  allowedLatenessMs: 5_000,
  /** How often windows due to close are closed and written as rollups. */
  closeIntervalMs: 250,
  /** Event ids remembered for dedup, per owner. Oldest forgotten first. */
  dedupHorizonMs: 10 * 60_000,
  dedupIdsMax: 100_000,
  /** Owners idle this long leave memory: their state goes to the snapshot store. */
  ownerIdleMs: 5 * 60_000,
  /** Owners resident per worker; over it the least recently used idle owners are evicted early. */
  ownersPerWorkerMax: 200_000,
  /** Distinct event names (and categories) per window; beyond it they count under "~other" (counted). */
  namesPerWindowMax: 1_000,
  /** HyperLogLog precision (registers = 2^p). 12 gives a standard error of 1.6 %. */
  hllPrecision: 12,

  /** Raw events are flushed to the event store this often, or when flushBatchEventsMax are pending. */
  flushIntervalMs: 250,
  flushBatchEventsMax: 10_000,
  /** Events waiting for the store per worker. Full: new batches are refused (429) until a flush drains it. */
  flushPendingEventsMax: 500_000,
  /** Snapshots of open windows are written this often (crash recovery). */
  snapshotIntervalMs: 5_000,

  /**
   * The columnar path for protobuf batches of plain valid events (docs/columnar-path.md): read,
   * applied and packed with no object per event. Off: every batch takes the record path.
   */
  columnarPath: true,

  /** Write-ahead log of every applied batch, per worker, under dataDir/wal. Off: `durable` waits for the event store instead. */
  walEnabled: true,
  /** Group commit: one write + fdatasync covers every batch appended within this interval. */
  walSyncIntervalMs: 2,
  /** A log segment file ends at this size; whole segments are freed (kept as spares or deleted) once snapshots and the store cover them. */
  walSegmentBytesMax: 64 * 1024 * 1024,
  /**
   * Covered segments kept per worker as spare files, overwritten by the next new segments instead of
   * new files (cheaper fdatasyncs: the size does not change). Disk kept reserved: up to this many
   * walSegmentBytesMax files per worker, not counted in walBytesMax. 0: covered segments are deleted.
   */
  walRecycleSegments: 4,
  /** Bytes appended but not yet written per worker. Over it: 429 EVT_WAL_BACKLOG. */
  walPendingBytesMax: 64 * 1024 * 1024,
  /** Bytes kept in segments per worker (not yet covered). Over it: 429 EVT_WAL_BACKLOG until snapshots catch up. */
  walBytesMax: 2 * 1024 * 1024 * 1024,
  /** Acknowledgement level of a request that does not ask for one: 'applied' | 'durable'. */
  ackDefault: 'applied',

  /** Live deltas go out on this tick, one frame per subscriber per tick. */
  deltaTickMs: 250,
  /** Delta frames kept per channel for resume after a reconnect. */
  deltaHistoryFramesMax: 240,
  /** Bytes buffered on one ws before its deltas are merged instead of sent. */
  wsBufferedBytesMax: 1024 * 1024,
  /** ws subscribers per process; more get close code 1013 (try again later). */
  wsClientsMax: 10_000,
  /** Subscriptions per ws connection. */
  wsSubscriptionsMax: 16,
  /** ws message size. */
  wsMessageBytesMax: 64 * 1024,

  // Slow senders and connections (docs/security.md). Each timeout answers with
  // EVT_REQUEST_TIMEOUT where the wire allows an answer, then closes.
  /** Request line and headers must arrive within this; else 408 EVT_REQUEST_TIMEOUT and the connection is closed. */
  httpHeadersTimeoutMs: 10_000,
  /** The whole request, headers and body, must arrive within this; else 408 EVT_REQUEST_TIMEOUT. */
  httpRequestTimeoutMs: 30_000,
  /** Request line plus headers (so the URL too); more is 431 EVT_HEADERS_TOO_LARGE. */
  httpHeaderBytesMax: 16 * 1024,
  /** Open connections on the HTTP port, ws included; more are closed on arrival (counted). */
  httpConnectionsMax: 20_000,
  /** A ws connection that sends nothing, not even a pong to the server's ping, for this long is closed. */
  wsIdleTimeoutMs: 60_000,
  /** A unary gRPC call's request message must arrive within this; else DEADLINE_EXCEEDED EVT_REQUEST_TIMEOUT. */
  grpcRequestTimeoutMs: 30_000,
  /** A gRPC connection without calls, or a stream that sends no message while the server reads, is closed after this. */
  grpcIdleTimeoutMs: 60_000,
  /** gRPC metadata of one call (keys and values); more is INVALID_ARGUMENT EVT_HEADERS_TOO_LARGE. */
  grpcMetadataBytesMax: 16 * 1024,
  /** Concurrent gRPC calls per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); more are refused by HTTP/2. */
  grpcConcurrentStreamsMax: 100,

  // TLS: set both files to serve HTTPS + wss on httpPort and TLS on grpcPort.
  /** PEM certificate chain. Empty: plain HTTP, ws and gRPC. */
  tlsCertFile: '',
  /** PEM private key of tlsCertFile. */
  tlsKeyFile: '',
  /** PEM CA bundle: set, every client must present a certificate it signed (mutual TLS). */
  tlsCaFile: '',

  /** Query range: windows per GET /v1/metrics answer. */
  queryWindowsMax: 10_000,

  /** Server secret for key hashes (HMAC-SHA256). Empty: generated on first start and kept in dataDir. */
  keySecret: '',
  /** The secret before the last rotation, still accepted (keys are re-hashed on use). Empty: dataDir/server-secret.previous if any. */
  keySecretPrevious: '',
  /** Create and print a development owner and key on a first start. */
  devKey: true,
  /** Where keys and owners live: 'lmdb' (embedded, this process and the CLI) or 'mongodb' (shared by every edge process). */
  keyStore: 'lmdb',
  /** A rotated key keeps working this long next to its successor. */
  keyRotateOverlapMs: 86_400_000,
  /** Longest lifetime of a browser token from POST /v1/tokens. */
  tokenTtlMsMax: 15 * 60_000,

  /** Per key: requests per second (token bucket refill). Over it: 429 EVT_RATE_LIMITED + Retry-After. 0: no limit. */
  keyRequestsPerSec: 1_000,
  /** Per key: requests that may arrive at once (bucket size). */
  keyRequestsBurst: 2_000,
  /** Per key: events per second, counted after each batch is answered. Over it: 429 EVT_RATE_LIMITED. 0: no limit. */
  keyEventsPerSec: 100_000,
  /** Per key: events that may arrive at once (bucket size). */
  keyEventsBurst: 200_000,
  /** Per owner: events per UTC day unless its owner record says otherwise. Over it: 429 EVT_QUOTA_EXCEEDED. 0: no quota. */
  ownerEventsPerDayMax: 0,
  /** Where limit counters live: 'memory' (per process) or 'redis' (shared by every edge process; set by REDIS_URL). */
  limitsStore: 'memory',
  /** In-process limit counters (keys and owners). Full: the least recently used is dropped (counted) and starts afresh. */
  limitsEntriesMax: 100_000,

  /** Event store and snapshot store. 'lmdb' is the embedded default. */
  eventStore: 'lmdb',
  snapshotStore: 'lmdb',
  /**
   * LMDB event store: 'none' writes event buckets as the bucket codec lays them out (its string table is
   * the compression), 'lz4' runs LZ4 over them too: 0.5-0.8x the pages for ~0.3-0.7 µs of CPU per event
   * on the worker (bench/results/store.md); 'none' costs disk and RSS (the map's pages), 'lz4' CPU.
   * Rollups and snapshots are LZ4-compressed either way; either
   * setting reads buckets written with the other.
   */
  lmdbEventCompression: 'none',
  /**
   * LMDB event store: raw events are removed this long after they are written (worker 0 sweeps every
   * 10 minutes; rollups are kept), so the embedded store's file stops growing once the oldest events
   * expire: LMDB reuses the pages the sweep frees. 0 keeps them until removed by hand. The same default
   * as mongoEventsRetentionMs.
   */
  lmdbEventsRetentionMs: 30 * 86_400_000,
  /** MongoDB event store: raw events expire this long after they are written (TTL index, or a sweep on FerretDB). */
  mongoEventsRetentionMs: 30 * 86_400_000,
  /** MongoDB event store: how long a call waits for a reachable server before it fails (retryable); bounds how soon /readyz sees an outage. */
  mongoServerSelectionTimeoutMs: 5_000,
  /** Redis snapshot store: every key expires this long after its last write (so a gone owner does not stay forever). */
  redisKeyTtlMs: 2 * 86_400_000,
  /** Redis snapshot store: also write each window as a readable hash (documented key schema) besides the binary snapshot. */
  redisReadableHashes: true,
  /** Redis snapshot store: a command that takes longer fails (retryable), so an outage never hangs a worker. */
  redisCommandTimeoutMs: 2_000,
} as const;

export type Defaults = typeof defaults;
