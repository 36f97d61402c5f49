/**
 * The short fuzz run of `npm test`: 5,000 seeded hostile inputs over HTTP,
 * gRPC and ws against a real `eventide start` process, with well-behaved
 * senders alongside. The full run (≥ 100,000 inputs) is `npm run fuzz`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, tempDir } from '../helpers.js';
import { countedEvents, FUZZ_LIMITS, fuzzServerFlags, runFuzz, serverHealth, spawnFuzzServer } from './fuzz.js';

/** Fixed, so the short run sends the same bytes every time. */
const SEED = 20_260_601;
const INPUTS = 5_000;

void test('fuzz (short): 5,000 hostile inputs; the process stays up, every answer has a stable code, no hang, every good event counted', async (t) => {
  const server = await spawnFuzzServer(tempDir(t, 'eventide-fuzz-'), fuzzServerFlags(FUZZ_LIMITS));
  t.after(() => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  });
  const fromMs = Date.now();
  const report = await runFuzz(server.target, {
    seed: SEED,
    inputs: INPUTS,
    mix: { http: 5, grpc: 3, ws: 2 },
    limits: FUZZ_LIMITS,
    slowEvery: 1_000,
    concurrency: 12,
    deadlineMs: 20_000,
    goodSenders: 2,
    goodBatchEvents: 10,
  });
  t.diagnostic(`${report.inputs.total} inputs (HTTP ${report.inputs.http}, gRPC ${report.inputs.grpc}, ws ${report.inputs.ws}) in ${Math.round(report.durationMs)} ms; ${report.good.events} good events`);

  assert.ok(report.inputs.total >= INPUTS);
  assert.ok(report.inputs.http > 0 && report.inputs.grpc > 0 && report.inputs.ws > 0);
  assert.deepEqual(report.failures.slice(0, 20), [], `${report.failures.length} failures`);
  assert.deepEqual(report.good.failures, []);
  assert.ok(report.good.events > 0, 'the well-behaved senders got events through');
  // The inputs reached the code paths they were built for, not only the front door.
  for (const code of ['EVT_BODY_MALFORMED', 'EVT_UNAUTHENTICATED', 'EVT_REQUEST_TIMEOUT']) {
    assert.ok(Object.keys(report.outcomes).some((k) => k.startsWith('http') && k.endsWith(code)), `no HTTP ${code}: ${JSON.stringify(report.outcomes)}`);
  }
  assert.ok(Object.keys(report.outcomes).some((k) => k.startsWith('grpc INVALID_ARGUMENT')), 'gRPC refusals');
  assert.ok(Object.keys(report.outcomes).some((k) => k.startsWith('ws error')), 'ws error frames');

  const health = await serverHealth(server);
  assert.equal(health.alive, true);
  assert.equal(health.workerRestarts, 0);
  assert.deepEqual(health.errorLines, []);
  await eventually(async () => (await countedEvents(server.target, fromMs)) === report.good.events, 30_000, 100);
  assert.equal(await server.stop(), 0);
});
