/**
 * What the columnar path's differential tests share (columns.test.ts for
 * protobuf, columns-msgpack.test.ts): a seeded generator, the limits and
 * owner options both paths run with, and the record path's and the columns'
 * buckets for one batch.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { decodeBody } from '../../src/actors/decode.js';
import { OwnerActor, type ApplySink, type ColumnSink, type OwnerOptions } from '../../src/actors/owner.js';
import { createValidator } from '../../src/actors/validate.js';
import { STATUS_DUPLICATE, type ColumnReader } from '../../src/actors/columns.js';
import { eventLimitsFrom } from '../../src/actors/schema.js';
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

/**
 * Both paths on one body, from fresh owners: when the record path refuses
 * the body the columnar reader must give it up; when the reader takes it,
 * the batch id, ids, receipts, counts and the stored bucket must be the
 * record path's. True when the reader took it.
 */
export function agree(reader: ColumnReader, body: Buffer, receivedAtMs: number, label: string, format: 'protobuf' | 'msgpack'): boolean {
  const validator = createValidator(LIMITS);
  let decoded: ReturnType<typeof decodeBody>;
  try {
    decoded = decodeBody(body, format, 'identity', defaults);
  } catch {
    assert.equal(reader.read(body, receivedAtMs, format), false, `${label}: the record path refuses this body, so the columnar reader must give it up`);
    return false;
  }
  const batch = validator.validateBatch(decoded.events, { receivedAtMs, requestId: 'req' });
  if (!reader.read(body, receivedAtMs, format)) return false;
  const cols = reader.columns;
  assert.equal(decoded.single, false, `${label}: a single event body taken`);
  assert.equal(cols.n, decoded.events.length, label);
  assert.equal(cols.rejected, batch.rejected, `${label}: rejected events`);
  assert.equal(cols.batchId, decoded.batchId, `${label}: batchId`);
  for (let j = 0; j < batch.records.length; j++) assert.equal(cols.id(batch.indexes[j]!), batch.records[j]!.id, `${label}: ids`);
  const owner = 'owner-wire';
  const viaRecords = new OwnerActor(owner, OPTIONS, receivedAtMs);
  const viaColumns = new OwnerActor(owner, OPTIONS, receivedAtMs);
  const sink: ApplySink = { shard: 1, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: batch.rejected }, receipts: batch.receipts, receiptsAll: true, stored: [], storedIdWords: [] };
  viaRecords.applyBatch(batch.records, batch.indexes, receivedAtMs, sink);
  const columnSink: ColumnSink = { counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: cols.rejected }, receipts: [...cols.rejections], receiptsAll: true };
  viaColumns.applyColumns(cols, receivedAtMs, columnSink);
  assert.deepEqual(columnSink.counts, sink.counts, `${label}: counts`);
  assert.deepEqual(byIndex(columnSink.receipts), byIndex(sink.receipts), `${label}: receipts`);
  if (sink.stored.length > 0) {
    const actual = columnBuckets(reader, owner, 1, sink.stored.length);
    assert.ok(actual[0]!.equals(recordBuckets(sink.stored)[0]!), `${label}: the bucket differs from encodeBucket's`);
  }
  reader.columns.release();
  return true;
}

/** One to three random changes to a body's bytes: a byte replaced, removed or inserted, or the body cut short. */
export function mangle(bytes: number[], rand: () => number): number[] {
  for (let m = 1 + Math.floor(rand() * 3); m > 0 && bytes.length > 0; m--) {
    const at = Math.floor(rand() * bytes.length);
    const r = rand();
    if (r < 0.5) bytes[at] = Math.floor(rand() * 256);
    else if (r < 0.7) bytes.splice(at, 1);
    else if (r < 0.9) bytes.splice(at, 0, Math.floor(rand() * 256));
    else bytes.length = at;
  }
  return bytes;
}
