/**
 * Opens the stores named by the resolved configuration. The runtime calls this
 * once per worker thread (event and snapshot stores) and the edge once in the
 * main thread (key store); nothing else constructs an adapter.
 *
 * The LMDB event and key stores of one process live in one environment at
 * `<dataDir>/lmdb`; the snapshot store in one of its own at
 * `<dataDir>/lmdb-snapshots` (see snapshotEnvPath). Threads of one process may each open them: lmdb-js shares
 * one native environment per path across the threads of a process (LMDB must
 * not be opened twice by one process), and serialises writers with LMDB's
 * writer lock. test/store/lmdb.test.ts opens the path from a real worker thread
 * while the main thread holds it, and reads each other's writes.
 *
 * Caveats: a second *process* on the same dataDir also works with LMDB's
 * locks, but then two eventide processes would own the same shards; that is a
 * deployment error this module does not detect.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ResolvedConfig } from '../config.js';
import type { EventStore, KeyStore, SnapshotStore } from './port.js';
import { StoreOpenError, StoreUnsupportedError } from './errors.js';
import { LmdbEventStore } from './lmdb/event-store.js';
import { LmdbSnapshotStore } from './lmdb/snapshot-store.js';
import { LmdbKeyStore } from './lmdb/key-store.js';
import { acquireLmdbEnv, DB_NAMES, releaseLmdbEnv } from './lmdb/env.js';

/** What opening a store needs from the configuration. */
export type StoreConfig = Pick<ResolvedConfig, 'dataDir' | 'eventStore' | 'snapshotStore'> & Partial<Pick<ResolvedConfig, 'lmdbEventCompression' | 'lmdbEventsRetentionMs'>>;

export interface OpenStoreOptions {
  /**
   * Skip fsync on commit (benchmarks, tests). A machine crash may then lose
   * committed writes; never set it for real data.
   */
  noSync?: boolean;
}

export interface Stores {
  events: EventStore;
  snapshots: SnapshotStore;
  keys: KeyStore;
  /** Closes all three; the LMDB environment closes with the last of them. */
  close(): Promise<void>;
}

/** Directory of the LMDB environment inside dataDir. */
export function lmdbPath(dataDir: string): string {
  return path.join(dataDir, 'lmdb');
}

/** Directory of the snapshot store's own LMDB environment inside dataDir. */
export function lmdbSnapshotsPath(dataDir: string): string {
  return path.join(dataDir, 'lmdb-snapshots');
}

/**
 * Where the embedded snapshot store lives: its own environment
 * (lmdbSnapshotsPath), unless the data directory's main environment already
 * holds snapshots or checkpoints, written before the split, which then stay
 * where they are (an upgrade moves nothing; a new data directory gets the
 * split).
 *
 * Why apart: a snapshot round rewrites every busy owner's dedup hashes (~46
 * MB a round at saturation), and the pages it frees fragment the free list
 * of the environment it is in. lmdb-js checks the free-list entries a commit
 * updates on every commit (mdb_freelist_save), so in a shared environment
 * every flush of events paid for the snapshot churn: ~7 % of the server's
 * samples after ~20 s of a saturated run, and 45 s runs at 0.89× the
 * events/s of the same run with snapshot rounds held off (bench/RESULTS.md,
 * sixteenth session). Apart, the event store's environment frees little
 * (copied B-tree pages) and the snapshot store's commits are a few per round.
 *
 * Every thread decides the same: a new data directory's main environment
 * holds no snapshot (nothing writes one there), and once the directory of
 * the own environment exists it is used.
 */
export function snapshotEnvPath(dataDir: string): string {
  const own = lmdbSnapshotsPath(dataDir);
  if (fs.existsSync(own)) return own;
  const main = lmdbPath(dataDir);
  if (!fs.existsSync(main)) return own;
  const env = acquireLmdbEnv({ path: main });
  try {
    for (const name of [DB_NAMES.checkpoints, DB_NAMES.snapshots]) {
      for (const _ of env.db(name).getKeys({ limit: 1 })) return main;
    }
  } finally {
    void releaseLmdbEnv(env);
  }
  return own;
}

/**
 * MongoDB when configured (`eventStore: 'mongodb'`, set by MONGODB_URI), else
 * the embedded LMDB store. The MongoDB adapter connects lazily and creates its
 * indexes before its first write, so a worker starts (and buffers events)
 * while MongoDB is down. The driver is loaded only then. Retention settings
 * (`mongoEventsRetentionMs`, `mongoRollupsRetentionMs`) are read when the
 * configuration has them; the adapter's defaults apply otherwise.
 */
