/**
 * Options of the MongoDB event store: what a caller may give (all optional but
 * the URI) and the resolved, validated, frozen form the adapter runs on.
 *
 * Invariants:
 * - Resolved options are checked once here; the adapter asserts nothing again.
 * - The write concern is never w:0 unless the caller sets `allowUnacknowledged`:
 *   an unacknowledged insert cannot report a duplicate or a failed document,
 *   so a resolved writeEvents would mean nothing (issue 4).
 */
import { RESOLUTIONS, type Resolution } from '../../actors/types.js';
import { StoreInputError } from '../errors.js';
import type { RetryClock, RetryPolicy } from './retry.js';
import { realRetryClock } from './retry.js';

const DAY_MS = 86_400_000;

export interface MongoWriteConcern {
  w?: number | 'majority';
  journal?: boolean;
  wtimeoutMS?: number;
}

export interface MongoEventStoreOptions {
  /** mongodb:// or mongodb+srv:// URI; its path names the database (default `eventide`). */
  uri: string;
  /** Database name when the URI names none. */
  dbName?: string;
  /** Prefix of the three collection names (`<prefix>events`, `<prefix>rollups`, `<prefix>dead_letters`). */
  collectionPrefix?: string;
  /**
   * Write concern used when the URI sets none (`?w=` in the URI wins).
   * Default `{ w: 'majority' }`: an answer means the write survives a failover.
   */
  writeConcern?: MongoWriteConcern;
  /** Permit `w: 0`. Off by default; with it, duplicates and dead letters go unseen. */
  allowUnacknowledged?: boolean;
  /** How long raw events are kept after they were received; 0 keeps them forever. Default 30 days. */
  eventsRetentionMs?: number;
  /** How long rollups are kept after their window start, per resolution; 0 keeps them forever. */
  rollupsRetentionMs?: Partial<Record<Resolution, number>>;
  /** Documents per insert or bulk command; bounds one command's size and time. Default 1000. */
  writeBatchDocsMax?: number;
  /** Retries of a call that failed for a transient reason (network, step-down). */
  retry?: Partial<RetryPolicy>;
  /** How long the driver looks for a server before an operation fails. Default 5 s. */
  serverSelectionTimeoutMs?: number;
  /** Connections per server in this adapter's pool (one adapter per worker thread). Default 4. */
  poolSizeMax?: number;
  /** Injected sleep and randomness for retry delays (tests). */
  clock?: RetryClock;
}

export interface ResolvedMongoEventStoreOptions {
  readonly uri: string;
  readonly dbName: string;
  readonly collections: Readonly<{ events: string; rollups: string; deadLetters: string }>;
  readonly writeConcern: Readonly<MongoWriteConcern>;
  readonly allowUnacknowledged: boolean;
  readonly eventsRetentionMs: number;
  readonly rollupsRetentionMs: Readonly<Record<Resolution, number>>;
  readonly writeBatchDocsMax: number;
  readonly retry: Readonly<RetryPolicy>;
  readonly serverSelectionTimeoutMs: number;
  readonly poolSizeMax: number;
  readonly clock: RetryClock;
}

export const MONGO_DEFAULTS = Object.freeze({
  dbName: 'eventide',
  collectionPrefix: '',
  writeConcern: Object.freeze({ w: 'majority' as const }),
  eventsRetentionMs: 30 * DAY_MS,
  /** Fine windows are kept shortly, coarse ones long: the 1 s rollups are the bulk of the documents. */
  rollupsRetentionMs: Object.freeze({ '1s': DAY_MS, '1m': 30 * DAY_MS, '1h': 400 * DAY_MS, '1d': 0 }),
  writeBatchDocsMax: 1_000,
  retry: Object.freeze({ attemptsMax: 4, delayMsMin: 50, delayMsMax: 2_000 }),
  serverSelectionTimeoutMs: 5_000,
  poolSizeMax: 4,
});

