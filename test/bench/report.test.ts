/**
 * What an open-loop run says about keeping its rate (openLoopNotes), what a
 * run says about refusals that are policy (refusalNotes), and that the
 * Markdown report carries them under the table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveBenchOptions } from '../../src/bench/options.js';
import { computeRatios, markdownTable, openLoopNotes, refusalNotes, storeBytesPerEvent, type BenchResult, type TargetResult } from '../../src/bench/report.js';
import { ServerProbe, type ProbeSummary } from '../../src/bench/probe.js';

const OPEN = resolveBenchOptions({ mode: 'open', rateEventsPerS: 10_000, durationMs: 10_000, batchEvents: 500, connections: 4 });

void test('open loop: busy connections are the target falling behind; too few sends with free connections are the harness', () => {
  // 10K events/s for 10 s in 500-event batches asks for 200 batches.
  assert.deepEqual(openLoopNotes(OPEN, 200, 0), []);
  assert.deepEqual(openLoopNotes(OPEN, 191, 0), [], 'within 95 %');
  const harness = openLoopNotes(OPEN, 150, 0);
  assert.equal(harness.length, 1);
  assert.match(harness[0]!, /sent 150 of the 200 batches the rate asks \(75 %\) with connections free.*--sender-threads/);
  const target = openLoopNotes(OPEN, 150, 12);
  assert.match(target[0]!, /^12 of 150 sends waited for a free connection \(all 4 busy\): the target did not keep up with 10,000 events\/s/);
  assert.deepEqual(openLoopNotes({ ...OPEN, mode: 'closed' }, 1, 99), [], 'a closed loop runs at what the target takes');
});

void test('refusals by a key rate or a quota are named as policy, with how to lift the rate in process and against a remote server', () => {
  assert.deepEqual(refusalNotes({}, true), []);
  assert.deepEqual(refusalNotes({ EVT_MAILBOX_FULL: 3, EVT_STORE_BACKLOG: 2 }, true), [], 'back-pressure is capacity, not policy');
  const [inProcess, ...rest] = refusalNotes({ EVT_RATE_LIMITED: 1_600 }, true);
  assert.equal(rest.length, 0);
  assert.match(inProcess!, /^1,600 batches refused EVT_RATE_LIMITED: .*keyEventsPerSec, keyRequestsPerSec.*--server-config '\{"keyEventsPerSec":0,"keyRequestsPerSec":0\}'/);
  const [remote] = refusalNotes({ EVT_RATE_LIMITED: 1 }, false);
  assert.match(remote!, /raise them on the server/);
  assert.doesNotMatch(remote!, /--server-config/, 'a remote server is not configured by the harness');
  const both = refusalNotes({ EVT_RATE_LIMITED: 1, EVT_QUOTA_EXCEEDED: 4 }, true);
  assert.equal(both.length, 2);
  assert.match(both[1]!, /^4 batches refused EVT_QUOTA_EXCEEDED: .*ownerEventsPerDayMax/);
});

void test('the Markdown report lists a target notes under its table', () => {
  const t = {
    label: 'eventide', durationMs: 10_000, loadStartMs: 0, loadEndMs: 10_000, sentBatches: 150, acceptedEvents: 75_000, eventsPerS: 7_500,
    ack: { count: 1, p50Ms: 1, p90Ms: 1, p99Ms: 1, p999Ms: 1, maxMs: 1, meanMs: 1, clamped: 0 },
    wsDelta: { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0, clamped: 0 },
    wsDeltaUntimedFrames: 0, wsDeltaClockBehindFrames: 0, refusals: {}, errors: {}, lateStarts: 12, notes: openLoopNotes(OPEN, 150, 12),
    server: undefined, series: [], check: { ok: true, failures: [], ownersChecked: 1, uniquesErrorMax: 0 },
  } satisfies TargetResult;
  const result: BenchResult = { ok: true, node: 'v22', machine: 'here', startedAt: 'now', command: 'eventide bench', options: OPEN, targets: [t], ratios: undefined };
  assert.match(markdownTable(result), /\| correctness \| pass \(1 owners\) \|\n\n- eventide: 12 of 150 sends waited for a free connection/);
  assert.doesNotMatch(markdownTable({ ...result, targets: [{ ...t, notes: [] }] }), /\n- eventide:/);
});

void test('the store file growth per event: bytes over events accepted, n/a without a file, and its ratio is baseline over eventide', () => {
  const probe = (storeGrowthBytes?: number): ProbeSummary => ({
    samples: [], cpuCoresMean: 1, rssBytesMax: 2 ** 30, loopLagP50Ms: 0, loopLagP99Ms: 0, loopLagMaxMs: 0, ...(storeGrowthBytes === undefined ? {} : { storeGrowthBytes }),
  });
  const base = {
    label: 'eventide', durationMs: 10_000, loadStartMs: 0, loadEndMs: 10_000, sentBatches: 150, acceptedEvents: 1_000_000, eventsPerS: 100_000,
    ack: { count: 1, p50Ms: 1, p90Ms: 1, p99Ms: 1, p999Ms: 1, maxMs: 1, meanMs: 1, clamped: 0 },
    wsDelta: { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0, clamped: 0 },
    wsDeltaUntimedFrames: 0, wsDeltaClockBehindFrames: 0, refusals: {}, errors: {}, lateStarts: 0, notes: [],
    series: [], check: { ok: true, failures: [], ownersChecked: 1, uniquesErrorMax: 0 },
  };
  const eventide: TargetResult = { ...base, server: probe(75 * 2 ** 20) };
  const baseline: TargetResult = { ...base, label: 'baseline', acceptedEvents: 100_000, server: probe(40 * 2 ** 20) };
  assert.equal(storeBytesPerEvent(eventide), 78.64);
  assert.equal(storeBytesPerEvent(baseline), 419.43);
  assert.equal(storeBytesPerEvent({ ...eventide, server: probe() }), undefined, 'no file to read');
  assert.equal(storeBytesPerEvent({ ...eventide, server: undefined }), undefined, 'a remote server');
  assert.equal(storeBytesPerEvent({ ...eventide, acceptedEvents: 0 }), undefined);
  const ratios = computeRatios(eventide, baseline);
  assert.equal(ratios.storeBytesPerEvent, 5.33);
  const result: BenchResult = { ok: true, node: 'v22', machine: 'here', startedAt: 'now', command: 'eventide bench', options: OPEN, targets: [eventide, baseline], ratios };
  assert.match(markdownTable(result), /\| store file growth per accepted event, bytes \| 78\.64 \(75 MiB\) \| 419\.43 \(40 MiB\) \| 5\.33× \|/);
  assert.match(markdownTable({ ...result, targets: [{ ...eventide, server: probe() }], ratios: undefined }), /\| store file growth per accepted event, bytes \| n\/a \|/);
});

void test('the probe reads the store file at start and stop; a file it cannot read gives no figure', () => {
  let size = 1_000;
  const probe = new ServerProbe(() => size);
  probe.start();
  size = 51_000;
  assert.equal(probe.stop().storeGrowthBytes, 50_000);
  const none = new ServerProbe();
  none.start();
  assert.equal('storeGrowthBytes' in none.stop(), false);
  let gone: number | undefined = 5;
  const vanished = new ServerProbe(() => gone);
  vanished.start();
  gone = undefined;
  assert.equal(vanished.stop().storeGrowthBytes, undefined);
});
