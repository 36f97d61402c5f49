/**
 * Where a shard worker's time per event goes on its hot path, by stage:
 * decode (the one-pass JSON reader), validate, apply (OwnerActor: dedup,
 * classification, windows), pack (LmdbEventStore.prepareEvents: the bucket
 * codec and id lists), one thread, after a warm-up (the path and its
 * workload: worker-path.ts). What it leaves out is what the worker does
 * besides (messages, the log, the store's writes, snapshots, GC of other
 * work): compare with the server's profile (bench/RESULTS.md).
 *
 * Run: node dist/bench/runtime/stages.bench.js [batches=4000] [json|msgpack|protobuf] [even|server] [records|columns]
 * (`server`: the workload a worker holds under `eventide bench`, see worker-path.ts; `columns`: the
 * columnar path, protobuf and msgpack, which reads and validates in one pass, so its `validate` is 0.)
 */
import type { BodyFormat } from '../../src/actors/types.js';
import { BATCH_EVENTS, openWorkerPath, PATH_KINDS, WORKLOADS, type PathKind, type Stage, type Workload } from './worker-path.js';

const BATCHES = Number(process.argv[2] ?? 4_000);
const FORMAT = (process.argv[3] ?? 'json') as BodyFormat;
if (!['json', 'msgpack', 'protobuf'].includes(FORMAT)) throw new Error(`unknown body format ${FORMAT}: json, msgpack or protobuf`);
const WORKLOAD = (process.argv[4] ?? 'even') as Workload;
if (!WORKLOADS.includes(WORKLOAD)) throw new Error(`unknown workload ${WORKLOAD}: ${WORKLOADS.join(' or ')}`);
const KIND = (process.argv[5] ?? 'records') as PathKind;
if (!PATH_KINDS.includes(KIND)) throw new Error(`unknown path ${KIND}: ${PATH_KINDS.join(' or ')}`);
const spent: Record<Stage, bigint> = { decode: 0n, validate: 0n, apply: 0n, pack: 0n };
let last = 0n;
const lap = (stage: Stage): void => {
  const now = process.hrtime.bigint();
  spent[stage] += now - last;
  last = now;
};

const path = openWorkerPath(FORMAT, WORKLOAD, KIND);
try {
  const run = (from: number, to: number): void => {
    for (let k = from; k < to; k++) {
      path.prepare(k);
      last = process.hrtime.bigint();
      path.batch(k, lap);
    }
  };
  run(0, 3_000);
  for (const stage of Object.keys(spent) as Stage[]) spent[stage] = 0n;
  run(3_000, 3_000 + BATCHES);
  const total = Object.values(spent).reduce((a, b) => a + b, 0n);
  const perEvent = (ns: bigint): string => (Number(ns) / BATCHES / BATCH_EVENTS).toFixed(0).padStart(5);
  for (const [stage, ns] of Object.entries(spent)) console.log(`${stage.padEnd(9)} ${perEvent(ns)} ns per event  ${((100 * Number(ns)) / Number(total)).toFixed(1)} %`);
  console.log(`${'total'.padEnd(9)} ${perEvent(total)} ns per event (${BATCHES} ${FORMAT} batches of ${BATCH_EVENTS}, ${WORKLOAD} workload, ${KIND} path; Node ${process.version})`);
} finally {
  await path.close();
}
