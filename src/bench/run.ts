/**
 * One benchmark run, end to end: start (or reach) the target, open the ws
 * subscribers, run the sender units, wait for the figures to settle, check
 * them, and summarize. With `--compare baseline` the same workload (same
 * seed, same options) runs against eventide and then against the baseline
 * in the same process, and the result carries the ratios.
 */
import { BenchOptionError } from './errors.js';
import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { checkRun, type CheckResult, type ReportedMetrics } from './checker.js';
import { BenchTargetError, BenchWorkerError } from './errors.js';
import { LatencyRecorder, Series, type LatencySummary, type SecondPoint } from './histogram.js';
import { Ledger } from './ledger.js';
import { sweepSteps, type BenchOptions } from './options.js';
import { ServerProbe, type ProbeSummary } from './probe.js';
import { computeRatios, openLoopNotes, refusalNotes, round, sum, type BenchResult, type TargetResult } from './report.js';
import { SWEEP_GAP_MS, sweepReport, type SweepPhase } from './sweep.js';
import { SenderUnit, type SenderConfig, type SenderResultJSON } from './sender.js';
import { SubscriberPool } from './subscribers.js';
import { ownerName, type WorkloadOptions } from './workload.js';
import { MAIN_HEAP_INITIAL_MB, mainHeapInitialGiven } from '../runtime/supervisor.js';

export interface BenchTarget {
  label: string;
  httpUrl: string;
  grpcTarget: string;
  wsUrl: string;
  /** Key per owner index. */
  keys: string[];
  owners: string[];
  inProcess: boolean;
  /** The size of the server's embedded store file now (in-process targets whose store is a file), else undefined. */
  storeBytes?: () => number | undefined;
  /** Shard workers restarted since start (in-process eventide only): each restart loses the counts since its last snapshot. */
  workerRestarts?: () => number;
  close(): Promise<void>;
}

export interface BenchIO {
  /** Progress line sink (a TTY); undefined: no progress output. */
  progress: ((line: string) => void) | undefined;
  log: (line: string) => void;
}

/** Between two settle polls. */
const SETTLE_POLL_MS = 500;
/**
 * After the load, before the check: time for the last delta frames to arrive
 * (four ticks at the default deltaTickMs). Frames later than that are still
 * measured, with the check's work in their way.
 */
const WS_DRAIN_MS = 1_000;
/** Concurrent GET /v1/metrics requests during the check. */
const METRICS_FETCH_CONCURRENCY = 16;

export function workloadOf(o: BenchOptions): WorkloadOptions {
  return {
    seed: o.seed, owners: o.owners, ownerZipfS: o.ownerZipfS, usersPerOwner: o.usersPerOwner, eventNames: o.eventNames,
    eventBytes: o.eventBytes, batchEvents: o.batchEvents, templateCount: o.templateCount, duplicatePct: o.duplicatePct,
    latePct: o.latePct, invalidPct: o.invalidPct, skewPct: o.skewPct, lateByMs: o.lateByMs, skewMs: o.skewMs,
  };
}

interface StartServerFn {
  (overrides?: Record<string, unknown>): Promise<{
    httpUrl: string;
    grpcTarget: string;
    wsUrl: string;
    createKey(owner: string): Promise<string>;
    close(): Promise<void>;
    router?: { supervisor: { workerCount: number; restarts(worker: number): number } };
  }>;
}

/** The size of `file`, or undefined when it does not exist. */
function fileBytes(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
}

/**
 * `storeFile`: where, in the data directory, the target keeps its events in
 * one file (the embedded LMDB store), so the report can say how many bytes
 * of it an event takes; undefined when its events go elsewhere (MongoDB).
 */
