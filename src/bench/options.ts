/**
 * Options of `eventide bench`: flags, a JSON config file (`--config`, same
 * names in camelCase), defaults. User options are all optional; the resolved
 * options are all set, validated once here and frozen.
 */
import { readFileSync } from 'node:fs';
import { BenchOptionError } from './errors.js';
import { PROTOCOLS, type Protocol } from './transports.js';
import type { WorkloadOptions } from './workload.js';

/** The workload's own options (workload.ts) plus how to run, measure and report it. */
export interface BenchOptions extends WorkloadOptions {
  protocol: Protocol;
  /** sweep: a closed-loop phase, then open-loop phases at `sweepPcts` of its rate (sweep.ts, run.ts runAgainst). */
  mode: 'closed' | 'open' | 'sweep';
  /** Open loop: target rate, events/s, over all connections. */
  rateEventsPerS: number;
  /** Sweep: the open-loop phases' rates, % of the closed-loop phase's events/s, comma-separated ("25,50,75,90"). */
  sweepPcts: string;
  /** Sweep: the ack p99 a phase must stay within (with no refusals and its rate kept) to count as sustained, ms. */
  sloP99Ms: number;
  durationMs: number;
  /** The first part of the load, sent and checked but left out of the latency and throughput figures (JIT, first allocations). */
  warmupMs: number;
  connections: number;
  streamDepth: number;
  gzip: boolean;
  senderThreads: number;
  /** Every owner gets one batch before owners are picked by Zipf (a many-owner run makes them all active early). */
  touchOwners: boolean;
  subscribers: number;
  /** Longest wait after the load for the server's figures to settle before the check. */
  settleMsMax: number;
  /** Remote target; empty: start a server in-process. */
  httpUrl: string;
  grpcTarget: string;
  wsUrl: string;
  /** JSON `{ "owner": "key" }` for a remote target; owners are taken in file order. */
  keysFile: string;
  /** In-process server: worker threads (0 = one per core) and data directory (empty: a fresh temp dir). */
  serverWorkers: number;
  /** In-process eventide: more settings as JSON, e.g. `{"ackDefault":"durable","walSyncIntervalMs":5}`. */
  serverConfig: string;
  dataDir: string;
  /** Directory for result.json, result.md and result.svg; empty: no files. */
  outDir: string;
  compare: 'none' | 'baseline';
  /** An earlier run's result.json to compare this run with ('' = none; against.ts). */
  against: string;
  /** With `against`: a gated figure worse by more than this % fails the run (exit 3); 0 reports only. */
  maxRegressionPct: number;
  hllPrecision: number;
  /** Print the progress line even when stdout is not a TTY (never by default). */
  progress: boolean;
}

export const BENCH_DEFAULTS: Readonly<BenchOptions> = Object.freeze({
  protocol: 'http-json',
  mode: 'closed',
  rateEventsPerS: 50_000,
  sweepPcts: '25,50,75,90',
  sloP99Ms: 20,
  durationMs: 10_000,
  warmupMs: 0,
  connections: 8,
  streamDepth: 4,
  gzip: false,
  senderThreads: 0,
  touchOwners: false,
  seed: 1,
  owners: 100,
  ownerZipfS: 1,
  usersPerOwner: 1_000,
  eventNames: 20,
  eventBytes: 200,
  batchEvents: 500,
  templateCount: 16,
  duplicatePct: 0.5,
  latePct: 0.5,
  invalidPct: 0.5,
  skewPct: 5,
  lateByMs: 3_000,
  skewMs: 30_000,
  subscribers: 10,
  settleMsMax: 15_000,
  httpUrl: '',
  grpcTarget: '',
  wsUrl: '',
  keysFile: '',
  serverWorkers: 0,
  serverConfig: '',
  dataDir: '',
  outDir: 'bench-out',
  compare: 'none',
  against: '',
  maxRegressionPct: 0,
  hllPrecision: 12,
  progress: false,
} satisfies BenchOptions);

