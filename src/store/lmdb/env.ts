/**
 * One LMDB environment per path per thread, shared by the event, snapshot and
 * key stores through reference counting.
 *
 * Invariants:
 * - A path is opened at most once per thread; every acquire() is paired with one release().
 * - The environment is closed when, and only when, the last holder releases it.
 * - Named databases are fixed here (DB_NAMES) so that every thread and process
 *   opening the path sees the same layout.
 *
 * Several worker threads of one process may open the same path: lmdb-js keeps a
 * process-wide registry of native environments keyed by path and hands every
 * thread the same MDB_env, as LMDB requires (opening one file twice in a process
 * breaks its POSIX locks). test/store/lmdb.test.ts checks this with a real worker.
 * Write transactions from different threads are serialised by LMDB's writer lock.
 */
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { StoreOpenError } from '../errors.js';

/** Every named database in the environment, and what it holds. */
export const DB_NAMES = {
  /**
   * [owner, eventId] -> [bucketTag, bucketSeq, position]: the per-event index
   * of data dirs written before the owner bucket lists; read, never written.
   */
  eventIndex: 'eventIndex',
  /**
   * [owner, writtenAtMs, bucketTag, bucketSeq] -> the bucket's id list (binary,
   * see event-store.ts): one entry per bucket of an owner's events, in write order.
   */
  eventsByOwner: 'eventsByOwner',
  /** [bucketTag, bucketSeq] -> msgpack bytes of StoredEvent[] (up to EVENTS_PER_BUCKET_MAX), packed by the event store. */
  eventBuckets: 'eventBuckets',
  /** [owner, resolution, startMs] -> Rollup; ordered-binary keys sort by startMs within (owner, resolution). */
  rollups: 'rollups',
  /** [shard, owner] -> OwnerSnapshot. */
  snapshots: 'snapshots',
  /** shard -> ShardCheckpoint. */
  checkpoints: 'checkpoints',
  /** key prefix -> KeyRecord. */
  keys: 'keys',
  /** [owner, prefix] -> empty; lets list(owner) be a range read. */
  keysByOwner: 'keysByOwner',
  /** owner -> OwnerRecord. */
  owners: 'owners',
} as const;

/** Databases whose values are stored as the bytes given, not msgpack-encoded by lmdb. */
const BINARY_DBS: ReadonlySet<string> = new Set([DB_NAMES.eventBuckets, DB_NAMES.eventsByOwner]);

/**
 * Named databases the environment may hold. LMDB sizes a table by this at open
 * time; eight are used, the rest leave room for later stores without a format change.
 */
export const LMDB_DBS_MAX = 16;

export interface LmdbEnvOptions {
  /** Directory of the environment; created when missing. */
  path: string;
  /**
   * Skip fsync on commit. Only for benchmarks and tests on tmpfs-like
   * directories: a machine crash can lose or corrupt committed data.
   */
  noSync?: boolean;
}

export interface LmdbEnv {
  readonly path: string;
  readonly root: RootDatabase;
  /** Opens (or returns the already opened) named database with ordered-binary keys and msgpack values. */
  db(name: (typeof DB_NAMES)[keyof typeof DB_NAMES]): Database;
}

interface Entry {
  env: LmdbEnv;
  refs: number;
}

const opened = new Map<string, Entry>();

/** Opens the environment at `options.path`, or shares the one this thread already has open. */
export function acquireLmdbEnv(options: LmdbEnvOptions): LmdbEnv {
  const key = path.resolve(options.path);
  const existing = opened.get(key);
  if (existing !== undefined) {
    existing.refs += 1;
    return existing.env;
  }
  let root: RootDatabase;
  try {
    root = open({ path: key, maxDbs: LMDB_DBS_MAX, noSync: options.noSync === true });
  } catch (cause) {
    throw new StoreOpenError(key, { cause });
  }
  const dbs = new Map<string, Database>();
  const env: LmdbEnv = {
    path: key,
    root,
    db(name) {
      let db = dbs.get(name);
      if (db === undefined) {
        // Buckets hold bytes packed by the event store itself (off the write transaction); the rest is msgpack.
        db = root.openDB(BINARY_DBS.has(name) ? { name, encoding: 'binary' } : { name });
        dbs.set(name, db);
      }
      return db;
    },
  };
  opened.set(key, { env, refs: 1 });
  return env;
}

/** Drops one reference; closes the environment when it was the last. */
export async function releaseLmdbEnv(env: LmdbEnv): Promise<void> {
  const entry = opened.get(env.path);
  if (entry === undefined || entry.env !== env) return;
  entry.refs -= 1;
  if (entry.refs > 0) return;
  opened.delete(env.path);
  // Closing the root waits for queued async writes to commit, so nothing a
  // caller was told is written gets dropped by a close.
  await env.root.close();
}

/** How many holders share the environment at `dir` in this thread (0 when closed). For tests and diagnostics. */
export function lmdbEnvRefs(dir: string): number {
  return opened.get(path.resolve(dir))?.refs ?? 0;
}