async function inProcessTarget(label: string, start: StartServerFn, o: BenchOptions, runTag: string, extra: Record<string, unknown>, storeFile: string | undefined): Promise<BenchTarget> {
  const dataDir = o.dataDir !== '' ? o.dataDir : await mkdtemp(join(tmpdir(), `eventide-bench-${label}-`));
  const server = await start({ httpPort: 0, grpcPort: 0, dataDir, devKey: false, logLevel: 'fatal', ...extra });
  const owners = Array.from({ length: o.owners }, (_, k) => ownerName(runTag, k));
  const keys: string[] = [];
  for (const owner of owners) keys.push(await server.createKey(owner));
  return {
    label, httpUrl: server.httpUrl, grpcTarget: server.grpcTarget, wsUrl: server.wsUrl, keys, owners, inProcess: true,
    ...(storeFile === undefined ? {} : { storeBytes: () => fileBytes(join(dataDir, storeFile)) }),
    ...(server.router === undefined
      ? {}
      : {
          workerRestarts: () => {
            const supervisor = server.router!.supervisor;
            let restarts = 0;
            for (let w = 0; w < supervisor.workerCount; w++) restarts += supervisor.restarts(w);
            return restarts;
          },
        }),
    close: async () => {
      await server.close();
      if (o.dataDir === '') await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function eventideTarget(o: BenchOptions, runTag: string): Promise<BenchTarget> {
  const { startServer } = (await import('../server.js')) as { startServer: StartServerFn };
  // The in-process server runs on the backends the environment names, like `npm start` does:
  // MONGODB_URI / REDIS_URL select the real servers, nothing selects the embedded LMDB stores.
  const overrides: Record<string, unknown> = o.serverWorkers > 0 ? { workers: o.serverWorkers } : {};
  if (process.env.MONGODB_URI !== undefined && process.env.MONGODB_URI !== '') overrides.mongodbUri = process.env.MONGODB_URI;
  if (process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== '') overrides.redisUrl = process.env.REDIS_URL;
  if (o.serverConfig !== '') {
    let extra: unknown;
    try {
      extra = JSON.parse(o.serverConfig);
    } catch (cause) {
      throw new BenchOptionError(`--server-config is not JSON: ${String(cause)}`, 'server-config');
    }
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new BenchOptionError('--server-config must be a JSON object', 'server-config');
    Object.assign(overrides, extra);
  }
  const eventsInLmdb = overrides.mongodbUri === undefined && (overrides.eventStore ?? 'lmdb') === 'lmdb';
  return inProcessTarget('eventide', startServer, o, runTag, overrides, eventsInLmdb ? join('lmdb', 'data.mdb') : undefined);
}

/** The reference pipeline for `--compare baseline`, built from bench/baselines/server.ts. */
export const BASELINE_URL = new URL('../../bench/baselines/server.js', import.meta.url).href;

/**
 * The baseline lives beside the benchmarks, not in the product: the published
 * package does not ship it, so outside a checkout `--compare baseline` is a
 * usage error, said before anything runs.
 */
export async function loadBaseline(url: string = BASELINE_URL): Promise<StartServerFn> {
  try {
    return ((await import(url)) as { startBaseline: StartServerFn }).startBaseline;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new BenchOptionError('--compare baseline needs a built checkout of the eventide repository (bench/baselines is not in the package)', 'compare');
  }
}

export async function baselineTarget(o: BenchOptions, runTag: string, startBaseline?: StartServerFn): Promise<BenchTarget> {
  return inProcessTarget('baseline', startBaseline ?? (await loadBaseline()), o, runTag, {}, 'data.mdb');
}

export async function remoteTarget(o: BenchOptions): Promise<BenchTarget> {
  let entries: Array<[string, string]>;
  try {
    entries = Object.entries(JSON.parse(await readFile(o.keysFile, 'utf8')) as Record<string, string>);
  } catch (err) {
    throw new BenchTargetError(`cannot read keys file ${o.keysFile}`, { cause: err, field: 'keys-file' });
  }
  if (entries.length < o.owners) throw new BenchTargetError(`keys file has ${entries.length} owners, the workload needs ${o.owners}`, { field: 'keys-file' });
  const http = new URL(o.httpUrl);
  return {
    label: 'remote', httpUrl: o.httpUrl, grpcTarget: o.grpcTarget !== '' ? o.grpcTarget : `${http.hostname}:50051`,
    wsUrl: o.wsUrl !== '' ? o.wsUrl : `ws://${http.host}/v1/stream`,
    owners: entries.slice(0, o.owners).map((e) => e[0]), keys: entries.slice(0, o.owners).map((e) => e[1]), inProcess: false,
    close: () => Promise.resolve(),
  };
}

function splitEvenly(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

interface UnitHandle {
  start(startEpochMs: number): Promise<SenderResultJSON>;
  /** Accepted events, refused batches and p99 so far (for the progress line). */
  progress(): { accepted: number; refused: number; p99Ms: number };
}

function localUnit(config: SenderConfig): UnitHandle {
  const unit = new SenderUnit(config);
  return {
    start: async (t) => {
      await unit.run(t);
      return unit.toJSON();
    },
    progress: () => ({ accepted: unit.series.accepted.reduce((a, b) => a + b, 0), refused: unit.series.refused.reduce((a, b) => a + b, 0), p99Ms: unit.latency.summary().p99Ms }),
  };
}

async function workerUnit(config: SenderConfig): Promise<UnitHandle> {
  const worker = new Worker(new URL('./sender-worker.js', import.meta.url), { workerData: config });
  let last = { accepted: 0, refused: 0, p99Ms: 0 };
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', (err) => reject(new BenchWorkerError(`sender thread ${config.unit} failed to start`, { cause: err })));
  });
  return {
    start: (t) =>
      new Promise<SenderResultJSON>((resolve, reject) => {
        worker.on('message', (m: { type: string; result?: SenderResultJSON; message?: string; progress?: typeof last }) => {
          if (m.type === 'progress' && m.progress) last = m.progress;
          if (m.type === 'done' && m.result) resolve(m.result);
          if (m.type === 'failed') reject(new BenchWorkerError(`sender thread ${config.unit}: ${m.message}`));
        });
        worker.once('error', (err) => reject(new BenchWorkerError(`sender thread ${config.unit} died`, { cause: err })));
        worker.postMessage({ type: 'start', startEpochMs: t });
      }).finally(() => void worker.terminate()),
    progress: () => last,
  };
}

async function fetchMetrics(target: BenchTarget, owner: number, fromMs: number, toMs: number): Promise<ReportedMetrics> {
  const url = new URL('/v1/metrics', target.httpUrl);
  url.searchParams.set('resolution', '1m');
  url.searchParams.set('from', String(fromMs));
  url.searchParams.set('to', String(toMs));
  const res = await fetch(url, { headers: { authorization: `Bearer ${target.keys[owner]}` } });
  if (res.status !== 200) throw new BenchTargetError(`GET /v1/metrics for ${target.owners[owner]} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return (await res.json()) as ReportedMetrics;
}

/** One load phase: a mode and rate for the sender units, and the tag their event ids carry. */
interface PhasePlan {
  /** "saturation" or a sweep step ("50 %"); empty for a run of one phase. */
  label: string;
  mode: 'closed' | 'open';
  rateEventsPerS: number;
  /** Event id prefix: unique per phase, so the phases of one run never share an id. */
  idTag: string;
  /** Only the first phase visits every owner first (--touch-owners). */
  touchOwners: boolean;
}

/** What one phase measured. */
interface PhaseRun {
  startWallMs: number;
  endWallMs: number;
  ledger: Ledger;
  latency: LatencyRecorder;
  series: Series;
  refusals: Record<string, number>;
  errors: Record<string, number>;
  sentBatches: number;
  lateStarts: number;
  acceptedEvents: number;
  /** Over the measured seconds only: those after the warm-up, up to the end of the load. */
  eventsPerS: number;
  wsDelta: LatencySummary;
  server: ProbeSummary | undefined;
  notes: string[];
}

async function runPhase(target: BenchTarget, o: BenchOptions, plan: PhasePlan, pool: SubscriberPool, subscribers: number, io: BenchIO): Promise<PhaseRun> {
  const workload = workloadOf(o);
  const units = Math.max(1, o.senderThreads);
  const base = {
    runTag: plan.idTag, protocol: o.protocol, gzip: o.gzip, streamDepth: o.streamDepth, mode: plan.mode, durationMs: o.durationMs, warmupMs: o.warmupMs, workload,
    target: { httpUrl: target.httpUrl, grpcTarget: target.grpcTarget }, keys: target.keys,
  };
  const configs: SenderConfig[] = Array.from({ length: units }, (_, u) => ({
    ...base, unit: u, units, touchOwners: plan.touchOwners, connections: Math.max(1, splitEvenly(o.connections, units, u)), rateEventsPerS: plan.rateEventsPerS / units,
  }));
  const handles = o.senderThreads > 0 ? await Promise.all(configs.map(workerUnit)) : configs.map(localUnit);

  pool.startPhase();
  const probe = target.inProcess ? new ServerProbe(target.storeBytes) : undefined;
  probe?.start();
  const startEpochMs = performance.timeOrigin + performance.now() + 50;
  const startWallMs = Date.now();
  const phase = plan.label === '' ? '' : ` [${plan.label}${plan.mode === 'open' ? ` at ${plan.rateEventsPerS.toLocaleString('en-US')} ev/s` : ''}]`;
  const ticker = io.progress
    ? setInterval(() => {
        const p = handles.map((h) => h.progress());
        const elapsedS = Math.max(0.001, (performance.timeOrigin + performance.now() - startEpochMs) / 1000);
        const accepted = p.reduce((a, x) => a + x.accepted, 0);
        const left = Math.max(0, o.durationMs / 1000 - elapsedS);
        const ws = subscribers > 0 ? `  ws delta p99 ${pool.phaseLatency.summary().p99Ms} ms` : '';
        io.progress?.(`${target.label}${phase}: ${Math.round(accepted / elapsedS).toLocaleString('en-US')} ev/s  ack p99 ${Math.max(...p.map((x) => x.p99Ms))} ms${ws}  refused ${p.reduce((a, x) => a + x.refused, 0)}  ${left.toFixed(0)} s left`);
      }, 1000)
    : undefined;
  let results: SenderResultJSON[];
  try {
    results = await Promise.all(handles.map((h) => h.start(startEpochMs)));
  } finally {
    if (ticker) clearInterval(ticker);
  }
  const endWallMs = Date.now();
  const server = probe?.stop();
  // The frames with the last tick's events are still on their way. What comes next (merging the
  // senders' results, the check's metric reads against an in-process server) runs on this event
  // loop too and held them up by 70-130 ms, which the ws figure then charged to the server.
  if (subscribers > 0) await new Promise((resolve) => setTimeout(resolve, WS_DRAIN_MS));

  const ledger = new Ledger(workload.eventNames, workload.usersPerOwner);
  const latency = new LatencyRecorder();
  const series = new Series();
  const refusals: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let sentBatches = 0;
  let lateStarts = 0;
  for (const r of results) {
    ledger.merge(Ledger.fromJSON(r.ledger));
    latency.addEncoded(r.latency[0], r.latency[1]);
    series.mergeJSON(r.series);
    for (const [k, v] of Object.entries(r.refusals)) refusals[k] = (refusals[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    sentBatches += r.sentBatches;
    lateStarts += r.lateStarts;
  }
  const measuredEvents = series.accepted.slice(o.warmupMs / 1000).reduce((a, b) => a + b, 0);
  return {
    startWallMs, endWallMs, ledger, latency, series, refusals, errors, sentBatches, lateStarts,
    acceptedEvents: series.accepted.reduce((a, b) => a + b, 0),
    eventsPerS: measuredEvents / ((o.durationMs - o.warmupMs) / 1000),
    wsDelta: pool.phaseLatency.summary(),
    server,
    notes: [...openLoopNotes({ ...o, mode: plan.mode, rateEventsPerS: plan.rateEventsPerS }, sentBatches, lateStarts), ...refusalNotes(refusals, target.inProcess)],
  };
}

function sweepPhaseOf(plan: PhasePlan, run: PhaseRun): SweepPhase {
  return {
    phase: plan.label, mode: plan.mode, askedEventsPerS: plan.mode === 'open' ? plan.rateEventsPerS : null,
    eventsPerS: run.eventsPerS, acceptedEvents: run.acceptedEvents, ack: run.latency.summary(), wsDelta: run.wsDelta,
    refusedBatches: sum(run.refusals), errors: sum(run.errors), lateStarts: run.lateStarts,
    cpuCoresMean: run.server?.cpuCoresMean ?? null, rssMiBMax: run.server === undefined ? null : Math.round(run.server.rssBytesMax / 2 ** 20), loopLagP99Ms: run.server?.loopLagP99Ms ?? null,
    sustained: null, why: [],
  };
}

/** Runs the workload against one target and checks it: one phase, or a sweep's phases (sweep.ts). */
export async function runAgainst(target: BenchTarget, o: BenchOptions, runTag: string, io: BenchIO): Promise<TargetResult> {
  // Subscribers go to the busiest owners (Zipf rank order), round-robin when there are more subscribers than owners.
  const pool = new SubscriberPool();
  const subs = Array.from({ length: o.subscribers }, (_, i) => ({ owner: i % o.owners, key: target.keys[i % o.owners]! }));
  if (subs.length > 0) {
    try {
      await pool.open(target.wsUrl, subs);
    } catch (err) {
      pool.close();
      throw new BenchTargetError(`ws subscribers could not subscribe at ${target.wsUrl}: ${(err as Error).message}`, { cause: err, field: 'subscribers' });
    }
  }

  const sweep = o.mode === 'sweep';
  const firstPlan: PhasePlan = { label: sweep ? 'saturation' : '', mode: sweep ? 'closed' : o.mode === 'open' ? 'open' : 'closed', rateEventsPerS: o.rateEventsPerS, idTag: runTag, touchOwners: o.touchOwners };
  const first = await runPhase(target, o, firstPlan, pool, subs.length, io);
  const runs: Array<[PhasePlan, PhaseRun]> = [[firstPlan, first]];
  const sweepNotes: string[] = [];
  if (sweep) {
    const steps = sweepSteps(o);
    for (const [i, share] of steps.entries()) {
      const rate = Math.round(first.eventsPerS * share);
      if (rate < 1) {
        sweepNotes.push(`steps from ${round(share * 100)} % not run: ${round(share * 100)} % of the saturation phase's ${Math.round(first.eventsPerS)} events/s is below 1 event/s`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, SWEEP_GAP_MS));
      const plan: PhasePlan = { label: `${round(share * 100)} %`, mode: 'open', rateEventsPerS: rate, idTag: `${runTag}p${i + 1}`, touchOwners: false };
      runs.push([plan, await runPhase(target, o, plan, pool, subs.length, io)]);
    }
  }
  const last = runs[runs.length - 1]![1];

  const ledger = new Ledger(o.eventNames, o.usersPerOwner);
  for (const [, run] of runs) ledger.merge(run.ledger);
  const check = await settleAndCheck(target, o, ledger, pool, first.startWallMs, last.endWallMs, io);
  const restarts = target.workerRestarts?.() ?? 0;
  if (restarts > 0) {
    // Not a pass or fail by itself, but it explains a miscount: a restarted worker resumes from its last snapshot.
    check.failures.push(`${restarts} shard worker restart(s) during the run: counts applied since the last snapshot were lost (README, Guarantees)`);
    io.log(`${target.label}: ${restarts} shard worker restart(s) during the run`);
  }
  pool.close();
  // The chart's seconds: the phases back to back (the gaps between them left out).
  const series: SecondPoint[] = [];
  for (const [, run] of runs) for (const p of run.series.points()) series.push({ ...p, second: series.length });
  return {
    label: target.label, durationMs: o.durationMs, loadStartMs: first.startWallMs, loadEndMs: last.endWallMs, sentBatches: first.sentBatches, acceptedEvents: first.acceptedEvents, eventsPerS: first.eventsPerS,
    ack: first.latency.summary(), wsDelta: first.wsDelta, wsDeltaUntimedFrames: pool.untimedFrames, wsDeltaClockBehindFrames: pool.clockBehindFrames, refusals: first.refusals, errors: first.errors,
    lateStarts: first.lateStarts, notes: first.notes, server: first.server, series, check,
    ...(sweep ? { sweep: sweepReport(runs.map(([plan, run]) => sweepPhaseOf(plan, run)), o.sloP99Ms, sweepNotes) } : {}),
  };
}

/** Polls the server until its figures match the ledger or settleMsMax passes; returns the last check. */
async function settleAndCheck(target: BenchTarget, o: BenchOptions, ledger: Ledger, pool: SubscriberPool, startMs: number, endMs: number, io: BenchIO): Promise<CheckResult> {
  const fromMs = Math.floor((startMs - o.lateByMs - 60_000) / 60_000) * 60_000;
  const toMs = Math.ceil((endMs + o.skewMs + 120_000) / 60_000) * 60_000;
  const owners = [...ledger.owners.keys()];
  const deadline = Date.now() + o.settleMsMax;
  let check: CheckResult;
  const fetchErrors = new Set<string>();
  for (;;) {
    fetchErrors.clear();
    const metrics = new Map<number, ReportedMetrics>();
    for (let i = 0; i < owners.length; i += METRICS_FETCH_CONCURRENCY) {
      const chunk = owners.slice(i, i + METRICS_FETCH_CONCURRENCY);
      const got = await Promise.allSettled(chunk.map((k) => fetchMetrics(target, k, fromMs, toMs)));
      chunk.forEach((k, j) => {
        const r = got[j]!;
        if (r.status === 'fulfilled') metrics.set(k, r.value);
        else fetchErrors.add(r.reason instanceof Error ? r.reason.message : String(r.reason));
      });
    }
    check = checkRun({ ledger, metrics, wsTotals: pool.totalsByOwner(), hllPrecision: o.hllPrecision, compareWindows: o.skewPct === 0, ownerLabel: (k) => target.owners[k] ?? `o${k}` });
    if (check.ok || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
  }
  for (const e of fetchErrors) check.failures.push(e);
  if (!check.ok) io.log(`${target.label}: correctness check FAILED after settling ${o.settleMsMax} ms`);
  return check;
}

/**
 * Said in the report when the in-process server's main thread runs on V8's
 * own heap start: its collections then cost tail latency and throughput at
 * high load (docs/operations.md), and the figures are not the ones
 * `npm run bench` gives.
 */
function inProcessHeapNote(o: BenchOptions): string {
  if (o.httpUrl !== '' || mainHeapInitialGiven()) return '';
  return `; node without --initial-old-space-size=${MAIN_HEAP_INITIAL_MB}, which npm run bench passes (the in-process server's main thread collects more often)`;
}

export async function runBench(o: BenchOptions, io: BenchIO, command: string): Promise<BenchResult> {
  const runTag = Date.now().toString(36).slice(-6);
  const startedAt = new Date().toISOString();
  const targets: TargetResult[] = [];
  const startBaseline = o.httpUrl === '' && o.compare === 'baseline' ? await loadBaseline() : undefined;
  const makers =
    o.httpUrl !== '' ? [() => remoteTarget(o)] : [() => eventideTarget(o, runTag), ...(startBaseline !== undefined ? [() => baselineTarget(o, `${runTag}b`, startBaseline)] : [])];
  for (const make of makers) {
    const target = await make();
    try {
      targets.push(await runAgainst(target, o, target.label === 'baseline' ? `${runTag}b` : runTag, io));
    } finally {
      await target.close();
    }
  }
  return {
    ok: targets.every((t) => t.check.ok),
    node: process.version,
    machine: `${availableParallelism()} cores (shared, noisy)${inProcessHeapNote(o)}`,
    startedAt,
    command,
    options: o,
    targets,
    ratios: targets.length === 2 ? computeRatios(targets[0]!, targets[1]!) : undefined,
  };
}
