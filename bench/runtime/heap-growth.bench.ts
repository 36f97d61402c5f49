/**
 * How far V8 lets a worker's heap grow past its live data, by heap limit
 * (`workerHeapMbMax` = the worker's resourceLimits.maxOldGenerationSizeMb).
 * Each worker keeps LIVE_OBJECTS long-lived objects (~200 MB) and replaces a
 * ring of RING_OBJECTS objects for DURATION_MS: the ring's objects live long
 * enough to be promoted and then die, as a shard worker's 1-s windows,
 * rollups and snapshot objects do. Reports the heap limit, the most heap used
 * (live + garbage not yet collected) and the heap used right after the last
 * major collections (~ the live data).
 *
 * Run: node dist/bench/runtime/heap-growth.bench.js [limits MiB, comma-separated; 0 = V8's default]
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';
import os from 'node:os';

const LIVE_OBJECTS = 200_000;
const RING_OBJECTS = 50_000;
const REPLACED_PER_TURN = 5_000;
const DURATION_MS = 8_000;
const MiB = 1024 * 1024;

interface Report {
  limitMiB: number;
  maxUsedMiB: number;
  usedAfterMajorGcMiB: number[];
}

async function inWorker(): Promise<Report> {
  const live: unknown[] = [];
  for (let i = 0; i < LIVE_OBJECTS; i++) live.push({ a: `x${i}`, b: new Array<number>(100).fill(i) });
  const afterMajor: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) afterMajor.push(Math.round(v8.getHeapStatistics().used_heap_size / MiB));
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const ring = new Array<unknown>(RING_OBJECTS);
  let maxUsed = 0;
  let i = 0;
  const end = Date.now() + DURATION_MS;
  while (Date.now() < end) {
    for (let k = 0; k < REPLACED_PER_TURN; k++) ring[i++ % RING_OBJECTS] = { s: `y${i}`, arr: new Array<number>(50).fill(i) };
    maxUsed = Math.max(maxUsed, v8.getHeapStatistics().used_heap_size);
    await new Promise((resolve) => setImmediate(resolve));
  }
  observer.disconnect();
  if (live.length !== LIVE_OBJECTS) throw new Error('unreachable');
  return { limitMiB: Math.round(v8.getHeapStatistics().heap_size_limit / MiB), maxUsedMiB: Math.round(maxUsed / MiB), usedAfterMajorGcMiB: afterMajor.slice(-5) };
}

if (isMainThread) {
  const limits = (process.argv[2] ?? '0,2047,1024,768').split(',').map(Number);
  console.log(`node ${process.version}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 1024 ** 3)} GiB, load ${os.loadavg()[0]!.toFixed(1)}`);
  const rows = [];
  for (const mb of limits) {
    const report = await new Promise<Report>((resolve, reject) => {
      const worker = new Worker(new URL(import.meta.url), { workerData: mb, ...(mb > 0 ? { resourceLimits: { maxOldGenerationSizeMb: mb } } : {}) });
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const live = Math.min(...report.usedAfterMajorGcMiB);
    rows.push({ workerHeapMbMax: mb, 'heap limit MiB': report.limitMiB, 'max used MiB': report.maxUsedMiB, 'used after major GC MiB': live, 'max used / live': +(report.maxUsedMiB / live).toFixed(2) });
  }
  console.table(rows);
} else {
  if (typeof workerData !== 'number') throw new Error('workerData must be the limit');
  parentPort!.postMessage(await inWorker());
}
