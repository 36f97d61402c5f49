/**
 * The ports eventide's stores sit behind. The actors never import an adapter:
 * the runtime opens one per worker from configuration and hands it in.
 * Every adapter passes the same contract suite (test/store/*.contract.ts).
 *
 * Invariants every adapter keeps:
 * - writeEvents is idempotent by (owner, event.id): writing the same event twice stores it once.
 * - writeRollups upserts by (owner, resolution, startMs): the last write wins.
 * - putOwnerSnapshots replaces the owner's previous snapshot.
 * - A rejected promise means nothing in that call may be assumed written; a retry is safe.
 */
import type { OwnerSnapshot, Resolution, StoredEvent, WindowState } from '../actors/types.js';
import type { EventColumns } from '../actors/columns.js';

export interface Rollup extends WindowState {
  owner: string;
}

export interface RollupQuery {
  owner: string;
  resolution: Resolution;
  /** Inclusive window start, unix ms. */
  fromMs: number;
  /** Exclusive, unix ms. */
  toMs: number;
  /** At most this many windows, oldest first. */
  limit: number;
}

/**
 * One bucket of prepared events as the write-ahead log keeps it: `bytes` in
 * the bucket format of src/store/lmdb/bucket-codec.ts (self-contained:
 * decodeBucket reads it without any store), and `order[k]`, the place of the
 * bucket's k-th event within the run of events the bucket holds (a store may
 * keep a bucket's events in another order than they were applied).
 */
export interface LogBucket {
  readonly bytes: Uint8Array;
  readonly order: Uint16Array;
}

/** Events an adapter has encoded ahead of their write (its own format); see EventStore.prepareEvents. */
export interface PreparedEvents {
  readonly count: number;
  /**
   * The same events for the write-ahead log, when the adapter's encoding is
   * the bucket format: buckets in order, each holding the next run of the
   * prepared events (all `count` of them, one owner's). Absent otherwise;
   * the log then keeps the request's body.
   */
  readonly logBuckets?: readonly LogBucket[];
}

export interface EventStore {
  writeEvents(events: readonly StoredEvent[]): Promise<void>;
  /**
   * Optional, with writePrepared and findPrepared: encode events now and write
   * them later. The runtime encodes a batch on its hot path, while its objects
   * are young, and keeps only the bytes until the flush. Synchronous; throws
   * StoreInputError where writeEvents would reject with it. `idWords`, when
   * given: idWords[i] is the first word of hash64(events[i].event.id) as a
   * uint32 (the actor computed it for dedup); an adapter that keys ids by it
   * need not hash again.
   */
  prepareEvents?(events: readonly StoredEvent[], idWords?: ArrayLike<number>): PreparedEvents;
  /**
   * Optional (with writePrepared): prepareEvents for one request's events
   * held in columns by the columnar path (src/actors/columns.ts): those of
   * `cols` that are neither duplicates nor rejected, `count` of them, of one owner
   * and shard. Prepared as prepareEvents would prepare the StoredEvents the
   * record path makes of the same body.
   */
  prepareColumns?(owner: string, shard: number, cols: EventColumns, count: number): PreparedEvents;
  /** Writes prepared events, in order, with every guarantee of writeEvents (one commit, first write wins). */
  writePrepared?(prepared: readonly PreparedEvents[]): Promise<void>;
  /** The first prepared copy of (owner, id), for reads of events not yet written; undefined when absent. */
  findPrepared?(prepared: PreparedEvents, owner: string, id: string): StoredEvent | undefined;
  getEvent(owner: string, id: string): Promise<StoredEvent | undefined>;
  writeRollups(rollups: readonly Rollup[]): Promise<void>;
  queryRollups(query: RollupQuery): Promise<Rollup[]>;
  close(): Promise<void>;
}

/** Where a shard's progress stands; written with every snapshot round. */
export interface ShardCheckpoint {
  shard: number;
  takenAtMs: number;
  /** Log offset covered by this snapshot (issue 5's write-ahead log); 0 without a log. */
  logOffset: number;
}

