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

export interface EventStore {
  writeEvents(events: readonly StoredEvent[]): Promise<void>;
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
}

export interface KeyStore {
  put(record: KeyRecord): Promise<void>;
  getByPrefix(prefix: string): Promise<KeyRecord | undefined>;
  list(owner?: string): Promise<KeyRecord[]>;
  close(): Promise<void>;
}
