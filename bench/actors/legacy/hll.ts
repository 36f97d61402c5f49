// Frozen copy of src/actors/hll.ts at commit a25fbde (before the memory work of issue 3), kept
// only so the benchmarks can run the old implementation beside the new one in one process.
// Not used by the product; do not edit except to keep it compiling.
/**
 * A small, mergeable, serializable HyperLogLog over 32-bit hashes (hash32).
 *
 * Why our own: hyperloglog-lite (named on the design card) costs four murmur2
 * passes and an array per add, and has no sparse mode, no validation and no
 * serialization. See bench/actors/hll.bench.ts and bench/results/actors.md.
 *
 * Two representations, because 100K owners x 4 resolutions x several open
 * windows must fit in memory and most windows see few distinct users:
 * - SPARSE: the exact set of distinct 32-bit hashes in an open-addressing
 *   Uint32Array (linear probing, load <= 1/2, 0 marks an empty slot and a
 *   separate flag stands for the hash 0). It holds at most 2^(p-3) hashes in
 *   at most 2^(p-2) slots, so its table never outgrows the dense registers:
 *   bytes = 4 x slots, from 0 (empty: no table at all) to 2^p (p = 12: 4 KiB).
 *   The estimate is the exact distinct count (of hashes).
 * - DENSE: Uint8Array(2^p) registers (p = 12: 4096 bytes), one byte each.
 * Plus about 80 bytes of object overhead in either mode.
 *
 * Invariants:
 * - Sparse: `sparseCount` = occupied slots + (sparseHasZero ? 1 : 0) <= sparseMax(p).
 * - Dense: `sum` = Σ 2^-register exactly (every term is a dyadic rational
 *   >= 2^-(33-p), so a double adds them without rounding), `zeros` = registers at 0.
 * - Register values are <= 33 - p (rank of a (32-p)-bit remainder, +1).
 * - serialize() is canonical: equal sets give equal bytes (sparse hashes sorted).
 *
 * Format (little-endian), version 1:
 *   [0] version=1  [1] p (4..16)  [2] mode (0 sparse, 1 dense)  [3] 0
 *   sparse: [4..8) u32 count n, then n u32 hashes, strictly ascending; n <= 2^(p-3)
 *   dense:  2^p register bytes, each <= 33 - p
 *
 * Accuracy: standard error 1.04/sqrt(2^p) (p = 12: 1.6 %) above ~5 x 2^p,
 * linear counting below 2.5 x 2^p, exact while sparse. The 32-bit hash makes
 * estimates drift low past ~10^8 distinct values (hash collisions); the
 * classic large-range correction is applied above 2^32/30.
 */
import { hash32 } from '../../../src/actors/hash.js';
import { HllCorruptError, HllPrecisionMismatchError } from '../../../src/actors/state-errors.js';

export const HLL_PRECISION_MIN = 4;
export const HLL_PRECISION_MAX = 16;
export const HLL_PRECISION_DEFAULT = 12;
export const HLL_FORMAT_VERSION = 1;

const MODE_SPARSE = 0;
const MODE_DENSE = 1;
const HEADER_BYTES = 4;
const SPARSE_COUNT_BYTES = 4;
const SPARSE_SLOTS_MIN = 4;
const TWO_POW_32 = 4_294_967_296;

/** 2^-r for every possible register value, so add() does no Math.pow. */
const POW2_NEG = new Float64Array(34);
for (let r = 0; r < POW2_NEG.length; r++) POW2_NEG[r] = 2 ** -r;

/** Most distinct hashes a sparse sketch holds before it turns dense. */
export function hllSparseMax(precision: number): number {
  return 2 ** (precision - 3);
}

/** Bytes of the registers of a dense sketch (the sparse table never exceeds this). */
export function hllDenseBytes(precision: number): number {
  return 2 ** precision;
}

function alpha(m: number): number {
  if (m === 16) return 0.673;
  if (m === 32) return 0.697;
  if (m === 64) return 0.709;
  return 0.7213 / (1 + 1.079 / m);
}

function assertPrecision(precision: number): void {
  if (!Number.isInteger(precision) || precision < HLL_PRECISION_MIN || precision > HLL_PRECISION_MAX) {
    throw new RangeError(`HyperLogLog precision must be an integer in ${HLL_PRECISION_MIN}..${HLL_PRECISION_MAX}, got ${precision}`);
  }
}

export class HyperLogLog {
  readonly precision: number;
  /** Sparse table, or null while empty or once dense. */
  private table: Uint32Array | null = null;
  private sparseHasZero = false;
  private sparseCount = 0;
  private readonly sparseMax: number;
  /** Dense registers, or null while sparse. */
  private registers: Uint8Array | null = null;
  private sum = 0;
  private zeros = 0;

