/**
 * EventStore over LMDB.
 *
 * Layout (see env.ts): an owner's events in buckets of up to
 * EVENTS_PER_BUCKET_MAX under [bucketTag, bucketSeq], each packed once (in
 * the fixed layout of bucket-codec.ts; msgpack before it, still read), and
 * per bucket one entry [owner, writtenAtMs, bucketTag, bucketSeq] saying
 * where a 32-bit hash of each of its ids is kept, in the bucket's order:
 * after the bucket, in its own value (see ID_LIST_IN_BUCKET); rollups under
 * [owner, resolution, startMs].
 * lmdb-js encodes array keys with ordered-binary, which sorts element by
 * element and numbers numerically, so an owner's buckets are one ordered
 * cursor read in write order, and a rollup range query is one ordered cursor
 * read from [owner, res, fromMs] to [owner, res, toMs) with no sort and no filter.
 *
 * Invariants (from src/store/port.ts, kept here):
 * - writeEvents is idempotent by (owner, event.id) as getEvent sees it: the
 *   first write wins, so a replay after a crash cannot change what a receipt
 *   already reported. A rewrite adds a later copy that getEvent never returns
 *   (it reads an owner's buckets oldest first and stops at the first match).
 * - writeRollups upserts by (owner, resolution, startMs); the last write wins.
 * - Each call is one LMDB child transaction: it commits whole or not at all,
 *   and a rejected promise means nothing of it was written.
 *
 * Why childTransaction and not transaction: lmdb-js runs the callbacks of
 * queued async transaction() calls together in one write transaction, and a
 * callback that throws does not abort it, so the puts made before the throw
 * would commit (see executeTxnCallbacks in lmdb/write.js; the test
 * "a failure in the middle of a write transaction leaves nothing of it written"
 * caught this). childTransaction() wraps each callback in an abortable nested
 * transaction inside the same batched commit, so one fsync still serves many calls.
 *
 * Why an id list per bucket and not an index entry per event: the per-event
 * `[owner, id]` index (and its existence check, for first-write-wins) was
 * about 70 % of the store's write cost, and the store about a third of the
 * server's CPU per event (bench/results/store.md, "owner bucket lists").
 * Two puts per bucket replace 500 B-tree inserts. The price is on
 * `GET /v1/events/:id`, a diagnostic read: it walks the owner's bucket
 * entries (one short value each, scanned) until one holds the id, so it
 * grows with the number of buckets the owner has written (one per flush at
 * least). Data dirs written with the per-event index are still read: getEvent
 * falls back to it.
 *
 * Buckets are packed outside the write transaction, yielding the event loop
 * between EVENTS_PER_BUCKET_MAX events: the transaction callback runs on this
 * thread under the write lock, so encoding 10K events inside it stalled every
 * request behind the flush. A bucket key is [a random tag drawn once per
 * thread, a counter], so threads and restarts sharing the environment never
 * collide; the owner entry's writtenAtMs orders an owner's buckets across them.
 */
import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import { RESOLUTIONS, type StoredEvent } from '../../actors/types.js';
import type { EventStore, PreparedEvents, Rollup, RollupQuery } from '../port.js';
import { StoreClosedError, StoreCorruptError, StoreInputError, StoreReadError, StoreWriteError } from '../errors.js';
import { acquireLmdbEnv, DB_NAMES, releaseLmdbEnv, type LmdbEnv, type LmdbEnvOptions } from './env.js';
import { readRollup, readStoredEvent, settle, storableWindow } from './codec.js';
import { hash32, hash64 } from '../../actors/hash.js';
import { decodeBucket, encodeBucket, encodeBucketColumns, isCodecBucket } from './bucket-codec.js';
import { STATUS_DUPLICATE, type EventColumns } from '../../actors/columns.js';
import type { Database, Key } from 'lmdb';

/**
 * Longest owner id the store accepts (UTF-16 units). With EVENT_ID_CHARS_MAX it
 * keeps an encoded key (3 bytes per unit at worst) under LMDB's 1978-byte key limit.
 */
export const OWNER_CHARS_MAX = 64;
/** Longest event id the store accepts (UTF-16 units); config caps idCharsMax at this. */
export const EVENT_ID_CHARS_MAX = 512;

