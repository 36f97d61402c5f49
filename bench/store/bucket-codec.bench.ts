/**
 * The event bucket format (src/store/lmdb/bucket-codec.ts) against what it
 * replaced, msgpackr with records (one Packr, useRecords, as the store had
 * it), in one tinybench run so the ratios survive a noisy machine: encoding a
 * 500-event bucket (what a worker does for every accepted batch), decoding it
 * (what GET /v1/events/:id does for one bucket), and the bytes (what LZ4 and
 * the map then handle).
 *
 * Then what the bytes cost in the store: the same buckets put into an LMDB
 * environment with the store's LZ4 settings (noSync, so the time is CPU:
 * lmdb-js compresses on the writing thread), each format into its own
 * environment, interleaved round by round, and the pages they take.
 *
 * Two shapes of events, made by the real path (JSON decoded and validated,
 * then wrapped as the shard host stores them): `harness`, the workload of
 * `eventide bench` (20 names, 5,000 users, 8 categories, two tags, three
 * properties and a 24-character pad, a value); `varied`, random UUID ids,
 * random user ids, paths with random numbers, a referrer, a session and a
 * float (what repeats less).
 *
 * Run: node dist/bench/store/bucket-codec.bench.js [rounds]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Packr } from 'msgpackr';
import { Bench } from 'tinybench';
import { decodeBody } from '../../src/actors/decode.js';
import { createValidatedBatch, createValidator, validateBatch } from '../../src/actors/validate.js';
import { DEFAULT_EVENT_LIMITS } from '../../src/actors/schema.js';
import { SEVERITIES, type StoredEvent } from '../../src/actors/types.js';
import { decodeBucket, encodeBucket } from '../../src/store/lmdb/bucket-codec.js';
import { acquireLmdbEnv, DB_NAMES, releaseLmdbEnv } from '../../src/store/lmdb/env.js';
import { defaults } from '../../config/defaults.js';
import { lmdbPageStats } from './lmdb-pages.js';

const EVENTS = 500;
const ROUNDS = Number(process.argv[2] ?? 5);
/** Buckets per format and round in the store part: 100K events. */
const BUCKETS_PER_ROUND = 200;
const NOW_MS = Date.now();

function harnessEvent(i: number): Record<string, unknown> {
  return {
    id: `r7f3a.2.00000${String(1000 + i)}-${String(i % 977).padStart(4, '0')}`,
    name: `event_${(i * 7) % 20}`,
    timestamp: NOW_MS - 2_000 + i,
    userId: `user-${(i * 7919) % 5000}`,
    category: `cat${i % 8}`,
    severity: SEVERITIES[i % SEVERITIES.length],
    tags: ['bench', `t${i % 16}`],
    properties: { plan: i % 2 === 0 ? 'free' : 'pro', n: (i * 31) % 1000, ok: i % 3 === 0, pad: 'x'.repeat(24) },
    value: Math.round(i * 317.3) / 100,
  };
}

const PATHS = ['/', '/home', '/products', '/cart', '/checkout', '/search', '/account'];
function variedEvent(i: number): Record<string, unknown> {
  return {
    id: randomUUID(),
    name: ['page_view', 'click', 'add_to_cart', 'purchase', 'search'][i % 5],
    timestamp: NOW_MS - 2_000 + i * 3,
    userId: `u_${Math.floor(Math.random() * 1e9).toString(36)}`,
    category: 'web',
    severity: 'info',
    tags: ['web', i % 3 === 0 ? 'desktop' : 'mobile'],
    properties: {
      path: PATHS[i % PATHS.length]! + (i % 2 === 1 ? `/${Math.floor(Math.random() * 1e6)}` : ''),
      referrer: i % 4 === 0 ? '' : 'https://www.example.com/',
      session: `s_${Math.floor(i / 20)}`,
      ms: Math.random() * 1000,
    },
    ...(i % 5 === 3 ? { value: Math.random() * 100 } : {}),
  };
}

function storedGroup(make: (i: number) => Record<string, unknown>): StoredEvent[] {
  const body = JSON.stringify({ events: Array.from({ length: EVENTS }, (_, i) => make(i)) });
  // The defaults hold every decode limit, as the shard host's config does.
  const decoded = decodeBody(new TextEncoder().encode(body), 'json', 'identity', defaults);
  const batch = createValidatedBatch();
  validateBatch(decoded.events, { requestId: 'bench', receivedAtMs: NOW_MS, validator: createValidator(DEFAULT_EVENT_LIMITS) }, batch);
  if (batch.records.length !== EVENTS) throw new Error(`validated ${batch.records.length} of ${EVENTS} events`);
  return batch.records.map((event) => ({ owner: 'owner-00042', shard: 417, status: 'accepted', event }));
}

