/**
 * EventStore over LMDB.
 *
 * Layout (see env.ts): an owner's events in buckets of up to
 * EVENTS_PER_BUCKET_MAX under [bucketTag, bucketSeq], each packed once (in
 * the fixed layout of bucket-codec.ts; msgpack before it, still read), and
 * per bucket one entry [owner, writtenAtMs, bucketTag, bucketSeq] -> a
 * 32-bit hash of each of its ids, in the bucket's order (see ID_LIST_FORMAT);
 * rollups under [owner, resolution, startMs].
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
import type { Database } from 'lmdb';

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
 * An owner entry's id list: [format u8, 3 bytes zero, count u32 LE, count x u32 LE].
 * Format 2 (written now): the first word of hash64(id) of each event, in the
 * bucket's order, which is the order the events were applied; the actor
 * computed that hash for dedup, so packing a bucket hashes nothing (the
 * shard host passes it, StoredEvent order). Format 1 (written before,
 * still read): hash32(id), ascending, and the bucket's events sorted the
 * same way; the sort was 3 % of the server's CPU at saturation (perf).
 * A lookup scans format 2 (500 words, within one bucket's read of cost) and
 * binary-searches format 1; both stop at the first copy of an id.
 */
const ID_LIST_FORMAT = 2;
const ID_LIST_FORMAT_SORTED = 1;
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
 * Events [start, end) of `indexes`, in that order, and their id list
 * (format 2); `idWords[i]`, when given, is idWord(events[i].event.id).
 */
function bucketOf(
  events: readonly StoredEvent[],
  indexes: readonly number[],
  start: number,
  end: number,
  idWords: ArrayLike<number> | undefined,
): { group: StoredEvent[]; ids: Buffer; order: Uint16Array } {
  const count = end - start;
  const group = new Array<StoredEvent>(count);
  const order = new Uint16Array(count);
  const ids = Buffer.allocUnsafe(ID_LIST_HEADER_BYTES + 4 * count);
  ids.writeUInt32LE(ID_LIST_FORMAT, 0);
  ids.writeUInt32LE(count, 4);
  // The words as they sit in memory where that is little-endian and aligned (Buffer's pool aligns to 8), else one by one.
  const at = ids.byteOffset + ID_LIST_HEADER_BYTES;
  const words = LITTLE_ENDIAN && at % 4 === 0 ? new Uint32Array(ids.buffer, at, count) : undefined;
  for (let k = 0; k < count; k++) {
    const i = indexes[start + k]!;
    const stored = events[i]!;
    group[k] = stored;
    order[k] = k;
    const word = idWords === undefined ? idWord(stored.event.id) : idWords[i]!;
    if (words !== undefined) words[k] = word;
    else ids.writeUInt32LE(word >>> 0, ID_LIST_HEADER_BYTES + 4 * k);
  }
  return { group, ids, order };
}

/** One packed bucket, waiting for its write: the owner entry's key parts and both values. */
interface PackedBucket {
  readonly owner: string;
  readonly seq: number;
  readonly bytes: Buffer;
  readonly ids: Buffer;
  /** order[k]: the place of the bucket's k-th event in the run it was packed from (the identity: kept for the log's record format, which allowed buckets in another order). */
  readonly order: Uint16Array;
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
  const { group, ids, order } = bucketOf(events, indexes, start, end, idWords);
  let bytes: Buffer;
  try {
    bytes = encodeBucket(group) ?? BUCKET_PACKR.pack(group);
  } catch (cause) {
    throw new StoreInputError(`events of owner "${owner}" cannot be encoded: ${String(cause)}`, `${indexes[start]!}/event`);
  }
  return { owner, seq: nextBucketSeq(), bytes, ids, order };
}

/**
 * Where an id list may hold `id`: the first place whose word matches, from
 * `from` (format 2 places in order; format 1 from its lower bound, and its
 * matches are adjacent); -1 past the last. `words`: [idWord(id), hash32(id)],
 * the second computed when a format 1 list first needs it. Exported for tests.
 */