const RESOLUTION_SET: ReadonlySet<string> = new Set(RESOLUTIONS);

/** Events per bucket record: bounds what one getEvent decodes and one put encodes. */
export const EVENTS_PER_BUCKET_MAX = 500;
// A bucket's order (log records) is a Uint16Array.
if (EVENTS_PER_BUCKET_MAX > 65_536) throw new Error('EVENTS_PER_BUCKET_MAX must stay <= 65536');
/**
 * An owner entry's value: [format u8, 3 bytes zero, count u32 LE], then for
 * formats 1 and 2 the id list, count x u32 LE.
 * - Format 3 (written now): the list is not in the entry (8 bytes) but after
 *   the bucket, in the bucket's own value: the bucket's bytes, then count x
 *   u32 LE, the first word of hash64(id) of each event in the bucket's
 *   order, which is the order the events were applied. The actor computed
 *   that hash for dedup, so packing a bucket hashes nothing (the shard host
 *   passes it, StoredEvent order).
 * - Format 2 (written before, still read): the same words, in the entry.
 *   A list of 500 (2,008 bytes) does not fit a leaf page beside its key and
 *   a neighbour, so each took an overflow page of 4 KiB or a leaf to itself:
 *   8.9 bytes per event on disk for 4 bytes of words (bench/RESULTS.md).
 *   After the bucket they cost their own bytes on average (a bucket's last
 *   overflow page is partly empty, and they fill it first), and the owner
 *   entries fit a hundred to a page.
 * - Format 1 (written before that, still read): hash32(id), ascending, and
 *   the bucket's events sorted the same way; the sort was 3 % of the
 *   server's CPU at saturation (perf).
 * A lookup scans formats 2 and 3 (500 words) and binary-searches format 1;
 * each stops at the first copy of an id. The price of format 3 is on
 * getEvent, which reads each bucket's whole value to reach its words
 * (bench/store/get-event.bench.ts).
 */
const ID_LIST_IN_BUCKET = 3;
const ID_LIST_IN_ENTRY = 2;
const ID_LIST_SORTED = 1;
const ID_LIST_HEADER_BYTES = 8;
/** Past every writtenAtMs: the end of one owner's entries in a range read. */
const WRITTEN_AT_END = Number.MAX_SAFE_INTEGER;
/** Drawn once per thread (this module is loaded once per thread): 48 random bits. */
const BUCKET_TAG = randomBytes(6).readUIntBE(0, 6);
let bucketSeq = 0;
/**
 * Packs a bucket with msgpack records when its events do not have the shape
 * bucket-codec.ts writes (and read buckets of versions before it): the record
 * shape is written once per bucket (no structures shared across records in
 * the store, so any thread and any later process decodes a bucket on its own).
 */
const BUCKET_PACKR = new Packr({ useRecords: true, moreTypes: false });
/** A bucket in either format: the fixed layout (bucket-codec.ts) or msgpack (earlier versions, and events of another shape). */
function unpackBucket(bytes: Uint8Array): unknown {
  return isCodecBucket(bytes) ? decodeBucket(bytes) : BUCKET_PACKR.unpack(bytes);
}
/** A stored bucket's events (either format); StoreCorruptError when it is not one. */
function decoded(bucket: Uint8Array): unknown[] {
  let events: unknown;
  try {
    events = unpackBucket(bucket);
  } catch (cause) {
    if (cause instanceof StoreCorruptError) throw cause;
    throw new StoreCorruptError('event bucket cannot be decoded', 'event');
  }
  if (!Array.isArray(events)) throw new StoreCorruptError('event bucket is not a list', 'event');
  return events;
}
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
function nextBucketSeq(): number {
  return bucketSeq++;
}

/** Scratch for hash64; one per thread, used synchronously. */
const HASH = new Uint32Array(2);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The id-list word of `id` (format 2): the first word of hash64. */
export function idWord(id: string): number {
  hash64(id, HASH);
  return HASH[0]!;
}

/**
 * Events [start, end) of `indexes`, in that order, and their id words;
 * `idWords[i]`, when given, is idWord(events[i].event.id).
 */
