/**
 * Memory end to end, the server in its own process: a data directory with one
 * key per owner, `eventide start` on it, `eventide bench` against it from
 * another process, and the server's memory sampled from outside once a
 * second: RSS, anonymous vs file-backed (/proc/<pid>/status RssAnon /
 * RssFile), the part of the file-backed RSS that is the LMDB map (data.mdb in
 * /proc/<pid>/smaps), and the owners resident in its workers as the server
 * itself counts them (`eventide_worker_owners` on /metrics). After the run,
 * LMDB's own page counts per named database (the figures `mdb_stat` gives).
 *
 * "Active owner" here: resident in a worker (windows open, dedup ids held),
 * i.e. it sent within `ownerIdleMs` (5 min by default) and was not evicted
 * for `ownersPerWorkerMax`. The default workload sends every owner one batch
 * first (`--touch-owners`), then keeps sending to random owners.
 *
 *   npm run build && node dist/bench/memory-e2e.js [--owners 100000] [--rate 20000] [--duration-ms 90000]
 *     [--server "<more eventide start flags>"] [--server-node "<node flags>"] [--bench "<more eventide bench flags>"]
 *     [--out bench/out/memory] [--port 18580] [--keep] [--server-root <another built checkout>]
 *
 * --server-node defaults to the flag npm start starts node with
 * (--initial-old-space-size=128, MAIN_HEAP_INITIAL_MB); "" for V8's own start.
 *
 * Prints one JSON summary line and writes <out>/memory.json (samples included)
 * and the harness's result.{json,md,svg}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { lmdbPageStats, type LmdbPageStats } from './store/lmdb-pages.js';
import { MAIN_HEAP_INITIAL_MB } from '../src/runtime/supervisor.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/src/cli.js');
const MiB = 1024 * 1024;
/** Keys created concurrently while building the data directory: lmdb commits each event turn's puts together. */
const KEY_CREATE_CONCURRENCY = 500;
const SAMPLE_INTERVAL_MS = 1_000;
/** smaps of a process with V8's many mappings is a few thousand lines: every few samples is enough. */
const SMAPS_EVERY_SAMPLES = 3;

interface Args {
  owners: number;
  rate: number;
  durationMs: number;
  server: string[];
  /** Node / V8 flags for the server process, e.g. "--trace-gc". */
  serverNode: string[];
  bench: string[];
  out: string;
  port: number;
  keep: boolean;
  /** Another built checkout whose server (and key store) to measure, e.g. an older commit; the harness stays this one. */
  serverRoot: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { owners: 100_000, rate: 20_000, durationMs: 90_000, server: [], serverNode: [`--initial-old-space-size=${MAIN_HEAP_INITIAL_MB}`], bench: [], out: path.join(ROOT, 'bench/out/memory'), port: 18_580, keep: false, serverRoot: ROOT };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--owners') args.owners = Number(value());
    else if (flag === '--rate') args.rate = Number(value());
    else if (flag === '--duration-ms') args.durationMs = Number(value());
    else if (flag === '--server') args.server = value().split(/\s+/).filter(Boolean);
    else if (flag === '--server-node') args.serverNode = value().split(/\s+/).filter(Boolean);
    else if (flag === '--bench') args.bench = value().split(/\s+/).filter(Boolean);
    else if (flag === '--out') args.out = path.resolve(value());
    else if (flag === '--port') args.port = Number(value());
    else if (flag === '--keep') args.keep = true;
    else if (flag === '--server-root') args.serverRoot = path.resolve(value());
    else throw new Error(`unknown flag ${flag}`);
  }
  return args;
}

interface Sample {
  atMs: number;
  rssMiB: number;
  anonMiB: number;
  fileMiB: number;
  /** Rss of the data.mdb mapping; undefined on the samples where smaps was not read. */
  lmdbMapMiB?: number;
  owners?: number;
  workerHeapUsedMiB?: number;
  workerHeapTotalMiB?: number;
  edgeHeapTotalMiB?: number;
  edgeExternalMiB?: number;
  load1: number;
}

function statusKiB(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Rss (KiB) of the mappings of files whose path ends with `suffix`. */
function mappedRssKiB(pid: number, suffix: string): number {
  let inside = false;
  let total = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inside = line.trimEnd().endsWith(suffix);
    else if (inside && line.startsWith('Rss:')) total += Number(/(\d+)/.exec(line)![1]);
  }
  return total;
}

/** The server's own figures from /metrics, each summed over its label sets (workers). */
const SCRAPED = {
  owners: 'eventide_worker_owners',
  workerHeapUsed: 'eventide_worker_heap_used_bytes',
  workerHeapTotal: 'eventide_worker_heap_total_bytes',
  edgeHeapTotal: 'nodejs_heap_size_total_bytes',
  edgeExternal: 'nodejs_external_memory_bytes',
} as const;
type Scraped = Partial<Record<keyof typeof SCRAPED, number>>;

