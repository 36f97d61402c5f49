/**
 * MongoDB event store flush throughput, two layouts in one run so the ratio
 * survives a noisy machine:
 * - per event (the adapter as shipped): one document per event, `_id` {o, i},
 *   unordered insertMany, duplicates ignored by the `_id` index;
 * - bucket: one document per owner per flush holding the batch's events and
 *   an `ids` array with a multikey index {owner, ids} to serve getEvent.
 *   Measured as a plain insert, WITHOUT the find of already-stored ids that
 *   first-write-wins needs: a lower bound of its cost. (With the find, FerretDB
 *   1.x scans every bucket per query, as it cannot use a multikey index:
 *   3.3 s per flush after 2 flushes, 7 s after 3; it does not finish a run.)
 * Also getEvent under both (the bucket lookup scans on FerretDB for the same reason).
 *
 * Runs against MONGODB_URI, else a FerretDB it spawns (FERRETDB_BIN or
 * .ci/install-ferretdb.sh's location).
 * Run: node dist/bench/store/mongo.bench.js
 */
import { Bench } from 'tinybench';
import { MongoClient, type Collection, type Document } from 'mongodb';
import type { StoredEvent } from '../../src/actors/types.js';
import { MongoEventStore } from '../../src/store/mongo/event-store.js';
import { mongoTarget, withDatabase } from '../../test/helpers/ferretdb.js';

/** Events per flush. Smaller than flushBatchEventsMax (10K): FerretDB on SQLite takes seconds per 10K. */
const BATCH_EVENTS = 2_000;
const OWNERS = 16;
const BENCH_TIME_MS = 3_000;
const LOOKUPS_PER_SAMPLE = 20;
/** The bucket lookup scans every bucket on FerretDB, so it gets one lookup per sample. */
const BUCKET_LOOKUPS_PER_SAMPLE = 1;

function makeBatch(): StoredEvent[] {
  return Array.from({ length: BATCH_EVENTS }, (_, i) => ({
    owner: `owner-${i % OWNERS}`,
    shard: i % OWNERS,
    status: 'accepted' as const,
    event: {
      id: '',
      name: 'page_view',
      timestampMs: 1_700_000_000_000 + i,
      clientTimestampMs: 1_700_000_000_000 + i,
      receivedAtMs: 1_700_000_000_010 + i,
      userId: `user-${i % 997}`,
      category: 'web',
      severity: 'info' as const,
      tags: ['a', 'b'],
      properties: { path: '/pricing', ref: 'campaign-42' },
      value: i,
    },
  }));
}

function renumber(batch: StoredEvent[], round: number): void {
  for (let i = 0; i < batch.length; i++) batch[i]!.event.id = `r${round}-e${i}`;
}

/** The alternative layout's write, without the first-write-wins check (see the header). */
async function insertBuckets(buckets: Collection<Document>, batch: StoredEvent[], round: number): Promise<void> {
  const byOwner = new Map<string, StoredEvent[]>();
  for (const stored of batch) {
    let list = byOwner.get(stored.owner);
    if (list === undefined) byOwner.set(stored.owner, (list = []));
    list.push(stored);
  }
  const docs: Document[] = [];
  for (const [owner, events] of byOwner) docs.push({ owner, round, ids: events.map((e) => e.event.id), events });
  await buckets.insertMany(docs, { ordered: false });
}

async function main(): Promise<void> {
  const target = await mongoTarget();
  if (target === undefined) throw new Error('no server: set MONGODB_URI or build FerretDB with .ci/install-ferretdb.sh');
  const dbName = `eventide_bench_${process.pid}`;
  const store = await MongoEventStore.open({ uri: withDatabase(target.uri, dbName), writeBatchDocsMax: 1_000 });
  const client = new MongoClient(target.uri);
  const buckets = client.db(dbName).collection('buckets', { writeConcern: { w: 'majority' } });
  await buckets.createIndex({ owner: 1, ids: 1 });
  const batch = makeBatch();
  let round = 0;
  let lastRound = 0;

  const bench = new Bench({ time: BENCH_TIME_MS, iterations: 3 });
  bench
    .add('per-event documents (shipped)', async () => {
      renumber(batch, ++round);
      await store.writeEvents(batch);
      lastRound = round;
    })
    .add('bucket per owner per flush (insert only, no dedup)', async () => {
      renumber(batch, ++round);
      await insertBuckets(buckets, batch, round);
    });
  await bench.run();
  console.table(bench.table());

  // getEvent: per-event by _id; bucket by the multikey index, then pick the event out.
  const lookups = new Bench({ time: BENCH_TIME_MS / 3, iterations: 2 });
  let k = 0;
  lookups
    .add('getEvent per-event (shipped)', async () => {
      for (let i = 0; i < LOOKUPS_PER_SAMPLE; i++) {
        const n = (k++ * 7919) % BATCH_EVENTS;
        if ((await store.getEvent(`owner-${n % OWNERS}`, `r${lastRound}-e${n}`)) === undefined) throw new Error('missing');
      }
    })
    .add('getEvent bucket', async () => {
      for (let i = 0; i < BUCKET_LOOKUPS_PER_SAMPLE; i++) {
        const n = (k++ * 7919) % BATCH_EVENTS;
        const id = `r${lastRound + 1}-e${n}`;
        const doc = await buckets.findOne({ owner: `owner-${n % OWNERS}`, ids: id });
        if (doc === null || !(doc.events as StoredEvent[]).some((e) => e.event.id === id)) throw new Error('missing');
      }
    });
  await lookups.run();
  console.table(lookups.table());

  const [perEvent, bucket] = bench.tasks.map((t) => t.result);
  const [getPer, getBucket] = lookups.tasks.map((t) => t.result);
  const mean = (r: unknown): number => (r as { latency: { mean: number } }).latency.mean;
  console.log(`events per flush ${BATCH_EVENTS}, owners ${OWNERS}, node ${process.version}`);
  console.log(`flush: per-event ${mean(perEvent).toFixed(1)} ms (${Math.round((BATCH_EVENTS * 1000) / mean(perEvent))} events/s, ${Math.round((BATCH_EVENTS * 1000) / mean(perEvent))} docs/s)`);
  console.log(`flush: bucket ${mean(bucket).toFixed(1)} ms (${Math.round((BATCH_EVENTS * 1000) / mean(bucket))} events/s, ${Math.round((OWNERS * 1000) / mean(bucket))} docs/s)`);
  console.log(`flush ratio bucket/per-event time: ${(mean(bucket) / mean(perEvent)).toFixed(2)}`);
  console.log(`getEvent: per-event ${((LOOKUPS_PER_SAMPLE * 1000) / mean(getPer)).toFixed(0)}/s, bucket ${((BUCKET_LOOKUPS_PER_SAMPLE * 1000) / mean(getBucket)).toFixed(1)}/s`);

  await client.db(dbName).dropDatabase();
  await client.close();
  await store.close();
  await target.close();
}

await main();
