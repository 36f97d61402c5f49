/**
 * What /metrics costs per ingest batch and per scrape, in one run:
 *
 * 1. router.ingest through EdgeMetrics.instrumentRouter vs the bare router
 *    (a stub that answers at once): the whole per-batch overhead of metrics
 *    on the ingest path (a promise `then`, five additions, one histogram
 *    observation). The receipt is for BATCH_EVENTS events; the cost does not
 *    depend on it.
 * 2. The fixed-bucket histogram (runtime/buckets.ts) vs prom-client's own
 *    Histogram with two labels, per observation: why the edge keeps its own.
 * 3. One scrape (text exposition) of a server with WORKERS workers reporting
 *    store timings, against the per-batch figures: a scrape every 15 s costs
 *    what so many batches do.
 *
 * Run: node dist/bench/edge/metrics.bench.js
 */
import { Bench } from 'tinybench';
import { Histogram, Registry } from 'prom-client';
import type { BatchReceipt } from '../../src/actors/types.js';
import { EdgeMetrics, type RuntimeView } from '../../src/edge/metrics.js';
import { BucketCounts } from '../../src/runtime/buckets.js';
import type { StatsMessage } from '../../src/runtime/messages.js';
import type { IngestRequest, Router } from '../../src/runtime/router.js';
import { WorkerTelemetry } from '../../src/runtime/worker-telemetry.js';
import type { EventStore, SnapshotStore } from '../../src/store/port.js';

const BATCH_EVENTS = 500;
const WORKERS = 8;
const SHARDS = 1024;
const BENCH_TIME_MS = 2_000;

const receipt: BatchReceipt = { single: false, counts: { accepted: BATCH_EVENTS - 3, duplicate: 1, late: 1, tooLate: 0, rejected: 1 }, receipts: [] };
const bare: Router = {
  ingest: () => Promise.resolve(receipt),
  queryMetrics: () => Promise.reject(new Error('unused')),
  getEvent: () => Promise.resolve(undefined),
  live: { watch: () => Promise.resolve([]), unwatch: () => undefined, onDeltas: () => undefined },
  readiness: () => ({ ready: true, workersUp: WORKERS, workersTotal: WORKERS, draining: false, reasons: [], degraded: [] }),
  close: () => Promise.resolve(),
};

// Workers' stats as a real WorkerTelemetry builds them, with a store call of each kind observed.
const noStore = new Proxy({}, { get: () => () => Promise.resolve(undefined) });
const telemetry = new WorkerTelemetry({ port: { postMessage: () => undefined }, workerIndex: 0, logLevel: 'silent' });
const timed = telemetry.timeStores({ events: noStore as EventStore, snapshots: noStore as SnapshotStore });
await timed.events.writeEvents([]);
await timed.events.writeRollups([]);
await timed.snapshots.putOwnerSnapshots(0, []);
await timed.snapshots.putCheckpoint({ shard: 0, takenAtMs: 0, logOffset: 0 });
const stats: StatsMessage = {
  t: 'stats',
  wal: undefined,
  owners: 1_000,
  flushPendingEvents: 0,
  ingestHeld: 0,
  ingestHeldTotal: { store: 0, wal: 0 },
  flushFailures: 0,
  lastFlushErrorCode: undefined,
  snapshotAgeMs: 1_000,
  snapshotFailures: 0,
  lastSnapshotErrorCode: undefined,
  eventsApplied: 1e6,
  telemetry: telemetry.stats(),
};
telemetry.close();
const runtime: RuntimeView = {
  supervisor: { workerCount: WORKERS, isUp: () => true, restarts: () => 0, stats: () => stats },
  mailboxes: { workerDepth: () => 3, shardDepth: () => 0, refusedCountOf: () => 0 },
  shardMap: { shardsOf: (w: number) => Array.from({ length: SHARDS / WORKERS }, (_, i) => w + i * WORKERS) },
  readiness: () => bare.readiness(),
};
const metrics = new EdgeMetrics({ runtime, eventStore: 'lmdb', snapshotStore: 'lmdb', mailboxBatchesMax: 64, workerBatchesMax: 256 });
const instrumented = metrics.instrumentRouter(bare, 'http');
const request = { owner: 'o', body: new Uint8Array(0), format: 'json', encoding: 'identity', ack: 'applied', receiptsAll: false, receivedAtMs: 0, requestId: 'r' } as IngestRequest;

const buckets = new BucketCounts();
const promHistogram = new Histogram({ name: 'h', help: 'h', labelNames: ['protocol', 'ack'], buckets: [...buckets.bounds], registers: [new Registry()] });
const labels = { protocol: 'http', ack: 'applied' };
let x = 0;

const bench = new Bench({ time: BENCH_TIME_MS, warmup: true });
bench
  .add('ingest, bare router', async () => {
    await bare.ingest(request);
  })
  .add('ingest, instrumented router', async () => {
    await instrumented.ingest(request);
  })
  .add('observe: BucketCounts', () => {
    buckets.observe((x = (x + 0.0137) % 3));
  })
  .add('observe: prom-client Histogram, 2 labels', () => {
    promHistogram.observe(labels, (x = (x + 0.0137) % 3));
  })
  .add(`scrape (${WORKERS} workers)`, async () => {
    await metrics.scrape();
  });
await bench.run();
console.table(bench.table());

function medianNs(name: string): number {
  const result = bench.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return result.latency.p50 * 1e6;
}
const perBatch = medianNs('ingest, instrumented router') - medianNs('ingest, bare router');
console.log(`metrics per batch: ${perBatch.toFixed(0)} ns (instrumented ${medianNs('ingest, instrumented router').toFixed(0)} / bare ${medianNs('ingest, bare router').toFixed(0)} ns = ${(medianNs('ingest, instrumented router') / medianNs('ingest, bare router')).toFixed(2)}x)`);
console.log(`observe: prom-client / BucketCounts = ${(medianNs('observe: prom-client Histogram, 2 labels') / medianNs('observe: BucketCounts')).toFixed(1)}x`);
console.log(`one scrape = ${(medianNs(`scrape (${WORKERS} workers)`) / 1e3).toFixed(0)} µs = the metrics cost of ${Math.round(medianNs(`scrape (${WORKERS} workers)`) / perBatch)} batches`);
