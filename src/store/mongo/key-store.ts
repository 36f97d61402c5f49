/**
 * KeyStore over MongoDB (official driver), tested on FerretDB 1.x: what lets
 * several edge processes (on several machines) share keys and owners, so a
 * key created, revoked or rotated through any of them holds on all of them
 * within the key cache TTL.
 *
 * Layout: a key is a short log of immutable versions in `<prefix>keys`, one
 * document per version, `_id` = `<key prefix>/<version, 6 digits>`, holding
 * the whole KeyRecord as of that version (only the HMAC, never a key) plus
 * `prefix` and `v`. The newest version is the record. Indexes: `{ prefix, v }`
 * (the newest version of one key) and `{ owner, prefix }` (one owner's keys).
 * Owners are plain documents in `<prefix>owners`, `_id` = owner id.
 *
 * Why a log: a change must be atomic with its condition (a rotation must not
 * undo a revocation that came in between). MongoDB's findOneAndUpdate is, but
 * FerretDB 1.x applies updates as read-then-write without isolation: two
 * concurrent conditional updates both match, and concurrent `$set`s of
 * different fields lose one of them (measured: 50 of 50 and 48 of 50 races).
 * The one atomic step both servers offer is an insert against a unique `_id`,
 * so a change is "read version n, insert version n+1": of two concurrent
 * changes one insert fails with a duplicate key, and that change is made again
 * from the newer version.
 *
 * Invariants (from src/store/port.ts, kept here):
 * - Versions are never updated or deleted, only inserted. Deleting older
 *   versions would free their ids: a change that read version n long ago
 *   could then insert a second n+1 after n+1 and n+2 existed and were pruned,
 *   and be lost (measured on FerretDB: 13 of 100 four-way races lost a
 *   field when versions were pruned). A key changes a handful of times in its
 *   life (revoke, rotate, one re-hash per secret rotation), so the log stays
 *   short, and it doubles as the key's history.
 * - Reads go through a short retry (they are on a request's path, behind the
 *   key cache); writes through the event store's retry policy. Failures are
 *   EVT_STORE_READ / EVT_STORE_WRITE (retryable); a document that is not a
 *   record is EVT_STORE_CORRUPT.
 * - The client connects lazily: a server starts while MongoDB is down and
 *   answers requests with uncached keys 503 EVT_STORE_READ until it is back.
 */
import { MongoClient, MongoServerError, type Collection, type Document, type Filter } from 'mongodb';
import { EventideError } from '../../errors.js';
import type { KeyPatch, KeyPatchCondition, KeyPatchResult, KeyRecord, KeyStore, OwnerRecord } from '../port.js';
import { StoreClosedError, StoreCorruptError, StoreInputError, StoreOpenError, StoreReadError, StoreWriteError } from '../errors.js';
import { applyKeyPatch, keyPatchApplies, readKeyRecord, readOwnerRecord } from '../key-records.js';
import { DUPLICATE_KEY_CODE, isRetryableMongoError } from './classify.js';
import { dbNameFromUri, MONGO_DEFAULTS } from './options.js';
import { realRetryClock, withRetry, type RetryClock, type RetryPolicy } from './retry.js';

/** A document keyed by a string (a version id, an owner id). */
type IdDocument = Document & { _id: string };

export interface MongoKeyStoreOptions {
  /** mongodb:// or mongodb+srv:// URI; its path names the database (default `eventide`). */
  uri: string;
  dbName?: string;
  /** Prefix of the collection names (`<prefix>keys`, `<prefix>owners`). */
  collectionPrefix?: string;
  /** How long the driver looks for a server before an operation fails. Default 5 s. */
  serverSelectionTimeoutMs?: number;
  /** Retries of a write that failed for a transient reason. */
  writeRetry?: Partial<RetryPolicy>;
  clock?: RetryClock;
}

/** Reads wait at most one short retry: a request is waiting, and the next one tries again. */
const READ_RETRY: RetryPolicy = Object.freeze({ attemptsMax: 2, delayMsMin: 20, delayMsMax: 100 });
/**
 * Changes of one key that lost the race to a concurrent change and are made
 * again from the newer version. Contention on one key is an operator and a
 * background re-hash at most; 32 losses in a row means something is wrong.
 */
const VERSION_RACES_MAX = 32;
export const KEY_VERSION_INDEX = 'prefix_v';
export const KEYS_BY_OWNER_INDEX = 'owner_prefix';
/** Longest prefix and owner accepted, as in the LMDB adapter. */
const KEY_PREFIX_CHARS_MAX = 64;
const OWNER_CHARS_MAX = 64;
/** Digits of the version in a document id, so ids sort as versions do. */
const VERSION_DIGITS = 6;

