/**
 * What the columnar path's differential tests share (columns.test.ts for
 * protobuf, columns-msgpack.test.ts): a seeded generator, the limits and
 * owner options both paths run with, and the record path's and the columns'
 * buckets for one batch.
 */
import { Buffer } from 'node:buffer';
import { STATUS_DUPLICATE, type ColumnReader } from '../../src/actors/columns.js';
import { eventLimitsFrom } from '../../src/actors/schema.js';
import type { OwnerOptions } from '../../src/actors/owner.js';
import type { Receipt, StoredEvent } from '../../src/actors/types.js';
import { encodeBucket, encodeBucketColumns } from '../../src/store/lmdb/bucket-codec.js';
import { defaults } from '../../config/defaults.js';

export const LIMITS = eventLimitsFrom(defaults);
export const OPTIONS: OwnerOptions = {
  resolutions: ['1s', '1m', '1h', '1d'],
  allowedLatenessMs: 2_000,
  dedupHorizonMs: 60_000,
  dedupIdsMax: 200,
  hllPrecision: 12,
  namesPerWindowMax: 6,
};

export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

export function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

export function asciiString(rand: () => number, min: number, max: number): string {
  const n = min + Math.floor(rand() * (max - min + 1));
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(32 + Math.floor(rand() * 95));
  return s;
}

export const NAMES = ['signup', 'login', 'page_view', 'purchase', 'click', 'search', 'logout', 'share', 'a_name_that_is_longer_than_thirty_two_bytes'];
export const CATEGORIES = ['default', 'web', 'ios', 'android', 'api'];
export const TAGS = ['a', 'beta', 'x1', 'long-tag-with-more-than-thirty-two-chars-in-it', 'eu'];
export const KEYS = ['plan', 'n', 'ok', 'pad', 'path', 'price', 'ratio', 'big', 'neg', 'k_9'];

export function byIndex(receipts: Receipt[]): Receipt[] {
  return [...receipts].sort((a, b) => a.index - b.index);
}

/** The record path's stored events as the store would bucket them (runs of up to 500). */
export function recordBuckets(stored: StoredEvent[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stored.length; i += 500) out.push(encodeBucket(stored.slice(i, i + 500))!);
  return out;
}

/** The columns' stored events (`count` of them, duplicates and rejections skipped) as the store would bucket them. */
export function columnBuckets(reader: ColumnReader, owner: string, shard: number, count: number): Buffer[] {
  const cols = reader.columns;
  const out: Buffer[] = [];
  let from = 0;
  for (let left = count; left > 0; ) {
    const take = Math.min(left, 500);
    let to = from;
    for (let taken = 0; taken < take; to++) if (cols.status[to]! < STATUS_DUPLICATE) taken++;
    out.push(encodeBucketColumns(owner, shard, cols, from, to, take, new Uint32Array(take)));
    left -= take;
    from = to;
  }
  return out;
}
