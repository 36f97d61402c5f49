/**
 * `eventide bench --against <result.json>`: this run's figures next to an
 * earlier run's, to catch regressions between two builds, two settings or
 * two machines. With `--max-regression-pct N` a figure worse by more than N %
 * fails the run (exit 3); without it the comparison is only reported.
 *
 * Invariants:
 * - The first target of each run is compared (eventide, or the remote
 *   server); a baseline run beside it is not.
 * - Every ratio is "> 1 is better now": now / previous for events/s,
 *   previous / now for latencies and CPU per event, so one rule reads them all.
 * - The workloads are compared option by option (everything that shapes the
 *   load and the server; not where the server is or where files go). A
 *   difference is reported, not refused: comparing two settings is a use.
 * - A previous result is read whole, so it is bounded (AGAINST_FILE_BYTES_MAX)
 *   and checked for the fields compared before the run starts: a wrong file
 *   fails in a second, not after the load.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BenchOptionError } from './errors.js';
import type { BenchOptions } from './options.js';
import { round, type BenchResult, type TargetResult } from './report.js';

/** Largest previous result file read: a 10-minute run's result.json is about 1 MB (its per-second series); this leaves room for a long failure list. */
export const AGAINST_FILE_BYTES_MAX = 64 * 1024 * 1024;

/** The part of an earlier result.json the comparison reads. */
export interface PreviousRun {
  file: string;
  startedAt: string;
  command: string;
  node: string;
  machine: string;
  options: Partial<BenchOptions>;
  target: TargetResult;
}

/** Options that shape the load or the server: a difference in one makes it another experiment. */
export const WORKLOAD_OPTIONS = [
  'protocol',
  'mode',
  'rateEventsPerS',
  'sweepPcts',
  'sloP99Ms',
  'durationMs',
  'warmupMs',
  'connections',
  'streamDepth',
  'gzip',
  'senderThreads',
  'touchOwners',
  'seed',
  'owners',
  'ownerZipfS',
  'usersPerOwner',
  'eventNames',
  'eventBytes',
  'batchEvents',
  'templateCount',
  'duplicatePct',
  'latePct',
  'invalidPct',
  'skewPct',
  'lateByMs',
  'skewMs',
  'subscribers',
  'serverWorkers',
  'serverConfig',
  'hllPrecision',
] as const satisfies ReadonlyArray<keyof BenchOptions>;

export type FigureName = 'eventsPerS' | 'ackP50' | 'ackP99' | 'ackP999' | 'wsDeltaP99' | 'cpuUsPerEvent' | 'rssMiBMax';

interface FigureSpec {
  name: FigureName;
  label: string;
  higherIsBetter: boolean;
  /** Gated figures fail the run past --max-regression-pct; the others are reported only (too noisy or too coarse to gate on). */
  gated: boolean;
  read(t: TargetResult): number | undefined;
}

const measured = (count: number, value: number): number | undefined => (count > 0 ? value : undefined);

/**
 * CPU per accepted event, µs: the mean cores busy over the load / accepted
 * events per second, from the in-process probe, so the server and the
 * harness's own senders together (one process); a remote run has no probe.
 */
export function cpuUsPerEvent(t: TargetResult): number | undefined {
  if (t.server === undefined || !(t.eventsPerS > 0)) return undefined;
  return (t.server.cpuCoresMean / t.eventsPerS) * 1e6;
}

export const FIGURES: readonly FigureSpec[] = [
  { name: 'eventsPerS', label: 'accepted events/s', higherIsBetter: true, gated: true, read: (t) => (t.eventsPerS > 0 ? t.eventsPerS : undefined) },
  { name: 'ackP50', label: 'ack p50 ms', higherIsBetter: false, gated: false, read: (t) => measured(t.ack.count, t.ack.p50Ms) },
  { name: 'ackP99', label: 'ack p99 ms', higherIsBetter: false, gated: true, read: (t) => measured(t.ack.count, t.ack.p99Ms) },
  { name: 'ackP999', label: 'ack p99.9 ms', higherIsBetter: false, gated: false, read: (t) => measured(t.ack.count, t.ack.p999Ms) },
  { name: 'wsDeltaP99', label: 'event→ws delta p99 ms', higherIsBetter: false, gated: true, read: (t) => measured(t.wsDelta.count, t.wsDelta.p99Ms) },
  { name: 'cpuUsPerEvent', label: 'process CPU µs per event', higherIsBetter: false, gated: true, read: cpuUsPerEvent },
  { name: 'rssMiBMax', label: 'process RSS max MiB', higherIsBetter: false, gated: false, read: (t) => (t.server === undefined ? undefined : t.server.rssBytesMax / 2 ** 20) },
];

