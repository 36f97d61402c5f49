/**
 * A short real run (a few seconds, a small open-loop rate) against an
 * in-process server, then the correctness check. It asserts correctness
 * only, never speed: the machine running the tests may be slow and shared.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveBenchOptions } from '../../src/bench/options.js';
import { baselineTarget, eventideTarget, runAgainst, type BenchTarget } from '../../src/bench/run.js';

const SMOKE = resolveBenchOptions({
  mode: 'open',
  rateEventsPerS: 2_000,
  durationMs: 2_000,
  connections: 2,
  owners: 4,
  usersPerOwner: 200,
  batchEvents: 100,
  templateCount: 4,
  duplicatePct: 2,
  latePct: 2,
  invalidPct: 2,
  skewPct: 10,
  subscribers: 2,
  settleMsMax: 15_000,
  serverWorkers: 2,
  outDir: '',
  compare: 'baseline',
});

async function smoke(target: BenchTarget, runTag: string): Promise<void> {
  try {
    const r = await runAgainst(target, SMOKE, runTag, { progress: undefined, log: () => undefined });
    assert.deepEqual(r.check.failures, []);
    assert.equal(r.check.ok, true);
    assert.ok(r.acceptedEvents > 0, 'some events were accepted');
    assert.deepEqual(r.errors, {});
    // The ws latency is measured from every delta frame's oldestReceivedAtMs, none left out.
    assert.ok(r.wsDelta.count > 0, 'delta frames were measured');
    assert.equal(r.wsDeltaUntimedFrames, 0);
    assert.equal(r.wsDeltaClockBehindFrames, 0, 'one process, one clock');
  } finally {
    await target.close();
  }
}

void test('smoke: eventide in-process passes the correctness check', async () => {
  const runTag = `s${Date.now().toString(36).slice(-5)}`;
  await smoke(await eventideTarget(SMOKE, runTag), runTag);
});

void test('smoke: the baseline passes the same correctness check', async () => {
  const runTag = `b${Date.now().toString(36).slice(-5)}`;
  await smoke(await baselineTarget(SMOKE, runTag), runTag);
});
