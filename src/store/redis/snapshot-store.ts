/**
 * SnapshotStore over Redis (ioredis). Key schema in keys.ts and docs/redis.md.
 *
 * Invariants (from src/store/port.ts, kept here):
 * - putOwnerSnapshots is one MULTI/EXEC sent as one pipeline: Redis applies
 *   the whole call or none of it, and a reader never sees a window hash
 *   deleted but not yet rewritten. Every key of the call lives under one shard
 *   hash tag, so the same holds on a Redis Cluster.
 * - Each owner's binary snapshot (`snap`) is what getOwnerSnapshot restores,
 *   in one GET; it replaces the previous one whole. The readable hashes are a
 *   second copy for other programs and are never read back by the store.
 * - Every key is written with a TTL (keyTtlMs) and every write renews it, so
 *   state that nobody updates any more leaves Redis on its own.
 * - Everything is encoded and checked before the first byte goes out: a
 *   snapshot that cannot be encoded fails the call with nothing written.
 * - A call fails within commandTimeoutMs when Redis is down or stopped, with a
 *   retryable EVT_STORE_WRITE / EVT_STORE_READ; the connection comes back by
 *   itself (connection.ts), so the next call after Redis returns succeeds.
 */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { OwnerSnapshot } from '../../actors/types.js';
import { EventideError } from '../../errors.js';
import type { ShardCheckpoint, SnapshotStore } from '../port.js';
import { StoreClosedError, StoreCorruptError, StoreInputError, StoreReadError, StoreWriteError } from '../errors.js';
import { checkpointFields, checkpointFromFields, decodeSnapshot, encodeSnapshot, windowFields } from './codec.js';
import { describeRedisError, RedisConnection } from './connection.js';
import { DEFAULT_KEY_PREFIX, parseWindowRef, RedisKeys, windowRef } from './keys.js';

export interface RedisSnapshotStoreOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://...`. */
  url: string;
  /** First segment of every key; namespaces a deployment (or a test). Default `evt`. */
  keyPrefix?: string;
  /** Time to live of every key, renewed on every write. Default 2 days: outlives a restart or a long weekend outage. */
  keyTtlMs?: number;
  /** Also write the readable window hashes and the owner index (other programs read them). Default true. */
  readableHashes?: boolean;
  /** A command (or a whole MULTI) without an answer for this long fails. Default 2 s. */
  commandTimeoutMs?: number;
  /** The first connect fails after this. Default 2 s. */
  connectTimeoutMs?: number;
  /** Reconnect attempts back off from 50 ms up to this. Default 1 s, so Redis's return is noticed within about a second. */
  reconnectDelayMsMax?: number;
}

export type ResolvedRedisSnapshotStoreOptions = Readonly<Required<RedisSnapshotStoreOptions>>;

export const REDIS_SNAPSHOT_DEFAULTS = Object.freeze({
  keyPrefix: DEFAULT_KEY_PREFIX,
  keyTtlMs: 2 * 24 * 3_600_000,
  readableHashes: true,
  commandTimeoutMs: 2_000,
  connectTimeoutMs: 2_000,
  reconnectDelayMsMax: 1_000,
});

/** What the runtime may show about the store (/readyz, /metrics). Counters only grow. */
export interface RedisSnapshotStoreStats {
  /** ioredis connection status: 'wait' (not yet used), 'ready', 'reconnecting', 'end', ... */
  status: string;
  available: boolean;
  callsFailed: number;
  connectionErrors: number;
  lastError: string | undefined;
}