type Kind = 'int' | 'num' | 'bool' | 'str';
const SPEC: Record<keyof BenchOptions, [flag: string, kind: Kind, help: string]> = {
  protocol: ['protocol', 'str', `one of ${PROTOCOLS.join(', ')}`],
  mode: ['mode', 'str', 'closed (as fast as acks return), open (fixed --rate) or sweep (closed, then open at --sweep-pcts of its rate)'],
  rateEventsPerS: ['rate', 'num', 'open loop: target events/s over all connections'],
  sweepPcts: ['sweep-pcts', 'str', 'sweep: open-loop phases, % of the closed-loop rate, comma-separated; each runs --duration-ms'],
  sloP99Ms: ['slo-p99-ms', 'num', 'sweep: ack p99 a phase must stay within (no refusals, rate kept) to count as sustained, ms'],
  durationMs: ['duration-ms', 'int', 'load duration, ms'],
  warmupMs: ['warmup-ms', 'int', 'first part of the load left out of the ack latency and events/s figures (sent and checked all the same), whole seconds, ms'],
  connections: ['connections', 'int', 'connections (HTTP sockets, gRPC channels)'],
  streamDepth: ['stream-depth', 'int', 'grpc-stream: batches in flight per connection'],
  gzip: ['gzip', 'bool', 'gzip request bodies (compressed per send, off the main thread)'],
  senderThreads: ['sender-threads', 'int', 'sender worker threads; 0 sends from the main thread'],
  touchOwners: ['touch-owners', 'bool', 'send every owner one batch first (in order, split over sender units), then pick by --zipf'],
  seed: ['seed', 'int', 'workload seed'],
  owners: ['owners', 'int', 'owners (one key each)'],
  ownerZipfS: ['zipf', 'num', 'Zipf exponent of traffic over owners; 0 = uniform'],
  usersPerOwner: ['users', 'int', 'distinct users per owner'],
  eventNames: ['names', 'int', 'distinct event names'],
  eventBytes: ['event-bytes', 'int', 'approximate JSON size of one event, bytes'],
  batchEvents: ['batch', 'int', 'events per batch'],
  templateCount: ['templates', 'int', 'distinct precomputed batches'],
  duplicatePct: ['dup-pct', 'num', 'events that repeat an id, %'],
  latePct: ['late-pct', 'num', 'events stamped --late-by-ms in the past, %'],
  invalidPct: ['invalid-pct', 'num', 'invalid events (empty name), %'],
  skewPct: ['skew-pct', 'num', 'batches from a skewed clock (with sentAt), %'],
  lateByMs: ['late-by-ms', 'int', 'how late late events are, ms'],
  skewMs: ['skew-ms', 'int', 'clock skew of skewed batches, ms'],
  subscribers: ['subscribers', 'int', 'ws subscribers (spread over the busiest owners)'],
  settleMsMax: ['settle-ms', 'int', 'longest wait for the figures to settle before the check, ms'],
  httpUrl: ['http-url', 'str', 'remote server: HTTP base URL (needs --keys-file; ws latency assumes synced clocks)'],
  grpcTarget: ['grpc-target', 'str', 'remote server: gRPC host:port'],
  wsUrl: ['ws-url', 'str', 'remote server: ws URL of /v1/stream'],
  keysFile: ['keys-file', 'str', 'remote server: JSON { "owner": "key", ... }'],
  serverWorkers: ['server-workers', 'int', 'in-process server: worker threads (0 = one per core)'],
  serverConfig: ['server-config', 'str', 'in-process eventide: more settings as JSON, e.g. {"ackDefault":"durable"}; the only way to set them: EVENTIDE_* variables are not read (MONGODB_URI and REDIS_URL are)'],
  dataDir: ['data-dir', 'str', 'in-process server: data directory (default: a fresh temp dir)'],
  outDir: ['out', 'str', 'directory for result.json / result.md / result.svg ("" = none)'],
  compare: ['compare', 'str', '"baseline": run the same workload against bench/baselines too'],
  against: ['against', 'str', "an earlier run's result.json (or its --out directory): print this run's figures next to it, with ratios (> 1 is better now)"],
  maxRegressionPct: ['max-regression-pct', 'num', 'with --against: exit 3 when events/s, ack p99, ws delta p99 or process CPU per event is worse by more than this %; 0 only reports'],
  hllPrecision: ['hll-precision', 'int', 'server HLL precision, for the uniques tolerance'],
  progress: ['progress', 'bool', 'force the progress line when stdout is not a TTY'],
};