export interface SnapshotStore {
  putOwnerSnapshots(shard: number, snapshots: readonly OwnerSnapshot[]): Promise<void>;
  getOwnerSnapshot(shard: number, owner: string): Promise<OwnerSnapshot | undefined>;
  deleteOwnerSnapshots(shard: number, owners: readonly string[]): Promise<void>;
  putCheckpoint(checkpoint: ShardCheckpoint): Promise<void>;
  getCheckpoint(shard: number): Promise<ShardCheckpoint | undefined>;
  close(): Promise<void>;
}

export type KeyScope = 'ingest' | 'read' | 'admin';

export interface KeyRecord {
  /** The visible part of the key, e.g. `evt_ab12cd34`; unique. */
  prefix: string;
  /** HMAC-SHA256(serverSecret, whole key), hex. The key itself is never stored. */
  hash: string;
  owner: string;
  scopes: KeyScope[];
  createdAtMs: number;
  revokedAtMs?: number;
  expiresAtMs?: number;
  /**
   * Owners other than `owner` this key may ingest for, named per request
   * (`x-eventide-owner`); `['*']` means any owner. Only with the `ingest` scope;
   * reads stay bound to `owner`. Absent on almost every key.
   */
  ingestOwners?: string[];
  /** The successor's prefix, once this key was rotated. */
  rotatedTo?: string;
  /** The predecessor's prefix, on a key made by a rotation. */
  rotatedFrom?: string;
  /** Fingerprint of the server secret `hash` was made with (src/auth/keys.ts secretIdOf). */
  secretId?: string;
  /** The hash under the previous server secret, kept while a secret rotation is under way. */
  hashPrevious?: string;
}

/** The fields of a key record that change after it was created. */
export type KeyPatch = Partial<Pick<KeyRecord, 'revokedAtMs' | 'expiresAtMs' | 'rotatedTo' | 'hash' | 'hashPrevious' | 'secretId'>>;

/** When a patch may be applied; all given parts must hold. */
export interface KeyPatchCondition {
  /** These fields must be absent from the stored record (not revoked, not rotated yet). */
  absent?: ReadonlyArray<'revokedAtMs' | 'rotatedTo'>;
  /** The stored hash must be this one (a hash migration that lost a race is not applied). */
  hash?: string;
}

export interface KeyPatchResult {
  /** The record as stored after the call; undefined when there is no such key. */
  record: KeyRecord | undefined;
  /** False when the key is missing or the condition did not hold; nothing was written then. */
  applied: boolean;
}

/** An owner as administered: the id keys are bound to, and what differs from the defaults. */
export interface OwnerRecord {
  owner: string;
  createdAtMs: number;
  /** Events per UTC day for this owner; absent: the ownerEventsPerDayMax setting; 0: no quota. */
  eventsPerDayMax?: number;
}

/**
 * Keys and owners. Reads are served through caches in the edge (src/auth), so
 * an adapter may take a network round trip per call.
 *
 * Invariants every adapter keeps:
 * - put() writes a whole record (creation); patchKey() changes only the given
 *   fields, atomically with its condition, so a revocation is never undone by
 *   a concurrent rotation or hash migration that read the record before it.
 * - putOwner() replaces the owner's record.
 */
export interface KeyStore {
  put(record: KeyRecord): Promise<void>;
  getByPrefix(prefix: string): Promise<KeyRecord | undefined>;
  list(owner?: string): Promise<KeyRecord[]>;
  patchKey(prefix: string, patch: KeyPatch, condition?: KeyPatchCondition): Promise<KeyPatchResult>;
  putOwner(record: OwnerRecord): Promise<void>;
  getOwner(owner: string): Promise<OwnerRecord | undefined>;
  /** Every owner record, ordered by owner id. */
  listOwners(): Promise<OwnerRecord[]>;
  close(): Promise<void>;
}
