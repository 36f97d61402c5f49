/**
 * The Redis key schema of the snapshot store. docs/redis.md documents it for
 * programs that read counters straight from Redis; change both together.
 *
 *   <prefix>:{<shard>}:owner:<owner>                  hash    takenAtMs, windows ("1s:<startMs> 1m:<startMs> ...")
 *   <prefix>:{<shard>}:snap:<owner>                   string  the whole snapshot, binary (layout 'blob')
 *   <prefix>:{<shard>}:ids:<owner>                    string  recent event ids, binary (layout 'hashes')
 *   <prefix>:{<shard>}:win:<res>:<startMs>:<owner>    hash    readable counters of one open window
 *   <prefix>:{<shard>}:hll:<res>:<startMs>:<owner>    string  that window's HyperLogLog sketch, binary
 *   <prefix>:{<shard>}:checkpoint                     hash    shard, takenAtMs, logOffset
 *
 * Invariants:
 * - The owner is always the last segment and is written verbatim. Every part
 *   before it (kind, resolution, startMs) is free of ':', so a key names
 *   exactly one (kind, shard, resolution, startMs, owner) whatever characters
 *   the owner holds: owner "a:win:1s:0" cannot collide with owner "a".
 * - The shard sits in braces, a Redis Cluster hash tag: every key of a shard
 *   hashes to the same slot, so one MULTI may cover a whole shard's round and
 *   moving a shard moves one slot's worth of keys.
 * - The prefix (default `evt`) namespaces a deployment; it may not contain
 *   '{' or '}', which would move the hash tag.
 */
import assert from 'node:assert/strict';
import { RESOLUTION_MS, type Resolution } from '../../actors/types.js';
import { StoreCorruptError } from '../errors.js';

export const DEFAULT_KEY_PREFIX = 'evt';

/** Builds the keys of one prefix. One instance per store; the methods allocate only the key string. */
export class RedisKeys {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_KEY_PREFIX) {
    assert.ok(prefix.length > 0 && !/[{}]/.test(prefix), 'redis key prefix must be non-empty and free of braces');
    this.prefix = prefix;
  }

  /** `<prefix>:{<shard>}:`, the part every key of a shard starts with. */
  shard(shard: number): string {
    return `${this.prefix}:{${shard}}:`;
  }

  owner(shard: number, owner: string): string {
    return `${this.prefix}:{${shard}}:owner:${owner}`;
  }

  snap(shard: number, owner: string): string {
    return `${this.prefix}:{${shard}}:snap:${owner}`;
  }

  ids(shard: number, owner: string): string {
    return `${this.prefix}:{${shard}}:ids:${owner}`;
  }

  window(shard: number, resolution: Resolution, startMs: number, owner: string): string {
    return `${this.prefix}:{${shard}}:win:${resolution}:${startMs}:${owner}`;
  }

  sketch(shard: number, resolution: Resolution, startMs: number, owner: string): string {
    return `${this.prefix}:{${shard}}:hll:${resolution}:${startMs}:${owner}`;
  }

  checkpoint(shard: number): string {
    return `${this.prefix}:{${shard}}:checkpoint`;
  }
}

/** One entry of the owner hash's `windows` field: `<res>:<startMs>`. */
export function windowRef(resolution: Resolution, startMs: number): string {
  return `${resolution}:${startMs}`;
}

/** Reads a `windows` entry back; anything else is corruption of the owner index. */
export function parseWindowRef(ref: string): { resolution: Resolution; startMs: number } {
  const cut = ref.indexOf(':');
  const resolution = ref.slice(0, cut);
  const startMs = Number(ref.slice(cut + 1));
  if (cut < 0 || !Object.hasOwn(RESOLUTION_MS, resolution) || !Number.isInteger(startMs)) {
    throw new StoreCorruptError(`owner index names a bad window "${ref}"`, 'windows');
  }
  return { resolution: resolution as Resolution, startMs };
}
