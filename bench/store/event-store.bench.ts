/**
 * Event store flush throughput on LMDB: one key per event (the adapter as
 * shipped) against one record per batch plus an [owner, id] index, in one run
 * so the ratio survives a noisy machine. Also: the cost of first-write-wins
 * (an existence check per event) and getEvent latency under both layouts.
 *
 * Run: node dist/bench/store/event-store.bench.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Bench } from 'tinybench';
import { open, type Database } from 'lmdb';
import { pack } from 'msgpackr';
import type { StoredEvent } from '../../src/actors/types.js';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';

/** Events per flush, as flushBatchEventsMax defaults to. */
const BATCH_EVENTS = 10_000;
/** Target encoded size of one event; the properties are padded to reach it. */
const EVENT_BYTES_TARGET = 200;
const BENCH_TIME_MS = 3_000;
const OWNERS = 16;
/** Padding in one property that brings the plain msgpack size of an event to about EVENT_BYTES_TARGET. */
const EVENT_PADDING_CHARS = 0;
/** Lookups per getEvent sample. The bucket layout decodes a whole batch per lookup, so it gets fewer. */
const LOOKUPS_PER_EVENT_SAMPLE = 1_000;
const LOOKUPS_PER_BUCKET_SAMPLE = 5;

function makeBatch(): StoredEvent[] {
  const batch: StoredEvent[] = [];
  for (let i = 0; i < BATCH_EVENTS; i++) {
    batch.push({
      owner: `owner-${i % OWNERS}`,
      shard: i % OWNERS,
      status: 'accepted',
      event: {
        id: '',
        name: 'page_view',
        timestampMs: 1_700_000_000_000 + i,
        clientTimestampMs: 1_700_000_000_000 + i,
        receivedAtMs: 1_700_000_000_010 + i,
        userId: `user-${i % 997}`,
        category: 'web',
        severity: 'info',
        tags: ['a', 'b'],
        properties: { path: '/pricing', ref: 'x'.repeat(EVENT_PADDING_CHARS) },
        value: i,
      },
    });
  }
  return batch;
}

/** Gives every event of the batch a fresh id, so each round writes new keys (as a real flush does). */
function renumber(batch: StoredEvent[], round: number): void {
  for (let i = 0; i < batch.length; i++) batch[i]!.event.id = `r${round}-e${i}`;
}