const packr = new Packr({ useRecords: true, moreTypes: false });
const shapes = [
  { shape: 'harness', group: storedGroup(harnessEvent) },
  { shape: 'varied', group: storedGroup(variedEvent) },
].map(({ shape, group }) => {
  const packed = packr.pack(group);
  const encoded = encodeBucket(group);
  if (encoded === undefined) throw new Error(`${shape}: the events do not have the bucket shape`);
  return { shape, group, packed, encoded };
});

// ---- encoding and decoding, one tinybench run

const bench = new Bench({ time: 1_500, warmupTime: 300 });
for (const { shape, group, packed, encoded } of shapes) {
  bench
    .add(`${shape}: encode, msgpackr records (before)`, () => packr.pack(group))
    .add(`${shape}: encode, bucket-codec`, () => encodeBucket(group))
    .add(`${shape}: decode, msgpackr records (before)`, () => packr.unpack(packed))
    .add(`${shape}: decode, bucket-codec`, () => decodeBucket(encoded));
}
await bench.run();

/** Median time of a task, ms. */
const median = (name: string): number => {
  const result = bench.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return result.latency.p50;
};
console.table(
  bench.tasks.map((t) => ({
    task: t.name,
    'µs per bucket (median)': (median(t.name) * 1_000).toFixed(1),
    'µs per event': ((median(t.name) * 1_000) / EVENTS).toFixed(3),
  })),
);

// ---- the store: LZ4 and the put, then pages

/** `codec-nolz4`: the same buckets into an environment without compression, for what LZ4 costs and saves on top of the layout. */
const FORMATS = ['msgpack', 'codec', 'codec-nolz4'] as const;
const dirs = shapes.flatMap(({ shape }) =>
  FORMATS.map((format) => ({ shape, format, dir: fs.mkdtempSync(path.join(os.tmpdir(), `eventide-bucket-${shape}-${format}-`)) })),
);
const putMs = new Map<string, number[]>();
let seq = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const side of dirs) {
    const { packed, encoded } = shapes.find((s) => s.shape === side.shape)!;
    const bytes = side.format === 'msgpack' ? packed : encoded;
    const env = acquireLmdbEnv({ path: side.dir, noSync: true, compress: side.format !== 'codec-nolz4' });
    const db = env.db(DB_NAMES.eventBuckets);
    const t0 = performance.now();
    await db.transaction(() => {
      for (let b = 0; b < BUCKETS_PER_ROUND; b++) void db.put([1, seq++], bytes);
    });
    const ms = performance.now() - t0;
    await releaseLmdbEnv(env);
    const key = `${side.shape}/${side.format}`;
    putMs.set(key, [...(putMs.get(key) ?? []), ms]);
  }
}
const rows = dirs.map((side) => {
  const key = `${side.shape}/${side.format}`;
  const times = putMs.get(key)!.slice(1).sort((a, b) => a - b);
  const pages = lmdbPageStats(side.dir, [DB_NAMES.eventBuckets]).dbs[0]!;
  return {
    side: key,
    'bucket bytes': (side.format === 'msgpack' ? shapes.find((s) => s.shape === side.shape)!.packed : shapes.find((s) => s.shape === side.shape)!.encoded).length,
    'µs per event to put (LZ4 + LMDB), median': ((times[times.length >> 1]! * 1_000) / (BUCKETS_PER_ROUND * EVENTS)).toFixed(3),
    'bytes per event in pages': (pages.bytes / (ROUNDS * BUCKETS_PER_ROUND * EVENTS)).toFixed(1),
  };
});
console.table(rows);
for (const { shape } of shapes) {
  const enc = median(`${shape}: encode, bucket-codec`) / median(`${shape}: encode, msgpackr records (before)`);
  const dec = median(`${shape}: decode, bucket-codec`) / median(`${shape}: decode, msgpackr records (before)`);
  const row = (format: string) => rows.find((r) => r.side === `${shape}/${format}`)!;
  const put = (format: string) => Number(row(format)['µs per event to put (LZ4 + LMDB), median']);
  const pages = (format: string) => Number(row(format)['bytes per event in pages']);
  console.log(
    `${shape}: encode ${enc.toFixed(2)}x the time of msgpackr, decode ${dec.toFixed(2)}x, bucket ${(row('codec')['bucket bytes'] / row('msgpack')['bucket bytes']).toFixed(2)}x the bytes, ` +
      `put ${(put('codec') / put('msgpack')).toFixed(2)}x the time (${(put('codec-nolz4') / put('msgpack')).toFixed(2)}x without LZ4), ` +
      `pages ${(pages('codec') / pages('msgpack')).toFixed(2)}x (${(pages('codec-nolz4') / pages('msgpack')).toFixed(2)}x without LZ4).`,
  );
}
console.log(`Node ${process.version}; ${ROUNDS} rounds of ${BUCKETS_PER_ROUND} buckets of ${EVENTS} events per side, the first round a warm-up.`);
for (const side of dirs) fs.rmSync(side.dir, { recursive: true, force: true });