  constructor(precision: number = HLL_PRECISION_DEFAULT) {
    assertPrecision(precision);
    this.precision = precision;
    this.sparseMax = hllSparseMax(precision);
  }

  get isSparse(): boolean {
    return this.registers === null;
  }

  /** Bytes held by the table or registers (not the ~80 bytes of the object itself). */
  get dataBytes(): number {
    if (this.registers !== null) return this.registers.byteLength;
    return this.table === null ? 0 : this.table.byteLength;
  }

  /** Adds a 32-bit hash (from hash32). Values are taken modulo 2^32. */
  add(hash: number): void {
    const h = hash >>> 0;
    if (this.registers !== null) {
      this.addDense(this.registers, h);
      return;
    }
    if (h === 0) {
      if (!this.sparseHasZero) {
        this.sparseHasZero = true;
        this.sparseCount++;
        if (this.sparseCount > this.sparseMax) this.toDense();
      }
      return;
    }
    let table = this.table;
    if (table === null) table = this.table = new Uint32Array(SPARSE_SLOTS_MIN);
    const mask = table.length - 1;
    let slot = h & mask;
    for (;;) {
      const current = table[slot]!;
      if (current === h) return;
      if (current === 0) break;
      slot = (slot + 1) & mask;
    }
    table[slot] = h;
    this.sparseCount++;
    if (this.sparseCount > this.sparseMax) this.toDense();
    else if (this.sparseCount * 2 > table.length) this.growSparse();
  }

  addString(s: string): void {
    this.add(hash32(s));
  }

  /** Estimated distinct count, rounded to an integer. Exact while sparse. */
  estimate(): number {
    if (this.registers === null) return this.sparseCount;
    const m = this.registers.length;
    const raw = (alpha(m) * m * m) / this.sum;
    if (raw <= 2.5 * m && this.zeros > 0) return Math.round(m * Math.log(m / this.zeros));
    if (raw > TWO_POW_32 / 30) return Math.round(-TWO_POW_32 * Math.log(1 - Math.min(raw / TWO_POW_32, 1 - 1e-12)));
    return Math.round(raw);
  }

  /** Adds every value of `other` to this sketch (set union). Both must have the same precision. */
  merge(other: HyperLogLog): this {
    if (other.precision !== this.precision) throw new HllPrecisionMismatchError(this.precision, other.precision);
    if (other.registers === null) {
      // Other is sparse: replaying its hashes is exact in either mode.
      if (other.sparseHasZero) this.add(0);
      const table = other.table;
      if (table !== null) for (let i = 0; i < table.length; i++) if (table[i] !== 0) this.add(table[i]!);
      return this;
    }
    if (this.registers === null) this.toDense();
    const mine = this.registers!;
    const theirs = other.registers;
    for (let i = 0; i < mine.length; i++) if (theirs[i]! > mine[i]!) mine[i] = theirs[i]!;
    this.recount();
    return this;
  }

  clone(): HyperLogLog {
    const copy = new HyperLogLog(this.precision);
    copy.table = this.table === null ? null : this.table.slice();
    copy.sparseHasZero = this.sparseHasZero;
    copy.sparseCount = this.sparseCount;
    copy.registers = this.registers === null ? null : this.registers.slice();
    copy.sum = this.sum;
    copy.zeros = this.zeros;
    return copy;
  }

  serialize(): Uint8Array {
    if (this.registers !== null) {
      const out = new Uint8Array(HEADER_BYTES + this.registers.length);
      out[0] = HLL_FORMAT_VERSION;
      out[1] = this.precision;
      out[2] = MODE_DENSE;
      out.set(this.registers, HEADER_BYTES);
      return out;
    }
    const hashes = new Uint32Array(this.sparseCount);
    let n = 0;
    if (this.sparseHasZero) hashes[n++] = 0;
    const table = this.table;
    if (table !== null) for (let i = 0; i < table.length; i++) if (table[i] !== 0) hashes[n++] = table[i]!;
    hashes.sort();
    const out = new Uint8Array(HEADER_BYTES + SPARSE_COUNT_BYTES + 4 * n);
    const view = new DataView(out.buffer);
    out[0] = HLL_FORMAT_VERSION;
    out[1] = this.precision;
    out[2] = MODE_SPARSE;
    view.setUint32(HEADER_BYTES, n, true);
    for (let i = 0; i < n; i++) view.setUint32(HEADER_BYTES + SPARSE_COUNT_BYTES + 4 * i, hashes[i]!, true);
    return out;
  }

