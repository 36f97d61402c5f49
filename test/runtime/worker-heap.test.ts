/**
 * workerHeapMbMax reaches the worker threads: each isolate's heap limit is
 * the setting (plus V8's young generation), as the workers report it on
 * /metrics (eventide_worker_heap_limit_bytes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../helpers.js';
import { scrape, startOpsServer, type Scrape } from '../ops/helpers.js';

const MiB = 1024 * 1024;
/** V8 adds its young generation (semi-spaces) to the old generation's limit. */
const YOUNG_GENERATION_MIB_MAX = 64;

void test('workerHeapMbMax sets the V8 heap limit of every worker thread', async (t) => {
  const server = await startOpsServer(t, { workers: 2, workerHeapMbMax: 192 });
  let metrics: Scrape | undefined;
  await eventually(async () => {
    metrics = await scrape(server.httpUrl);
    return metrics.series.filter((s) => s.name === 'eventide_worker_heap_limit_bytes').length === 2;
  });
  for (const series of metrics!.series.filter((s) => s.name === 'eventide_worker_heap_limit_bytes')) {
    assert.ok(series.value >= 192 * MiB && series.value <= (192 + YOUNG_GENERATION_MIB_MAX) * MiB, `worker ${series.labels.worker}: limit ${series.value / MiB} MiB`);
  }
});