function bucketOf(
  events: readonly StoredEvent[],
  indexes: readonly number[],
  start: number,
  end: number,
  idWords: ArrayLike<number> | undefined,
): { group: StoredEvent[]; words: Uint32Array; order: Uint16Array } {
  const count = end - start;
  const group = new Array<StoredEvent>(count);
  const order = new Uint16Array(count);
  const words = new Uint32Array(count);
  for (let k = 0; k < count; k++) {
    const i = indexes[start + k]!;
    const stored = events[i]!;
    group[k] = stored;
    order[k] = k;
    words[k] = idWords === undefined ? idWord(stored.event.id) : idWords[i]!;
  }
  return { group, words, order };
}

/** `words` into value[at, at + 4 x length), little-endian: a copy of their memory where that is little-endian, else one by one. */
function putWords(value: Buffer, at: number, words: Uint32Array): void {
  if (LITTLE_ENDIAN) value.set(new Uint8Array(words.buffer, words.byteOffset, 4 * words.length), at);
  else for (let k = 0; k < words.length; k++) value.writeUInt32LE(words[k]!, at + 4 * k);
}

/** An owner entry of format 3 for a bucket of `count` events. */
function entryOf(count: number): Buffer {
  const entry = Buffer.allocUnsafe(ID_LIST_HEADER_BYTES);
  entry.writeUInt32LE(ID_LIST_IN_BUCKET, 0);
  entry.writeUInt32LE(count, 4);
  return entry;
}

/** One packed bucket, waiting for its write: the owner entry's key parts and both values. */
interface PackedBucket {
  readonly owner: string;
  readonly seq: number;
  /** What the bucket's key holds: `bytes`, then the id words (format 3). */
  readonly value: Buffer;
  /** The bucket alone (a view into `value`): what the log keeps and decodeBucket reads. */
  readonly bytes: Buffer;
  /** The owner entry's value (format 3). */
  readonly entry: Buffer;
  readonly count: number;
  /** order[k]: the place of the bucket's k-th event in the run it was packed from (the identity: kept for the log's record format, which allowed buckets in another order). */
  readonly order: Uint16Array;
}

/** A PackedBucket of `value` (the bucket, then room for `words`), the words put in. */
function packed(owner: string, value: Buffer, words: Uint32Array, order: Uint16Array): PackedBucket {
  const at = value.length - 4 * words.length;
  putWords(value, at, words);
  return { owner, seq: nextBucketSeq(), value, bytes: value.subarray(0, at), entry: entryOf(words.length), count: words.length, order };
}

/** What prepareEvents hands out: an owner's events packed into buckets, seq numbers drawn in order. */
interface LmdbPrepared extends PreparedEvents {
  readonly lmdbBuckets: readonly PackedBucket[];
}

function isLmdbPrepared(prepared: PreparedEvents): prepared is LmdbPrepared {
  return Array.isArray((prepared as Partial<LmdbPrepared>).lmdbBuckets);
}

/** Checks every event's owner and id (StoreInputError names the first at fault) and groups their places by owner, in order. */
function groupByOwner(events: readonly StoredEvent[]): Map<string, number[]> {
  const byOwner = new Map<string, number[]>();
  // A run of one owner (a request's events are one owner's) is checked and looked up once, not per event.
  let owner: unknown;
  let indexes: number[] | undefined;
  for (let i = 0; i < events.length; i++) {
    const stored = events[i]!;
    if (indexes === undefined || stored.owner !== owner) {
      owner = stored.owner;
      checkOwner(owner, `${i}/owner`);
      indexes = byOwner.get(owner as string);
      if (indexes === undefined) byOwner.set(owner as string, (indexes = []));
    }
    const id = stored.event?.id;
    if (typeof id !== 'string' || id.length === 0 || id.length > EVENT_ID_CHARS_MAX) {
      throw new StoreInputError(`event id must be a string of 1..${EVENT_ID_CHARS_MAX} characters`, `${i}/event/id`);
    }
    indexes.push(i);
  }
  return byOwner;
}