async function scrape(httpUrl: string): Promise<Scraped> {
  const out: Scraped = {};
  try {
    const text = await (await fetch(`${httpUrl}/metrics`)).text();
    for (const line of text.split('\n')) {
      for (const [key, name] of Object.entries(SCRAPED) as Array<[keyof typeof SCRAPED, string]>) {
        if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) {
          out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
        }
      }
    }
  } catch {
    // A scrape that fails (the server busy past the fetch) leaves the sample without these figures.
  }
  return out;
}

const load1 = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

interface KeyModules {
  openKeyStore(config: { dataDir: string }): Promise<{ close(): Promise<void> }>;
  loadOrCreateServerSecret(dir: string): Promise<unknown>;
  createKey(store: unknown, secret: unknown, input: { owner: string; scopes: string[]; nowMs: number }): Promise<{ key: string }>;
}

/** Keys are made by the server's own build, so the data directory is in the format that build writes. */
async function makeDataDir(serverRoot: string, dir: string, owners: number): Promise<Record<string, string>> {
  const { openKeyStore } = (await import(pathToFileURL(path.join(serverRoot, 'dist/src/store/open.js')).href)) as Pick<KeyModules, 'openKeyStore'>;
  const { createKey, loadOrCreateServerSecret } = (await import(pathToFileURL(path.join(serverRoot, 'dist/src/auth/keys.js')).href)) as Omit<KeyModules, 'openKeyStore'>;
  const store = await openKeyStore({ dataDir: dir });
  const secret = await loadOrCreateServerSecret(dir);
  const keys: Record<string, string> = {};
  const nowMs = Date.now();
  for (let start = 0; start < owners; start += KEY_CREATE_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(KEY_CREATE_CONCURRENCY, owners - start) }, (_, j) => `mem-o${start + j}`);
    const created = await Promise.all(batch.map((owner) => createKey(store, secret, { owner, scopes: ['ingest', 'read'], nowMs })));
    batch.forEach((owner, j) => (keys[owner] = created[j]!.key));
  }
  await store.close();
  return keys;
}

