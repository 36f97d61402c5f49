/**
 * workerHeapMbMax reaches the worker threads: each isolate's heap limit is
 * the setting (plus V8's young generation), as the workers report it on
 * /metrics (eventide_worker_heap_limit_bytes); 0 is V8's own limit for the
 * machine, at most WORKER_HEAP_MB_AUTO_MAX.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../helpers.js';
import { getHeapStatistics } from 'node:v8';
import { execFileSync } from 'node:child_process';
import { scrape, startOpsServer, type Scrape } from '../ops/helpers.js';
import { MAIN_HEAP_INITIAL_MB, mainHeapInitialGiven, WORKER_HEAP_MB_AUTO_MAX, workerHeapMb } from '../../src/runtime/supervisor.js';
import { readFileSync } from 'node:fs';

const MiB = 1024 * 1024;
/** V8 adds its young generation (semi-spaces) to the old generation's limit. */
const YOUNG_GENERATION_MIB_MAX = 64;

async function workerLimits(settings: Record<string, unknown>, t: Parameters<typeof startOpsServer>[0]): Promise<number[]> {
  const server = await startOpsServer(t, { workers: 2, ...settings });
  let metrics: Scrape | undefined;
  await eventually(async () => {
    metrics = await scrape(server.httpUrl);
    return metrics.series.filter((s) => s.name === 'eventide_worker_heap_limit_bytes').length === 2;
  });
  return metrics!.series.filter((s) => s.name === 'eventide_worker_heap_limit_bytes').map((s) => s.value);
}

void test('workerHeapMbMax sets the V8 heap limit of every worker thread', async (t) => {
  for (const limit of await workerLimits({ workerHeapMbMax: 192 }, t)) {
    assert.ok(limit >= 192 * MiB && limit <= (192 + YOUNG_GENERATION_MIB_MAX) * MiB, `limit ${limit / MiB} MiB`);
  }
});

void test('workerHeapMbMax 0 (the default) is V8\'s own limit, but at most 2000 MiB', async (t) => {
  const v8Mb = Math.floor(getHeapStatistics().heap_size_limit / MiB);
  const expected = Math.min(WORKER_HEAP_MB_AUTO_MAX, v8Mb);
  assert.equal(workerHeapMb(0), expected);
  assert.equal(workerHeapMb(3_000), 3_000, 'a setting is taken as it is');
  for (const limit of await workerLimits({ workerHeapMbMax: 0 }, t)) {
    assert.ok(limit >= expected * MiB && limit <= (expected + YOUNG_GENERATION_MIB_MAX) * MiB, `limit ${limit / MiB} MiB, expected ${expected} (V8's own: ${v8Mb})`);
  }
});

/**
 * workerHeapInitialMb: V8 takes --initial-old-space-size for worker isolates
 * created after applyWorkerHeapInitial. Observed through what it changes: a
 * worker that keeps ~60 MB of small objects runs full (major) collections on
 * V8's own start, and none when its old generation starts at 256 MiB. Each
 * case runs in a fresh process, as the flag is process-wide (the worker's code
 * is a module: it inherits --input-type=module).
 */
const GC_PROBE = `
import { Worker } from 'node:worker_threads';
import { applyWorkerHeapInitial } from ${JSON.stringify(new URL('../../src/runtime/supervisor.js', import.meta.url).href)};
for (const mb of process.argv[1].split(',')) applyWorkerHeapInitial(Number(mb));
const worker = new Worker(\`
import { parentPort } from 'node:worker_threads';
import { PerformanceObserver, constants } from 'node:perf_hooks';
let major = 0;
new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++; }).observe({ entryTypes: ['gc'] });
const keep = [];
for (let i = 0; i < 1500; i++) { const a = []; for (let j = 0; j < 2000; j++) a.push({ i, j, s: 'x' + j }); if (i % 2 === 0) keep.push(a); }
setTimeout(() => parentPort.postMessage(major), 50);
\`, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 2000 } });
worker.on('message', (major) => { console.log(major); void worker.terminate(); });
`;

/** Major collections in the probe's worker after applyWorkerHeapInitial was called with each of `settings` in turn. */
function majorCollections(...settings: number[]): number {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', GC_PROBE, settings.join(',')], { encoding: 'utf8' });
  return Number(out.trim());
}

void test('workerHeapInitialMb reaches worker threads started after it: fewer full collections while the heap grows', () => {
  const own = majorCollections(0);
  const started = majorCollections(256);
  assert.ok(own >= 1, `V8's own start: ${own} major collections`);
  assert.equal(started, 0, 'from 256 MiB, none below it');
  // 0 after a value (another server in the same process): V8's own start again.
  assert.equal(majorCollections(256, 0), own);
});

void test('npm start / bench and the image start node with the main thread heap start; a process without it is told so', () => {
  const flag = `--initial-old-space-size=${MAIN_HEAP_INITIAL_MB}`;
  const root = new URL('../../../', import.meta.url);
  const read = (file: string): string => readFileSync(new URL(file, root), 'utf8');
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  for (const name of ['start', 'bench']) assert.ok(scripts[name]!.includes(`node ${flag} dist/src/cli.js`), `npm run ${name}`);
  const dockerfile = read('Dockerfile');
  assert.ok(dockerfile.includes(`ENTRYPOINT ["node", "${flag}", "/app/dist/src/cli.js"]`), 'the image');
  assert.ok(dockerfile.includes(`exec node ${flag} /app/dist/src/cli.js`), "the image's eventide command");
  assert.equal(mainHeapInitialGiven([flag]), true);
  assert.equal(mainHeapInitialGiven(['--initial_old_space_size=64']), true, 'with underscores');
  assert.equal(mainHeapInitialGiven(['--initial-old-space-sizes=1', '--max-old-space-size=4096']), false);
  assert.equal(mainHeapInitialGiven([]), false);
});
