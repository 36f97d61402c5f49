/**
 * A body reader of two builds, side by side in one process: each reads the
 * same 500-event batch of harness-like events (bench/runtime/worker-path.ts),
 * alternating rounds, and the ratio of the medians is printed. `json` (the
 * default): the one-pass JSON reader; `columns`: the columnar path's
 * protobuf reader (columns.ts ColumnReader.read). For a change to a reader,
 * run it with the build before (a `git worktree` of that commit, built) and
 * this one.
 *
 * Run: node dist/bench/actors/reader-ab.bench.js <before dist dir> [after dist dir = this build] [json|columns]
 * e.g. git worktree add /tmp/before HEAD~1 && (cd /tmp/before && ln -s $PWD/node_modules && npx tsc -p .)
 *      node dist/bench/actors/reader-ab.bench.js /tmp/before/dist
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fastReadLimits } from '../../src/actors/fast-read.js';
import { eventLimitsFrom } from '../../src/actors/schema.js';
import { defaults } from '../../config/defaults.js';
import { harnessBody, seeded } from '../runtime/worker-path.js';

type Read = (bytes: Buffer) => unknown;
interface ColumnReaderLike {
  read(bytes: Uint8Array, receivedAtMs: number): boolean;
  columns: { n: number; name: string[]; idHash: Int32Array; propKey: string[]; timestampMs: Float64Array };
}

const here = path.dirname(fileURLToPath(import.meta.url));
const beforeDir = process.argv[2];
if (beforeDir === undefined) throw new Error('usage: reader-ab.bench.js <before dist dir> [after dist dir] [json|columns]');
const afterDir = process.argv[3] === undefined || process.argv[3] === '' ? path.resolve(here, '../..') : process.argv[3];
const kind = process.argv[4] ?? 'json';
if (kind !== 'json' && kind !== 'columns') throw new Error(`unknown reader ${kind}: json or columns`);

const LIMITS = fastReadLimits({
  batchEventsMax: defaults.batchEventsMax,
  bodyDepthMax: defaults.bodyDepthMax,
  tagsMax: defaults.tagsMax,
  propertiesMax: defaults.propertiesMax,
});
const RECEIVED_AT_MS = 1_700_000_000_100;
const load = async (dir: string): Promise<Read> => {
  if (kind === 'json') {
    const { readJsonFast } = (await import(pathToFileURL(path.resolve(dir, 'src/actors/json-fast.js')).href)) as { readJsonFast: (b: Buffer, l: typeof LIMITS) => unknown };
    return (bytes) => readJsonFast(bytes, LIMITS);
  }
  const { ColumnReader } = (await import(pathToFileURL(path.resolve(dir, 'src/actors/columns.js')).href)) as {
    ColumnReader: new (limits: ReturnType<typeof eventLimitsFrom>) => ColumnReaderLike;
  };
  const reader = new ColumnReader(eventLimitsFrom(defaults));
  return (bytes) => {
    if (!reader.read(bytes, RECEIVED_AT_MS)) throw new Error('the columnar reader gave the batch up');
    const c = reader.columns;
    // What the comparison below looks at: enough of the columns to tell two readers apart.
    return { n: c.n, names: c.name.slice(0, c.n), ids: [...c.idHash.subarray(0, 2 * c.n)], keys: c.propKey.slice(0, 8), ts: [...c.timestampMs.subarray(0, c.n)] };
  };
};
const before = await load(beforeDir);
const after = await load(afterDir);

const body = harnessBody(0, seeded(7), 1_700_000_000_000, kind === 'json' ? 'json' : 'protobuf');
if (JSON.stringify(before(body)) !== JSON.stringify(after(body))) throw new Error('the two readers differ on the batch');

const READS = 400;
const time = (read: Read): number => {
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < READS; k++) read(body);
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
console.log(`${kind}: before ${median(a).toFixed(1)} µs, after ${median(b).toFixed(1)} µs per 500-event batch (${body.length} bytes): after / before ${(median(b) / median(a)).toFixed(3)}`);
