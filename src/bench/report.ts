/**
 * The outputs of a run: a JSON result, a Markdown table, and an SVG chart of
 * accepted events/s and ack p99 per second (hand-written SVG: no browser, no
 * dependency). With a baseline, each figure also gets the ratio
 * eventide / baseline (for latencies, baseline / eventide, so > 1 is always
 * "eventide is better").
 */
import type { AgainstReport } from './against.js';
import type { CheckResult } from './checker.js';
import type { LatencySummary, SecondPoint } from './histogram.js';
import type { BenchOptions } from './options.js';
import type { ProbeSummary } from './probe.js';
import { sweepMarkdown, type SweepReport } from './sweep.js';

export interface TargetResult {
  label: string;
  durationMs: number;
  /** Wall clock (unix ms) when the load began and ended, to line up outside samples (e.g. a remote server's RSS) with it. */
  loadStartMs: number;
  loadEndMs: number;
  sentBatches: number;
  acceptedEvents: number;
  eventsPerS: number;
  ack: LatencySummary;
  /**
   * Event to ws delta, one value per delta frame: arrival minus the frame's
   * `oldestReceivedAtMs` (the server's receive time of its oldest event), so
   * each is the worst of its frame's events. Assumes the harness and the
   * server share a clock (src/bench/subscribers.ts).
   */
  wsDelta: LatencySummary;
  /** Delta frames with events but no `oldestReceivedAtMs` (a server without the field): not in wsDelta. */
  wsDeltaUntimedFrames: number;
  /** Delta frames that arrived before their `oldestReceivedAtMs` by the harness's clock (recorded as 0): the clocks disagree. */
  wsDeltaClockBehindFrames: number;
  refusals: Record<string, number>;
  errors: Record<string, number>;
  /** Open loop: sends that waited for a free connection (every slot of every connection busy). */
  lateStarts: number;
  /** Open loop: whether the harness kept the rate, in words (openLoopNotes); empty when it did or in a closed loop. */
  notes: string[];
  server: ProbeSummary | undefined;
  /** The phases back to back (a sweep's gaps left out). */
  series: SecondPoint[];
  check: CheckResult;
  /**
   * `--mode sweep`: every phase's figures and the highest rate sustained
   * within --slo-p99-ms (sweep.ts). The figures above are then the
   * closed-loop (saturation) phase's; series and check cover every phase.
   */
  sweep?: SweepReport;
}

export interface BenchResult {
  ok: boolean;
  node: string;
  machine: string;
  startedAt: string;
  command: string;
  options: BenchOptions;
  targets: TargetResult[];
  /** eventide / baseline for each figure where higher is better; baseline / eventide where lower is. */
  ratios: Record<string, number> | undefined;
  /** With --against: this run next to an earlier result (against.ts). */
  against?: AgainstReport;
}

/** The sum of a count-by-code record (refusals, errors). */
export const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function computeRatios(a: TargetResult, b: TargetResult): Record<string, number> {
  // A figure with no measurements on either side has no ratio (null in JSON, n/a in the table).
  const safe = (x: number, y: number): number => (x === 0 || y === 0 ? NaN : round(x / y));
  return {
    eventsPerS: b.eventsPerS === 0 ? NaN : round(a.eventsPerS / b.eventsPerS),
    ackP50: safe(b.ack.p50Ms, a.ack.p50Ms),
    ackP99: safe(b.ack.p99Ms, a.ack.p99Ms),
    ackP999: safe(b.ack.p999Ms, a.ack.p999Ms),
    wsDeltaP99: safe(b.wsDelta.p99Ms, a.wsDelta.p99Ms),
    storeBytesPerEvent: safe(storeBytesPerEvent(b) ?? 0, storeBytesPerEvent(a) ?? 0),
  };
}

/**
 * Bytes the target's store file grew by per event accepted over the run
 * (warm-up included on both sides), when its probe could read the file; the
 * last ~flushIntervalMs of events may not be in it yet when the load stops.
 */
export function storeBytesPerEvent(t: TargetResult): number | undefined {
  const growth = t.server?.storeGrowthBytes;
  return growth === undefined || t.acceptedEvents === 0 ? undefined : round(growth / t.acceptedEvents);
}

function storeGrowthCell(t: TargetResult): string {
  const perEvent = storeBytesPerEvent(t);
  return perEvent === undefined ? 'n/a' : `${perEvent} (${Math.round(t.server!.storeGrowthBytes! / 2 ** 20).toLocaleString('en-US')} MiB)`;
}

function wsDeltaCell(t: TargetResult): string {
  const notes: string[] = [];
  if (t.wsDeltaUntimedFrames > 0) notes.push(`${t.wsDeltaUntimedFrames} frames without oldestReceivedAtMs not measured`);
  if (t.wsDeltaClockBehindFrames > 0) notes.push(`${t.wsDeltaClockBehindFrames} frames ahead of the harness clock`);
  const figure = t.wsDelta.count === 0 ? 'n/a' : `${t.wsDelta.p50Ms} / ${t.wsDelta.p99Ms}`;
  return notes.length === 0 ? figure : `${figure} (${notes.join('; ')})`;
}

