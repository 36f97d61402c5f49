/**
 * Bytes a shard worker allocates per event on its hot path, by allocating
 * function: decode (the one-pass JSON reader), validate, apply (OwnerActor),
 * pack (LmdbEventStore.prepareEvents), for 500-event batches of harness-like
 * events over 50 owners. V8's sampling heap profiler, with the objects young
 * and old collections freed kept in (every allocation counts, not only what
 * survives), after a warm-up. Allocation is what the scavenger pays for: a
 * worker at saturation allocates hundreds of MB/s (--trace-gc-nvp).
 *
 * Run: node dist/bench/runtime/alloc-per-event.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { decodeBody } from './dist/src/actors/decode.js';
import { createValidator } from './dist/src/actors/validate.js';
import { DEFAULT_EVENT_LIMITS } from './dist/src/actors/schema.js';
import { OwnerActor } from './dist/src/actors/owner.js';
import { LmdbEventStore } from './dist/src/store/lmdb/event-store.js';
import { defaults } from './dist/config/defaults.js';
const T = Date.now();
const BATCH_EVENTS = 500;
const OWNERS = 50;
const SAMPLED_BATCHES = 1_000;
let seed = 7;
const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'];
const body = (b) => Buffer.from(JSON.stringify({
    events: Array.from({ length: BATCH_EVENTS }, (_, i) => ({
        id: `r1a2b3.3.${String(1e11 + b * BATCH_EVENTS + i)}-${String(i).padStart(4, '0')}`,
        name: `event_${Math.floor(random() * 20)}`,
        timestamp: T + i,
        userId: `user-${Math.floor(random() * 1000)}`,
        category: `cat${Math.floor(random() * 8)}`,
        severity: SEVERITIES[Math.floor(random() * 6)],
        tags: ['bench', `t${Math.floor(random() * 16)}`],
        properties: { plan: random() < 0.5 ? 'free' : 'pro', n: Math.floor(random() * 1000), ok: random() < 0.5, pad: 'x'.repeat(20) },
        value: Math.round(random() * 100_000) / 100,
    })),
}));
// Distinct ids in every batch (ids repeat after 200 batches; dedup answers those, a real path too).
const bodies = Array.from({ length: 200 }, (_, b) => body(b));
const validator = createValidator(DEFAULT_EVENT_LIMITS);
const options = { resolutions: ['1s', '1m', '1h', '1d'], allowedLatenessMs: 5_000, dedupHorizonMs: 100, dedupIdsMax: 100_000, hllPrecision: 12, namesPerWindowMax: 1_000 };
const actors = Array.from({ length: OWNERS }, (_, o) => new OwnerActor(`owner-${o}`, options, T));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-alloc-'));
const store = new LmdbEventStore({ path: dir });
function batch(k) {
    const decoded = decodeBody(bodies[k % bodies.length], 'json', 'identity', defaults);
    const validated = validator.validateBatch(decoded.events, { receivedAtMs: T, requestId: 'r' });
    const sink = {
        shard: 1,
        counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: validated.rejected },
        receipts: validated.receipts,
        receiptsAll: false,
        stored: [],
        storedIdWords: [],
    };
    actors[k % OWNERS].applyBatch(validated.records, validated.indexes, T + k, sink);
    store.prepareEvents(sink.stored, sink.storedIdWords);
}

const t = { decode: 0n, validate: 0n, apply: 0n, prepare: 0n };
function timed(k) {
  const t0 = process.hrtime.bigint();
  const decoded = decodeBody(bodies[k % bodies.length], 'json', 'identity', defaults);
  const t1 = process.hrtime.bigint();
  const validated = validator.validateBatch(decoded.events, { receivedAtMs: T, requestId: 'r' });
  const t2 = process.hrtime.bigint();
  const sink = { shard: 1, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: validated.rejected }, receipts: validated.receipts, receiptsAll: false, stored: [], storedIdWords: [] };
  actors[k % OWNERS].applyBatch(validated.records, validated.indexes, T + k, sink);
  const t3 = process.hrtime.bigint();
  store.prepareEvents(sink.stored, sink.storedIdWords);
  const t4 = process.hrtime.bigint();
  t.decode += t1 - t0; t.validate += t2 - t1; t.apply += t3 - t2; t.prepare += t4 - t3;
}
for (let k = 0; k < 3000; k++) timed(k);
for (const key of Object.keys(t)) t[key] = 0n;
const N = 4000;
for (let k = 3000; k < 3000 + N; k++) timed(k);
let total = 0n; for (const v of Object.values(t)) total += v;
for (const [k, v] of Object.entries(t)) console.log(k.padEnd(9), (Number(v) / N / 500).toFixed(0).padStart(5), 'ns/event', (100 * Number(v) / Number(total)).toFixed(1) + '%');
console.log('total', (Number(total) / N / 500).toFixed(0), 'ns/event');
await store.close();