/** Events [start, end) of `indexes` (one owner's) as one bucket. */
function packBucket(
  owner: string,
  events: readonly StoredEvent[],
  indexes: readonly number[],
  start: number,
  end: number,
  idWords?: ArrayLike<number>,
): PackedBucket {
  const { group, words, order } = bucketOf(events, indexes, start, end, idWords);
  const trailerBytes = 4 * words.length;
  let value: Buffer;
  try {
    value = encodeBucket(group, trailerBytes) ?? withRoom(BUCKET_PACKR.pack(group), trailerBytes);
  } catch (cause) {
    throw new StoreInputError(`events of owner "${owner}" cannot be encoded: ${String(cause)}`, `${indexes[start]!}/event`);
  }
  return packed(owner, value, words, order);
}

/** `bytes` copied into a Buffer with `room` more bytes after them (msgpack buckets: events of another shape). */
function withRoom(bytes: Uint8Array, room: number): Buffer {
  const value = Buffer.allocUnsafe(bytes.length + room);
  value.set(bytes);
  return value;
}

/**
 * Where an id list may hold `id`: the first place whose word matches, from
 * `from` (formats 2 and 3: places in order; format 1 from its lower bound,
 * and its matches are adjacent); -1 past the last. The list's `count` words
 * start at byte `at` of `list`. `words`: [idWord(id), hash32(id)], the
 * second computed when a format 1 list first needs it. Exported for tests.
 */
export function nextCandidate(list: DataView, at: number, format: number, count: number, id: string, words: [number, number], from: number): number {
  if (format !== ID_LIST_SORTED) {
    const word = words[0];
    const start = list.byteOffset + at;
    // Aligned and little-endian, as the list: the native search.
    if (LITTLE_ENDIAN && start % 4 === 0) return new Uint32Array(list.buffer, start, count).indexOf(word, from);
    for (let p = from; p < count; p++) if (list.getUint32(at + 4 * p, true) === word) return p;
    return -1;
  }
  if (words[1] < 0) words[1] = hash32(id);
  const hash = words[1];
  const p = from === 0 ? lowerBound(list, at, count, hash) : from;
  return p < count && list.getUint32(at + 4 * p, true) === hash ? p : -1;
}

/** Lower bound of `hash` in a format 1 id list's ascending hashes; count when every hash is below it. */
function lowerBound(list: DataView, at: number, count: number, hash: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list.getUint32(at + 4 * mid, true) < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Throws StoreInputError for the first key part that cannot be stored; runs before any write. */
export function checkOwner(owner: unknown, field: string): void {
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > OWNER_CHARS_MAX) {
    throw new StoreInputError(`owner must be a string of 1..${OWNER_CHARS_MAX} characters`, field);
  }
}

export interface LmdbEventStoreOptions extends LmdbEnvOptions {
  /**
   * 'lz4': lmdb-js compresses each bucket with LZ4 as it is put (0.5-0.8x the
   * pages, ~0.3-0.7 µs per event on the writing thread); 'none' (the default):
   * buckets are stored as bucket-codec.ts lays them out. Buckets written with
   * either are read with either.
   */
  eventCompression?: 'none' | 'lz4';
  /**
   * Raw events are removed this long after they were written, by
   * sweepExpired (the runtime's worker 0 calls it every 10 minutes); rollups
   * are kept. Undefined: kept until removed by hand.
   */
  eventsRetentionMs?: number;
  /** Unix ms for writtenAtMs and the sweep (tests); Date.now by default. */
  clock?: () => number;
}

/** Counters of the LMDB event store (exported as metrics by the runtime: docs/operations.md). */
export interface LmdbEventStoreStats {
  /** Events removed by sweepExpired, and their buckets. */
  expiredEvents: number;
  expiredBuckets: number;
  /** sweepExpired calls that failed (retried on the next round). */
  sweepFailures: number;
}

/**
 * Buckets one sweep transaction removes at most (~30 MB of pages freed at
 * the harness's 28 KB a bucket); the sweep yields between transactions, so
 * a first sweep over a long history does not hold the writer or the thread.
 */
export const SWEEP_BUCKETS_PER_TXN = 1_000;
/** Owners one turn of the sweep looks at before it yields the thread (one cursor each). */
const SWEEP_OWNERS_PER_TURN = 1_000;

