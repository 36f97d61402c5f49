/**
 * kill -9 trials: a real eventide process under `durable` load is killed with
 * SIGKILL at a random moment, restarted on the same data directory, and
 * checked, many times in a row:
 *
 * - every batch that was acknowledged `durable` before the kill is counted
 *   after the restart, and its events are in the event store (sampled per
 *   trial, the last acknowledged batches always);
 * - the senders then resend every batch that got no answer (as an SDK does,
 *   same ids), and the window counts of each owner equal exactly the distinct
 *   events sent: nothing lost, nothing counted twice.
 *
 * The last trial ends with SIGTERM instead, which must exit 0 after draining,
 * and a final start must show the same counts.
 *
 * One command: `npm run build && node dist/bench/kill9.js --trials 20`.
 * test/integration/crash.test.ts runs a few trials in `npm test`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const RESEND_ATTEMPTS_MAX = 200;

export interface KillTrialOptions {
  trials: number;
  owners: number;
  senders: number;
  batchEvents: number;
  /** Load runs this long (uniform in [min, max]) before the kill. */
  killAfterMs: [min: number, max: number];
  seed: number;
  /** Ids checked in the store per trial, besides the last acknowledged batches. */
  sampleIds: number;
  dataDir?: string;
  /** Extra `eventide start` flags. */
  flags?: string[];
  log?: (line: string) => void;
}

export interface TrialFigures {
  trial: number;
  killedAfterMs: number;
  batchesAcked: number;
  batchesUnanswered: number;
  /** Time from spawn to the first ready answer of the restarted process. */
  restartMs: number;
  idsChecked: number;
}

export interface KillTrialResult {
  trials: TrialFigures[];
  eventsSent: number;
  mismatches: string[];
  sigtermExitCode: number | null;
}

interface Server {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  stderr(): string;
}

interface Batch {
  owner: string;
  ids: string[];
  body: string;
}

