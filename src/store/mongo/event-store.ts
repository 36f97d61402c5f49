/**
 * EventStore over MongoDB (official driver), tested on FerretDB 1.x.
 *
 * Invariants (from src/store/port.ts, kept here):
 * - writeEvents is idempotent by (owner, event.id); the first write wins. The
 *   key is the document's `_id`, inserts are unordered, and a duplicate-key
 *   answer (11000) for one document is the proof it was already stored.
 *   Within one call a repeated key is dropped before sending, so the first
 *   occurrence wins however the server orders an unordered batch.
 * - writeRollups upserts by (owner, resolution, startMs); the last write wins
 *   (a later duplicate in one call replaces an earlier one before sending).
 * - A rejected promise is a StoreWriteError (retryable): some documents of the
 *   call may be stored, which is safe because a retry re-sends them idempotently.
 * - A document the server refuses for what it is (not for the server's
 *   state) is written to the dead-letter collection with the reason and code
 *   and counted; the call then resolves. Transient failures are retried
 *   (RetryPolicy: bounded, exponential, full jitter), then surfaced.
 *
 * Layout: one document per event. bench/store/mongo.bench.ts measures it
 * against one document per batch (bench/results/mongo.md); see docs/mongodb.md.
 */
import { MongoBulkWriteError, MongoClient, type AnyBulkWriteOperation, type Collection, type Document } from 'mongodb';
import type { StoredEvent } from '../../actors/types.js';
import { EventideError } from '../../errors.js';
import { RESOLUTIONS } from '../../actors/types.js';
import type { EventStore, Rollup, RollupQuery } from '../port.js';
import { StoreClosedError, StoreInputError, StoreOpenError, StoreReadError, StoreWriteError } from '../errors.js';
import { documentOutcome, isRetryableMongoError, writeErrorsOf } from './classify.js';
import {
  deadLetterOfEvent,
  deadLetterOfRollup,
  eventDocument,
  readEventDocument,
  readRollupDocument,
  rollupDocument,
  type DeadLetterDocument,
} from './codec.js';
import { ensureIndexes, type TtlMode } from './indexes.js';
import { resolveMongoOptions, type MongoEventStoreOptions, type ResolvedMongoEventStoreOptions } from './options.js';
import { withRetry } from './retry.js';

/** Longest owner and event id accepted, as in the LMDB adapter, so both adapters refuse the same input. */
export const OWNER_CHARS_MAX = 64;
export const EVENT_ID_CHARS_MAX = 512;

const RESOLUTION_SET: ReadonlySet<string> = new Set(RESOLUTIONS);

/** Counters of what the adapter did; monotonic for the life of the instance. */
export interface MongoEventStoreStats {
  /** Event documents the server inserted. */
  eventsInserted: number;
  /** Events not inserted because their (owner, id) was stored already (a replay, a retry, or a repeat in one call). */
  duplicatesIgnored: number;
  /** Rollups upserted. */
  rollupsWritten: number;
  /** Retries after a transient failure (each one a backoff wait). */
  retries: number;
  /** Records that can never be written, now in the dead-letter collection. */
  deadLetters: number;
  /** Calls that rejected (after their retries). */
  writeFailures: number;
  readFailures: number;
  /** Documents removed by sweepExpired (servers without TTL indexes). */
  expiredSwept: number;
}

type PendingDeadLetter = DeadLetterDocument;

