/**
 * `eventide bench --against`: the comparison with an earlier result (ratios,
 * the regression gate, the workload differences), reading a previous
 * result.json and refusing a wrong one, and one real run through the CLI
 * that a planted previous result makes fail with exit 3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { againstMarkdown, compareAgainst, cpuUsPerEvent, isRegression, loadPrevious, type PreviousRun } from '../../src/bench/against.js';
import { resolveBenchOptions } from '../../src/bench/options.js';
import type { BenchResult, TargetResult } from '../../src/bench/report.js';
import type { LatencySummary } from '../../src/bench/histogram.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

function latency(p50Ms: number, p99Ms: number, count = 100): LatencySummary {
  return { count, p50Ms, p90Ms: p99Ms, p99Ms, p999Ms: p99Ms * 2, maxMs: p99Ms * 3, meanMs: p50Ms, clamped: 0 };
}

function target(over: Partial<TargetResult> = {}): TargetResult {
  return {
    label: 'eventide',
    durationMs: 10_000,
    loadStartMs: 0,
    loadEndMs: 10_000,
    sentBatches: 100,
    acceptedEvents: 1_000_000,
    eventsPerS: 100_000,
    ack: latency(2, 10),
    wsDelta: latency(100, 260),
    wsDeltaUntimedFrames: 0,
    wsDeltaClockBehindFrames: 0,
    refusals: {},
    errors: {},
    lateStarts: 0,
    notes: [],
    server: { samples: [], cpuCoresMean: 1.5, rssBytesMax: 512 * 2 ** 20, loopLagP50Ms: 1, loopLagP99Ms: 5, loopLagMaxMs: 9 },
    series: [],
    check: { ok: true, failures: [], ownersChecked: 4 } as unknown as TargetResult['check'],
    ...over,
  };
}

const OPTIONS = resolveBenchOptions({});

function previous(t: TargetResult, options: Partial<typeof OPTIONS> = OPTIONS): PreviousRun {
  return { file: 'prev.json', startedAt: '2026-11-22T00:00:00.000Z', command: 'eventide bench', node: 'v22', machine: '2 cores', options, target: t };
}

const figure = (r: ReturnType<typeof compareAgainst>, name: string) => r.figures.find((f) => f.figure === name)!;

void test('ratios read "> 1 is better now" for throughput, latencies and CPU per event', () => {
  const r = compareAgainst(previous(target()), OPTIONS, target({ eventsPerS: 110_000, ack: latency(1, 20) }), 0);
  assert.equal(figure(r, 'eventsPerS').ratio, 1.1);
  assert.equal(figure(r, 'ackP50').ratio, 2);
  assert.equal(figure(r, 'ackP99').ratio, 0.5);
  // 1.5 cores at 100K/s is 15 µs per event; at 110K/s 13.636: better now.
  assert.equal(figure(r, 'cpuUsPerEvent').previous, 15);
  assert.equal(figure(r, 'cpuUsPerEvent').ratio, 1.1);
  assert.deepEqual(r.regressions, [], 'no threshold: reported only');
  assert.equal(r.ok, true);
});

void test('the gate: a gated figure worse by more than the threshold fails, within it or ungated does not', () => {
  const base = previous(target());
  const drop = (eventsPerS: number) => compareAgainst(base, OPTIONS, target({ eventsPerS, server: { ...target().server!, cpuCoresMean: (1.5 * eventsPerS) / 100_000 } }), 10);
  assert.deepEqual(drop(89_000).regressions, ['accepted events/s']);
  assert.deepEqual(drop(91_000).regressions, []);
  const slower = (p99: number, p50 = 2) => compareAgainst(base, OPTIONS, target({ ack: latency(p50, p99) }), 10);
  assert.deepEqual(slower(11.5).regressions, ['ack p99 ms']);
  assert.deepEqual(slower(10.9).regressions, []);
  assert.deepEqual(slower(10, 200).regressions, [], 'p50 is reported, not gated');
  // CPU per event alone: same rate, 20 % more cores.
  const cpu = compareAgainst(base, OPTIONS, target({ server: { ...target().server!, cpuCoresMean: 1.8 } }), 10);
  assert.deepEqual(cpu.regressions, ['process CPU µs per event']);
  assert.equal(cpu.ok, false);
  // Threshold 0 never fails, however far the figures fell.
  assert.equal(compareAgainst(base, OPTIONS, target({ eventsPerS: 1, ack: latency(1, 1e6) }), 0).ok, true);
  assert.equal(isRegression({ higherIsBetter: true }, 100, 50, 0), false);
});

void test('a figure without measurements on either side has no ratio and never fails', () => {
  const r = compareAgainst(previous(target({ server: undefined })), OPTIONS, target({ wsDelta: latency(0, 0, 0) }), 5);
  assert.equal(figure(r, 'wsDeltaP99').ratio, undefined);
  assert.equal(figure(r, 'wsDeltaP99').now, undefined);
  assert.equal(figure(r, 'cpuUsPerEvent').previous, undefined);
  assert.equal(figure(r, 'cpuUsPerEvent').ratio, undefined);
  assert.equal(cpuUsPerEvent(target({ eventsPerS: 0 })), undefined);
  assert.equal(r.ok, true);
});

void test('workload differences are listed; where the server is and where files go are not', () => {
  const before = resolveBenchOptions({ protocol: 'http-json', subscribers: 100 });
  const now = resolveBenchOptions({ protocol: 'http-msgpack', subscribers: 100, outDir: 'elsewhere', httpUrl: 'http://x:1', keysFile: 'k.json' });
  const r = compareAgainst(previous(target(), before), now, target(), 0);
  assert.deepEqual(r.optionDiffs, [{ option: 'protocol', previous: 'http-json', now: 'http-msgpack' }]);
  const md = againstMarkdown(r);
  assert.match(md, /The workloads differ: protocol "http-json" → "http-msgpack"/);
  assert.doesNotMatch(md, /REGRESSION/);
  // A file from a version without an option lists it as absent.
  const { warmupMs: _dropped, ...older } = before;
  assert.match(againstMarkdown(compareAgainst(previous(target(), older), before, target(), 0)), /The workloads differ: warmupMs \(absent\) → 0\./);
  const failed = againstMarkdown(compareAgainst(previous(target()), OPTIONS, target({ eventsPerS: 50_000 }), 10));
  assert.match(failed, /accepted events\/s \| 100,000 \| 50,000 \| 0\.5× \*\*REGRESSION\*\*/);
  assert.match(failed, /REGRESSION past 10 %: accepted events\/s, process CPU µs per event\./);
});