function checkPart(value: unknown, charsMax: number, field: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > charsMax) {
    throw new StoreInputError(`${field} must be a string of 1..${charsMax} characters`, field);
  }
}

function versionId(prefix: string, v: number): string {
  return `${prefix}/${String(v).padStart(VERSION_DIGITS, '0')}`;
}

function versionDocument(record: KeyRecord, v: number): IdDocument {
  return { ...record, _id: versionId(record.prefix, v), v };
}

function fromVersionDocument(doc: Document): { record: KeyRecord; v: number } {
  const { _id, v, ...rest } = doc;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new StoreCorruptError('key version has no version number', 'v');
  return { record: readKeyRecord(rest), v };
}

function fromOwnerDocument(doc: Document): OwnerRecord {
  const { _id, ...rest } = doc;
  return readOwnerRecord({ ...rest, owner: _id as unknown });
}

function isDuplicateKey(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY_CODE;
}

/** The version lost a race: another change inserted it first. */
class VersionTaken extends Error {}

export class MongoKeyStore implements KeyStore {
  readonly dbName: string;
  /** Changes made again because a concurrent change took their version first. */
  versionRaces = 0;
  readonly #client: MongoClient;
  readonly #keys: Collection<IdDocument>;
  readonly #owners: Collection<IdDocument>;
  readonly #writeRetry: RetryPolicy;
  readonly #clock: RetryClock;
  #ready: Promise<void> | undefined;
  #closed = false;