/** Largest document count in one command; MongoDB's own maxWriteBatchSize is 100,000. */
const WRITE_BATCH_DOCS_LIMIT = 100_000;
/** Retention is stored as a Date; past this it would not fit one. */
const RETENTION_MS_LIMIT = 100 * 365 * DAY_MS;

function integer(value: number, min: number, max: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new StoreInputError(`${field} must be an integer in ${min}..${max}`, field);
  }
  return value;
}

/** The database a URI names in its path, if any: `mongodb://h:1/db?x` -> `db`. */
export function dbNameFromUri(uri: string): string | undefined {
  const afterScheme = uri.replace(/^mongodb(\+srv)?:\/\//, '');
  const slash = afterScheme.indexOf('/');
  if (slash < 0) return undefined;
  const name = decodeURIComponent(afterScheme.slice(slash + 1).split('?')[0] ?? '');
  return name === '' ? undefined : name;
}

export function resolveMongoOptions(options: MongoEventStoreOptions): ResolvedMongoEventStoreOptions {
  if (typeof options.uri !== 'string' || !/^mongodb(\+srv)?:\/\//.test(options.uri)) {
    throw new StoreInputError('uri must be a mongodb:// or mongodb+srv:// URI', 'mongodbUri');
  }
  const prefix = options.collectionPrefix ?? MONGO_DEFAULTS.collectionPrefix;
  if (!/^[A-Za-z0-9_]*$/.test(prefix)) throw new StoreInputError('collectionPrefix may hold only A-Z, a-z, 0-9 and _', 'collectionPrefix');
  const writeConcern = { ...(options.writeConcern ?? MONGO_DEFAULTS.writeConcern) };
  const allowUnacknowledged = options.allowUnacknowledged === true;
  if (writeConcern.w === 0 && !allowUnacknowledged) {
    throw new StoreInputError('write concern w:0 would make every answer meaningless; set allowUnacknowledged to insist', 'writeConcern/w');
  }
  const rollupsRetentionMs = { ...MONGO_DEFAULTS.rollupsRetentionMs, ...options.rollupsRetentionMs };
  for (const resolution of RESOLUTIONS) {
    integer(rollupsRetentionMs[resolution], 0, RETENTION_MS_LIMIT, `rollupsRetentionMs/${resolution}`);
  }
  const retry = { ...MONGO_DEFAULTS.retry, ...options.retry };
  integer(retry.attemptsMax, 1, 100, 'retry/attemptsMax');
  integer(retry.delayMsMin, 0, 60_000, 'retry/delayMsMin');
  integer(retry.delayMsMax, retry.delayMsMin, 600_000, 'retry/delayMsMax');
  return Object.freeze({
    uri: options.uri,
    dbName: options.dbName ?? dbNameFromUri(options.uri) ?? MONGO_DEFAULTS.dbName,
    collections: Object.freeze({ events: `${prefix}events`, rollups: `${prefix}rollups`, deadLetters: `${prefix}dead_letters` }),
    writeConcern: Object.freeze(writeConcern),
    allowUnacknowledged,
    eventsRetentionMs: integer(options.eventsRetentionMs ?? MONGO_DEFAULTS.eventsRetentionMs, 0, RETENTION_MS_LIMIT, 'eventsRetentionMs'),
    rollupsRetentionMs: Object.freeze(rollupsRetentionMs),
    writeBatchDocsMax: integer(options.writeBatchDocsMax ?? MONGO_DEFAULTS.writeBatchDocsMax, 1, WRITE_BATCH_DOCS_LIMIT, 'writeBatchDocsMax'),
    retry: Object.freeze(retry),
    serverSelectionTimeoutMs: integer(options.serverSelectionTimeoutMs ?? MONGO_DEFAULTS.serverSelectionTimeoutMs, 1, 600_000, 'serverSelectionTimeoutMs'),
    poolSizeMax: integer(options.poolSizeMax ?? MONGO_DEFAULTS.poolSizeMax, 1, 1_000, 'poolSizeMax'),
    clock: options.clock ?? realRetryClock,
  });
}
