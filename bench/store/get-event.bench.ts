/**
 * What `GET /v1/events/:id` costs with the embedded store: getEvent walks the
 * owner's bucket entries oldest first, reading each bucket's id list, until
 * one holds the id. An absent id walks them all, so the time per bucket is the figure
 * (docs/http-api.md quotes it). 400 buckets of 500 events, one owner; the
 * events about the size the harness's pack to (~58 bytes each: a user id,
 * a tag, four properties), since the store reads each bucket's whole value
 * to reach its id words (id-list format 3). `small` for the minimal events
 * this bench wrote before (~26 bytes each).
 *
 * Run: node dist/bench/store/get-event.bench.js [buckets=400] [harness|small]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EventRecord, StoredEvent } from '../../src/actors/types.js';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';
import { encodeBucket } from '../../src/store/lmdb/bucket-codec.js';
import { harnessSizedEvent } from './harness-sized.js';

const BUCKETS = Number(process.argv[2] ?? 400);
const SMALL = process.argv[3] === 'small';
const LOOKUPS = 50;
const T = Date.now();

function stored(id: string, i: number): StoredEvent {
  if (!SMALL) return harnessSizedEvent('acme', id, i, T);
  const event: EventRecord = { id, name: 'n', timestampMs: T, clientTimestampMs: T, receivedAtMs: T, userId: undefined, category: 'c', severity: 'info', tags: [], properties: {}, value: undefined };
  return { owner: 'acme', shard: 1, status: 'accepted', event };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-get-event-'));
const store = new LmdbEventStore({ path: dir });
try {
  for (let b = 0; b < BUCKETS; b++) await store.writeEvents(Array.from({ length: 500 }, (_, i) => stored(`id-${b}-${i}-${(b * 500 + i) * 2654435761 % 1e9}`, i)));
  const sample = Array.from({ length: 500 }, (_, i) => stored(`id-0-${i}-${(i * 2654435761) % 1e9}`, i));
  console.log(`a bucket of 500 events: ${encodeBucket(sample)!.length} bytes`);
  for (let round = 0; round < 4; round++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < LOOKUPS; k++) if ((await store.getEvent('acme', `absent-${k}`)) !== undefined) throw new Error('found an absent id');
    const us = Number(process.hrtime.bigint() - t0) / 1_000 / LOOKUPS;
    const lastId = `id-${BUCKETS - 1}-499-${((BUCKETS - 1) * 500 + 499) * 2654435761 % 1e9}`;
    const last = await store.getEvent('acme', lastId);
    if (last?.event.id !== lastId) throw new Error('the last event was not found');
    console.log(`round ${round}${round === 0 ? ' (warm-up)' : ''}: an absent id over ${BUCKETS} buckets ${us.toFixed(0)} µs, ${(us / BUCKETS).toFixed(2)} µs per bucket`);
  }
} finally {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
