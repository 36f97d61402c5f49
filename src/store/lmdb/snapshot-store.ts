/**
 * SnapshotStore over LMDB: owner snapshots under [shard, owner], one
 * checkpoint per shard under the shard number.
 *
 * Invariants (from src/store/port.ts, kept here):
 * - putOwnerSnapshots replaces each owner's previous snapshot, and the whole
 *   call is one (child) write transaction: a crash leaves the old round or the new one,
 *   never half of it (child transactions; see event-store.ts for why).
 * - Window sketches are written and read back as Uint8Array.
 * - Keys lead with the shard, so moving a shard to another worker (or later
 *   another machine) is one range read of [shard] .. [shard + 1).
 * - A snapshot's dedup hashes of SNAPSHOT_ID_HASHES_APART_BYTES or more are
 *   kept apart, in their own database without LZ4, under the same key; the
 *   snapshot then holds `recentIdHashesApart` (their byte length) instead,
 *   and both are written in the same transaction. Why: 64-bit hashes do not
 *   compress (LZ4 saved 13 % of their bytes) and a busy owner holds 100K of
 *   them (1.2 MB) in every snapshot round; LZ4 over them was ~3 % of the
 *   server's CPU at saturation (bench/RESULTS.md). The windows, which
 *   compress 2×, stay in the compressed snapshot. Smaller hashes (an owner of
 *   a few hundred ids or fewer) stay inline: one entry per owner, as before.
 *   Snapshots written before keep their hashes inline and read as they did.
 */
import type { OwnerSnapshot } from '../../actors/types.js';
import type { ShardCheckpoint, SnapshotStore } from '../port.js';
import { StoreClosedError, StoreCorruptError, StoreInputError, StoreWriteError } from '../errors.js';
import { acquireLmdbEnv, DB_NAMES, releaseLmdbEnv, type LmdbEnv, type LmdbEnvOptions } from './env.js';
import { readCheckpoint, readOwnerSnapshot, settle, storableSnapshot, getChecked } from './codec.js';
import { checkOwner } from './event-store.js';
import type { Database } from 'lmdb';

/** Dedup hashes this large or larger are kept apart from the snapshot, uncompressed (~340 ids). */
export const SNAPSHOT_ID_HASHES_APART_BYTES = 4096;

function checkShard(shard: unknown, field: string): void {
  if (typeof shard !== 'number' || !Number.isInteger(shard) || shard < 0) {
    throw new StoreInputError('shard must be a non-negative integer', field);
  }
}

export class LmdbSnapshotStore implements SnapshotStore {
  readonly #env: LmdbEnv;
  readonly #snapshots: Database;
  readonly #idHashes: Database;
  readonly #checkpoints: Database;
  #closed = false;

  constructor(options: LmdbEnvOptions) {
    this.#env = acquireLmdbEnv(options);
    this.#snapshots = this.#env.db(DB_NAMES.snapshots);
    this.#idHashes = this.#env.db(DB_NAMES.snapshotIdHashes);
    this.#checkpoints = this.#env.db(DB_NAMES.checkpoints);
  }

  async putOwnerSnapshots(shard: number, snapshots: readonly OwnerSnapshot[]): Promise<void> {
    this.#open('putOwnerSnapshots');
    checkShard(shard, 'shard');
    if (snapshots.length === 0) return;
    // Check before writing, as the style asks for data crossing a boundary:
    // a snapshot that cannot be restored is worse than one refused now.
    for (let i = 0; i < snapshots.length; i++) {
      const snapshot = snapshots[i]!;
      checkOwner(snapshot.owner, `${i}/owner`);
      for (let w = 0; w < snapshot.windows.length; w++) {
        if (!(snapshot.windows[w]!.uniquesSketch instanceof Uint8Array)) {
          throw new StoreInputError('uniquesSketch must be a Uint8Array', `${i}/windows/${w}/uniquesSketch`);
        }
      }
    }
    const db = this.#snapshots;
    const idHashes = this.#idHashes;
    try {
      await db.childTransaction(() => {
        for (let i = 0; i < snapshots.length; i++) {
          const snapshot = snapshots[i]!;
          const key = [shard, snapshot.owner];
          const hashes = snapshot.recentIdHashes;
          if (hashes !== undefined && hashes.byteLength >= SNAPSHOT_ID_HASHES_APART_BYTES) {
            const { recentIdHashes: _apart, ...rest } = snapshot;
            void idHashes.put(key, hashes);
            void db.put(key, { ...storableSnapshot(rest), recentIdHashesApart: hashes.byteLength });
          } else {
            void db.put(key, storableSnapshot(snapshot));
          }
        }
      });
    } catch (cause) {
      throw new StoreWriteError('putOwnerSnapshots', { cause });
    }
  }

  getOwnerSnapshot(shard: number, owner: string): Promise<OwnerSnapshot | undefined> {
    return settle(() => {
      this.#open('getOwnerSnapshot');
      const snapshot = getChecked(this.#snapshots, [shard, owner], 'getOwnerSnapshot', readOwnerSnapshot);
      if (snapshot === undefined) return undefined;
      const apart = (snapshot as OwnerSnapshot & { recentIdHashesApart?: unknown }).recentIdHashesApart;
      if (apart === undefined) return snapshot;
      const bytes = getChecked(this.#idHashes, [shard, owner], 'getOwnerSnapshot', (value) => value);
      if (typeof apart !== 'number' || !(bytes instanceof Uint8Array) || bytes.byteLength !== apart) {
        const found = bytes instanceof Uint8Array ? `${bytes.byteLength} bytes` : 'missing';
        throw new StoreCorruptError(`the snapshot's dedup hashes kept apart are ${found}, where it says ${JSON.stringify(apart)}`, 'recentIdHashes');
      }
      delete (snapshot as { recentIdHashesApart?: unknown }).recentIdHashesApart;
      // A copy: lmdb-js may hand out a view of its read buffer.
      snapshot.recentIdHashes = new Uint8Array(bytes);
      return snapshot;
    });
  }

  async deleteOwnerSnapshots(shard: number, owners: readonly string[]): Promise<void> {
    this.#open('deleteOwnerSnapshots');
    checkShard(shard, 'shard');
    if (owners.length === 0) return;
    const db = this.#snapshots;
    try {
      const idHashes = this.#idHashes;
      await db.childTransaction(() => {
        for (let i = 0; i < owners.length; i++) {
          void db.remove([shard, owners[i]!]);
          void idHashes.remove([shard, owners[i]!]);
        }
      });
    } catch (cause) {
      throw new StoreWriteError('deleteOwnerSnapshots', { cause });
    }
  }

  async putCheckpoint(checkpoint: ShardCheckpoint): Promise<void> {
    this.#open('putCheckpoint');
    checkShard(checkpoint.shard, 'shard');
    try {
      await this.#checkpoints.put(checkpoint.shard, checkpoint);
    } catch (cause) {
      throw new StoreWriteError('putCheckpoint', { cause });
    }
  }

  getCheckpoint(shard: number): Promise<ShardCheckpoint | undefined> {
    return settle(() => {
      this.#open('getCheckpoint');
      return getChecked(this.#checkpoints, shard, 'getCheckpoint', readCheckpoint);
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