function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 0 : 128))));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(path.join(tmpdir(), 'eventide-mem-'));
  const dataDir = path.join(work, 'data');
  mkdirSync(args.out, { recursive: true });
  const keysStarted = performance.now();
  const keys = await makeDataDir(args.serverRoot, dataDir, args.owners);
  const keysFile = path.join(work, 'keys.json');
  writeFileSync(keysFile, JSON.stringify(keys));
  process.stderr.write(`${args.owners} keys in ${round((performance.now() - keysStarted) / 1000)} s\n`);

  const httpUrl = `http://127.0.0.1:${args.port}`;
  const serverArgs = [path.join(args.serverRoot, 'dist/src/cli.js'), 'start', '--data-dir', dataDir, '--http-port', String(args.port), '--grpc-port', String(args.port + 1), '--no-dev-key', '--log-level', 'warn', ...args.server];
  const server = spawn(process.execPath, [...args.serverNode, ...serverArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
  const serverExit = exited(server);
  const pid = server.pid!;
  for (let i = 0; ; i++) {
    if (i > 300) throw new Error('server not ready after 30 s');
    if (await fetch(`${httpUrl}/readyz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const idle = statusKiB(pid);

  const samples: Sample[] = [];
  let n = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = statusKiB(pid);
      const sample: Sample = { atMs: Date.now(), rssMiB: round(s.VmRSS! / 1024), anonMiB: round(s.RssAnon! / 1024), fileMiB: round(s.RssFile! / 1024), load1: load1() };
      if (n++ % SMAPS_EVERY_SAMPLES === 0) {
        sample.lmdbMapMiB = round(mappedRssKiB(pid, '/data.mdb') / 1024);
        const m = await scrape(httpUrl);
        if (m.owners !== undefined) sample.owners = m.owners;
        if (m.workerHeapUsed !== undefined) sample.workerHeapUsedMiB = round(m.workerHeapUsed / MiB);
        if (m.workerHeapTotal !== undefined) sample.workerHeapTotalMiB = round(m.workerHeapTotal / MiB);
        if (m.edgeHeapTotal !== undefined) sample.edgeHeapTotalMiB = round(m.edgeHeapTotal / MiB);
        if (m.edgeExternal !== undefined) sample.edgeExternalMiB = round(m.edgeExternal / MiB);
      }
      samples.push(sample);
      await new Promise((r) => setTimeout(r, SAMPLE_INTERVAL_MS));
    }
  })();

  const benchOut = path.join(args.out, 'harness');
  const benchArgs = [
    CLI, 'bench', '--http-url', httpUrl, '--grpc-target', `127.0.0.1:${args.port + 1}`, '--ws-url', `ws://127.0.0.1:${args.port}/v1/stream`,
    '--keys-file', keysFile, '--owners', String(args.owners), '--zipf', '0', '--users', '20', '--batch', '10', '--connections', '32',
    '--mode', 'open', '--rate', String(args.rate), '--duration-ms', String(args.durationMs), '--touch-owners', '--sender-threads', '1',
    '--settle-ms', '60000', '--out', benchOut, ...args.bench,
  ];
  const harness = spawn(process.execPath, benchArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
  const harnessCode = await exited(harness);
  // The server as the check left it, then its LMDB pages, read from this process (LMDB allows readers in other processes).
  const ownersAfter = (await scrape(httpUrl)).owners;
  sampling = false;
  await sampler;
  const pages: LmdbPageStats = lmdbPageStats(path.join(dataDir, 'lmdb'));
  // Data directories since the sixteenth session keep snapshots in an environment of their own.
  const snapshotsDir = path.join(dataDir, 'lmdb-snapshots');
  const snapshotPages: LmdbPageStats | undefined = existsSync(snapshotsDir) ? lmdbPageStats(snapshotsDir) : undefined;
  const atEnd = statusKiB(pid);
  const lmdbMapAfterMiB = round(mappedRssKiB(pid, '/data.mdb') / 1024);
  server.kill('SIGTERM');
  await serverExit;

  const result = JSON.parse(readFileSync(path.join(benchOut, 'result.json'), 'utf8')) as {
    ok: boolean;
    targets: Array<{ loadStartMs: number; loadEndMs: number; acceptedEvents: number; eventsPerS: number; sentBatches: number; lateStarts: number; ack: { p50Ms: number; p99Ms: number }; check: { ok: boolean; ownersChecked: number }; refusals: Record<string, number>; errors: Record<string, number> }>;
  };
  const t = result.targets[0]!;
  const during = samples.filter((s) => s.atMs >= t.loadStartMs && s.atMs <= t.loadEndMs + SAMPLE_INTERVAL_MS);
  const last = [...during].reverse();
  const endOfLoad = last[0];
  const withMap = last.find((s) => s.lmdbMapMiB !== undefined);
  const withHeap = last.find((s) => s.workerHeapTotalMiB !== undefined);
  const peak = samples.reduce((a, s) => (s.rssMiB > a.rssMiB ? s : a), samples[0]!);
  const owners = Math.max(0, ...samples.map((s) => s.owners ?? 0), ownersAfter ?? 0);
  const anonIdleMiB = idle.RssAnon! / 1024;
  const summary = {
    harnessExit: harnessCode,
    correctness: result.ok ? 'pass' : 'FAIL',
    ownersChecked: t.check.ownersChecked,
    residentOwnersMax: owners,
    residentOwnersAfter: ownersAfter,
    acceptedEvents: t.acceptedEvents,
    eventsPerS: Math.round(t.eventsPerS),
    sentBatches: t.sentBatches,
    lateStarts: t.lateStarts,
    ackP50Ms: t.ack.p50Ms,
    ackP99Ms: t.ack.p99Ms,
    refusals: t.refusals,
    errors: t.errors,
    idle: { rssMiB: round(idle.VmRSS! / 1024), anonMiB: round(anonIdleMiB), fileMiB: round(idle.RssFile! / 1024) },
    endOfLoad,
    endOfLoadLmdbMapMiB: withMap?.lmdbMapMiB,
    endOfLoadHeaps: withHeap === undefined ? undefined : { workerUsedMiB: withHeap.workerHeapUsedMiB, workerTotalMiB: withHeap.workerHeapTotalMiB, edgeTotalMiB: withHeap.edgeHeapTotalMiB, edgeExternalMiB: withHeap.edgeExternalMiB },
    peak,
    afterCheck: { rssMiB: round(atEnd.VmRSS! / 1024), anonMiB: round(atEnd.RssAnon! / 1024), fileMiB: round(atEnd.RssFile! / 1024), lmdbMapMiB: lmdbMapAfterMiB },
    anonPerOwnerKB: endOfLoad === undefined || owners === 0 ? undefined : round(((endOfLoad.anonMiB - anonIdleMiB) * MiB) / owners / 1000, 2),
    load1: { start: samples[0]?.load1, end: samples.at(-1)?.load1 },
    lmdb: pages,
    lmdbSnapshots: snapshotPages,
    storedBytesPerEvent: t.acceptedEvents === 0 ? undefined : round((pages.usedBytes + (snapshotPages?.usedBytes ?? 0)) / t.acceptedEvents, 0),
    server: [...args.serverNode, ...serverArgs.slice(1)].join(' '),
    bench: benchArgs.slice(1).join(' '),
  };
  writeFileSync(path.join(args.out, 'memory.json'), JSON.stringify({ ...summary, samples }, null, 2) + '\n');
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  if (!args.keep) rmSync(work, { recursive: true, force: true });
  else process.stderr.write(`kept ${work}\n`);
}

await main();
