/**
 * The event bucket format (src/store/lmdb/bucket-codec.ts) against what it
 * replaced, msgpackr with records (one Packr, useRecords, as the store had
 * it), in one tinybench run so the ratios survive a noisy machine: encoding a
 * 500-event bucket (what a worker does for every accepted batch), decoding it
 * (what GET /v1/events/:id does for one bucket), and the bytes (what LZ4 and
 * the map then handle).
 *
 * The events are made by the real path: harness-shaped JSON (the workload of
 * `eventide bench`: ids, 20 names, users, 8 categories, two tags, three
 * properties, a value, padded to ~200 bytes) decoded and validated, then
 * wrapped as the shard host stores them.
 *
 * Run: node dist/bench/store/bucket-codec.bench.js
 */
import { Packr } from 'msgpackr';
import { Bench } from 'tinybench';
import { decodeBody } from '../../src/actors/decode.js';
import { createValidatedBatch, createValidator, validateBatch } from '../../src/actors/validate.js';
import { DEFAULT_EVENT_LIMITS } from '../../src/actors/schema.js';
import { SEVERITIES, type StoredEvent } from '../../src/actors/types.js';
import { decodeBucket, encodeBucket } from '../../src/store/lmdb/bucket-codec.js';
import { defaults } from '../../config/defaults.js';

const EVENTS = 500;
const NOW_MS = Date.now();

const body = JSON.stringify({
  events: Array.from({ length: EVENTS }, (_, i) => ({
    id: `r7f3a.2.00000${String(1000 + i)}-${String(i % 977).padStart(4, '0')}`,
    name: `event_${i % 20}`,
    timestamp: NOW_MS - 2_000 + i,
    userId: `user-${(i * 7919) % 5000}`,
    category: `cat${i % 8}`,
    severity: SEVERITIES[i % SEVERITIES.length],
    tags: ['bench', `t${i % 16}`],
    properties: { plan: i % 2 === 0 ? 'free' : 'pro', n: (i * 31) % 1000, ok: i % 3 === 0, pad: 'x'.repeat(24) },
    value: Math.round(i * 317.3) / 100,
  })),
});

const decoded = decodeBody(new TextEncoder().encode(body), 'json', 'identity', {
  bodyInflatedBytesMax: defaults.bodyInflatedBytesMax,
  batchEventsMax: defaults.batchEventsMax,
  idCharsMax: defaults.idCharsMax,
  bodyDepthMax: defaults.bodyDepthMax,
  tagsMax: defaults.tagsMax,
  propertiesMax: defaults.propertiesMax,
});
const batch = createValidatedBatch();
validateBatch(decoded.events, { requestId: 'bench', receivedAtMs: NOW_MS, validator: createValidator(DEFAULT_EVENT_LIMITS) }, batch);
const group: StoredEvent[] = batch.records.map((event) => ({ owner: 'owner-00042', shard: 417, status: 'accepted', event }));
if (group.length !== EVENTS) throw new Error(`validated ${group.length} of ${EVENTS} events`);

const packr = new Packr({ useRecords: true, moreTypes: false });
const packed = packr.pack(group);
const encoded = encodeBucket(group);
if (encoded === undefined) throw new Error('the events do not have the bucket shape');

const bench = new Bench({ time: 2_000, warmupTime: 500 });
bench
  .add('encode: msgpackr records (before)', () => packr.pack(group))
  .add('encode: bucket-codec', () => encodeBucket(group))
  .add('decode: msgpackr records (before)', () => packr.unpack(packed))
  .add('decode: bucket-codec', () => decodeBucket(encoded));
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
console.log(
  `encode: bucket-codec takes ${(median('encode: bucket-codec') / median('encode: msgpackr records (before)')).toFixed(2)}x the time of msgpackr; ` +
    `decode: ${(median('decode: bucket-codec') / median('decode: msgpackr records (before)')).toFixed(2)}x; ` +
    `bytes: ${encoded.length} vs ${packed.length} (${(encoded.length / packed.length).toFixed(2)}x). Node ${process.version}.`,
);
