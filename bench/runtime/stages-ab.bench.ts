/**
 * stages.bench.ts for two builds side by side in one process: each build's
 * worker path (worker-path.ts, loaded from its own dist directory, so each
 * has its own module state) runs the same batches, in alternating rounds,
 * and the medians of the rounds' ns per event are printed per stage with
 * the ratio after/before. For a change to the hot path, run it with the
 * build before (a `git worktree` of that commit, built) and this one; on a
 * shared, noisy machine the ratio is the figure to read.
 *
 * Run: node dist/bench/runtime/stages-ab.bench.js <before dist dir> [after dist dir = this build] [format=protobuf] [workload=server] [path=columns] [rounds=12] [batches per round=500]
 * e.g. git worktree add /tmp/before HEAD~1 && (cd /tmp/before && ln -s $PWD/node_modules && npx tsc -p .)
 *      node dist/bench/runtime/stages-ab.bench.js /tmp/before/dist
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BodyFormat } from '../../src/actors/types.js';
import type { PathKind, Stage, Workload, WorkerPath } from './worker-path.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const beforeDir = process.argv[2];
if (beforeDir === undefined) throw new Error('usage: stages-ab.bench.js <before dist dir> [after dist dir] [format] [workload] [path] [rounds] [batches per round]');
const afterDir = process.argv[3] === undefined || process.argv[3] === '' ? path.resolve(here, '../..') : process.argv[3];
const FORMAT = (process.argv[4] ?? 'protobuf') as BodyFormat;
const WORKLOAD = (process.argv[5] ?? 'server') as Workload;
const KIND = (process.argv[6] ?? 'columns') as PathKind;
const ROUNDS = Number(process.argv[7] ?? 12);
const PER_ROUND = Number(process.argv[8] ?? 500);
const WARMUP_BATCHES = 3_000;
const STAGES: readonly Stage[] = ['decode', 'validate', 'apply', 'pack'];

interface Build {
  label: string;
  path: WorkerPath;
  /** Per stage, ns per event of each round. */
  rounds: Record<Stage | 'total', number[]>;
}

async function open(label: string, dir: string): Promise<Build> {
  const module = (await import(pathToFileURL(path.resolve(dir, 'bench/runtime/worker-path.js')).href)) as {
    openWorkerPath(format: BodyFormat, workload: Workload, kind: PathKind): WorkerPath;
    BATCH_EVENTS: number;
  };
  return { label, path: module.openWorkerPath(FORMAT, WORKLOAD, KIND), rounds: { decode: [], validate: [], apply: [], pack: [], total: [] } };
}

const BATCH_EVENTS = 500;
const builds = [await open('before', beforeDir), await open('after', afterDir)];

/** Runs batches from..to of one build; returns ns per stage. */
function run(build: Build, from: number, to: number): Record<Stage, number> {
  const spent: Record<Stage, number> = { decode: 0, validate: 0, apply: 0, pack: 0 };
  let last = 0n;
  const lap = (stage: Stage): void => {
    const now = process.hrtime.bigint();
    spent[stage] += Number(now - last);
    last = now;
  };
  for (let k = from; k < to; k++) {
    build.path.prepare(k);
    last = process.hrtime.bigint();
    build.path.batch(k, lap);
  }
  return spent;
}

try {
  for (const build of builds) run(build, 0, WARMUP_BATCHES);
  let next = WARMUP_BATCHES;
  for (let r = 0; r < ROUNDS; r++) {
    // Both builds take the same batch numbers (the same bodies, owners and ids), the first one alternating.
    const order = r % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) {
      const spent = run(build, next, next + PER_ROUND);
      let total = 0;
      for (const stage of STAGES) {
        const perEvent = spent[stage] / PER_ROUND / BATCH_EVENTS;
        build.rounds[stage].push(perEvent);
        total += perEvent;
      }
      build.rounds.total.push(total);
    }
    next += PER_ROUND;
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const [before, after] = builds as [Build, Build];
  console.log(`${ROUNDS} alternating rounds of ${PER_ROUND} ${FORMAT} batches of ${BATCH_EVENTS}, ${WORKLOAD} workload, ${KIND} path; Node ${process.version}`);
  console.log('| stage | before ns/event | after ns/event | after/before |');
  console.log('|---|---:|---:|---:|');
  for (const stage of [...STAGES, 'total'] as const) {
    const b = median(before.rounds[stage]);
    const a = median(after.rounds[stage]);
    if (b === 0 && a === 0) continue;
    console.log(`| ${stage} | ${b.toFixed(0)} | ${a.toFixed(0)} | ${b === 0 ? '-' : (a / b).toFixed(3)} |`);
  }
} finally {
  for (const build of builds) await build.path.close();
}