export class LmdbEventStore implements EventStore {
  readonly #env: LmdbEnv;
  readonly #legacyIndex: Database;
  readonly #retentionMs: number | undefined;
  readonly #clock: () => number;
  readonly #stats: LmdbEventStoreStats = { expiredEvents: 0, expiredBuckets: 0, sweepFailures: 0 };
  #sweeping: Promise<number> | undefined;
  readonly #byOwner: Database;
  readonly #buckets: Database;
  readonly #rollups: Database;
  #closed = false;

  constructor(options: LmdbEventStoreOptions) {
    this.#env = acquireLmdbEnv(options);
    this.#legacyIndex = this.#env.db(DB_NAMES.eventIndex);
    this.#byOwner = this.#env.db(DB_NAMES.eventsByOwner);
    this.#buckets = this.#env.db(DB_NAMES.eventBuckets, { lz4: options.eventCompression === 'lz4' });
    this.#rollups = this.#env.db(DB_NAMES.rollups);
    if (options.eventsRetentionMs !== undefined && !(Number.isSafeInteger(options.eventsRetentionMs) && options.eventsRetentionMs > 0)) {
      throw new RangeError('eventsRetentionMs must be a positive integer (ms)');
    }
    this.#retentionMs = options.eventsRetentionMs;
    this.#clock = options.clock ?? Date.now;
  }