export async function openEventStore(
  config: StoreConfig & {
    mongodbUri?: string | undefined;
    mongoEventsRetentionMs?: number;
    mongoServerSelectionTimeoutMs?: number;
    mongoRollupsRetentionMs?: Partial<Record<'1s' | '1m' | '1h' | '1d', number>>;
  },
  options: OpenStoreOptions = {},
): Promise<EventStore> {
  if (config.eventStore === 'mongodb') {
    if (config.mongodbUri === undefined) throw new StoreOpenError('mongodb (eventStore is "mongodb" but no mongodbUri / MONGODB_URI is set)');
    const { MongoEventStore } = await import('./mongo/event-store.js');
    return new MongoEventStore({
      uri: config.mongodbUri,
      ...(config.mongoEventsRetentionMs === undefined ? {} : { eventsRetentionMs: config.mongoEventsRetentionMs }),
      ...(config.mongoServerSelectionTimeoutMs === undefined ? {} : { serverSelectionTimeoutMs: config.mongoServerSelectionTimeoutMs }),
      ...(config.mongoRollupsRetentionMs === undefined ? {} : { rollupsRetentionMs: config.mongoRollupsRetentionMs }),
    });
  }
  if (config.eventStore !== 'lmdb') throw new StoreUnsupportedError(config.eventStore, 'eventStore');
  const retentionMs = config.lmdbEventsRetentionMs;
  return new LmdbEventStore({
    path: lmdbPath(config.dataDir),
    noSync: options.noSync === true,
    eventCompression: config.lmdbEventCompression ?? 'none',
    ...(retentionMs === undefined || retentionMs === 0 ? {} : { eventsRetentionMs: retentionMs }),
  });
}

/**
 * Redis when configured (`snapshotStore: 'redis'`, set by REDIS_URL), else the
 * embedded LMDB store. The Redis adapter connects lazily: opening never waits
 * for Redis, so a worker starts (and ingests) while Redis is down, and its
 * snapshot calls fail fast until Redis is back. ioredis is loaded only then.
 */
export async function openSnapshotStore(
  config: StoreConfig & {
    redisUrl?: string | undefined;
    redisKeyTtlMs?: number;
    redisReadableHashes?: boolean;
    redisCommandTimeoutMs?: number;
  },
  options: OpenStoreOptions = {},
): Promise<SnapshotStore> {
  if (config.snapshotStore === 'redis') {
    if (config.redisUrl === undefined) throw new StoreOpenError('redis (snapshotStore is "redis" but no redisUrl / REDIS_URL is set)');
    const { RedisSnapshotStore } = await import('./redis/snapshot-store.js');
    return new RedisSnapshotStore({
      url: config.redisUrl,
      ...(config.redisKeyTtlMs === undefined ? {} : { keyTtlMs: config.redisKeyTtlMs }),
      ...(config.redisReadableHashes === undefined ? {} : { readableHashes: config.redisReadableHashes }),
      ...(config.redisCommandTimeoutMs === undefined ? {} : { commandTimeoutMs: config.redisCommandTimeoutMs }),
    });
  }
  if (config.snapshotStore !== 'lmdb') throw new StoreUnsupportedError(config.snapshotStore, 'snapshotStore');
  return new LmdbSnapshotStore({ path: snapshotEnvPath(config.dataDir), noSync: options.noSync === true });
}

/**
 * The key store: the embedded LMDB one by default, which serves this process
 * and the `eventide keys` CLI on the same dataDir; MongoDB when `keyStore` is
 * "mongodb", so that several edge processes (machines) share keys and owners.
 * Keys never follow MONGODB_URI on their own: moving where credentials are
 * read from must be a choice, not a side effect.
 */
export async function openKeyStore(
  config: Pick<StoreConfig, 'dataDir'> & { keyStore?: 'lmdb' | 'mongodb'; mongodbUri?: string | undefined; mongoServerSelectionTimeoutMs?: number },
  options: OpenStoreOptions = {},
): Promise<KeyStore> {
  if (config.keyStore === 'mongodb') {
    if (config.mongodbUri === undefined) throw new StoreOpenError('mongodb (keyStore is "mongodb" but no mongodbUri / MONGODB_URI is set)');
    const { MongoKeyStore } = await import('./mongo/key-store.js');
    return new MongoKeyStore({
      uri: config.mongodbUri,
      ...(config.mongoServerSelectionTimeoutMs === undefined ? {} : { serverSelectionTimeoutMs: config.mongoServerSelectionTimeoutMs }),
    });
  }
  return new LmdbKeyStore({ path: lmdbPath(config.dataDir), noSync: options.noSync === true });
}

export async function openStores(config: StoreConfig, options: OpenStoreOptions = {}): Promise<Stores> {
  const opened: Array<{ close(): Promise<void> }> = [];
  try {
    const events = await openEventStore(config, options);
    opened.push(events);
    const snapshots = await openSnapshotStore(config, options);
    opened.push(snapshots);
    const keys = await openKeyStore(config, options);
    opened.push(keys);
    return {
      events,
      snapshots,
      keys,
      async close() {
        await Promise.all(opened.map((store) => store.close()));
      },
    };
  } catch (error) {
    // Release what did open, so a failed start does not leave the environment held.
    await Promise.all(opened.map((store) => store.close()));
    throw error;
  }
}
