/**
 * EventStore over LMDB.
 *
 * Layout (see env.ts): events in buckets of up to EVENTS_PER_BUCKET_MAX under
 * [bucketTag, bucketSeq], each packed once, plus an index [owner, eventId] ->
 * [bucketTag, bucketSeq, position]; rollups under [owner, resolution, startMs].
 * lmdb-js encodes array keys with ordered-binary, which sorts element by
 * element and numbers numerically, so a rollup range query is one ordered
 * cursor read from [owner, res, fromMs] to [owner, res, toMs) with no sort and no filter.
 *
 * Invariants (from src/store/port.ts, kept here):
 * - writeEvents is idempotent by (owner, event.id); the first write wins, so a
 *   replay after a crash cannot change what a receipt already reported.
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
 * Buckets plus an index, not one record per event: encoding is the cost, and
 * a bucket of 500 events is packed in one call (msgpackr records), outside the
 * write transaction and one bucket per event-loop turn, while the
 * index entry per event is a short key and three numbers. Measured on 10K-event
 * flushes: 458K–499K events/s against 233K–247K for one record per event, at
 * half the CPU on the flushing thread (bench/results/store.md). A lookup reads
 * the index, then decodes one bucket (500 events at most, tens of µs).
 * A bucket key is [a random tag drawn once per thread, a counter], so threads
 * and restarts sharing the environment never collide.
 */
import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import { RESOLUTIONS, type StoredEvent } from '../../actors/types.js';
import type { EventStore, Rollup, RollupQuery } from '../port.js';
import { StoreClosedError, StoreCorruptError, StoreInputError, StoreReadError, StoreWriteError } from '../errors.js';
import { acquireLmdbEnv, DB_NAMES, releaseLmdbEnv, type LmdbEnv, type LmdbEnvOptions } from './env.js';
import { readRollup, readStoredEvent, settle, storableWindow } from './codec.js';
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
/** Drawn once per thread (this module is loaded once per thread): 48 random bits. */
const BUCKET_TAG = randomBytes(6).readUIntBE(0, 6);
let bucketSeq = 0;
/**
 * Packs a bucket with msgpack records: the record shape is written once per
 * bucket (no structures shared across records in the store, so any thread and
 * any later process decodes a bucket on its own).
 */
const BUCKET_PACKR = new Packr({ useRecords: true, moreTypes: false });
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
function nextBucketSeq(): number {
  return bucketSeq++;
}

/** Throws StoreInputError for the first key part that cannot be stored; runs before any write. */
export function checkOwner(owner: unknown, field: string): void {
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > OWNER_CHARS_MAX) {
    throw new StoreInputError(`owner must be a string of 1..${OWNER_CHARS_MAX} characters`, field);
  }
}

export class LmdbEventStore implements EventStore {
  readonly #env: LmdbEnv;
  readonly #index: Database;
  readonly #buckets: Database;
  readonly #rollups: Database;
  #closed = false;

  constructor(options: LmdbEnvOptions) {
    this.#env = acquireLmdbEnv(options);
    this.#index = this.#env.db(DB_NAMES.eventIndex);
    this.#buckets = this.#env.db(DB_NAMES.eventBuckets);
    this.#rollups = this.#env.db(DB_NAMES.rollups);
  }

  async writeEvents(events: readonly StoredEvent[]): Promise<void> {
    this.#open('writeEvents');
    if (events.length === 0) return;
    for (let i = 0; i < events.length; i++) {
      const stored = events[i]!;
      checkOwner(stored.owner, `${i}/owner`);
      const id = stored.event?.id;
      if (typeof id !== 'string' || id.length === 0 || id.length > EVENT_ID_CHARS_MAX) {
        throw new StoreInputError(`event id must be a string of 1..${EVENT_ID_CHARS_MAX} characters`, `${i}/event/id`);
      }
    }
    // Pack the buckets before the write transaction, one per event-loop turn:
    // the transaction callback runs on this thread under the write lock, so
    // encoding 10K events inside it stalled every request behind the flush.
    const packed: Array<{ seq: number; bytes: Buffer; events: readonly StoredEvent[] }> = [];
    for (let start = 0; start < events.length; start += EVENTS_PER_BUCKET_MAX) {
      if (start > 0) await yieldTurn();
      const group = events.slice(start, start + EVENTS_PER_BUCKET_MAX);
      let bytes: Buffer;
      try {
        bytes = BUCKET_PACKR.pack(group);
      } catch (cause) {
        throw new StoreInputError(`event ${start}..${start + group.length - 1} cannot be encoded: ${String(cause)}`, `${start}/event`);
      }
      packed.push({ seq: nextBucketSeq(), bytes, events: group });
    }
    const index = this.#index;
    const buckets = this.#buckets;
    try {
      // Reads inside the transaction see its own writes, so a batch that
      // repeats an id indexes it once; a replay of stored ids adds only an
      // unreferenced bucket copy. The index decides: the first write wins.
      await index.childTransaction(() => {
        for (const bucket of packed) {
          void buckets.put([BUCKET_TAG, bucket.seq], bucket.bytes);
          for (let position = 0; position < bucket.events.length; position++) {
            const stored = bucket.events[position]!;
            const key = [stored.owner, stored.event.id];
            if (!index.doesExist(key)) void index.put(key, [BUCKET_TAG, bucket.seq, position]);
          }
        }
      });
    } catch (cause) {
      throw new StoreWriteError('writeEvents', { cause });
    }
  }

  getEvent(owner: string, id: string): Promise<StoredEvent | undefined> {
    return settle(() => {
      this.#open('getEvent');
      let pointer: unknown;
      let bucket: unknown;
      try {
        pointer = this.#index.get([owner, id]);
        if (pointer === undefined) return undefined;
        if (!Array.isArray(pointer) || pointer.length !== 3) throw new StoreCorruptError('event index entry is not a bucket pointer', 'event');
        bucket = this.#buckets.get([pointer[0], pointer[1]]);
      } catch (cause) {
        if (cause instanceof StoreCorruptError) throw cause;
        throw new StoreReadError('getEvent', { cause });
      }
      if (!(bucket instanceof Uint8Array)) throw new StoreCorruptError('event bucket is missing', 'event');
      let events: unknown;
      try {
        events = BUCKET_PACKR.unpack(bucket);
      } catch {
        throw new StoreCorruptError('event bucket cannot be decoded', 'event');
      }
      if (!Array.isArray(events)) throw new StoreCorruptError('event bucket is not a list', 'event');
      return readStoredEvent(events[pointer[2] as number]);
    });
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