export interface FigureComparison {
  figure: FigureName;
  label: string;
  previous: number | undefined;
  now: number | undefined;
  /** > 1: better now (see the module's invariants); undefined when either side has no measurement. */
  ratio: number | undefined;
  gated: boolean;
  /** Past the threshold (only when one is set and the figure is gated). */
  regressed: boolean;
}

export interface AgainstReport {
  file: string;
  previousStartedAt: string;
  previousCommand: string;
  previousNode: string;
  previousMachine: string;
  /** 0: the comparison is reported, never fails the run. */
  maxRegressionPct: number;
  figures: FigureComparison[];
  /** Workload options that differ (previous vs now). */
  optionDiffs: Array<{ option: string; previous: unknown; now: unknown }>;
  /** Labels of the gated figures past the threshold; empty when none (or no threshold). */
  regressions: string[];
  ok: boolean;
}

/**
 * Worse by more than `pct` %: events/s below previous × (1 − pct/100); a
 * lower-is-better figure above previous × (1 + pct/100).
 */
export function isRegression(spec: Pick<FigureSpec, 'higherIsBetter'>, previous: number, now: number, pct: number): boolean {
  if (pct <= 0) return false;
  return spec.higherIsBetter ? now < previous * (1 - pct / 100) : now > previous * (1 + pct / 100);
}

export function compareAgainst(previous: PreviousRun, nowOptions: BenchOptions, now: TargetResult, maxRegressionPct: number): AgainstReport {
  const figures = FIGURES.map((spec): FigureComparison => {
    const p = spec.read(previous.target);
    const n = spec.read(now);
    const both = p !== undefined && n !== undefined && p > 0 && n > 0;
    return {
      figure: spec.name,
      label: spec.label,
      previous: p === undefined ? undefined : round(p, 3),
      now: n === undefined ? undefined : round(n, 3),
      ratio: both ? round(spec.higherIsBetter ? n / p : p / n, 3) : undefined,
      gated: spec.gated,
      regressed: both && spec.gated && isRegression(spec, p, n, maxRegressionPct),
    };
  });
  const optionDiffs: AgainstReport['optionDiffs'] = [];
  for (const k of WORKLOAD_OPTIONS) {
    const p: unknown = previous.options[k];
    const n: unknown = nowOptions[k];
    if (p !== n) optionDiffs.push({ option: k, previous: p, now: n });
  }
  const regressions = figures.filter((f) => f.regressed).map((f) => f.label);
  return {
    file: previous.file,
    previousStartedAt: previous.startedAt,
    previousCommand: previous.command,
    previousNode: previous.node,
    previousMachine: previous.machine,
    maxRegressionPct,
    figures,
    optionDiffs,
    regressions,
    ok: regressions.length === 0,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function checkLatency(v: unknown, where: string, file: string): void {
  if (!isObject(v) || !isNumber(v.count) || !isNumber(v.p50Ms) || !isNumber(v.p99Ms) || !isNumber(v.p999Ms)) {
    throw new BenchOptionError(`${file} is not an eventide bench result.json: ${where} needs count, p50Ms, p99Ms and p999Ms numbers`, 'against');
  }
}

/**
 * Reads and checks an earlier result.json (`eventide bench --out`), or the
 * result.json of an --out directory; a BenchOptionError (exit 2) when it
 * cannot be used.
 */
export function loadPrevious(path: string, bytesMax = AGAINST_FILE_BYTES_MAX): PreviousRun {
  let parsed: unknown;
  let file = path;
  try {
    let stat = statSync(file);
    if (stat.isDirectory()) {
      file = join(path, 'result.json');
      stat = statSync(file);
    }
    const size = stat.size;
    if (size > bytesMax) throw new BenchOptionError(`${file} is ${size} bytes, over the ${bytesMax} a previous result may have (AGAINST_FILE_BYTES_MAX)`, 'against');
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof BenchOptionError) throw err;
    throw new BenchOptionError(`cannot read the previous result ${file}: ${(err as Error).message}`, 'against');
  }
  if (!isObject(parsed) || !Array.isArray(parsed.targets) || parsed.targets.length === 0 || !isObject(parsed.options)) {
    throw new BenchOptionError(`${file} is not an eventide bench result.json: it needs "options" and a non-empty "targets"`, 'against');
  }
  const t: unknown = parsed.targets[0];
  if (!isObject(t) || !isNumber(t.eventsPerS)) {
    throw new BenchOptionError(`${file} is not an eventide bench result.json: targets[0].eventsPerS must be a number`, 'against');
  }
  checkLatency(t.ack, 'targets[0].ack', file);
  checkLatency(t.wsDelta, 'targets[0].wsDelta', file);
  if (t.server !== undefined && t.server !== null && (!isObject(t.server) || !isNumber(t.server.cpuCoresMean) || !isNumber(t.server.rssBytesMax))) {
    throw new BenchOptionError(`${file} is not an eventide bench result.json: targets[0].server needs cpuCoresMean and rssBytesMax numbers`, 'against');
  }
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    file,
    startedAt: text(parsed.startedAt),
    command: text(parsed.command),
    node: text(parsed.node),
    machine: text(parsed.machine),
    options: parsed.options,
    // Checked above for what compareAgainst reads; a JSON null server is a run without a probe.
    target: { ...(t as unknown as TargetResult), server: t.server === null ? undefined : (t as unknown as TargetResult).server },
  };
}

