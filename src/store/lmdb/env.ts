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
import { readFileSync } from 'node:fs';
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
   * [owner, writtenAtMs, bucketTag, bucketSeq] -> where the bucket's id list is
   * (binary, see event-store.ts: 8 bytes, the list after the bucket; lists of
   * earlier versions inline): one entry per bucket of an owner's events, in write order.
   */
  eventsByOwner: 'eventsByOwner',
  /**
   * [bucketTag, bucketSeq] -> StoredEvent[] (up to EVENTS_PER_BUCKET_MAX) encoded by the event store
   * (bucket-codec.ts, or msgpack), then its id words when its owner entry says so (format 3).
   */
  eventBuckets: 'eventBuckets',
  /** [owner, resolution, startMs] -> Rollup; ordered-binary keys sort by startMs within (owner, resolution). */
  rollups: 'rollups',
  /** [shard, owner] -> OwnerSnapshot. */
  snapshots: 'snapshots',
  /**
   * [shard, owner] -> the snapshot's recentIdHashes (binary, never LZ4: 64-bit
   * hashes do not compress), for snapshots whose hashes are
   * SNAPSHOT_ID_HASHES_APART_BYTES or more; the snapshot then says so
   * (snapshot-store.ts). Read only through that mark: an entry left by an
   * owner whose hashes have since shrunk is ignored, and overwritten or
   * deleted with it.
   */
  snapshotIdHashes: 'snapshotIdHashes',
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
const BINARY_DBS: ReadonlySet<string> = new Set([DB_NAMES.eventBuckets, DB_NAMES.eventsByOwner, DB_NAMES.snapshotIdHashes]);

/**
 * Databases whose values lmdb-js compresses with LZ4 (values of at least
 * LMDB_COMPRESSION_THRESHOLD_BYTES). Measured on the harness's many-owner
 * data (bench/results/memory.md): a snapshot of 2.5 KB falls to about 1.1 KB
 * and moves from its own 4 KiB overflow page into a shared leaf page (2.2×
 * fewer pages), rollups take 1.35× fewer pages, event buckets 1.5-4× fewer
 * depending on the events. The map is file-backed RSS, so these pages are
 * memory as well as disk. Event buckets are opened with LMDB_COMPRESSION_READ_ONLY
 * unless lmdbEventCompression is 'lz4': since the bucket codec they are about
 * as small without LZ4 as msgpack buckets were with it, and LZ4 was 0.3-0.7
 * µs per event on the writing worker (bench/results/store.md).
 *
 * Compatible with data written before: lmdb-js marks a compressed value by a
 * first byte of 254 or 255 and reads any other value as stored, and none of
 * these databases holds a value starting with a byte >= 250 (msgpack maps,
 * arrays and records; bucket bytes start with 0xC1, a record or an array). Not
 * the other way round: a version without compression reads compressed values
 * as garbage (EVT_STORE_CORRUPT), so a data directory cannot be handed back
 * to a version before this one.
 */
const COMPRESSED_DBS: ReadonlySet<string> = new Set([DB_NAMES.eventBuckets, DB_NAMES.rollups, DB_NAMES.snapshots]);
/**
 * Smaller values are stored as they are: LZ4 gains little on a few hundred
 * bytes, and a value under this is rare here (a rollup is 500-700 bytes).
 */
export const LMDB_COMPRESSION_THRESHOLD_BYTES = 256;
/**
 * LZ4 without a dictionary. lmdb-js's default (5.5 KB of English and JSON
 * words) is loaded into the compressor for every value: 10 µs per value,
 * twice what compressing a 600-byte rollup costs, for 2 % fewer pages on our
 * values (bench/results/memory.md). Fixed for good: a value compressed with
 * one dictionary cannot be read with another.
 */
const LMDB_COMPRESSION = Object.freeze({ threshold: LMDB_COMPRESSION_THRESHOLD_BYTES, dictionary: Buffer.alloc(0) });
/**
 * A compressed database that writes nothing compressed: lmdb-js compresses a
 * value of at least `threshold` bytes, and decompresses by the value's first
 * byte whatever the threshold, so values written compressed before are still
 * read. Event buckets without LZ4 (lmdbEventCompression 'none').
 */
const LMDB_COMPRESSION_READ_ONLY = Object.freeze({ ...LMDB_COMPRESSION, threshold: 2 ** 31 });