export class MongoEventStore implements EventStore {
  readonly options: ResolvedMongoEventStoreOptions;
  readonly #client: MongoClient;
  readonly #events: Collection<Document>;
  readonly #rollups: Collection<Document>;
  readonly #deadLetters: Collection<Document>;
  readonly #stats: MongoEventStoreStats = {
    eventsInserted: 0,
    duplicatesIgnored: 0,
    rollupsWritten: 0,
    retries: 0,
    deadLetters: 0,
    writeFailures: 0,
    readFailures: 0,
    expiredSwept: 0,
  };
  /** Settles once the indexes exist; reset after a failure so the next call tries again. */
  #ready: Promise<TtlMode> | undefined;
  #ttlMode: TtlMode | undefined;
  #closed = false;

  /**
   * Creates the client without connecting: the driver connects on the first
   * operation, and the indexes are created before it (see #whenReady). So a
   * worker can start, and buffer events, while MongoDB is down.
   * Throws StoreInputError for invalid options (w=0 included).
   */
  constructor(userOptions: MongoEventStoreOptions) {
    const options = resolveMongoOptions(userOptions);
    this.options = options;
    const client = new MongoClient(options.uri, {
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMs,
      maxPoolSize: options.poolSizeMax,
      ignoreUndefined: true,
      appName: 'eventide',
    });
    if (client.writeConcern?.w === 0 && !options.allowUnacknowledged) {
      throw new StoreInputError('the URI asks for w=0; set allowUnacknowledged to insist', 'mongodbUri');
    }
    this.#client = client;
    const db = client.db(options.dbName);
    // The URI's write concern (?w=...) wins; the option fills in only where it sets none.
    const collectionOptions = client.writeConcern === undefined ? { writeConcern: options.writeConcern } : {};
    this.#events = db.collection(options.collections.events, collectionOptions);
    this.#rollups = db.collection(options.collections.rollups, collectionOptions);
    this.#deadLetters = db.collection(options.collections.deadLetters, collectionOptions);
  }

  /** Constructs, connects and creates the indexes now; StoreOpenError when the server cannot be reached in serverSelectionTimeoutMs. */
  static async open(userOptions: MongoEventStoreOptions): Promise<MongoEventStore> {
    const store = new MongoEventStore(userOptions);
    try {
      await store.#whenReady();
      return store;
    } catch (cause) {
      await store.close();
      throw new StoreOpenError(`mongodb database ${store.options.dbName}`, { cause });
    }
  }

  /** 'server': TTL indexes expire documents; 'sweep': call sweepExpired (FerretDB 1.x); undefined until the indexes were created. */
  get ttlMode(): TtlMode | undefined {
    return this.#ttlMode;
  }

  #whenReady(): Promise<TtlMode> {
    if (this.#ready === undefined) {
      const { options } = this;
      // connect() explicitly: after a failed first connect the driver keeps a
      // closed topology and no longer auto-connects (MongoTopologyClosedError),
      // while a new connect() builds a fresh one. Once connected, the client
      // rides out outages by itself.
      this.#ready = this.#client
        .connect()
        .then(() =>
          ensureIndexes(this.#events, this.#rollups, {
            events: options.eventsRetentionMs > 0,
            rollups: RESOLUTIONS.some((resolution) => options.rollupsRetentionMs[resolution] > 0),
          }),
        )
        .then(
        (mode) => (this.#ttlMode = mode),
        (error: unknown) => {
          this.#ready = undefined;
          throw error;
        },
      );
    }
    return this.#ready;
  }

  get stats(): Readonly<MongoEventStoreStats> {
    return { ...this.#stats };
  }

  async writeEvents(events: readonly StoredEvent[]): Promise<void> {
    this.#open('writeEvents');
    if (events.length === 0) return;
    const { eventsRetentionMs, writeBatchDocsMax } = this.options;
    const seen = new Set<string>();
    const docs: Document[] = [];
    const sources: StoredEvent[] = [];
    for (let i = 0; i < events.length; i++) {
      const stored = events[i]!;
      checkKeyPart(stored.owner, OWNER_CHARS_MAX, `${i}/owner`, 'owner');
      const id = stored.event?.id;
      checkKeyPart(id, EVENT_ID_CHARS_MAX, `${i}/event/id`, 'event id');
      // NUL cannot appear in an owner or id (BSON keys are C strings), so it separates them unambiguously.
      const key = `${stored.owner}\0${id}`;
      if (seen.has(key)) {
        this.#stats.duplicatesIgnored++;
        continue;
      }
      seen.add(key);
      docs.push(eventDocument(stored, eventsRetentionMs));
      sources.push(stored);
    }
    try {
      await this.#retry(() => this.#whenReady());
      for (let start = 0; start < docs.length; start += writeBatchDocsMax) {
        const end = Math.min(docs.length, start + writeBatchDocsMax);
        const rejected = await this.#retry(() => this.#insertChunk(docs.slice(start, end)));
        if (rejected.length > 0) {
          const atMs = Date.now();
          await this.#deadLetter(rejected.map((r) => deadLetterOfEvent(sources[start + r.index]!, r.reason, r.code, atMs)));
        }
      }
    } catch (cause) {
      this.#stats.writeFailures++;
      throw new StoreWriteError('writeEvents', { cause });
    }
  }

  /** Inserts one chunk; returns the documents refused for good. Transient failures throw (and are retried). */
  async #insertChunk(docs: Document[]): Promise<Rejected[]> {
    try {
      const result = await this.#events.insertMany(docs, { ordered: false });
      this.#stats.eventsInserted += result.insertedCount;
      return [];
    } catch (error) {
      if (!(error instanceof MongoBulkWriteError) || isRetryableMongoError(error)) throw error;
      this.#stats.eventsInserted += error.insertedCount;
      return this.#permanentFailures(error);
    }
  }

  #permanentFailures(error: MongoBulkWriteError): Rejected[] {
    const rejected: Rejected[] = [];
    for (const failure of writeErrorsOf(error)) {
      if (documentOutcome(failure.code) === 'duplicate') this.#stats.duplicatesIgnored++;
      else rejected.push({ index: failure.index, reason: failure.errmsg ?? 'refused by the server', code: `mongo:${failure.code}` });
    }
    return rejected;
  }

  /** Stores dead letters; one already there (the same record refused on an earlier try) is neither an error nor counted again. */
  async #deadLetter(letters: PendingDeadLetter[]): Promise<void> {
    const inserted = await this.#retry(async () => {
      try {
        return (await this.#deadLetters.insertMany(letters as unknown as Document[], { ordered: false })).insertedCount;
      } catch (error) {
        if (!(error instanceof MongoBulkWriteError) || error.err !== undefined || writeErrorsOf(error).some((e) => documentOutcome(e.code) !== 'duplicate')) {
          throw error;
        }
        return error.insertedCount;
      }
    });
    this.#stats.deadLetters += inserted;
  }

  getEvent(owner: string, id: string): Promise<StoredEvent | undefined> {
    return this.#read('getEvent', async () => {
      const doc = await this.#events.findOne({ _id: { o: owner, i: id } }, { projection: { expiresAt: 0 } });
      return doc === null ? undefined : readEventDocument(doc);
    });
  }

  async writeRollups(rollups: readonly Rollup[]): Promise<void> {
    this.#open('writeRollups');
    if (rollups.length === 0) return;
    // Last write wins within the call too: keep the last of each key.
    const last = new Map<string, Rollup>();
    for (let i = 0; i < rollups.length; i++) {
      const rollup = rollups[i]!;
      checkKeyPart(rollup.owner, OWNER_CHARS_MAX, `${i}/owner`, 'owner');
      if (!RESOLUTION_SET.has(rollup.resolution)) {
        throw new StoreInputError(`unknown resolution "${String(rollup.resolution)}"`, `${i}/resolution`);
      }
      if (!Number.isSafeInteger(rollup.startMs)) throw new StoreInputError('startMs must be an integer (unix ms)', `${i}/startMs`);
      if (!(rollup.uniquesSketch instanceof Uint8Array)) throw new StoreInputError('uniquesSketch must be a Uint8Array', `${i}/uniquesSketch`);
      const key = `${rollup.owner}\0${rollup.resolution}\0${rollup.startMs}`;
      last.delete(key);
      last.set(key, rollup);
    }
    const pending = [...last.values()];
    try {
      await this.#retry(() => this.#whenReady());
      for (let start = 0; start < pending.length; start += this.options.writeBatchDocsMax) {
        await this.#upsertChunk(pending.slice(start, start + this.options.writeBatchDocsMax));
      }
    } catch (cause) {
      this.#stats.writeFailures++;
      throw new StoreWriteError('writeRollups', { cause });
    }
  }

  /**
   * Upserts one chunk in one unordered bulk command. When the server refuses a
   * rollup for good, the chunk is written again one rollup per command, and
   * the refused ones go to dead letters: FerretDB 1.x stops an unordered
   * update batch at the first refused document and reports it under the
   * wrong index (0), so its per-operation answer cannot be trusted to say
   * which rollup was refused. Replacing with the same content is idempotent,
   * and such failures are rare (a non-finite number), so the slow path costs
   * nothing in normal operation.
   */
  async #upsertChunk(chunk: Rollup[]): Promise<void> {
    const operations = chunk.map((rollup) => this.#replaceOperation(rollup));
    const refused = await this.#retry(async () => {
      try {
        await this.#rollups.bulkWrite(operations, { ordered: false });
        return false;
      } catch (error) {
        if (!(error instanceof MongoBulkWriteError) || isRetryableMongoError(error)) throw error;
        return true;
      }
    });
    if (!refused) {
      this.#stats.rollupsWritten += chunk.length;
      return;
    }
    const letters: PendingDeadLetter[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const rollup = chunk[i]!;
      const rejected = await this.#retry(async () => {
        try {
          await this.#rollups.bulkWrite([operations[i]!], { ordered: false });
          return undefined;
        } catch (error) {
          if (!(error instanceof MongoBulkWriteError) || isRetryableMongoError(error)) throw error;
          return this.#permanentFailures(error)[0];
        }
      });
      if (rejected === undefined) this.#stats.rollupsWritten++;
      else letters.push(deadLetterOfRollup(rollup, rejected.reason, rejected.code, Date.now()));
    }
    if (letters.length > 0) await this.#deadLetter(letters);
  }

  #replaceOperation(rollup: Rollup): AnyBulkWriteOperation {
    const replacement = rollupDocument(rollup, this.options.rollupsRetentionMs[rollup.resolution]);
    return { replaceOne: { filter: { owner: rollup.owner, resolution: rollup.resolution, startMs: rollup.startMs }, replacement, upsert: true } };
  }

  queryRollups(query: RollupQuery): Promise<Rollup[]> {
    return this.#read('queryRollups', async () => {
      if (query.limit <= 0 || !(query.fromMs < query.toMs)) return [];
      const docs = await this.#rollups
        .find(
          { owner: query.owner, resolution: query.resolution, startMs: { $gte: query.fromMs, $lt: query.toMs } },
          { projection: { _id: 0, expiresAt: 0 } },
        )
        .sort({ startMs: 1 })
        .limit(query.limit)
        .toArray();
      const out: Rollup[] = [];
      for (let i = 0; i < docs.length; i++) out.push(readRollupDocument(docs[i]!));
      return out;
    });
  }

  /**
   * Deletes documents whose expiresAt is before nowMs. Needed only where the
   * server has no TTL indexes (ttlMode 'sweep', FerretDB 1.x); harmless elsewhere.
   * Returns how many were removed.
   */
  async sweepExpired(nowMs: number): Promise<number> {
    this.#open('sweepExpired');
    const before = { expiresAt: { $lt: new Date(nowMs) } };
    try {
      await this.#whenReady();
      const [events, rollups] = await Promise.all([this.#events.deleteMany(before), this.#rollups.deleteMany(before)]);
      const removed = events.deletedCount + rollups.deletedCount;
      this.#stats.expiredSwept += removed;
      return removed;
    } catch (cause) {
      this.#stats.writeFailures++;
      throw new StoreWriteError('sweepExpired', { cause });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.close();
  }

  #retry<T>(operation: () => Promise<T>): Promise<T> {
    return withRetry(operation, this.options.retry, this.options.clock, isRetryableMongoError, () => {
      this.#stats.retries++;
    });
  }

  async #read<T>(operation: string, read: () => Promise<T>): Promise<T> {
    this.#open(operation);
    try {
      await this.#whenReady();
      return await read();
    } catch (cause) {
      // Our own errors (a corrupt document, a closed store) already say what happened.
      if (cause instanceof EventideError) throw cause;
      this.#stats.readFailures++;
      throw new StoreReadError(operation, { cause });
    }
  }

  #open(operation: string): void {
    if (this.#closed) throw new StoreClosedError(operation);
  }
}

interface Rejected {
  /** Index within the command's documents. */
  index: number;
  reason: string;
  code: string;
}

function checkKeyPart(value: unknown, charsMax: number, field: string, what: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > charsMax || value.includes('\0')) {
    throw new StoreInputError(`${what} must be a string of 1..${charsMax} characters without NUL`, field);
  }
}