  /** Parses and validates a serialized sketch; throws HllCorruptError on anything malformed. */
  static deserialize(bytes: Uint8Array, field?: string): HyperLogLog {
    const fail = (reason: string): never => {
      throw new HllCorruptError(reason, field === undefined ? undefined : { field });
    };
    if (!(bytes instanceof Uint8Array)) return fail('not a byte array');
    if (bytes.length < HEADER_BYTES) return fail(`${bytes.length} bytes, shorter than the header`);
    if (bytes[0] !== HLL_FORMAT_VERSION) return fail(`unknown version ${bytes[0]}`);
    const p = bytes[1]!;
    if (p < HLL_PRECISION_MIN || p > HLL_PRECISION_MAX) return fail(`precision ${p} out of range`);
    if (bytes[3] !== 0) return fail('reserved byte is not 0');
    const sketch = new HyperLogLog(p);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes[2] === MODE_DENSE) {
      const m = 2 ** p;
      if (bytes.length !== HEADER_BYTES + m) return fail(`dense length ${bytes.length}, expected ${HEADER_BYTES + m}`);
      const registers = bytes.slice(HEADER_BYTES);
      const rankMax = 33 - p;
      for (let i = 0; i < m; i++) if (registers[i]! > rankMax) return fail(`register ${i} is ${registers[i]}, above ${rankMax}`);
      sketch.registers = registers;
      sketch.recount();
      return sketch;
    }
    if (bytes[2] !== MODE_SPARSE) return fail(`unknown mode ${bytes[2]}`);
    if (bytes.length < HEADER_BYTES + SPARSE_COUNT_BYTES) return fail('sparse sketch without a count');
    const n = view.getUint32(HEADER_BYTES, true);
    if (n > sketch.sparseMax) return fail(`sparse count ${n} above ${sketch.sparseMax}`);
    if (bytes.length !== HEADER_BYTES + SPARSE_COUNT_BYTES + 4 * n) return fail(`sparse length ${bytes.length} does not match count ${n}`);
    let previous = -1;
    for (let i = 0; i < n; i++) {
      const h = view.getUint32(HEADER_BYTES + SPARSE_COUNT_BYTES + 4 * i, true);
      if (h <= previous) return fail(`sparse hashes not strictly ascending at ${i}`);
      previous = h;
      sketch.add(h);
    }
    return sketch;
  }

  /** Merges serialized sketches (a range query's windows) into one sketch. An empty list gives an empty sketch. */
  static mergeSerialized(sketches: readonly Uint8Array[], precision: number = HLL_PRECISION_DEFAULT): HyperLogLog {
    const first = sketches[0];
    const merged = first === undefined ? new HyperLogLog(precision) : HyperLogLog.deserialize(first, '0');
    for (let i = 1; i < sketches.length; i++) merged.merge(HyperLogLog.deserialize(sketches[i]!, String(i)));
    return merged;
  }

  private addDense(registers: Uint8Array, h: number): void {
    const p = this.precision;
    const index = h >>> (32 - p);
    // clz32 of the remaining 32-p bits (shifted to the top), +1; 0 remaining bits rank 33-p.
    const rest = (h << p) >>> 0;
    const rank = rest === 0 ? 33 - p : Math.clz32(rest) + 1;
    const old = registers[index]!;
    if (rank > old) {
      registers[index] = rank;
      this.sum += POW2_NEG[rank]! - POW2_NEG[old]!;
      if (old === 0) this.zeros--;
    }
  }

  private growSparse(): void {
    const old = this.table!;
    const table = new Uint32Array(old.length * 2);
    const mask = table.length - 1;
    for (let i = 0; i < old.length; i++) {
      const h = old[i]!;
      if (h === 0) continue;
      let slot = h & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = h;
    }
    this.table = table;
  }

  private toDense(): void {
    const registers = new Uint8Array(2 ** this.precision);
    this.registers = registers;
    this.sum = registers.length;
    this.zeros = registers.length;
    if (this.sparseHasZero) this.addDense(registers, 0);
    const table = this.table;
    if (table !== null) for (let i = 0; i < table.length; i++) if (table[i] !== 0) this.addDense(registers, table[i]!);
    this.table = null;
    this.sparseHasZero = false;
    this.sparseCount = 0;
  }

  private recount(): void {
    const registers = this.registers!;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < registers.length; i++) {
      const r = registers[i]!;
      sum += POW2_NEG[r]!;
      if (r === 0) zeros++;
    }
    this.sum = sum;
    this.zeros = zeros;
  }
}