/** The alternative layout: the batch as one record, plus an index entry per event to serve getEvent. */
class BucketLayout {
  readonly #buckets: Database;
  readonly #index: Database;
  #seq = 0;
  constructor(dir: string) {
    const root = open({ path: dir, maxDbs: 4 });
    this.#buckets = root.openDB({ name: 'buckets' });
    this.#index = root.openDB({ name: 'index' });
  }
  async write(batch: readonly StoredEvent[]): Promise<void> {
    const seq = ++this.#seq;
    const buckets = this.#buckets;
    const index = this.#index;
    await buckets.childTransaction(() => {
      void buckets.put(seq, batch);
      for (let i = 0; i < batch.length; i++) {
        const stored = batch[i]!;
        const key = [stored.owner, stored.event.id];
        if (!index.doesExist(key)) void index.put(key, [seq, i]);
      }
    });
  }
  get(owner: string, id: string): StoredEvent | undefined {
    const at = this.#index.get([owner, id]) as [number, number] | undefined;
    if (at === undefined) return undefined;
    return (this.#buckets.get(at[0]) as StoredEvent[])[at[1]];
  }
}

/** One record per event, first write wins: the layout shipped before the 500-event buckets. */
class PerEventLayout {
  readonly #events: Database;
  constructor(dir: string) {
    this.#events = open({ path: dir, maxDbs: 4 }).openDB({ name: 'events' });
  }
  async write(batch: readonly StoredEvent[]): Promise<void> {
    const db = this.#events;
    await db.childTransaction(() => {
      for (let i = 0; i < batch.length; i++) {
        const key = [batch[i]!.owner, batch[i]!.event.id];
        if (!db.doesExist(key)) void db.put(key, batch[i]);
      }
    });
  }
  get(owner: string, id: string): StoredEvent | undefined {
    return this.#events.get([owner, id]) as StoredEvent | undefined;
  }
}

/** Per-event keys with last-write-wins puts: the cost of the adapter's existence check is the difference. */
class PlainPutLayout {
  readonly #events: Database;
  constructor(dir: string) {
    this.#events = open({ path: dir, maxDbs: 4 }).openDB({ name: 'events' });
  }
  async write(batch: readonly StoredEvent[]): Promise<void> {
    const db = this.#events;
    await db.childTransaction(() => {
      for (let i = 0; i < batch.length; i++) void db.put([batch[i]!.owner, batch[i]!.event.id], batch[i]);
    });
  }
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-bench-store-'));
try {
  const batch = makeBatch();
  renumber(batch, 0);
  const encodedBytes = pack(batch[0]).length;
  console.log(`node ${process.version}, ${os.cpus().length} cores; ${BATCH_EVENTS} events per batch, ${encodedBytes} bytes per event as plain msgpack (target ${EVENT_BYTES_TARGET})`);

  const shipped = new LmdbEventStore({ path: path.join(root, 'shipped') });
  const perEvent = new PerEventLayout(path.join(root, 'per-event'));
  const bucket = new BucketLayout(path.join(root, 'bucket'));
  const plain = new PlainPutLayout(path.join(root, 'plain'));
  let round = 0;

  const write = new Bench({ time: BENCH_TIME_MS });
  write
    .add('500-event buckets + id index, first write wins (shipped)', async () => {
      renumber(batch, ++round);
      await shipped.writeEvents(batch);
    })
    .add('per-event keys, first write wins (before)', async () => {
      renumber(batch, ++round);
      await perEvent.write(batch);
    })
    .add('bucket per 10K batch + id index, last write wins', async () => {
      renumber(batch, ++round);
      await bucket.write(batch);
    })
    .add('per-event keys, plain put (last write wins)', async () => {
      renumber(batch, ++round);
      await plain.write(batch);
    });
  await write.run();
  console.table(write.table());

  // Reads: ids from the last round each layout wrote are looked up at random.
  const read = new Bench({ time: BENCH_TIME_MS, iterations: 8 });
  const probe = makeBatch();
  renumber(probe, 999_999);
  await shipped.writeEvents(probe);
  await perEvent.write(probe);
  await bucket.write(probe);
  let n = 0;
  read
    .add(`getEvent shipped 500-event buckets (x${LOOKUPS_PER_EVENT_SAMPLE})`, async () => {
      for (let i = 0; i < LOOKUPS_PER_EVENT_SAMPLE; i++) {
        const e = probe[(n++ * 7919) % BATCH_EVENTS]!;
        await shipped.getEvent(e.owner, e.event.id);
      }
    })
    .add(`getEvent per-event keys (x${LOOKUPS_PER_EVENT_SAMPLE})`, () => {
      for (let i = 0; i < LOOKUPS_PER_EVENT_SAMPLE; i++) {
        const e = probe[(n++ * 7919) % BATCH_EVENTS]!;
        perEvent.get(e.owner, e.event.id);
      }
    })
    .add(`getEvent 10K bucket (x${LOOKUPS_PER_BUCKET_SAMPLE})`, () => {
      for (let i = 0; i < LOOKUPS_PER_BUCKET_SAMPLE; i++) {
        const e = probe[(n++ * 7919) % BATCH_EVENTS]!;
        bucket.get(e.owner, e.event.id);
      }
    });
  await read.run();
  console.table(read.table());

  const hz = (bench: Bench, i: number): number => {
    const result = bench.tasks[i]!.result;
    return 'throughput' in result ? result.throughput.mean : Number.NaN;
  };
  const eventsPerSecond = [0, 1, 2, 3].map((i) => hz(write, i) * BATCH_EVENTS);
  console.log(`events/s: shipped ${eventsPerSecond[0]!.toFixed(0)}, per-event ${eventsPerSecond[1]!.toFixed(0)}, 10K bucket ${eventsPerSecond[2]!.toFixed(0)}, plain put ${eventsPerSecond[3]!.toFixed(0)}`);
  console.log(`ratio shipped / per-event (write): ${(eventsPerSecond[0]! / eventsPerSecond[1]!).toFixed(2)}`);
  const lookups = [hz(read, 0) * LOOKUPS_PER_EVENT_SAMPLE, hz(read, 1) * LOOKUPS_PER_EVENT_SAMPLE, hz(read, 2) * LOOKUPS_PER_BUCKET_SAMPLE];
  console.log(`getEvent/s: shipped ${lookups[0]!.toFixed(0)}, per-event ${lookups[1]!.toFixed(0)}, 10K bucket ${lookups[2]!.toFixed(0)}`);
  console.log(`ratio per-event / shipped (getEvent): ${(lookups[1]! / lookups[0]!).toFixed(1)}`);
  await shipped.close();
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
