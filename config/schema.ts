/**
 * The one options schema: every setting in config/defaults.ts, each optional
 * for the user and bounded. src/config.ts validates the merged settings against
 * it once, at start, and freezes the result.
 *
 * Invariants:
 * - The keys here are exactly the keys of `defaults` plus the two service URLs
 *   (checked at compile time below and by test/config.test.ts).
 * - Every number has a minimum and a maximum; every string a length bound.
 * - `must` on a schema is the phrase used in error messages ("must be ...");
 *   src/config.ts derives it from the bounds where it is not given.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { Defaults } from './defaults.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const DAY_MS = 86_400_000;

function int(minimum: number, maximum: number, description: string): ReturnType<typeof Type.Integer> {
  return Type.Integer({ minimum, maximum, description });
}

function text(minLength: number, maxLength: number, description: string): ReturnType<typeof Type.String> {
  return Type.String({ minLength, maxLength, description });
}

/** Settings a user may give; all optional. */
export const settingsSchema = {
  host: text(1, 253, 'Host the HTTP and ws server binds to.'),
  httpPort: int(0, 65_535, 'HTTP + ws port; 0 picks a free port.'),
  grpcPort: int(0, 65_535, 'gRPC port; 0 picks a free port.'),
  dataDir: text(1, 4096, 'Directory of the embedded LMDB store and the server secret.'),
  logLevel: Type.Union(
    (['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const).map((level) => Type.Literal(level)),
    { description: 'Log level.' },
  ),
  metricsEnabled: Type.Boolean({ description: 'Serve Prometheus metrics at GET /metrics.' }),
  metricsToken: Type.String({
    maxLength: 1024,
    pattern: '^(|[\\x21-\\x7e]{16,})$',
    description: 'Bearer token GET /metrics requires; empty: none.',
    must: 'be empty or 16..1024 visible ASCII characters (no spaces)',
  }),
  metricsPort: int(0, 65_535, 'Own port for /metrics and the health routes; unset: they are served on httpPort.'),

  shardCount: int(1, 65_536, 'Owners hash to this many shards. Fixed for the life of the data.'),
  workers: int(0, 1024, 'Worker threads hosting shard actors; 0 means one per core (capped at shardCount).'),
  workerHeapMbMax: int(0, 1_048_576, "V8 old generation of each worker thread, MiB; 0: V8's default."),
  workerHeapInitialMb: int(0, 1_048_576, "Where V8 starts the old generation's limit in each worker thread, MiB; 0: V8's own start."),

  bodyBytesMax: int(1 * KiB, 1 * GiB, 'Request body size on the wire.'),
  bodyInflatedBytesMax: int(1 * KiB, 1 * GiB, 'Size a gzip body may inflate to; at least bodyBytesMax.'),
  batchEventsMax: int(1, 1_000_000, 'Events per request.'),
  // 4 is the nesting of the schema itself (envelope, events, event, properties); msgpackr reads recursively, so stay far from the stack's depth.
  bodyDepthMax: int(4, 256, 'Nesting of a JSON or msgpack body.'),
  eventBytesMax: int(256, 16 * MiB, 'Estimated size of one event.'),
  // 512 keeps an [owner, id] key under LMDB's key size limit (src/store/lmdb/event-store.ts).
  idCharsMax: int(1, 512, 'Length of id, name, userId.'),
  nameCharsMax: int(1, 1024, 'Length of an event name.'),
  categoryCharsMax: int(1, 1024, 'Length of a category.'),
  tagsMax: int(0, 1024, 'Tags per event.'),
  tagCharsMax: int(1, 1024, 'Length of one tag.'),
  propertiesMax: int(0, 1024, 'Properties per event.'),
  propertyKeyCharsMax: int(1, 1024, 'Length of a property key.'),
  propertyValueCharsMax: int(1, 65_536, 'Length of a string property value.'),
  futureToleranceMs: int(0, DAY_MS, 'How far in the future an event time may be.'),

  mailboxBatchesMax: int(1, 1_000_000, 'In-flight batches per shard.'),
  workerBatchesMax: int(1, 1_000_000, 'In-flight batches per worker.'),
  requestTimeoutMs: int(1, 600_000, 'Time a worker has to answer a request.'),
  workerRestartDelayMs: int(1, 10_000, 'First delay before restarting a dead worker.'),

  allowedLatenessMs: int(0, DAY_MS, 'Lateness still counted in a closed window.'),
  closeIntervalMs: int(10, 60_000, 'Window close tick.'),
  dedupHorizonMs: int(1, 7 * DAY_MS, 'How long event ids are remembered for dedup.'),
  dedupIdsMax: int(2, 10_000_000, 'Event ids remembered per owner.'),
  ownerIdleMs: int(1_000, 7 * DAY_MS, 'Idle time after which an owner leaves memory.'),
  ownersPerWorkerMax: int(1, 100_000_000, 'Owners resident per worker.'),
  namesPerWindowMax: int(1, 1_000_000, 'Distinct event names (and categories) per window; beyond it they count under "~other".'),
  hllPrecision: int(4, 16, 'HyperLogLog precision; registers = 2^p.'),

  flushIntervalMs: int(1, 60_000, 'Event store flush tick.'),
  flushBatchEventsMax: int(1, 1_000_000, 'Events per flush.'),
  flushPendingEventsMax: int(1, 100_000_000, 'Events waiting for the store per worker; at least flushBatchEventsMax.'),
  snapshotIntervalMs: int(100, 3_600_000, 'Snapshot tick.'),

  columnarPath: Type.Boolean({ description: 'The columnar path for protobuf batches of plain valid events.' }),
  walEnabled: Type.Boolean({ description: 'Write-ahead log of applied batches.' }),
  walSyncIntervalMs: int(0, 1_000, 'Group commit interval of the write-ahead log.'),
  walSegmentBytesMax: int(1 * MiB, 1 * GiB, 'Size at which a log segment ends.'),
  walRecycleSegments: int(0, 64, 'Covered log segments kept per worker as spares to overwrite; 0: deleted.'),
  walPendingBytesMax: int(1 * MiB, 4 * GiB, 'Log bytes appended but not yet written, per worker.'),
  walBytesMax: int(16 * MiB, 1024 * GiB, 'Log bytes kept on disk per worker.'),
  ackDefault: Type.Union([Type.Literal('applied'), Type.Literal('durable')], { description: 'Acknowledgement level when a request names none.' }),

  deltaTickMs: int(10, 60_000, 'Live delta tick.'),
  deltaHistoryFramesMax: int(0, 100_000, 'Delta frames kept per channel for resume.'),
  wsBufferedBytesMax: int(1 * KiB, 1 * GiB, 'Bytes buffered on one ws before deltas are merged.'),
  wsClientsMax: int(1, 1_000_000, 'ws subscribers per process.'),
  wsSubscriptionsMax: int(1, 1024, 'Subscriptions per ws connection.'),
  wsMessageBytesMax: int(256, 16 * MiB, 'ws message size.'),

  httpHeadersTimeoutMs: int(100, 600_000, 'Time for the request line and headers to arrive.'),
  httpRequestTimeoutMs: int(100, 3_600_000, 'Time for a whole request to arrive; at least httpHeadersTimeoutMs.'),
  httpHeaderBytesMax: int(1 * KiB, 1 * MiB, 'Request line plus headers.'),
  httpConnectionsMax: int(1, 1_000_000, 'Open connections on the HTTP port.'),
  wsIdleTimeoutMs: int(1_000, 3_600_000, 'Silence after which a ws connection is closed.'),
  grpcRequestTimeoutMs: int(100, 3_600_000, "Time for a unary gRPC call's message to arrive."),
  grpcIdleTimeoutMs: int(1_000, 3_600_000, 'Idle time after which a gRPC connection or stream is closed.'),
  grpcMetadataBytesMax: int(1 * KiB, 1 * MiB, 'gRPC metadata of one call.'),
  grpcConcurrentStreamsMax: int(1, 100_000, 'Concurrent gRPC calls per connection.'),
  tlsCertFile: text(0, 4096, 'PEM certificate chain; empty: no TLS.'),
  tlsKeyFile: text(0, 4096, 'PEM private key.'),
  tlsCaFile: text(0, 4096, 'PEM CA bundle for client certificates; empty: none asked.'),

  queryWindowsMax: int(1, 1_000_000, 'Windows per metrics answer.'),

  keySecret: Type.String({
    maxLength: 1024,
    pattern: '^(|[\\s\\S]{32,})$',
    description: 'Server secret for key hashes; empty: generated and kept in dataDir.',
    must: 'be empty or a string of 32..1024 characters',
  }),
  keySecretPrevious: Type.String({
    maxLength: 1024,
    pattern: '^(|[\\s\\S]{32,})$',
    description: 'The server secret before the last rotation, still accepted; empty: dataDir/server-secret.previous if present.',
    must: 'be empty or a string of 32..1024 characters',
  }),
  devKey: Type.Boolean({ description: 'Create and print a development key on a first start.' }),
  keyStore: Type.Union([Type.Literal('lmdb'), Type.Literal('mongodb')], { description: 'Key store.' }),
  keyRotateOverlapMs: int(0, 30 * DAY_MS, 'How long a rotated key keeps working next to its successor.'),
  tokenTtlMsMax: int(1_000, DAY_MS, 'Longest lifetime of a browser token.'),

  keyRequestsPerSec: int(0, 1_000_000_000, 'Requests per second per key; 0: no limit.'),
  keyRequestsBurst: int(1, 1_000_000_000, 'Requests per key that may arrive at once.'),
  keyEventsPerSec: int(0, 1_000_000_000, 'Events per second per key; 0: no limit.'),
  keyEventsBurst: int(1, 1_000_000_000, 'Events per key that may arrive at once.'),
  ownerEventsPerDayMax: int(0, 1_000_000_000_000, 'Events per UTC day per owner unless its record says otherwise; 0: no quota.'),
  limitsStore: Type.Union([Type.Literal('memory'), Type.Literal('redis')], { description: 'Where limit counters live.' }),
  limitsEntriesMax: int(1, 100_000_000, 'In-process limit counters.'),

  eventStore: Type.Union([Type.Literal('lmdb'), Type.Literal('mongodb')], { description: 'Event store.' }),
  snapshotStore: Type.Union([Type.Literal('lmdb'), Type.Literal('redis')], { description: 'Snapshot store.' }),
  lmdbEventCompression: Type.Union([Type.Literal('none'), Type.Literal('lz4')], { description: 'LZ4 over the LMDB event buckets (rollups and snapshots always).' }),
  lmdbEventsRetentionMs: int(0, 3650 * DAY_MS, 'Raw events are removed this long after they are written (embedded LMDB store); 0: kept.'),
  mongoEventsRetentionMs: int(3_600_000, 3650 * DAY_MS, 'Raw events expire this long after they are written (MongoDB).'),
  mongoServerSelectionTimeoutMs: int(100, 600_000, 'MongoDB: wait for a reachable server at most this long per call.'),
  redisKeyTtlMs: int(60_000, 365 * DAY_MS, 'Redis snapshot keys expire this long after their last write.'),
  redisReadableHashes: Type.Boolean({ description: 'Also write windows as readable Redis hashes.' }),
  redisCommandTimeoutMs: int(100, 60_000, 'A Redis command slower than this fails (retryable).'),

  mongodbUri: Type.String({
    maxLength: 4096,
    pattern: '^mongodb(\\+srv)?://',
    description: 'MongoDB connection string (MONGODB_URI); set, it makes mongodb the default event store.',
    must: 'be a mongodb:// or mongodb+srv:// URI',
  }),
  redisUrl: Type.String({
    maxLength: 4096,
    pattern: '^rediss?://',
    description: 'Redis URL (REDIS_URL); set, it makes redis the default snapshot store.',
    must: 'be a redis:// or rediss:// URL',
  }),
} satisfies Record<string, TSchema>;

export type SettingName = keyof typeof settingsSchema;

/** Settings without a default; they stay optional once resolved. */
export const OPTIONAL_SETTINGS = ['mongodbUri', 'redisUrl', 'metricsPort'] as const;
export type OptionalSettingName = (typeof OPTIONAL_SETTINGS)[number];

/** The shape of a config file (and of user options in code). */
export const userConfigSchema = Type.Partial(Type.Object(settingsSchema, { additionalProperties: false }));
export type UserConfig = Static<typeof userConfigSchema>;

type Settings = Static<ReturnType<typeof Type.Object<typeof settingsSchema>>>;

/** Every setting filled in, validated and frozen. */
export type ResolvedConfig = Readonly<
  Omit<Settings, OptionalSettingName> & Partial<Pick<Settings, OptionalSettingName>>
>;

// Compile-time proof that the schema and defaults name the same settings:
// a setting added to defaults.ts without a schema entry (or the reverse) fails the build.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaCoversDefaults: Exact<Exclude<SettingName, OptionalSettingName>, keyof Defaults> = true;
void schemaCoversDefaults;