  constructor(options: MongoKeyStoreOptions) {
    if (typeof options.uri !== 'string' || !/^mongodb(\+srv)?:\/\//.test(options.uri)) {
      throw new StoreInputError('uri must be a mongodb:// or mongodb+srv:// URI', 'mongodbUri');
    }
    const prefix = options.collectionPrefix ?? '';
    if (!/^[A-Za-z0-9_]*$/.test(prefix)) throw new StoreInputError('collectionPrefix may hold only A-Z, a-z, 0-9 and _', 'collectionPrefix');
    this.dbName = options.dbName ?? dbNameFromUri(options.uri) ?? MONGO_DEFAULTS.dbName;
    this.#client = new MongoClient(options.uri, {
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? MONGO_DEFAULTS.serverSelectionTimeoutMs,
      maxPoolSize: MONGO_DEFAULTS.poolSizeMax,
      ignoreUndefined: true,
      appName: 'eventide-keys',
    });
    const db = this.#client.db(this.dbName);
    // Key changes must survive a failover: an acknowledged revocation that a
    // new primary forgets would bring the key back.
    const collectionOptions = this.#client.writeConcern === undefined ? { writeConcern: { w: 'majority' as const } } : {};
    this.#keys = db.collection<IdDocument>(`${prefix}keys`, collectionOptions);
    this.#owners = db.collection<IdDocument>(`${prefix}owners`, collectionOptions);
    this.#writeRetry = { ...MONGO_DEFAULTS.retry, ...options.writeRetry };
    this.#clock = options.clock ?? realRetryClock;
  }

  /** Constructs, connects and creates the indexes now; StoreOpenError when the server cannot be reached. */
  static async open(options: MongoKeyStoreOptions): Promise<MongoKeyStore> {
    const store = new MongoKeyStore(options);
    try {
      await store.#whenReady();
      return store;
    } catch (cause) {
      await store.close();
      throw new StoreOpenError(`mongodb database ${store.dbName} (keys)`, { cause });
    }
  }

  #whenReady(): Promise<void> {
    this.#ready ??= this.#client
      .connect()
      .then(async () => {
        await this.#keys.createIndex({ prefix: 1, v: -1 }, { name: KEY_VERSION_INDEX });
        await this.#keys.createIndex({ owner: 1, prefix: 1 }, { name: KEYS_BY_OWNER_INDEX });
      })
      .then(
        () => undefined,
        (error: unknown) => {
          // A later call connects afresh (see MongoEventStore: a failed first
          // connect leaves a closed topology that does not reconnect by itself).
          this.#ready = undefined;
          throw error;
        },
      );
    return this.#ready;
  }

  async #latest(prefix: string): Promise<{ record: KeyRecord; v: number } | undefined> {
    const [doc] = await this.#keys.find({ prefix }).sort({ v: -1 }).limit(1).toArray();
    return doc === undefined ? undefined : fromVersionDocument(doc);
  }

  /** Inserts version v of a record; VersionTaken when a concurrent change has it. */
  async #insertVersion(record: KeyRecord, v: number): Promise<void> {
    try {
      await this.#keys.insertOne(versionDocument(record, v));
    } catch (error) {
      if (isDuplicateKey(error)) throw new VersionTaken();
      throw error;
    }
  }

  /** Reads the newest version and writes the next one from it, again from the newer one after each lost race. */
  async #change<T>(prefix: string, step: (latest: { record: KeyRecord; v: number } | undefined) => { write: KeyRecord; answer: T } | { answer: T }): Promise<T> {
    for (let race = 0; ; race++) {
      const latest = await this.#latest(prefix);
      const decided = step(latest);
      if (!('write' in decided)) return decided.answer;
      try {
        await this.#insertVersion(decided.write, (latest?.v ?? 0) + 1);
        return decided.answer;
      } catch (error) {
        if (!(error instanceof VersionTaken) || race + 1 >= VERSION_RACES_MAX) throw error;
        this.versionRaces++;
      }
    }
  }

  async put(record: KeyRecord): Promise<void> {
    checkPart(record.prefix, KEY_PREFIX_CHARS_MAX, 'prefix');
    checkPart(record.owner, OWNER_CHARS_MAX, 'owner');
    await this.#write('put key', () => this.#change(record.prefix, () => ({ write: record, answer: undefined })));
  }

  async patchKey(prefix: string, patch: KeyPatch, condition?: KeyPatchCondition): Promise<KeyPatchResult> {
    checkPart(prefix, KEY_PREFIX_CHARS_MAX, 'prefix');
    return this.#write('patch key', () =>
      this.#change<KeyPatchResult>(prefix, (latest) => {
        if (latest === undefined) return { answer: { record: undefined, applied: false } };
        if (!keyPatchApplies(latest.record, condition)) return { answer: { record: latest.record, applied: false } };
        const next = applyKeyPatch(latest.record, patch);
        return { write: next, answer: { record: next, applied: true } };
      }),
    );
  }

  getByPrefix(prefix: string): Promise<KeyRecord | undefined> {
    return this.#read('getByPrefix', async () => (await this.#latest(prefix))?.record);
  }

  /** All records of `owner` (or of everyone), ordered by prefix: the newest version of each key. */
  list(owner?: string): Promise<KeyRecord[]> {
    return this.#read('list keys', async () => {
      let filter: Filter<IdDocument> = {};
      if (owner !== undefined) {
        // Keys with any version under this owner; their newest version decides (a key whose owner changed has left).
        const prefixes = await this.#keys.distinct('prefix', { owner });
        if (prefixes.length === 0) return [];
        filter = { prefix: { $in: prefixes } };
      }
      const docs = await this.#keys.find(filter).sort({ prefix: 1, v: 1 }).toArray();
      const newest = new Map<string, { record: KeyRecord; v: number }>();
      for (const doc of docs) {
        const version = fromVersionDocument(doc);
        const seen = newest.get(version.record.prefix);
        if (seen === undefined || seen.v < version.v) newest.set(version.record.prefix, version);
      }
      const out: KeyRecord[] = [];
      for (const { record } of newest.values()) if (owner === undefined || record.owner === owner) out.push(record);
      return out;
    });
  }

  async putOwner(record: OwnerRecord): Promise<void> {
    checkPart(record.owner, OWNER_CHARS_MAX, 'owner');
    const { owner, ...rest } = record;
    await this.#write('put owner', async () => {
      try {
        await this.#owners.replaceOne({ _id: owner }, { _id: owner, ...rest }, { upsert: true });
      } catch (error) {
        // Two first writes of one owner raced on FerretDB: the other insert won; replace it.
        if (!isDuplicateKey(error)) throw error;
        await this.#owners.replaceOne({ _id: owner }, { _id: owner, ...rest });
      }
    });
  }

  getOwner(owner: string): Promise<OwnerRecord | undefined> {
    return this.#read('getOwner', async () => {
      const doc = await this.#owners.findOne({ _id: owner });
      return doc === null ? undefined : fromOwnerDocument(doc);
    });
  }

  listOwners(): Promise<OwnerRecord[]> {
    return this.#read('list owners', async () => (await this.#owners.find({}).sort({ _id: 1 }).toArray()).map(fromOwnerDocument));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.close();
  }

  async #read<T>(operation: string, read: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreClosedError(operation);
    try {
      return await withRetry(
        async () => {
          await this.#whenReady();
          return await read();
        },
        READ_RETRY,
        this.#clock,
        isRetryableMongoError,
        () => undefined,
      );
    } catch (cause) {
      if (cause instanceof EventideError) throw cause;
      throw new StoreReadError(operation, { cause });
    }
  }

  async #write<T>(operation: string, write: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreClosedError(operation);
    try {
      return await withRetry(
        async () => {
          await this.#whenReady();
          return await write();
        },
        this.#writeRetry,
        this.#clock,
        isRetryableMongoError,
        () => undefined,
      );
    } catch (cause) {
      if (cause instanceof EventideError) throw cause;
      throw new StoreWriteError(operation, { cause });
    }
  }
}
