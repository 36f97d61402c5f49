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

async function smoke(target: BenchTarget, runTag: string, options = SMOKE): Promise<void> {
  try {
    const r = await runAgainst(target, options, runTag, { progress: undefined, log: () => undefined });
    assert.deepEqual(r.check.failures, []);
    assert.equal(r.check.ok, true);
    assert.ok(r.acceptedEvents > 0, 'some events were accepted');
    assert.deepEqual(r.errors, {});
    // The ws latency is measured from every delta frame's oldestReceivedAtMs, none left out.
    assert.ok(r.wsDelta.count > 0, 'delta frames were measured');
    assert.equal(r.wsDeltaUntimedFrames, 0);
    assert.equal(r.wsDeltaClockBehindFrames, 0, 'one process, one clock');
    const acks = r.sentBatches - Object.values(r.refusals).reduce((a, b) => a + b, 0);
    if (options.warmupMs === 0) assert.equal(r.ack.count, acks, 'every ack is in the latency figures');
    // The warm-up's acks are left out of the latency figures; its events are checked all the same (above).
    else assert.ok(r.ack.count > 0 && r.ack.count < acks * 0.75, `${r.ack.count} of ${acks} acks measured after a ${options.warmupMs} ms warm-up`);
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

void test('smoke: a warm-up is sent and checked but left out of the latency figures', async () => {
  const runTag = `w${Date.now().toString(36).slice(-5)}`;
  const options = { ...SMOKE, warmupMs: 1_000, compare: 'none' as const };
  await smoke(await eventideTarget(options, runTag), runTag, options);
});

void test('warmup-ms must be whole seconds below the duration', () => {
  assert.throws(() => resolveBenchOptions({ warmupMs: 1_500 }), /warmup-ms/);
  assert.throws(() => resolveBenchOptions({ warmupMs: 10_000, durationMs: 10_000 }), /warmup-ms/);
  assert.equal(resolveBenchOptions({ warmupMs: 2_000 }).warmupMs, 2_000);
});

void test('smoke: a sweep runs a closed phase, then open steps at its share, and checks every phase together', async () => {
  const runTag = `p${Date.now().toString(36).slice(-5)}`;
  // One connection of 50-event batches: the closed loop stays small on a shared test machine.
  const options = resolveBenchOptions({ ...SMOKE, mode: 'sweep', sweepPcts: '50', connections: 1, batchEvents: 50, compare: 'none' });
  const target = await eventideTarget(options, runTag);
  try {
    const r = await runAgainst(target, options, runTag, { progress: undefined, log: () => undefined });
    // Passing the check means the server counted every phase's events once: the ledger holds both
    // phases, and a second phase reusing the first's ids would have been counted as duplicates.
    assert.deepEqual(r.check.failures, []);
    const sweep = r.sweep!;
    assert.deepEqual(
      sweep.phases.map((p) => [p.phase, p.mode]),
      [['saturation', 'closed'], ['50 %', 'open']],
    );
    const [saturation, half] = sweep.phases;
    assert.ok(saturation!.eventsPerS > 0);
    assert.equal(sweep.saturationEventsPerS, saturation!.eventsPerS);
    assert.equal(half!.askedEventsPerS, Math.round(saturation!.eventsPerS * 0.5));
    assert.ok(half!.acceptedEvents > 0 && half!.ack.count > 0);
    assert.equal(typeof half!.sustained, 'boolean');
    // The top-level figures are the saturation phase's; the series runs over both phases.
    assert.equal(r.eventsPerS, saturation!.eventsPerS);
    assert.equal(r.series.reduce((a, p) => a + p.acceptedEvents, 0), saturation!.acceptedEvents + half!.acceptedEvents);
  } finally {
    await target.close();
  }
});
