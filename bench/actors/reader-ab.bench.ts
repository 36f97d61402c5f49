/**
 * The one-pass JSON reader of two builds, side by side in one process: each
 * reads the same 500-event batch of harness-like events (bench/runtime/worker-path.ts), alternating rounds,
 * and the ratio of the medians is printed. For a change to the reader, run it
 * with the build before (a `git worktree` of that commit, built) and this one.
 *
 * Run: node dist/bench/actors/reader-ab.bench.js <before dist dir> [after dist dir = this build]
 * e.g. git worktree add /tmp/before HEAD~1 && (cd /tmp/before && ln -s $PWD/node_modules && npx tsc -p .)
 *      node dist/bench/actors/reader-ab.bench.js /tmp/before/dist
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fastReadLimits } from '../../src/actors/fast-read.js';
import { defaults } from '../../config/defaults.js';
import { harnessBody, seeded } from '../runtime/worker-path.js';

type Reader = (bytes: Buffer, limits: ReturnType<typeof fastReadLimits>) => unknown;

const here = path.dirname(fileURLToPath(import.meta.url));
const beforeDir = process.argv[2];
if (beforeDir === undefined) throw new Error('usage: reader-ab.bench.js <before dist dir> [after dist dir]');
const afterDir = process.argv[3] ?? path.resolve(here, '../..');
const load = async (dir: string): Promise<Reader> =>
  ((await import(pathToFileURL(path.resolve(dir, 'src/actors/json-fast.js')).href)) as { readJsonFast: Reader }).readJsonFast;
const before = await load(beforeDir);
const after = await load(afterDir);

const LIMITS = fastReadLimits({
  batchEventsMax: defaults.batchEventsMax,
  bodyDepthMax: defaults.bodyDepthMax,
  tagsMax: defaults.tagsMax,
  propertiesMax: defaults.propertiesMax,
});
const body = harnessBody(0, seeded(7), 1_700_000_000_000);
if (JSON.stringify(before(body, LIMITS)) !== JSON.stringify(after(body, LIMITS))) throw new Error('the two readers differ on the batch');

const READS = 400;
const time = (read: Reader): number => {
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < READS; k++) read(body, LIMITS);
  return Number(process.hrtime.bigint() - t0) / READS / 1_000;
};
for (let w = 0; w < 3; w++) {
  time(before);
  time(after);
}
const a: number[] = [];
const b: number[] = [];
for (let round = 0; round < 8; round++) {
  a.push(time(before));
  b.push(time(after));
}
const median = (x: number[]): number => [...x].sort((p, q) => p - q)[x.length >> 1]!;
console.log(`before ${median(a).toFixed(1)} µs, after ${median(b).toFixed(1)} µs per 500-event batch (${body.length} bytes): after / before ${(median(b) / median(a)).toFixed(3)}`);
