/**
 * `--mode sweep`: how much load a server sustains within a latency objective,
 * in one command. A closed-loop phase measures saturation S (events/s as fast
 * as acks return); open-loop phases then offer fixed fractions of S
 * (`--sweep-pcts`, 25/50/75/90 % by default), each for `--duration-ms`, with
 * latency from each batch's intended send time. A phase is sustained when its
 * ack p99 stays within `--slo-p99-ms`, nothing was refused or failed and at
 * least OPEN_LOOP_SENT_SHARE_MIN of the asked rate was accepted. Sends that
 * waited for a free connection are reported, not judged: their latency
 * counts from the intended send time, so they are in the p99 already (a
 * first run that failed steps on 6 such sends of 6,000 with ack p99 at
 * 14.8 ms judged the wrong thing). The sweep's answer is the highest step at which it
 * and every lower step were sustained: a step that passes above a failed one
 * is noise, not capacity.
 *
 * The phases run back to back against one server with one set of ws
 * subscribers; every phase's events go into one ledger and the correctness
 * check runs once, after the last phase (run.ts).
 */
import type { LatencySummary } from './histogram.js';
import { OPEN_LOOP_SENT_SHARE_MIN, round } from './report.js';

/** Quiet time between two phases: the server finishes the flushes the phase before left (a closed loop leaves the most). */
export const SWEEP_GAP_MS = 2_000;

export interface SweepPhase {
  /** "saturation" for the closed-loop phase, else the step ("50 %"). */
  phase: string;
  mode: 'closed' | 'open';
  /** Open loop: the offered rate, events/s; null for the closed-loop phase. */
  askedEventsPerS: number | null;
  eventsPerS: number;
  acceptedEvents: number;
  ack: LatencySummary;
  wsDelta: LatencySummary;
  refusedBatches: number;
  errors: number;
  lateStarts: number;
  /** In-process runs: the process's CPU (cores, mean), RSS (max) and the main thread's loop lag p99 during the phase. */
  cpuCoresMean: number | null;
  rssMiBMax: number | null;
  loopLagP99Ms: number | null;
  /** Open-loop phases: whether the phase held the objective; null for the closed-loop phase. */
  sustained: boolean | null;
  /** Why an open-loop phase was not sustained, in words; empty when it was. */
  why: string[];
}

export interface SweepReport {
  sloP99Ms: number;
  /** The closed-loop phase's events/s, which the steps are fractions of. */
  saturationEventsPerS: number;
  phases: SweepPhase[];
  /** The highest step sustained with every step below it sustained too; null when the lowest step was not. */
  sustained: { phase: string; askedEventsPerS: number; eventsPerS: number; ackP99Ms: number; shareOfSaturation: number } | null;
  /** Steps not run, with why (a saturation of 0 leaves nothing to offer). */
  notes: string[];
}

/** Whether an open-loop phase held the objective, and why not. Mutates `phase.sustained` and `phase.why`. */
export function judgePhase(phase: SweepPhase, sloP99Ms: number): SweepPhase {
  if (phase.mode === 'closed' || phase.askedEventsPerS === null) {
    phase.sustained = null;
    phase.why = [];
    return phase;
  }
  const why: string[] = [];
  if (phase.ack.p99Ms > sloP99Ms) why.push(`ack p99 ${phase.ack.p99Ms} ms > ${sloP99Ms} ms`);
  if (phase.refusedBatches > 0) why.push(`${phase.refusedBatches} batches refused`);
  if (phase.errors > 0) why.push(`${phase.errors} errors`);
  if (phase.eventsPerS < phase.askedEventsPerS * OPEN_LOOP_SENT_SHARE_MIN) {
    why.push(`accepted ${Math.round(phase.eventsPerS).toLocaleString('en-US')} of the asked ${phase.askedEventsPerS.toLocaleString('en-US')} events/s`);
  }
  phase.sustained = why.length === 0;
  phase.why = why;
  return phase;
}

/** The report of a sweep whose phases ran in order (closed first, then the steps ascending). */
export function sweepReport(phases: SweepPhase[], sloP99Ms: number, notes: string[] = []): SweepReport {
  for (const p of phases) judgePhase(p, sloP99Ms);
  const saturation = phases.find((p) => p.mode === 'closed')?.eventsPerS ?? 0;
  let best: SweepPhase | undefined;
  for (const p of phases) {
    if (p.sustained === null) continue;
    if (!p.sustained) break;
    best = p;
  }
  return {
    sloP99Ms,
    saturationEventsPerS: saturation,
    phases,
    sustained:
      best === undefined || best.askedEventsPerS === null
        ? null
        : { phase: best.phase, askedEventsPerS: best.askedEventsPerS, eventsPerS: best.eventsPerS, ackP99Ms: best.ack.p99Ms, shareOfSaturation: saturation === 0 ? 0 : round(best.askedEventsPerS / saturation) },
    notes,
  };
}

/** The sweep as a Markdown table, with its answer in a sentence. */
export function sweepMarkdown(label: string, s: SweepReport): string {
  const lines = [
    `${label}: sweep, ack p99 objective ${s.sloP99Ms} ms`,
    '',
    '| phase | offered events/s | accepted events/s | ack p50 / p99 / p99.9 ms | ws delta p99 ms | refused / errors / late starts | CPU cores / RSS MiB / loop lag p99 ms | sustained |',
    '|---|---:|---:|---|---:|---|---|---|',
  ];
  for (const p of s.phases) {
    const server = p.cpuCoresMean === null ? 'n/a' : `${p.cpuCoresMean} / ${p.rssMiBMax} / ${p.loopLagP99Ms}`;
    const verdict = p.sustained === null ? '(saturation)' : p.sustained ? 'yes' : `no: ${p.why.join('; ')}`;
    lines.push(
      `| ${p.phase} | ${p.askedEventsPerS === null ? 'as fast as acks return' : p.askedEventsPerS.toLocaleString('en-US')} | ${Math.round(p.eventsPerS).toLocaleString('en-US')} | ` +
        `${p.ack.p50Ms} / ${p.ack.p99Ms} / ${p.ack.p999Ms} | ${p.wsDelta.count === 0 ? 'n/a' : p.wsDelta.p99Ms} | ${p.refusedBatches} / ${p.errors} / ${p.lateStarts} | ${server} | ${verdict} |`,
    );
  }
  const answer =
    s.sustained === null
      ? `Not sustained at the lowest step: no rate measured here holds ack p99 within ${s.sloP99Ms} ms.`
      : `Sustained: **${s.sustained.askedEventsPerS.toLocaleString('en-US')} events/s** (${s.sustained.phase} of saturation ${Math.round(s.saturationEventsPerS).toLocaleString('en-US')}) with ack p99 ${s.sustained.ackP99Ms} ms, every lower step too.`;
  return `${lines.join('\n')}\n\n${answer}\n${s.notes.map((n) => `- ${n}\n`).join('')}`;
}