void test('a previous result.json is read, and a wrong one is refused with EVT_BENCH_OPTION on field against', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eventide-against-'));
  try {
    const result: BenchResult = { ok: true, node: 'v22', machine: '2 cores', startedAt: 'then', command: 'eventide bench', options: OPTIONS, targets: [target()], ratios: undefined };
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(result));
    const p = loadPrevious(good);
    assert.equal(p.target.eventsPerS, 100_000);
    assert.equal(p.options.protocol, 'http-json');
    assert.equal(p.startedAt, 'then');
    // An --out directory stands for its result.json.
    const outDir = join(dir, 'out');
    mkdirSync(outDir);
    writeFileSync(join(outDir, 'result.json'), JSON.stringify(result));
    assert.equal(loadPrevious(outDir).file, join(outDir, 'result.json'));

    const refused = (file: string, pattern: RegExp, bytesMax?: number) =>
      assert.throws(
        () => loadPrevious(file, bytesMax),
        (err: Error & { code?: string; field?: string }) => err.code === 'EVT_BENCH_OPTION' && err.field === 'against' && pattern.test(err.message),
      );
    refused(join(dir, 'missing.json'), /cannot read the previous result/);
    refused(dir, /cannot read the previous result/, undefined);
    const write = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    refused(write('bad.json', '{"targets": ['), /cannot read the previous result/);
    refused(write('empty.json', JSON.stringify({ ...result, targets: [] })), /non-empty "targets"/);
    const noP99 = { ...result, targets: [{ ...target(), ack: { count: 1, p50Ms: 1, p999Ms: 1 } }] };
    refused(write('nop99.json', JSON.stringify(noP99)), /targets\[0\]\.ack needs/);
    refused(write('rate.json', JSON.stringify({ ...result, targets: [{ ...target(), eventsPerS: 'fast' }] })), /eventsPerS must be a number/);
    refused(good, /over the 100 a previous result may have/, 100);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('max-regression-pct is 0..100 and needs --against', () => {
  assert.throws(() => resolveBenchOptions({ maxRegressionPct: 5 }), /needs --against/);
  assert.throws(() => resolveBenchOptions({ against: 'x.json', maxRegressionPct: 101 }), /within 0\.\.100/);
  assert.equal(resolveBenchOptions({ against: 'x.json', maxRegressionPct: 7.5 }).maxRegressionPct, 7.5);
});

void test('cli: a run against a planted faster result exits 3 with the regression in its table and result.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eventide-against-cli-'));
  try {
    const planted: BenchResult = {
      ok: true, node: 'v0', machine: 'planted', startedAt: 'planted', command: 'planted', options: OPTIONS,
      targets: [target({ eventsPerS: 1e12 })], ratios: undefined,
    };
    const prev = join(dir, 'prev.json');
    writeFileSync(prev, JSON.stringify(planted));
    const small = ['bench', '--mode', 'open', '--rate', '2000', '--duration-ms', '2000', '--connections', '2', '--owners', '4', '--users', '200', '--batch', '100', '--templates', '4', '--subscribers', '2', '--server-workers', '2'];
    const run = spawnSync(process.execPath, [CLI, ...small, '--against', prev, '--max-regression-pct', '10', '--out', join(dir, 'out')], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 3, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /REGRESSION past 10 %: accepted events\/s/);
    assert.match(run.stdout, /correctness \| pass/);
    const written = JSON.parse(readFileSync(join(dir, 'out', 'result.json'), 'utf8')) as BenchResult;
    assert.equal(written.ok, true, 'the correctness check passed');
    assert.equal(written.against?.ok, false);
    assert.ok(written.against?.regressions.includes('accepted events/s'));
    assert.match(readFileSync(join(dir, 'out', 'result.md'), 'utf8'), /\*\*REGRESSION\*\*/);

    // A file that is no result fails before any load is sent.
    writeFileSync(join(dir, 'junk.json'), '[1, 2, 3]');
    const junk = spawnSync(process.execPath, [CLI, ...small, '--against', join(dir, 'junk.json')], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(junk.status, 2, junk.stderr);
    assert.match(junk.stderr, /is not an eventide bench result\.json.*\[EVT_BENCH_OPTION\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