export function markdownTable(result: BenchResult): string {
  const rows: Array<[string, (t: TargetResult) => string, string?]> = [
    ['accepted events/s', (t) => Math.round(t.eventsPerS).toLocaleString('en-US'), 'eventsPerS'],
    ['accepted events', (t) => t.acceptedEvents.toLocaleString('en-US')],
    ['ack p50 / p90 ms', (t) => `${t.ack.p50Ms} / ${t.ack.p90Ms}`, 'ackP50'],
    ['ack p99 ms', (t) => `${t.ack.p99Ms}`, 'ackP99'],
    ['ack p99.9 / max ms', (t) => `${t.ack.p999Ms} / ${t.ack.maxMs}`, 'ackP999'],
    ['event→ws delta p50 / p99 ms (per frame, its oldest event)', wsDeltaCell, 'wsDeltaP99'],
    ['event→ws delta p90 / max ms', (t) => (t.wsDelta.count === 0 ? 'n/a' : `${t.wsDelta.p90Ms} / ${t.wsDelta.maxMs}`)],
    ['refused batches', (t) => `${sum(t.refusals)} ${JSON.stringify(t.refusals)}`],
    ['errors', (t) => `${sum(t.errors)} ${JSON.stringify(t.errors)}`],
    ['process CPU (cores) / RSS max MiB', (t) => (t.server ? `${t.server.cpuCoresMean} / ${Math.round(t.server.rssBytesMax / 2 ** 20)}` : 'n/a')],
    ['event-loop lag p99 / max ms', (t) => (t.server ? `${t.server.loopLagP99Ms} / ${t.server.loopLagMaxMs}` : 'n/a')],
    ['store file growth per accepted event, bytes', storeGrowthCell, 'storeBytesPerEvent'],
    ['correctness', (t) => (t.check.ok ? `pass (${t.check.ownersChecked} owners)` : `FAIL (${t.check.failures.length})`)],
  ];
  const head = ['figure', ...result.targets.map((t) => t.label), ...(result.ratios ? ['ratio'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const [name, cell, ratioKey] of rows) {
    const cells = [name, ...result.targets.map(cell)];
    const ratio = ratioKey === undefined ? undefined : result.ratios?.[ratioKey];
    if (result.ratios) cells.push(ratio === undefined ? '' : Number.isFinite(ratio) ? `${ratio}×` : 'n/a');
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const o = result.options;
  const loop =
    o.mode === 'sweep'
      ? `sweep (a closed-loop phase, whose figures the table gives, then open-loop phases at ${o.sweepPcts.split(',').join(' / ')} % of its rate, each ${o.durationMs / 1000} s)`
      : `${o.mode} loop${o.mode === 'open' ? ` at ${o.rateEventsPerS} events/s` : ''}`;
  const intro =
    `${o.protocol}, ${loop}, ${o.connections} connections, ` +
    `batch ${o.batchEvents} × ~${o.eventBytes} B, ${o.owners} owners (Zipf ${o.ownerZipfS}), ${o.subscribers} ws subscribers, ` +
    `gzip ${o.gzip ? 'on' : 'off'}, ${o.durationMs / 1000} s${o.warmupMs > 0 ? ` (the first ${o.warmupMs / 1000} s a warm-up, out of ack latency and events/s)` : ''}, seed ${o.seed}. Node ${result.node}, ${result.machine}.`;
  const notes = result.targets.flatMap((t) => t.notes.map((n) => `- ${t.label}: ${n}`));
  const sweeps = result.targets.flatMap((t) => (t.sweep === undefined ? [] : [`\n${sweepMarkdown(t.label, t.sweep)}`]));
  return `${intro}\n\n${lines.join('\n')}\n${notes.length > 0 ? `\n${notes.join('\n')}\n` : ''}${sweeps.join('')}`;
}

/**
 * What a run says about refusals that are the server's policy, not its
 * capacity: a key's rate (keyEventsPerSec / keyRequestsPerSec) or an
 * owner's daily quota. With a Zipf skew the busiest owner carries a large
 * share of all events (~19 % of them at --owners 100 --zipf 1), so a run near
 * saturation can meet its key's rate first; its sender then waits out the
 * Retry-After, and the events/s figure includes that policy.
 */
export function refusalNotes(refusals: Readonly<Record<string, number>>, inProcess: boolean): string[] {
  const notes: string[] = [];
  const limited = refusals.EVT_RATE_LIMITED ?? 0;
  if (limited > 0) {
    const lift = inProcess
      ? `--server-config '{"keyEventsPerSec":0,"keyRequestsPerSec":0}' measures the server without them`
      : 'raise them on the server to measure it without them';
    notes.push(
      `${limited.toLocaleString('en-US')} batches refused EVT_RATE_LIMITED: an owner went past its key's rate limits (keyEventsPerSec, keyRequestsPerSec), ` +
        `so the figures include that policy, not only the server's capacity; ${lift}.`,
    );
  }
  const quota = refusals.EVT_QUOTA_EXCEEDED ?? 0;
  if (quota > 0) {
    notes.push(`${quota.toLocaleString('en-US')} batches refused EVT_QUOTA_EXCEEDED: an owner used up its daily quota (ownerEventsPerDayMax, or its owner record).`);
  }
  return notes;
}

/** Below this share of the events an open-loop rate asks for, a run that never waited for a connection says its sender loop fell behind. */
export const OPEN_LOOP_SENT_SHARE_MIN = 0.95;

/**
 * What an open-loop run says about itself: sends that found every connection
 * busy (the target could not take the rate; latency still counts from each
 * intended send time), or fewer events sent than the rate asks with
 * connections free (the harness's own loop could not keep up).
 */
export function openLoopNotes(o: Pick<BenchOptions, 'mode' | 'rateEventsPerS' | 'durationMs' | 'connections' | 'batchEvents'>, sentBatches: number, lateStarts: number): string[] {
  if (o.mode !== 'open') return [];
  const asked = Math.floor((o.rateEventsPerS * o.durationMs) / 1000 / o.batchEvents);
  if (lateStarts > 0) {
    return [
      `${lateStarts.toLocaleString('en-US')} of ${sentBatches.toLocaleString('en-US')} sends waited for a free connection (all ${o.connections} busy): ` +
        `the target did not keep up with ${o.rateEventsPerS.toLocaleString('en-US')} events/s; latency still counts from each intended send time. ` +
        'A lower --rate (or more --connections) measures below saturation.',
    ];
  }
  if (asked > 0 && sentBatches < asked * OPEN_LOOP_SENT_SHARE_MIN) {
    return [
      `the harness sent ${sentBatches.toLocaleString('en-US')} of the ${asked.toLocaleString('en-US')} batches the rate asks (${Math.round((100 * sentBatches) / asked)} %) ` +
        'with connections free: its own sender loop fell behind. Add --sender-threads.',
    ];
  }
  return [];
}

/** Throughput (bars) and ack p99 (line) per second, one panel per target. */
export function svgChart(result: BenchResult): string {
  const W = 760;
  const PANEL_H = 220;
  const PAD = { l: 70, r: 70, t: 30, b: 30 };
  const parts: string[] = [];
  const H = PANEL_H * result.targets.length;
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  result.targets.forEach((t, i) => {
    const y0 = i * PANEL_H;
    const pw = W - PAD.l - PAD.r;
    const ph = PANEL_H - PAD.t - PAD.b;
    const n = Math.max(1, t.series.length);
    const maxRate = Math.max(1, ...t.series.map((p) => p.acceptedEvents));
    const maxP99 = Math.max(1, ...t.series.map((p) => p.p99Ms));
    const bw = pw / n;
    parts.push(`<text x="${PAD.l}" y="${y0 + 18}" font-size="13" font-weight="bold">${escapeXml(t.label)}: accepted events/s (bars, left) and ack p99 ms (line, right)</text>`);
    parts.push(`<line x1="${PAD.l}" y1="${y0 + PAD.t + ph}" x2="${PAD.l + pw}" y2="${y0 + PAD.t + ph}" stroke="#444"/>`);
    parts.push(`<text x="${PAD.l - 6}" y="${y0 + PAD.t + 10}" text-anchor="end">${Math.round(maxRate).toLocaleString('en-US')}</text>`);
    parts.push(`<text x="${PAD.l - 6}" y="${y0 + PAD.t + ph}" text-anchor="end">0</text>`);
    parts.push(`<text x="${PAD.l + pw + 6}" y="${y0 + PAD.t + 10}" fill="#c0392b">${round(maxP99)} ms</text>`);
    parts.push(`<text x="${PAD.l + pw / 2}" y="${y0 + PANEL_H - 8}" text-anchor="middle">second of the run</text>`);
    t.series.forEach((p, s) => {
      const h = (p.acceptedEvents / maxRate) * ph;
      parts.push(`<rect x="${round(PAD.l + s * bw + 1)}" y="${round(y0 + PAD.t + ph - h)}" width="${round(Math.max(1, bw - 2))}" height="${round(h)}" fill="#3498db"/>`);
    });
    const pts = t.series.map((p, s) => `${round(PAD.l + (s + 0.5) * bw)},${round(y0 + PAD.t + ph - (p.p99Ms / maxP99) * ph)}`);
    if (pts.length > 0) parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="#c0392b" stroke-width="2"/>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}