function resolveOptions(options: RedisSnapshotStoreOptions): ResolvedRedisSnapshotStoreOptions {
  const resolved = { ...REDIS_SNAPSHOT_DEFAULTS, ...options };
  assert.ok(/^rediss?:\/\//.test(resolved.url), 'redis url must start with redis:// or rediss://');
  for (const name of ['keyTtlMs', 'commandTimeoutMs', 'connectTimeoutMs', 'reconnectDelayMsMax'] as const) {
    assert.ok(Number.isInteger(resolved[name]) && resolved[name] > 0, `${name} must be a positive integer`);
  }
  return Object.freeze(resolved);
}

function checkShard(shard: unknown, field: string): void {
  if (typeof shard !== 'number' || !Number.isInteger(shard) || shard < 0) {
    throw new StoreInputError('shard must be a non-negative integer', field);
  }
}

/** Detail for a message: what went wrong with Redis, without the stack. */
function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** EXEC answers [error, reply] per queued command; any error fails the call. */
function firstExecError(results: Array<[Error | null, unknown]> | null): Error | undefined {
  if (results === null) return new Error('transaction aborted');
  for (const [error] of results) if (error !== null) return error;
  return undefined;
}

export class RedisSnapshotStore implements SnapshotStore {
  readonly options: ResolvedRedisSnapshotStoreOptions;
  readonly #connection: RedisConnection;
  readonly #keys: RedisKeys;
  #callsFailed = 0;
  #lastError: string | undefined;
  #closed = false;

  constructor(options: RedisSnapshotStoreOptions) {
    this.options = resolveOptions(options);
    this.#keys = new RedisKeys(this.options.keyPrefix);
    this.#connection = new RedisConnection({
      url: this.options.url,
      commandTimeoutMs: this.options.commandTimeoutMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
      reconnectDelayMsMax: this.options.reconnectDelayMsMax,
      connectionName: 'eventide-snapshots',
    });
  }

  async putOwnerSnapshots(shard: number, snapshots: readonly OwnerSnapshot[]): Promise<void> {
    this.#open('putOwnerSnapshots');
    checkShard(shard, 'shard');
    if (snapshots.length === 0) return;
    const blobs = this.#encode(snapshots);
    await this.#call('putOwnerSnapshots', StoreWriteError, async (client) => {
      const keys = this.#keys;
      const ttlMs = this.options.keyTtlMs;
      const tx = client.multi();
      for (let i = 0; i < snapshots.length; i++) {
        const snapshot = snapshots[i]!;
        const owner = snapshot.owner;
        tx.set(keys.snap(shard, owner), blobs[i]!, 'PX', ttlMs);
        if (!this.options.readableHashes) continue;
        const refs: string[] = [];
        for (const w of snapshot.windows) {
          const windowKey = keys.window(shard, w.resolution, w.startMs, owner);
          tx.del(windowKey);
          tx.hset(windowKey, ...windowFields(w, snapshot.takenAtMs));
          tx.pexpire(windowKey, ttlMs);
          tx.set(keys.sketch(shard, w.resolution, w.startMs, owner), Buffer.from(w.uniquesSketch.buffer, w.uniquesSketch.byteOffset, w.uniquesSketch.byteLength), 'PX', ttlMs);
          refs.push(windowRef(w.resolution, w.startMs));
        }
        const ownerKey = keys.owner(shard, owner);
        tx.del(ownerKey);
        tx.hset(ownerKey, 'takenAtMs', String(snapshot.takenAtMs), 'windows', refs.join(' '));
        tx.pexpire(ownerKey, ttlMs);
      }
      const failed = firstExecError(await tx.exec());
      if (failed !== undefined) throw failed;
    });
  }

  async getOwnerSnapshot(shard: number, owner: string): Promise<OwnerSnapshot | undefined> {
    this.#open('getOwnerSnapshot');
    checkShard(shard, 'shard');
    const bytes = await this.#call('getOwnerSnapshot', StoreReadError, (client) => client.getBuffer(this.#keys.snap(shard, owner)));
    if (bytes === null) return undefined;
    const snapshot = decodeSnapshot(bytes);
    // Check after restore, as before write: a snapshot under another owner's key is a bug, not data.
    if (snapshot.owner !== owner) throw new StoreCorruptError(`snapshot under owner "${owner}" belongs to "${snapshot.owner}"`, 'owner');
    return snapshot;
  }

  async deleteOwnerSnapshots(shard: number, owners: readonly string[]): Promise<void> {
    this.#open('deleteOwnerSnapshots');
    checkShard(shard, 'shard');
    if (owners.length === 0) return;
    await this.#call('deleteOwnerSnapshots', StoreWriteError, async (client) => {
      const keys = this.#keys;
      // The owner index names the window keys to delete with it. Read them
      // first (one round trip), whatever readableHashes says now: an earlier
      // run may have written them.
      const read = client.pipeline();
      for (const owner of owners) read.hget(keys.owner(shard, owner), 'windows');
      const refs = await read.exec();
      const tx = client.multi();
      for (let i = 0; i < owners.length; i++) {
        const owner = owners[i]!;
        const doomed = [keys.snap(shard, owner), keys.owner(shard, owner)];
        const [error, listed] = refs?.[i] ?? [null, null];
        if (error !== null) throw error;
        if (typeof listed === 'string' && listed.length > 0) {
          for (const ref of listed.split(' ')) {
            const { resolution, startMs } = parseWindowRef(ref);
            doomed.push(keys.window(shard, resolution, startMs, owner), keys.sketch(shard, resolution, startMs, owner));
          }
        }
        tx.del(...doomed);
      }
      const failed = firstExecError(await tx.exec());
      if (failed !== undefined) throw failed;
    });
  }

  async putCheckpoint(checkpoint: ShardCheckpoint): Promise<void> {
    this.#open('putCheckpoint');
    checkShard(checkpoint.shard, 'shard');
    const fields = checkpointFields(checkpoint);
    await this.#call('putCheckpoint', StoreWriteError, async (client) => {
      const key = this.#keys.checkpoint(checkpoint.shard);
      const failed = firstExecError(await client.multi().del(key).hset(key, ...fields).pexpire(key, this.options.keyTtlMs).exec());
      if (failed !== undefined) throw failed;
    });
  }

  async getCheckpoint(shard: number): Promise<ShardCheckpoint | undefined> {
    this.#open('getCheckpoint');
    checkShard(shard, 'shard');
    const fields = await this.#call('getCheckpoint', StoreReadError, (client) => client.hgetall(this.#keys.checkpoint(shard)));
    return checkpointFromFields(fields);
  }

  stats(): RedisSnapshotStoreStats {
    const status = this.#closed ? 'closed' : this.#connection.status;
    return {
      status,
      available: !this.#closed && this.#connection.usable,
      callsFailed: this.#callsFailed,
      connectionErrors: this.#connection.connectionErrors,
      lastError: this.#lastError ?? this.#connection.lastConnectionError,
    };
  }

  /** Resolves when Redis answers again (the connection's next 'ready'); never rejects, so bound it yourself. */
  whenAvailable(): Promise<void> {
    this.#open('whenAvailable');
    return this.#connection.whenReady();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#connection.close();
  }

  #open(operation: string): void {
    if (this.#closed) throw new StoreClosedError(operation);
  }

  /** Encodes every snapshot, or throws before anything is sent. */
  #encode(snapshots: readonly OwnerSnapshot[]): Buffer[] {
    const blobs: Buffer[] = new Array<Buffer>(snapshots.length);
    for (let i = 0; i < snapshots.length; i++) {
      const snapshot = snapshots[i]!;
      if (typeof snapshot.owner !== 'string' || snapshot.owner.length === 0) {
        throw new StoreInputError('owner must be a non-empty string', `${i}/owner`);
      }
      for (let w = 0; w < snapshot.windows.length; w++) {
        if (!(snapshot.windows[w]!.uniquesSketch instanceof Uint8Array)) {
          throw new StoreInputError('uniquesSketch must be a Uint8Array', `${i}/windows/${w}/uniquesSketch`);
        }
      }
      try {
        blobs[i] = encodeSnapshot(snapshot);
      } catch (cause) {
        throw new StoreWriteError(`putOwnerSnapshots: snapshot ${i} cannot be encoded (${describe(cause)})`, { cause });
      }
    }
    return blobs;
  }

  /**
   * Runs one call against Redis; any failure of Redis or of the connection
   * becomes the given retryable store error, counted, with what went wrong in
   * its message. Errors of our own (StoreCorruptError) pass through.
   */
  async #call<T>(
    operation: string,
    Failure: typeof StoreWriteError | typeof StoreReadError,
    body: (client: Redis) => Promise<T>,
  ): Promise<T> {
    try {
      return await body(await this.#connection.ready());
    } catch (cause) {
      if (cause instanceof EventideError) throw cause;
      this.#callsFailed++;
      this.#lastError = describeRedisError(cause);
      throw new Failure(`${operation} (redis: ${this.#lastError})`, { cause });
    }
  }
}