/** mulberry32: small, seeded, good enough for timings and picks. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function startServer(dataDir: string, flags: readonly string[]): Promise<Server> {
  const child = spawn(
    process.execPath,
    [CLI, 'start', '--data-dir', dataDir, '--http-port', '0', '--grpc-port', '0', '--log-level', 'warn', '--no-dev-key', ...flags],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`eventide did not start within ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS);
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      stderr = (stderr + '\n' + line).slice(-4_000);
      const match = /listening: HTTP (\S+)/.exec(line);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`eventide exited with ${code} before it listened: ${stderr}`));
    });
  });
  return { child, url, exited, stderr: () => stderr };
}

async function post(server: Server, key: string, body: string): Promise<number> {
  try {
    const response = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-eventide-ack': 'durable' },
      body,
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0; // connection refused or reset: the process is gone
  }
}

async function getJson(server: Server, key: string, url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.url}${url}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function runKillTrials(options: KillTrialOptions): Promise<KillTrialResult> {
  const log = options.log ?? (() => undefined);
  const random = prng(options.seed);
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-kill9-'));
  // Resends may arrive long after the event time; keep them countable.
  const flags = ['--allowed-lateness-ms', '3600000', '--snapshot-interval-ms', '500', ...(options.flags ?? [])];
  const owners = Array.from({ length: options.owners }, (_, i) => `kill9-owner-${i}`);
  const keys = new Map<string, string>();
  for (const owner of owners) {
    const out = execFileSync(process.execPath, [CLI, 'keys', 'create', '--owner', owner, '--data-dir', dataDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    keys.set(owner, out.trim());
  }
  const sent = new Map<string, Set<string>>(owners.map((owner) => [owner, new Set<string>()]));
  const startedAtMs = Date.now();
  const result: KillTrialResult = { trials: [], eventsSent: 0, mismatches: [], sigtermExitCode: null };
  let unanswered: Batch[] = [];
  let seq = 0;
  let server = await startServer(dataDir, flags);
  try {
    for (let trial = 0; trial < options.trials; trial++) {
      const acked: Batch[] = [];
      let stop = false;
      const senders = Array.from({ length: options.senders }, async (_, sender) => {
        while (!stop) {
          const owner = owners[(sender + seq) % owners.length]!;
          const n = seq++;
          const now = Date.now();
          const ids = Array.from({ length: options.batchEvents }, (_, i) => `t${trial}-s${sender}-${n}-${i}`);
          const body = JSON.stringify({ events: ids.map((id, i) => ({ id, name: `n${i % 4}`, timestamp: now, userId: `u${i % 50}` })) });
          const batch = { owner, ids, body };
          for (const id of ids) sent.get(owner)!.add(id);
          const status = await post(server, keys.get(owner)!, body);
          if (status === 200) acked.push(batch);
          else unanswered.push(batch);
          if (status !== 200 && status !== 0 && status !== 429 && status !== 503) throw new Error(`unexpected status ${status}`);
        }
      });
      const killAfterMs = Math.round(options.killAfterMs[0] + random() * (options.killAfterMs[1] - options.killAfterMs[0]));
      await new Promise((resolve) => setTimeout(resolve, killAfterMs));
      const lastTrial = trial === options.trials - 1;
      stop = true; // requests in flight stay in flight: the kill catches them
      if (lastTrial) {
        // The last one is a graceful stop: drain, flush, snapshot, exit 0.
        server.child.kill('SIGTERM');
      } else {
        server.child.kill('SIGKILL');
      }
      const code = await server.exited;
      await Promise.all(senders);
      if (lastTrial) {
        result.sigtermExitCode = code;
        if (code !== 0) result.mismatches.push(`SIGTERM: exit code ${code}: ${server.stderr()}`);
      }
      const restartStarted = performance.now();
      server = await startServer(dataDir, flags);
      const restartMs = performance.now() - restartStarted;

      // Every acknowledged batch is in the store: the last ones always, plus a sample.
      const checks = acked.slice(-5).flatMap((batch) => batch.ids.map((id) => ({ owner: batch.owner, id })));
      for (let i = 0; i < options.sampleIds && acked.length > 0; i++) {
        const batch = acked[Math.floor(random() * acked.length)]!;
        checks.push({ owner: batch.owner, id: batch.ids[Math.floor(random() * batch.ids.length)]! });
      }
      for (const check of checks) {
        const { status, body } = await getJson(server, keys.get(check.owner)!, `/v1/events/${encodeURIComponent(check.id)}`);
        if (status !== 200) result.mismatches.push(`trial ${trial}: acknowledged event ${check.owner}/${check.id} not found after restart (${status} ${JSON.stringify(body)})`);
      }

      // Resend what got no answer, as a client does, until each is answered.
      const resend = unanswered;
      unanswered = [];
      for (const batch of resend) {
        let status = 0;
        for (let attempt = 0; attempt < RESEND_ATTEMPTS_MAX && status !== 200; attempt++) {
          status = await post(server, keys.get(batch.owner)!, batch.body);
          if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        if (status !== 200) result.mismatches.push(`trial ${trial}: a resend kept failing (${status})`);
      }

      // Counts equal exactly the distinct events sent.
      const fromMs = startedAtMs - 86_400_000;
      const toMs = Date.now() + 86_400_000;
      for (const owner of owners) {
        const { status, body } = await getJson(server, keys.get(owner)!, `/v1/metrics?resolution=1d&from=${fromMs}&to=${toMs}`);
        const total = status === 200 ? (body.summary as { total: number }).total : -1;
        if (total !== sent.get(owner)!.size) {
          result.mismatches.push(`trial ${trial}: ${owner} counts ${total}, sent ${sent.get(owner)!.size} distinct events`);
        }
      }
      const figures: TrialFigures = {
        trial,
        killedAfterMs: killAfterMs,
        batchesAcked: acked.length,
        batchesUnanswered: resend.length,
        restartMs: Math.round(restartMs),
        idsChecked: checks.length,
      };
      result.trials.push(figures);
      log(`trial ${trial}${lastTrial ? ' (SIGTERM)' : ''}: ${JSON.stringify(figures)}${result.mismatches.length > 0 ? ` mismatches so far: ${result.mismatches.length}` : ''}`);
    }
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
  for (const ids of sent.values()) result.eventsSent += ids.size;
  return result;
}

function flag(argv: string[], name: string, fallback: number): number {
  const at = argv.indexOf(name);
  return at >= 0 ? Number(argv[at + 1]) : fallback;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const argv = process.argv.slice(2);
  const started = Date.now();
  const result = await runKillTrials({
    trials: flag(argv, '--trials', 20),
    owners: flag(argv, '--owners', 8),
    senders: flag(argv, '--senders', 8),
    batchEvents: flag(argv, '--batch', 100),
    killAfterMs: [flag(argv, '--kill-min-ms', 200), flag(argv, '--kill-max-ms', 2_000)],
    seed: flag(argv, '--seed', 1),
    sampleIds: flag(argv, '--sample', 200),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const ok = result.mismatches.length === 0 && result.sigtermExitCode === 0;
  process.stdout.write(
    `\n${result.trials.length} trials, ${result.eventsSent} distinct events sent, ` +
      `${result.trials.reduce((n, t) => n + t.batchesAcked, 0)} batches acknowledged durable before their kill, ` +
      `${result.trials.reduce((n, t) => n + t.batchesUnanswered, 0)} unanswered and resent, SIGTERM exit ${result.sigtermExitCode}, ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s: ${ok ? 'PASS' : 'FAIL'}\n`,
  );
  for (const mismatch of result.mismatches) process.stdout.write(`  ${mismatch}\n`);
  process.exitCode = ok ? 0 : 1;
}