/** The comparison as Markdown, appended to the run's table. */
export function againstMarkdown(r: AgainstReport): string {
  const cell = (v: number | undefined): string => (v === undefined ? 'n/a' : v.toLocaleString('en-US', { maximumFractionDigits: 2 }));
  const lines = [
    `Against ${r.file} (${r.previousStartedAt || 'unknown start'}, Node ${r.previousNode || '?'}): ratio > 1 is better now` +
      (r.maxRegressionPct > 0 ? `; a gated figure worse by more than ${r.maxRegressionPct} % fails the run.` : '; reported only (no --max-regression-pct).'),
    '',
    '| figure | previous | now | ratio | gated |',
    '|---|---|---|---|---|',
  ];
  for (const f of r.figures) {
    const ratio = f.ratio === undefined ? 'n/a' : `${f.ratio}×${f.regressed ? ' **REGRESSION**' : ''}`;
    lines.push(`| ${f.label} | ${cell(f.previous)} | ${cell(f.now)} | ${ratio} | ${f.gated ? 'yes' : 'no'} |`);
  }
  if (r.optionDiffs.length > 0) {
    // An option the earlier version did not have is absent from its file.
    const shown = (v: unknown): string => (v === undefined ? '(absent)' : JSON.stringify(v));
    lines.push('', `The workloads differ: ${r.optionDiffs.map((d) => `${d.option} ${shown(d.previous)} → ${shown(d.now)}`).join(', ')}.`);
  }
  if (r.regressions.length > 0) lines.push('', `REGRESSION past ${r.maxRegressionPct} %: ${r.regressions.join(', ')}.`);
  return lines.join('\n') + '\n';
}

/** Attaches the comparison to a finished run (`result.against`). */
export function withAgainst(result: BenchResult, previous: PreviousRun, maxRegressionPct: number): BenchResult {
  const now = result.targets[0];
  if (now === undefined) return result;
  return { ...result, against: compareAgainst(previous, result.options, now, maxRegressionPct) };
}