  get stats(): Readonly<LmdbEventStoreStats> {
    return { ...this.#stats };
  }

  /** 'sweep' when events expire (the runtime then calls sweepExpired, as for a MongoDB server without TTL indexes). */
  get ttlMode(): 'sweep' | undefined {
    return this.#retentionMs === undefined ? undefined : 'sweep';
  }

  /**
   * Removes every bucket written before nowMs - eventsRetentionMs, with its
   * owner entry; returns the events removed. Walks the owners (one cursor
   * each, from the oldest entry to the first one still kept), removes at most
   * SWEEP_BUCKETS_PER_TXN buckets per child transaction and yields between
   * transactions and every SWEEP_OWNERS_PER_TURN owners. What a crash
   * interrupts is removed on the next call. Rollups are kept; events in the
   * per-event index of data dirs from before the bucket lists are not swept.
   */
  sweepExpired(nowMs: number = this.#clock()): Promise<number> {
    // One sweep at a time: a call while one runs waits for it (a first sweep over a long history can outlast a round).
    this.#sweeping ??= this.#sweep(nowMs).finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #sweep(nowMs: number): Promise<number> {
    this.#open('sweepExpired');
    if (this.#retentionMs === undefined) return 0;
    const cutoffMs = nowMs - this.#retentionMs;
    const byOwner = this.#byOwner;
    const buckets = this.#buckets;
    let removedEvents = 0;
    try {
      let doomed: Array<{ key: Key[]; count: number }> = [];
      const removeDoomed = async (): Promise<void> => {
        const batch = doomed;
        doomed = [];
        await byOwner.childTransaction(() => {
          for (const { key } of batch) {
            void buckets.remove([key[2] as number, key[3] as number]);
            void byOwner.remove(key);
          }
        });
        let events = 0;
        for (const { count } of batch) events += count;
        removedEvents += events;
        this.#stats.expiredEvents += events;
        this.#stats.expiredBuckets += batch.length;
      };
      let start: Key[] | undefined;
      let owners = 0;
      for (;;) {
        // The next owner's entries, oldest first, up to the first one still kept.
        let owner: Key | undefined;
        for (const { key, value } of byOwner.getRange(start === undefined ? {} : { start })) {
          const at = key as Key[];
          owner = at[0];
          if (!((at[1] as number) < cutoffMs)) break;
          const entry = value as Uint8Array;
          const count = entry.length >= ID_LIST_HEADER_BYTES ? new DataView(entry.buffer, entry.byteOffset, entry.byteLength).getUint32(4, true) : 0;
          doomed.push({ key: at, count });
          if (doomed.length >= SWEEP_BUCKETS_PER_TXN) break;
        }
        if (owner === undefined) break;
        if (doomed.length >= SWEEP_BUCKETS_PER_TXN) {
          // This owner may hold more: start again where the transaction left it.
          await removeDoomed();
          start = [owner];
          continue;
        }
        start = [owner, WRITTEN_AT_END];
        if (++owners % SWEEP_OWNERS_PER_TURN === 0) {
          if (doomed.length > 0) await removeDoomed();
          else await yieldTurn();
        }
      }
      if (doomed.length > 0) await removeDoomed();
    } catch (cause) {
      this.#stats.sweepFailures++;
      if (cause instanceof StoreClosedError) throw cause;
      throw new StoreWriteError('sweepExpired', { cause });
    }
    return removedEvents;
  }

  async writeEvents(events: readonly StoredEvent[]): Promise<void> {
    this.#open('writeEvents');
    if (events.length === 0) return;
    const byOwner = groupByOwner(events);
    const packed: PackedBucket[] = [];
    let packedSinceYield = 0;
    for (const [owner, indexes] of byOwner) {
      for (let start = 0; start < indexes.length; start += EVENTS_PER_BUCKET_MAX) {
        if (packedSinceYield >= EVENTS_PER_BUCKET_MAX) {
          packedSinceYield = 0;
          await yieldTurn();
        }
        const end = Math.min(indexes.length, start + EVENTS_PER_BUCKET_MAX);
        packed.push(packBucket(owner, events, indexes, start, end));
        packedSinceYield += end - start;
      }
    }
    await this.#putBuckets([packed], 'writeEvents');
  }

  /** Packs now (no yield: meant for one request's events), for writePrepared later. */
  prepareEvents(events: readonly StoredEvent[], idWords?: ArrayLike<number>): PreparedEvents {
    this.#open('prepareEvents');
    if (idWords !== undefined && idWords.length !== events.length) {
      throw new StoreInputError(`${idWords.length} id hashes for ${events.length} events`, 'idWords');
    }
    const byOwner = groupByOwner(events);
    const lmdbBuckets: PackedBucket[] = [];
    for (const [owner, indexes] of byOwner) {
      for (let start = 0; start < indexes.length; start += EVENTS_PER_BUCKET_MAX) {
        lmdbBuckets.push(packBucket(owner, events, indexes, start, Math.min(indexes.length, start + EVENTS_PER_BUCKET_MAX), idWords));
      }
    }
    // One owner's events in codec buckets (the rule for a request): the log can keep these bytes instead of the body.
    const logged = byOwner.size === 1 && lmdbBuckets.every((bucket) => isCodecBucket(bucket.bytes));
    const prepared: LmdbPrepared = logged ? { count: events.length, lmdbBuckets, logBuckets: lmdbBuckets } : { count: events.length, lmdbBuckets };
    return prepared;
  }

  /**
   * prepareEvents for one request's events held in columns (the columnar
   * path, columns.ts): the events of `cols` neither duplicate nor rejected (status below STATUS_DUPLICATE), `count` of
   * them, in buckets of up to EVENTS_PER_BUCKET_MAX, encoded from the
   * columns (encodeBucketColumns: the bytes encodeBucket writes for the
   * same events). StoreInputError for an owner the store cannot key.
   */
  prepareColumns(owner: string, shard: number, cols: EventColumns, count: number): PreparedEvents {
    this.#open('prepareColumns');
    checkOwner(owner, 'owner');
    const lmdbBuckets: PackedBucket[] = [];
    const status = cols.status;
    let from = 0;
    let left = count;
    while (left > 0) {
      const take = Math.min(left, EVENTS_PER_BUCKET_MAX);
      let to = from;
      for (let taken = 0; taken < take; to++) if (status[to]! < STATUS_DUPLICATE) taken++;
      const words = new Uint32Array(take);
      const value = encodeBucketColumns(owner, shard, cols, from, to, take, words, 4 * take);
      const order = new Uint16Array(take);
      for (let k = 0; k < take; k++) order[k] = k;
      lmdbBuckets.push(packed(owner, value, words, order));
      left -= take;
      from = to;
    }
    const prepared: LmdbPrepared = { count, lmdbBuckets, logBuckets: lmdbBuckets };
    return prepared;
  }

  async writePrepared(prepared: readonly PreparedEvents[]): Promise<void> {
    this.#open('writePrepared');
    const lists: Array<readonly PackedBucket[]> = [];
    for (let i = 0; i < prepared.length; i++) {
      const one = prepared[i]!;
      if (!isLmdbPrepared(one)) throw new StoreInputError('not prepared by this store (prepareEvents)', `${i}`);
      lists.push(one.lmdbBuckets);
    }
    await this.#putBuckets(lists, 'writePrepared');
  }

  findPrepared(prepared: PreparedEvents, owner: string, id: string): StoredEvent | undefined {
    if (!isLmdbPrepared(prepared)) return undefined;
    const words: [number, number] = [idWord(id), -1];
    for (const bucket of prepared.lmdbBuckets) {
      if (bucket.owner !== owner) continue;
      const list = new DataView(bucket.value.buffer, bucket.value.byteOffset, bucket.value.byteLength);
      const at = bucket.bytes.length;
      const count = bucket.count;
      let p = nextCandidate(list, at, ID_LIST_IN_BUCKET, count, id, words, 0);
      if (p < 0) continue;
      const events = unpackBucket(bucket.bytes) as StoredEvent[];
      for (; p >= 0; p = nextCandidate(list, at, ID_LIST_IN_BUCKET, count, id, words, p + 1)) {
        if (events[p]?.event.id === id) return events[p];
      }
    }
    return undefined;
  }

  /** One child transaction: every bucket and its owner entry, in order. */
  async #putBuckets(lists: ReadonlyArray<readonly PackedBucket[]>, operation: string): Promise<void> {
    const writtenAtMs = this.#clock();
    const buckets = this.#buckets;
    const byOwner = this.#byOwner;
    try {
      await byOwner.childTransaction(() => {
        for (const packed of lists) {
          for (const bucket of packed) {
            void buckets.put([BUCKET_TAG, bucket.seq], bucket.value);
            void byOwner.put([bucket.owner, writtenAtMs, BUCKET_TAG, bucket.seq], bucket.entry);
          }
        }
      });
    } catch (cause) {
      throw new StoreWriteError(operation, { cause });
    }
  }

  getEvent(owner: string, id: string): Promise<StoredEvent | undefined> {
    return settle(() => {
      this.#open('getEvent');
      let found: unknown;
      try {
        // The legacy index first: a copy written there came before any in the bucket lists.
        found = this.#findInLegacyIndex(owner, id);
        if (found === undefined) found = this.#findInOwnerBuckets(owner, id);
      } catch (cause) {
        if (cause instanceof StoreCorruptError) throw cause;
        throw new StoreReadError('getEvent', { cause });
      }
      return found === undefined ? undefined : readStoredEvent(found);
    });
  }

  /** The first stored copy of (owner, id) in the owner's buckets, oldest bucket first. */
  #findInOwnerBuckets(owner: string, id: string): unknown {
    const words: [number, number] = [idWord(id), -1];
    for (const { key, value } of this.#byOwner.getRange({ start: [owner], end: [owner, WRITTEN_AT_END] })) {
      const format = value instanceof Uint8Array && value.length >= ID_LIST_HEADER_BYTES ? value[0] : undefined;
      if (format !== ID_LIST_IN_BUCKET && format !== ID_LIST_IN_ENTRY && format !== ID_LIST_SORTED) {
        throw new StoreCorruptError('event id list is not an id list', 'event');
      }
      const entry = value as Uint8Array;
      const count = new DataView(entry.buffer, entry.byteOffset, entry.byteLength).getUint32(4, true);
      const bucketKey = key as unknown[];
      let list: DataView;
      let at: number;
      let bytes: Uint8Array | undefined;
      if (format === ID_LIST_IN_BUCKET) {
        if (entry.length !== ID_LIST_HEADER_BYTES) throw new StoreCorruptError('event bucket entry has the wrong length', 'event');
        // The thread's reusable buffer (valid until the next read): scanned here, and decoded (copied out) on a match.
        const stored = this.#buckets.getBinaryFast([bucketKey[2] as number, bucketKey[3] as number]);
        if (stored === undefined) throw new StoreCorruptError('event bucket is missing', 'event');
        at = stored.length - 4 * count;
        if (at <= 0) throw new StoreCorruptError('event bucket is shorter than its id list', 'event');
        list = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
        bytes = stored.subarray(0, at);
      } else {
        if (entry.length !== ID_LIST_HEADER_BYTES + 4 * count) throw new StoreCorruptError('event id list has the wrong length', 'event');
        list = new DataView(entry.buffer, entry.byteOffset, entry.byteLength);
        at = ID_LIST_HEADER_BYTES;
      }
      let p = nextCandidate(list, at, format, count, id, words, 0);
      if (p < 0) continue;
      const events = bytes === undefined ? this.#bucket(bucketKey[2], bucketKey[3]) : decoded(bytes);
      if (events.length !== count) throw new StoreCorruptError('event bucket does not match its id list', 'event');
      // Candidates in the bucket's order (format 1: equal hashes adjacent, in arrival order): the first copy first.
      for (; p >= 0; p = nextCandidate(list, at, format, count, id, words, p + 1)) {
        const candidate = events[p] as { event?: { id?: unknown } } | undefined;
        if (candidate?.event?.id === id) return candidate;
      }
    }
    return undefined;
  }

