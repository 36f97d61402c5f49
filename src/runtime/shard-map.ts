/**
 * Owners hash to a fixed number of shards; shards map onto worker threads.
 *
 * Hash to a fixed shard count, not the worker count, so changing the number
 * of workers moves whole shards (with their state) and never rehashes an
 * owner. The hash is FNV-1a 32-bit over the owner id's UTF-8 bytes
 * (src/actors/hash.ts); `shard = hash mod shardCount`.
 *
 * Shards are dealt to workers round robin (`worker = shard mod workerCount`):
 * with owners spread evenly over shards, every worker gets the same share.
 */
import assert from 'node:assert/strict';
import { shardOf } from '../actors/hash.js';

export class ShardMap {
  readonly shardCount: number;
  readonly workerCount: number;

  constructor(shardCount: number, workerCount: number) {
    assert.ok(Number.isInteger(shardCount) && shardCount >= 1, 'shardCount must be a positive integer');
    assert.ok(Number.isInteger(workerCount) && workerCount >= 1, 'workerCount must be a positive integer');
    assert.ok(workerCount <= shardCount, 'more workers than shards would leave workers idle');
    this.shardCount = shardCount;
    this.workerCount = workerCount;
  }

  shardOf(owner: string): number {
    return shardOf(owner, this.shardCount);
  }

  workerOf(shard: number): number {
    return shard % this.workerCount;
  }

  shardsOf(worker: number): number[] {
    const shards: number[] = [];
    for (let shard = worker; shard < this.shardCount; shard += this.workerCount) shards.push(shard);
    return shards;
  }
}
