/**
 * Seeded randomness for the workload generator: the same seed gives the same
 * workload, byte for byte, on every machine.
 *
 * mulberry32 is enough here: the workload needs reproducibility and a flat
 * distribution, not cryptographic strength, and one 32-bit state is cheap to
 * fork per sender (forkSeed) so that senders do not share a stream.
 */

/** Returns a function yielding floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A derived seed for stream `index`, so forks of one seed do not overlap in practice. */
export function forkSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** An integer in [0, n). */
export function randomInt(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

/**
 * Zipf over ranks 0..n-1: P(k) ∝ 1 / (k+1)^s. s = 0 is uniform; s ≈ 1 is the
 * classic "a few owners send most of the traffic". Sampling is a binary
 * search over the precomputed cumulative weights, O(log n) and allocation-free.
 */
export class Zipf {
  readonly n: number;
  readonly s: number;
  private readonly cdf: Float64Array;

  constructor(n: number, s: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Zipf needs n >= 1, got ${n}`);
    if (!(s >= 0)) throw new RangeError(`Zipf needs s >= 0, got ${s}`);
    this.n = n;
    this.s = s;
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      sum += 1 / Math.pow(k + 1, s);
      this.cdf[k] = sum;
    }
    for (let k = 0; k < n; k++) this.cdf[k] = this.cdf[k]! / sum;
  }

  /** Probability of rank k. */
  probability(k: number): number {
    return this.cdf[k]! - (k === 0 ? 0 : this.cdf[k - 1]!);
  }

  sample(random: () => number): number {
    const u = random();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
