/**
 * A fixed-bucket latency histogram as plain numbers: what /metrics exports as
 * a Prometheus histogram, kept where the work happens (the edge for requests,
 * each worker for store calls) and read at scrape time.
 *
 * Cheaper than prom-client's own Histogram on a hot path (no label hashing,
 * no object per observation: a short scan of the bounds and three adds), and
 * plain data, so a worker can post it to the edge with its stats.
 *
 * Invariants: counts[i] counts observations v with bounds[i-1] < v <= bounds[i]
 * (not cumulative); counts[bounds.length] counts those above the last bound
 * (+Inf); count is the sum of counts; all only grow.
 */

/**
 * Seconds, Prometheus convention. From 0.5 ms (a batch applied in memory) to
 * 10 s (requestTimeoutMs's default): ack latency under load measured 24 ms
 * p50 and 100 ms p99 (README), a store write is ms to s.
 */
export const LATENCY_BUCKETS_S: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** A histogram's state as plain data (posted between threads, read by /metrics). */
export interface BucketSnapshot {
  /** Per bucket, not cumulative; one more than the bounds (the last is +Inf). */
  counts: number[];
  /** Sum of the observed values, seconds. */
  sum: number;
  count: number;
}

export class BucketCounts {
  readonly bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS_S) {
    this.bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += seconds;
    this.#count++;
  }

  /** Adds another histogram over the same bounds (merging workers' figures). */
  add(other: BucketSnapshot): void {
    for (let i = 0; i < this.#counts.length; i++) this.#counts[i]! += other.counts[i] ?? 0;
    this.#sum += other.sum;
    this.#count += other.count;
  }

  snapshot(): BucketSnapshot {
    return { counts: Array.from(this.#counts), sum: this.#sum, count: this.#count };
  }

  get count(): number {
    return this.#count;
  }
}

/** a - b per bucket; the growth between two snapshots of one histogram. */
export function bucketsDelta(a: BucketSnapshot, b: BucketSnapshot): BucketSnapshot {
  return { counts: a.counts.map((n, i) => n - (b.counts[i] ?? 0)), sum: a.sum - b.sum, count: a.count - b.count };
}
