import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveBenchOptions, sweepSteps } from '../../src/bench/options.js';
import { markdownTable, type BenchResult, type TargetResult } from '../../src/bench/report.js';
import { judgePhase, sweepMarkdown, sweepReport, type SweepPhase } from '../../src/bench/sweep.js';
import type { LatencySummary } from '../../src/bench/histogram.js';
import { EventideError } from '../../src/errors.js';

const lat = (p99Ms: number): LatencySummary => ({ count: 100, p50Ms: p99Ms / 4, p90Ms: p99Ms / 2, p99Ms, p999Ms: p99Ms * 2, maxMs: p99Ms * 3, meanMs: p99Ms / 3, clamped: 0 });

function phase(name: string, asked: number | null, over: Partial<SweepPhase> = {}): SweepPhase {
  return {
    phase: name, mode: asked === null ? 'closed' : 'open', askedEventsPerS: asked, eventsPerS: asked ?? 400_000, acceptedEvents: 1_000, ack: lat(10), wsDelta: lat(260),
    refusedBatches: 0, errors: 0, lateStarts: 0, cpuCoresMean: 1.5, rssMiBMax: 500, loopLagP99Ms: 12, sustained: null, why: [], ...over,
  };
}

void test('sweep steps: percentages sorted ascending; junk is refused with the field', () => {
  assert.deepEqual(sweepSteps({ sweepPcts: '75, 25,50' }), [0.25, 0.5, 0.75]);
  assert.deepEqual(sweepSteps({ sweepPcts: '100' }), [1]);
  for (const bad of ['', '0', '101', '50,,75', 'half', '-10', '50,50', '1,2,3,4,5,6,7,8,9,10,11']) {
    assert.throws(
      () => resolveBenchOptions({ mode: 'sweep', sweepPcts: bad }),
      (err: unknown) => err instanceof EventideError && err.code === 'EVT_BENCH_OPTION' && (err as EventideError & { field?: string }).field === 'sweep-pcts',
      bad,
    );
  }
  assert.throws(() => resolveBenchOptions({ sloP99Ms: 0 }), /slo-p99-ms/);
  assert.throws(() => resolveBenchOptions({ mode: 'ramp' as 'sweep' }), /closed, open or sweep/);
});

void test('a phase is sustained only within the objective, with nothing refused, failed or late, at the asked rate', () => {
  assert.equal(judgePhase(phase('50 %', 200_000), 20).sustained, true);
  assert.equal(judgePhase(phase('saturation', null), 20).sustained, null, 'the closed phase is the measure, not a step');
  const cases: Array<[Partial<SweepPhase>, RegExp]> = [
    [{ ack: lat(20.5) }, /ack p99 20.5 ms > 20 ms/],
    [{ refusedBatches: 3 }, /3 batches refused/],
    [{ errors: 1 }, /1 errors/],
    [{ eventsPerS: 180_000 }, /accepted 180,000 of the asked 200,000/],
  ];
  for (const [over, why] of cases) {
    const p = judgePhase(phase('50 %', 200_000, over), 20);
    assert.equal(p.sustained, false, JSON.stringify(over));
    assert.match(p.why.join('; '), why);
  }
  assert.equal(judgePhase(phase('50 %', 200_000, { ack: lat(20) }), 20).sustained, true, 'at the objective is within it');
  assert.equal(judgePhase(phase('50 %', 200_000, { eventsPerS: 190_000 }), 20).sustained, true, '95 % of the asked rate is kept');
  // Their latency counts from the intended send time: the p99 already holds what the wait cost.
  assert.equal(judgePhase(phase('50 %', 200_000, { lateStarts: 7 }), 20).sustained, true, 'sends that waited for a connection are reported, not judged');
});

void test('the answer is the highest step with every lower step sustained', () => {
  const s = sweepReport([phase('saturation', null), phase('25 %', 100_000), phase('50 %', 200_000), phase('75 %', 300_000, { ack: lat(35) }), phase('90 %', 360_000)], 20);
  assert.equal(s.saturationEventsPerS, 400_000);
  assert.deepEqual(s.sustained, { phase: '50 %', askedEventsPerS: 200_000, eventsPerS: 200_000, ackP99Ms: 10, shareOfSaturation: 0.5 });
  assert.deepEqual(
    s.phases.map((p) => p.sustained),
    [null, true, true, false, true],
    'the 90 % step passed on its own, but above a failed step it is not the answer',
  );
  const md = sweepMarkdown('eventide', s);
  assert.match(md, /Sustained: \*\*200,000 events\/s\*\* \(50 % of saturation 400,000\)/);
  assert.match(md, /\| 75 % \| 300,000 \| 300,000 \| .* \| no: ack p99 35 ms > 20 ms \|/);

  const none = sweepReport([phase('saturation', null), phase('25 %', 100_000, { refusedBatches: 1 })], 20);
  assert.equal(none.sustained, null);
  assert.match(sweepMarkdown('eventide', none), /Not sustained at the lowest step/);
});

void test('the Markdown report carries each target\'s sweep table after the main one', () => {
  const o = resolveBenchOptions({ mode: 'sweep', sweepPcts: '50,90' });
  const sweep = sweepReport([phase('saturation', null), phase('50 %', 200_000)], 20);
  const t = {
    label: 'eventide', durationMs: 10_000, loadStartMs: 0, loadEndMs: 0, sentBatches: 1, acceptedEvents: 1, eventsPerS: 400_000, ack: lat(30), wsDelta: lat(260),
    wsDeltaUntimedFrames: 0, wsDeltaClockBehindFrames: 0, refusals: {}, errors: {}, lateStarts: 0, notes: [], server: undefined, series: [],
    check: { ok: true, ownersChecked: 1, failures: [] }, sweep,
  } as unknown as TargetResult;
  const result: BenchResult = { ok: true, node: 'v20', machine: '2 cores', startedAt: '', command: '', options: o, targets: [t], ratios: undefined };
  const md = markdownTable(result);
  assert.match(md, /sweep \(a closed-loop phase, whose figures the table gives, then open-loop phases at 50 \/ 90 % of its rate, each 10 s\)/);
  assert.ok(md.indexOf('| accepted events/s |') < md.indexOf('eventide: sweep, ack p99 objective 20 ms'));
});