export function benchHelp(): string {
  const lines = ['Usage: eventide bench [flags]', '', 'Runs a seeded workload against an in-process server (or a remote one) and checks its figures.', 'The in-process server uses MONGODB_URI / REDIS_URL from the environment when set (real backends), else the embedded store.', ''];
  lines.push('  --config <file.json>    options as JSON (camelCase names below); flags win');
  lines.push('  --help                  this text');
  for (const [name, [flag, kind, help]] of Object.entries(SPEC)) {
    const def = BENCH_DEFAULTS[name as keyof BenchOptions];
    lines.push(`  --${(flag + (kind === 'bool' ? '' : ' <' + kind + '>')).padEnd(22)} ${help} (default ${JSON.stringify(def)})`);
  }
  return lines.join('\n') + '\n';
}

function coerce(name: string, kind: Kind, raw: unknown): unknown {
  if (kind === 'str') return String(raw);
  if (kind === 'bool') {
    if (raw === true || raw === 'true' || raw === '1' || raw === '') return true;
    if (raw === false || raw === 'false' || raw === '0') return false;
    throw new BenchOptionError(`${name} must be true or false`, name);
  }
  const n = Number(raw);
  if (!Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n))) throw new BenchOptionError(`${name} must be ${kind === 'int' ? 'an integer' : 'a number'}, got ${String(raw)}`, name);
  return n;
}

/** Parses flags (and the config file they name). Returns undefined when --help was asked. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions | undefined {
  const byFlag = new Map(Object.entries(SPEC).map(([name, [flag, kind]]) => [flag, { name, kind }]));
  const given: Record<string, unknown> = {};
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return undefined;
    if (!arg.startsWith('--')) throw new BenchOptionError(`unexpected argument ${arg}`, arg);
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (flag === 'config') {
      configFile = value ?? argv[++i];
      continue;
    }
    const spec = byFlag.get(flag) ?? byFlag.get(flag.replace(/^no-/, ''));
    if (spec === undefined) throw new BenchOptionError(`unknown flag --${flag} (see --help)`, flag);
    if (spec.kind === 'bool') value = flag.startsWith('no-') ? 'false' : (value ?? 'true');
    else if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new BenchOptionError(`--${flag} needs a value`, flag);
    }
    given[spec.name] = coerce(flag, spec.kind, value);
  }
  let fromFile: Record<string, unknown> = {};
  if (configFile !== undefined) {
    try {
      fromFile = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new BenchOptionError(`cannot read config file ${configFile}: ${(err as Error).message}`, 'config');
    }
    for (const [k, v] of Object.entries(fromFile)) {
      const spec = SPEC[k as keyof BenchOptions];
      if (spec === undefined) throw new BenchOptionError(`unknown option ${k} in ${configFile}`, k);
      fromFile[k] = coerce(k, spec[1], v);
    }
  }
  return resolveBenchOptions({ ...fromFile, ...given });
}

/** Most open-loop phases a sweep runs (each takes --duration-ms). */
export const SWEEP_STEPS_MAX = 10;