export function nextCandidate(list: DataView, format: number, count: number, id: string, words: [number, number], from: number): number {
  if (format === ID_LIST_FORMAT) {
    const word = words[0];
    const at = list.byteOffset + ID_LIST_HEADER_BYTES;
    // Aligned (the usual case; this machine is little-endian, as the list): the native search.
    if (LITTLE_ENDIAN && at % 4 === 0) return new Uint32Array(list.buffer, at, count).indexOf(word, from);
    for (let p = from; p < count; p++) if (list.getUint32(ID_LIST_HEADER_BYTES + 4 * p, true) === word) return p;
    return -1;
  }
  if (words[1] < 0) words[1] = hash32(id);
  const hash = words[1];
  const p = from === 0 ? lowerBound(list, count, hash) : from;
  return p < count && list.getUint32(ID_LIST_HEADER_BYTES + 4 * p, true) === hash ? p : -1;
}

/** Lower bound of `hash` in a format 1 id list's ascending hashes; count when every hash is below it. */
function lowerBound(list: DataView, count: number, hash: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list.getUint32(ID_LIST_HEADER_BYTES + 4 * mid, true) < hash) lo = mid + 1;
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
}

export class LmdbEventStore implements EventStore {
  readonly #env: LmdbEnv;
  readonly #legacyIndex: Database;
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
      const ids = Buffer.allocUnsafe(ID_LIST_HEADER_BYTES + 4 * take);
      ids.writeUInt32LE(ID_LIST_FORMAT, 0);
      ids.writeUInt32LE(take, 4);
      const words = new Uint32Array(take);
      const bytes = encodeBucketColumns(owner, shard, cols, from, to, take, words);
      for (let k = 0; k < take; k++) ids.writeUInt32LE(words[k]!, ID_LIST_HEADER_BYTES + 4 * k);
      const order = new Uint16Array(take);
      for (let k = 0; k < take; k++) order[k] = k;
      lmdbBuckets.push({ owner, seq: nextBucketSeq(), bytes, ids, order });
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
      const list = new DataView(bucket.ids.buffer, bucket.ids.byteOffset, bucket.ids.byteLength);
      const count = list.getUint32(4, true);
      let p = nextCandidate(list, ID_LIST_FORMAT, count, id, words, 0);
      if (p < 0) continue;
      const events = unpackBucket(bucket.bytes) as StoredEvent[];
      for (; p >= 0; p = nextCandidate(list, ID_LIST_FORMAT, count, id, words, p + 1)) {
        if (events[p]?.event.id === id) return events[p];
      }
    }
    return undefined;
  }

  /** One child transaction: every bucket and its owner entry, in order. */
  async #putBuckets(lists: ReadonlyArray<readonly PackedBucket[]>, operation: string): Promise<void> {
    const writtenAtMs = Date.now();
    const buckets = this.#buckets;
    const byOwner = this.#byOwner;
    try {
      await byOwner.childTransaction(() => {
        for (const packed of lists) {
          for (const bucket of packed) {
            void buckets.put([BUCKET_TAG, bucket.seq], bucket.bytes);
            void byOwner.put([bucket.owner, writtenAtMs, BUCKET_TAG, bucket.seq], bucket.ids);
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
      if (format !== ID_LIST_FORMAT && format !== ID_LIST_FORMAT_SORTED) {
        throw new StoreCorruptError('event id list is not an id list', 'event');
      }
      const bytes = value as Uint8Array;
      const list = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const count = list.getUint32(4, true);
      if (bytes.length !== ID_LIST_HEADER_BYTES + 4 * count) throw new StoreCorruptError('event id list has the wrong length', 'event');
      let p = nextCandidate(list, format, count, id, words, 0);
      if (p < 0) continue;
      const at = key as unknown[];
      const events = this.#bucket(at[2], at[3]);
      if (events.length !== count) throw new StoreCorruptError('event bucket does not match its id list', 'event');
      // Candidates in the bucket's order (format 1: equal hashes adjacent, in arrival order): the first copy first.
      for (; p >= 0; p = nextCandidate(list, format, count, id, words, p + 1)) {
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
