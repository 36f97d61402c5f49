/**
 * Opens the stores named by the resolved configuration. The runtime calls this
 * once per worker thread (event and snapshot stores) and the edge once in the
 * main thread (key store); nothing else constructs an adapter.
 *
 * Every LMDB store of one process lives in one environment at
 * `<dataDir>/lmdb`. Threads of one process may each open it: lmdb-js shares
 * one native environment per path across the threads of a process (LMDB must
 * not be opened twice by one process), and serialises writers with LMDB's
 * writer lock. test/store/lmdb.test.ts opens the path from a real worker thread
 * while the main thread holds it, and reads each other's writes.
 *
 * Caveats: a second *process* on the same dataDir also works with LMDB's
 * locks, but then two eventide processes would own the same shards; that is a
 * deployment error this module does not detect.
 */
import path from 'node:path';
import type { ResolvedConfig } from '../config.js';
import type { EventStore, KeyStore, SnapshotStore } from './port.js';
import { StoreOpenError, StoreUnsupportedError } from './errors.js';
import { LmdbEventStore } from './lmdb/event-store.js';
import { LmdbSnapshotStore } from './lmdb/snapshot-store.js';
import { LmdbKeyStore } from './lmdb/key-store.js';

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
  return new LmdbSnapshotStore({ path: lmdbPath(config.dataDir), noSync: options.noSync === true });
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
