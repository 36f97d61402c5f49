/**
 * The full fuzz run, one command: `npm run fuzz` (at least 100,000 hostile
 * inputs over HTTP, gRPC and ws against a real `eventide start` on loopback,
 * with well-behaved senders alongside). Prints the result as markdown, writes
 * it to --out when given (bench/results/fuzz.md records one), and exits 1 on
 * any failure. What is checked: test/security/fuzz.ts.
 *
 *   node dist/bench/fuzz.js [--inputs 100000] [--seed 1] [--concurrency 16] [--out file]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { countedEvents, FUZZ_LIMITS, fuzzServerFlags, reportMarkdown, runFuzz, serverHealth, spawnFuzzServer } from '../test/security/fuzz.js';

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : (process.argv[at + 1] ?? fallback);
}

const inputs = Number(flag('inputs', '100000'));
const seed = Number(flag('seed', '1'));
const concurrency = Number(flag('concurrency', '16'));
const out = flag('out', '');
if (!Number.isSafeInteger(inputs) || inputs < 1 || !Number.isSafeInteger(seed) || !Number.isSafeInteger(concurrency) || concurrency < 1) {
  process.stderr.write('usage: node dist/bench/fuzz.js [--inputs N] [--seed N] [--concurrency N] [--out file]\n');
  process.exit(2);
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'eventide-fuzz-'));
const server = await spawnFuzzServer(dataDir, fuzzServerFlags(FUZZ_LIMITS));
const fromMs = Date.now();
let failed: boolean;
try {
  process.stderr.write(`fuzzing ${inputs} inputs (seed ${seed}) against HTTP ${server.target.httpPort}, gRPC ${server.target.grpcPort}\n`);
  const report = await runFuzz(server.target, {
    seed,
    inputs,
    mix: { http: 5, grpc: 3, ws: 2 },
    limits: FUZZ_LIMITS,
    slowEvery: 1_000,
    concurrency,
    deadlineMs: 20_000,
    goodSenders: 2,
    goodBatchEvents: 10,
  });
  const health = await serverHealth(server);
  // The counts are applied before the answer; give a flush a moment anyway before calling a mismatch.
  let counted = await countedEvents(server.target, fromMs);
  for (let i = 0; i < 50 && counted !== report.good.events; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    counted = await countedEvents(server.target, fromMs);
  }
  const exitCode = await server.stop();
  const checks = {
    'process alive after the run': String(health.alive),
    'worker restarts': String(health.workerRestarts),
    'error-level log lines': String(health.errorLines.length),
    'good events counted / acknowledged': `${counted.toLocaleString('en-US')} / ${report.good.events.toLocaleString('en-US')}`,
    'well-behaved sender failures': String(report.good.failures.length),
    'server RSS after the run': `${Math.round(health.rssBytes / 1024 / 1024)} MiB`,
    'exit code after SIGTERM': String(exitCode),
  };
  failed =
    report.failures.length > 0 ||
    !health.alive ||
    health.workerRestarts > 0 ||
    health.errorLines.length > 0 ||
    counted !== report.good.events ||
    report.good.failures.length > 0 ||
    exitCode !== 0;
  const markdown = `${reportMarkdown(report, checks)}\n\nResult: ${failed ? 'FAIL' : 'pass'}. Node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}).\n`;
  process.stdout.write(markdown);
  for (const line of health.errorLines.slice(0, 5)) process.stderr.write(`error log: ${line}\n`);
  for (const f of report.good.failures.slice(0, 5)) process.stderr.write(`good sender: ${f}\n`);
  if (out !== '') writeFileSync(out, markdown);
} finally {
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
