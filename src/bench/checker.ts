/**
 * The correctness check: after a run, what the server reports must match
 * what the generator knows it had acknowledged.
 *
 * Per owner that had an acknowledged batch:
 * - `GET /v1/metrics` summary over the run's range (1 min resolution):
 *   `total`, `late`, `tooLate` and every by-name count exactly;
 * - per 1 min window `total`, exactly, unless a batch was skewed (then the
 *   server places skewed events by its own receive time, which the
 *   generator cannot know to the millisecond);
 * - `uniques` within UNIQUES_SIGMAS standard errors of the HLL
 *   (1.04 / sqrt(2^precision)), never off by more than that (plus one, for
 *   hash collisions among small sets);
 * - the receipts: every duplicate, late and invalid event answered as such
 *   (the ledger counts deviations), and the answers' duplicate / rejected
 *   counts equal to what was injected;
 * - every ws subscriber's total equal to the owner's counted events.
 *
 * The checker is a pure function of its inputs, so it is unit-tested with a
 * planted miscount.
 */
import type { Ledger } from './ledger.js';
import { eventName } from './workload.js';

export const UNIQUES_SIGMAS = 3;

/** The part of a GET /v1/metrics answer the checker reads. */
export interface ReportedMetrics {
  windows: Array<{ startMs: number; total: number }>;
  summary: { total: number; late: number; tooLate: number; uniques: number; byName: Record<string, number> };
}

export interface CheckInput {
  ledger: Ledger;
  /** Owner index -> metrics over the run's range; an owner missing here is a failure. */
  metrics: Map<number, ReportedMetrics>;
  /** Owner index -> totals seen by each of its ws subscribers. */
  wsTotals: Map<number, number[]>;
  hllPrecision: number;
  /** False when some batches were skewed: per-window totals are then not compared. */
  compareWindows: boolean;
  ownerLabel?: (owner: number) => string;
}

export interface CheckResult {
  ok: boolean;
  ownersChecked: number;
  failures: string[];
  /** Largest relative error of uniques seen, for the report. */
  uniquesErrorMax: number;
}

/** Failures listed in full; past this many, only counted. */
export const FAILURES_LISTED_MAX = 50;

export function uniquesTolerance(trueCount: number, precision: number): number {
  return UNIQUES_SIGMAS * (1.04 / Math.sqrt(2 ** precision)) * trueCount + 1;
}

export function checkRun(input: CheckInput): CheckResult {
  const failures: string[] = [];
  let hidden = 0;
  const fail = (msg: string): void => {
    if (failures.length < FAILURES_LISTED_MAX) failures.push(msg);
    else hidden++;
  };
  const { ledger } = input;
  const label = input.ownerLabel ?? ((k: number) => `o${k}`);
  let uniquesErrorMax = 0;
  let ownersChecked = 0;

  if (ledger.deviations > 0) {
    fail(`receipts: ${ledger.deviations} event(s) answered other than their injected fault calls for`);
    for (const e of ledger.examples) fail(`  ${e}`);
  }

  for (const [k, o] of ledger.owners) {
    if (o.ackedBatches === 0) continue;
    ownersChecked++;
    const who = label(k);
    if (o.status.duplicate !== o.injected.duplicate) fail(`${who} receipts: duplicate ${o.status.duplicate}, injected ${o.injected.duplicate}`);
    if (o.status.rejected !== o.injected.invalid) fail(`${who} receipts: rejected ${o.status.rejected}, injected invalid ${o.injected.invalid}`);
    const m = input.metrics.get(k);
    if (m === undefined) {
      fail(`${who}: no metrics from the server`);
      continue;
    }
    const s = m.summary;
    if (s.total !== o.counted) fail(`${who} total: server ${s.total}, expected ${o.counted} (diff ${s.total - o.counted})`);
    if (s.late !== o.status.late) fail(`${who} late: server ${s.late}, receipts said ${o.status.late}`);
    if (s.tooLate !== o.status.tooLate) fail(`${who} tooLate: server ${s.tooLate}, receipts said ${o.status.tooLate}`);
    const names = new Set<string>(Object.keys(s.byName));
    for (let n = 0; n < o.byName.length; n++) {
      const name = eventName(n);
      names.delete(name);
      const got = s.byName[name] ?? 0;
      if (got !== o.byName[n]) fail(`${who} byName[${name}]: server ${got}, expected ${o.byName[n]}`);
    }
    for (const extra of names) if ((s.byName[extra] ?? 0) !== 0) fail(`${who} byName[${extra}]: server ${s.byName[extra]}, expected none`);
    const trueUniques = ledger.uniques(k);
    const err = Math.abs(s.uniques - trueUniques);
    if (trueUniques > 0) uniquesErrorMax = Math.max(uniquesErrorMax, err / trueUniques);
    if (err > uniquesTolerance(trueUniques, input.hllPrecision)) {
      fail(`${who} uniques: server ${s.uniques}, true ${trueUniques}, allowed ±${uniquesTolerance(trueUniques, input.hllPrecision).toFixed(1)}`);
    }
    if (input.compareWindows) {
      const reported = new Map<number, number>();
      for (const w of m.windows) reported.set(w.startMs, (reported.get(w.startMs) ?? 0) + w.total);
      for (const [start, w] of o.windows1m) {
        const got = reported.get(start) ?? 0;
        if (got !== w.total) fail(`${who} window ${new Date(start).toISOString()}: server ${got}, expected ${w.total}`);
        reported.delete(start);
      }
      for (const [start, got] of reported) if (got !== 0) fail(`${who} window ${new Date(start).toISOString()}: server ${got}, expected 0`);
    }
    for (const wsTotal of input.wsTotals.get(k) ?? []) {
      if (wsTotal !== o.counted) fail(`${who} ws total: subscriber saw ${wsTotal}, expected ${o.counted} (diff ${wsTotal - o.counted})`);
    }
  }
  if (ownersChecked === 0) fail('no owner had an acknowledged batch: nothing was checked');
  if (hidden > 0) failures.push(`... and ${hidden} more`);
  return { ok: failures.length === 0, ownersChecked, failures, uniquesErrorMax: Math.round(uniquesErrorMax * 10_000) / 10_000 };
}
