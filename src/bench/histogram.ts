/**
 * Latency recording for the harness: an HDR histogram in microseconds (so a
 * 50 µs ack and a 30 s stall both keep 3 significant digits), summarized in
 * milliseconds, and a per-second series of throughput and p99 for the chart.
 *
 * Invariants:
 * - Values are recorded in whole microseconds, clamped to [1, LATENCY_US_MAX];
 *   a clamped value is counted in `clamped` so a summary never hides it.
 * - Histograms and series merge by addition (worker threads each keep one).
 */
import * as hdr from 'hdr-histogram-js';

/** Highest latency the histogram resolves; larger values are clamped and counted. */
export const LATENCY_US_MAX = 120_000_000;
const SIGNIFICANT_DIGITS = 3;

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
  clamped: number;
}

/**
 * Plain 32-bit counts, not the packed array: the profile of a run had the
 * packed array's index lookups at 5.4 % of the sending thread (every
 * percentile query walks all ~35K buckets through them). 140 KB per
 * histogram, one per second of a run plus a few.
 */
const BUCKET_BITS = 32;

/** The per-second histograms of the chart: 2 digits (1 %) is plenty for a p99 line, at 11 KB each, so an hour's run holds 40 MB of them. */
const SERIES_SIGNIFICANT_DIGITS = 2;

export function createHistogram(significantDigits: 1 | 2 | 3 | 4 | 5 = SIGNIFICANT_DIGITS): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_US_MAX, numberOfSignificantValueDigits: significantDigits, bitBucketSize: BUCKET_BITS });
}

export class LatencyRecorder {
  readonly histogram: hdr.Histogram;
  clamped = 0;

  constructor(significantDigits: 1 | 2 | 3 | 4 | 5 = SIGNIFICANT_DIGITS) {
    this.histogram = createHistogram(significantDigits);
  }

  recordMs(ms: number): void {
    let us = Math.round(ms * 1000);
    if (us < 1) us = 1;
    if (us > LATENCY_US_MAX) {
      us = LATENCY_US_MAX;
      this.clamped++;
    }
    this.histogram.recordValue(us);
  }

  summary(): LatencySummary {
    return summarize(this.histogram, this.clamped);
  }

  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.histogram);
  }

  addEncoded(base64: string, clamped: number): void {
    const other = hdr.decodeFromCompressedBase64(base64, BUCKET_BITS);
    this.histogram.add(other);
    this.clamped += clamped;
  }
}

export function summarize(h: hdr.Histogram, clamped = 0): LatencySummary {
  const ms = (us: number): number => Math.round(us) / 1000;
  if (h.totalCount === 0) return { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0, clamped };
  return {
    count: h.totalCount,
    p50Ms: ms(h.getValueAtPercentile(50)),
    p90Ms: ms(h.getValueAtPercentile(90)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
    meanMs: Math.round(h.mean) / 1000,
    clamped,
  };
}

/** One second of a run. */
export interface SecondPoint {
  second: number;
  acceptedEvents: number;
  refusedBatches: number;
  p99Ms: number;
}

/** Per-second throughput and latency; seconds are counted from the run's start. */
export class Series {
  readonly accepted: number[] = [];
  readonly refused: number[] = [];
  readonly latency: LatencyRecorder[] = [];

  private at(second: number): void {
    while (this.accepted.length <= second) {
      this.accepted.push(0);
      this.refused.push(0);
      this.latency.push(new LatencyRecorder(SERIES_SIGNIFICANT_DIGITS));
    }
  }

  ack(second: number, events: number, latencyMs: number): void {
    this.at(second);
    this.accepted[second]! += events;
    this.latency[second]!.recordMs(latencyMs);
  }

  refuse(second: number): void {
    this.at(second);
    this.refused[second]!++;
  }

  points(): SecondPoint[] {
    return this.accepted.map((a, s) => ({ second: s, acceptedEvents: a, refusedBatches: this.refused[s]!, p99Ms: this.latency[s]!.summary().p99Ms }));
  }

  toJSON(): { accepted: number[]; refused: number[]; latency: Array<[string, number]> } {
    return { accepted: this.accepted, refused: this.refused, latency: this.latency.map((l) => [l.encode(), l.clamped]) };
  }

  mergeJSON(j: ReturnType<Series['toJSON']>): void {
    this.at(j.accepted.length - 1);
    for (let s = 0; s < j.accepted.length; s++) {
      this.accepted[s]! += j.accepted[s]!;
      this.refused[s]! += j.refused[s]!;
      const [b64, clamped] = j.latency[s]!;
      this.latency[s]!.addEncoded(b64, clamped);
    }
  }
}