/**
 * Named databases the environment may hold. LMDB sizes a table by this at open
 * time; ten are used, the rest leave room for later stores without a format change.
 */
export const LMDB_DBS_MAX = 16;

/**
 * Address space reserved for the map when the environment is opened: 64 GiB,
 * virtual only (the file grows with the data, not with the map; without
 * `useWritemap` LMDB never extends the file to the map's size).
 *
 * Why not lmdb-js's default (a 128 KiB map that doubles when full): lmdb-js
 * keeps every earlier mapping when it grows the map (a read transaction of
 * another thread may still point into it; see the "lmdb-js removal" around
 * munmap in its mdb_env_set_mapsize), and those mappings keep the pages they
 * read resident until the environment closes. Measured with 100K owners:
 * 2.3 GiB of data.mdb resident for a 1.3 GB file (bench/results/memory.md).
 * Reserved once, the map holds each page of the file at most once. A store
 * past this size still works: the map then doubles as before. A process
 * whose address space is limited (`ulimit -v`) reserves less: lmdbMapBytes.
 */
export const LMDB_MAP_BYTES = 64 * 1024 ** 3;

/** The soft RLIMIT_AS of this process in bytes (Linux /proc/self/limits); undefined when unlimited or unknown. */
export function addressSpaceLimitBytes(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const line = text.split('\n').find((l) => l.startsWith('Max address space'));
  const soft = line?.slice('Max address space'.length).trim().split(/\s+/)[0];
  return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : undefined;
}

/**
 * The map to reserve: LMDB_MAP_BYTES, or a quarter of a limited address
 * space (V8 and the thread stacks reserve address space too). Measured:
 * under `ulimit -v 16000000` a 64 GiB map made lmdb-js die with SIGSEGV
 * rather than throw; test/store/lmdb-map.test.ts runs a store under a limit.
 */
export function lmdbMapBytes(limitBytes: number | undefined = addressSpaceLimitBytes()): number {
  if (limitBytes === undefined) return LMDB_MAP_BYTES;
  const MAP_ALIGN_BYTES = 64 * 1024;
  return Math.min(LMDB_MAP_BYTES, Math.max(MAP_ALIGN_BYTES, Math.floor(limitBytes / 4 / MAP_ALIGN_BYTES) * MAP_ALIGN_BYTES));
}

export interface LmdbEnvOptions {
  /** Directory of the environment; created when missing. */
  path: string;
  /**
   * Skip fsync on commit. Only for benchmarks and tests on tmpfs-like
   * directories: a machine crash can lose or corrupt committed data.
   */
  noSync?: boolean;
  /**
   * false: write every value uncompressed, as versions before compression did
   * (tests of reading such data, benchmarks); values written compressed then
   * read back as garbage. Fixed by the first holder of a path in a thread.
   */
  compress?: boolean;
}

export interface LmdbEnv {
  readonly path: string;
  readonly root: RootDatabase;
  /**
   * Opens (or returns the already opened) named database with ordered-binary
   * keys and msgpack values. `lz4: false` stops new values of a compressed
   * database from being compressed (they are still read either way); the
   * first opener of a name in a thread decides.
   */
  db(name: (typeof DB_NAMES)[keyof typeof DB_NAMES], options?: { lz4?: boolean }): Database;
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
    root = open({ path: key, maxDbs: LMDB_DBS_MAX, mapSize: lmdbMapBytes(), noSync: options.noSync === true });
  } catch (cause) {
    throw new StoreOpenError(key, { cause });
  }
  const dbs = new Map<string, Database>();
  const compress = options.compress !== false;
  const env: LmdbEnv = {
    path: key,
    root,
    db(name, dbOptions) {
      let db = dbs.get(name);
      if (db === undefined) {
        // Buckets hold bytes packed by the event store itself (off the write transaction); the rest is msgpack.
        db = root.openDB({
          name,
          ...(BINARY_DBS.has(name) ? { encoding: 'binary' as const } : {}),
          // A fresh object per database: lmdb-js attaches its native compressor (and decompression buffer) to it.
          ...(compress && COMPRESSED_DBS.has(name) ? { compression: { ...(dbOptions?.lz4 === false ? LMDB_COMPRESSION_READ_ONLY : LMDB_COMPRESSION) } } : {}),
        });
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