  /** Data dirs from before the owner bucket lists: one [owner, id] -> [tag, seq, position] entry per event. */
  #findInLegacyIndex(owner: string, id: string): unknown {
    const pointer: unknown = this.#legacyIndex.get([owner, id]);
    if (pointer === undefined) return undefined;
    if (!Array.isArray(pointer) || pointer.length !== 3) throw new StoreCorruptError('event index entry is not a bucket pointer', 'event');
    return this.#bucket(pointer[0], pointer[1])[pointer[2] as number];
  }

  #bucket(tag: unknown, seq: unknown): unknown[] {
    const bucket: unknown = this.#buckets.get([tag as number, seq as number]);
    if (!(bucket instanceof Uint8Array)) throw new StoreCorruptError('event bucket is missing', 'event');
    return decoded(bucket);
  }

  async writeRollups(rollups: readonly Rollup[]): Promise<void> {
    this.#open('writeRollups');
    if (rollups.length === 0) return;
    for (let i = 0; i < rollups.length; i++) {
      const rollup = rollups[i]!;
      checkOwner(rollup.owner, `${i}/owner`);
      if (!RESOLUTION_SET.has(rollup.resolution)) {
        throw new StoreInputError(`unknown resolution "${String(rollup.resolution)}"`, `${i}/resolution`);
      }
      if (!Number.isSafeInteger(rollup.startMs)) {
        throw new StoreInputError('startMs must be an integer (unix ms)', `${i}/startMs`);
      }
      if (!(rollup.uniquesSketch instanceof Uint8Array)) {
        throw new StoreInputError('uniquesSketch must be a Uint8Array', `${i}/uniquesSketch`);
      }
    }
    const db = this.#rollups;
    try {
      await db.childTransaction(() => {
        for (let i = 0; i < rollups.length; i++) {
          const rollup = rollups[i]!;
          void db.put([rollup.owner, rollup.resolution, rollup.startMs], storableWindow(rollup));
        }
      });
    } catch (cause) {
      throw new StoreWriteError('writeRollups', { cause });
    }
  }

  queryRollups(query: RollupQuery): Promise<Rollup[]> {
    return settle(() => {
      this.#open('queryRollups');
      const out: Rollup[] = [];
      if (query.limit <= 0 || !(query.fromMs < query.toMs)) return out;
      const values: unknown[] = [];
      try {
        const range = this.#rollups.getRange({
          start: [query.owner, query.resolution, query.fromMs],
          end: [query.owner, query.resolution, query.toMs],
          limit: query.limit,
        });
        for (const entry of range) values.push(entry.value);
      } catch (cause) {
        throw new StoreReadError('queryRollups', { cause });
      }
      for (let i = 0; i < values.length; i++) out.push(readRollup(values[i]));
      return out;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await releaseLmdbEnv(this.#env);
  }

  #open(operation: string): void {
    if (this.#closed) throw new StoreClosedError(operation);
  }
}