/** The sweep's open-loop rates as fractions of saturation, ascending; checked (EVT_BENCH_OPTION, field sweep-pcts). */
export function sweepSteps(o: Pick<BenchOptions, 'sweepPcts'>): number[] {
  const parts = o.sweepPcts.split(',').map((x) => x.trim());
  const pcts = parts.map(Number);
  if (parts.some((x) => x === '') || pcts.some((p) => !(p > 0 && p <= 100))) {
    throw new BenchOptionError(`sweep-pcts must be percentages within (0, 100], comma-separated, got ${JSON.stringify(o.sweepPcts.slice(0, 100))}`, 'sweep-pcts');
  }
  if (pcts.length > SWEEP_STEPS_MAX) throw new BenchOptionError(`sweep-pcts takes at most ${SWEEP_STEPS_MAX} steps`, 'sweep-pcts');
  const sorted = [...new Set(pcts)].sort((a, b) => a - b);
  if (sorted.length !== pcts.length) throw new BenchOptionError('sweep-pcts repeats a step', 'sweep-pcts');
  return sorted.map((p) => p / 100);
}

export function resolveBenchOptions(user: Partial<BenchOptions>): BenchOptions {
  const o: BenchOptions = { ...BENCH_DEFAULTS, ...user };
  const positive = (k: keyof BenchOptions, min = 1): void => {
    if (!((o[k] as number) >= min)) throw new BenchOptionError(`${SPEC[k][0]} must be >= ${min}`, SPEC[k][0]);
  };
  if (!(PROTOCOLS as readonly string[]).includes(o.protocol)) throw new BenchOptionError(`protocol must be one of ${PROTOCOLS.join(', ')}`, 'protocol');
  if (o.mode !== 'closed' && o.mode !== 'open' && o.mode !== 'sweep') throw new BenchOptionError('mode must be closed, open or sweep', 'mode');
  sweepSteps(o);
  if (!(o.sloP99Ms > 0)) throw new BenchOptionError('slo-p99-ms must be > 0', 'slo-p99-ms');
  if (o.compare !== 'none' && o.compare !== 'baseline') throw new BenchOptionError('compare must be baseline', 'compare');
  for (const k of ['durationMs', 'connections', 'streamDepth', 'owners', 'usersPerOwner', 'eventNames', 'batchEvents', 'templateCount', 'rateEventsPerS', 'eventBytes'] as const) positive(k);
  for (const k of ['senderThreads', 'subscribers', 'settleMsMax', 'lateByMs', 'serverWorkers', 'ownerZipfS'] as const) positive(k, 0);
  for (const k of ['duplicatePct', 'latePct', 'invalidPct', 'skewPct'] as const) {
    if (!(o[k] >= 0 && o[k] <= 100)) throw new BenchOptionError(`${SPEC[k][0]} must be within 0..100`, SPEC[k][0]);
  }
  if (!(Number.isInteger(o.warmupMs / 1000) && o.warmupMs >= 0 && o.warmupMs < o.durationMs)) {
    throw new BenchOptionError('warmup-ms must be whole seconds, >= 0 and below duration-ms', 'warmup-ms');
  }
  if (o.duplicatePct + o.latePct + o.invalidPct > 50) throw new BenchOptionError('dup-pct + late-pct + invalid-pct must stay <= 50', 'dup-pct');
  if (o.eventNames > 999) throw new BenchOptionError('names must be <= 999', 'names');
  if (o.batchEvents > 9_999) throw new BenchOptionError('batch must be <= 9999 (ids carry a 4-digit index)', 'batch');
  if (!(o.maxRegressionPct >= 0 && o.maxRegressionPct <= 100)) throw new BenchOptionError('max-regression-pct must be within 0..100', 'max-regression-pct');
  if (o.maxRegressionPct > 0 && o.against === '') throw new BenchOptionError('max-regression-pct needs --against <result.json>', 'max-regression-pct');
  if (o.httpUrl !== '' && o.keysFile === '') throw new BenchOptionError('a remote target (--http-url) needs --keys-file', 'keys-file');
  if (o.compare === 'baseline' && !o.protocol.startsWith('http-')) throw new BenchOptionError('the baseline speaks HTTP only: use an http-* protocol with --compare baseline', 'compare');
  return Object.freeze(o);
}
