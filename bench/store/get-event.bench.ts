/**
 * What `GET /v1/events/:id` costs with the embedded store: getEvent walks the
 * owner's bucket entries oldest first, one id list each, until one holds the
 * id. An absent id walks them all, so the time per bucket is the figure
 * (docs/http-api.md quotes it). 400 buckets of 500 events, one owner.
 *
 * Run: node dist/bench/store/get-event.bench.js [buckets=400]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StoredEvent } from '../../src/actors/types.js';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';

const BUCKETS = Number(process.argv[2] ?? 400);
const LOOKUPS = 50;
const T = Date.now();

function stored(id: string): StoredEvent {
  return {
    owner: 'acme',
    shard: 1,
    status: 'accepted',
    event: { id, name: 'n', timestampMs: T, clientTimestampMs: T, receivedAtMs: T, userId: undefined, category: 'c', severity: 'info', tags: [], properties: {}, value: undefined },
  };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-get-event-'));
const store = new LmdbEventStore({ path: dir });
try {
  for (let b = 0; b < BUCKETS; b++) await store.writeEvents(Array.from({ length: 500 }, (_, i) => stored(`id-${b}-${i}`)));
  for (let round = 0; round < 4; round++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < LOOKUPS; k++) if ((await store.getEvent('acme', `absent-${k}`)) !== undefined) throw new Error('found an absent id');
    const us = Number(process.hrtime.bigint() - t0) / 1_000 / LOOKUPS;
    const last = await store.getEvent('acme', `id-${BUCKETS - 1}-499`);
    if (last?.event.id !== `id-${BUCKETS - 1}-499`) throw new Error('the last event was not found');
    console.log(`round ${round}${round === 0 ? ' (warm-up)' : ''}: an absent id over ${BUCKETS} buckets ${us.toFixed(0)} µs, ${(us / BUCKETS).toFixed(2)} µs per bucket`);
  }
} finally {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
