/**
 * A small, mergeable, serializable HyperLogLog over 32-bit hashes (hash32).
 *
 * Why our own: hyperloglog-lite (named on the design card) costs four murmur2
 * passes and an array per add, and has no sparse mode, no validation and no
 * serialization. See bench/actors/hll.bench.ts and bench/results/actors.md.
 *
 * Three representations, because 100K owners x 4 resolutions x several open
 * windows must fit in memory and most windows see few distinct users:
 * - SMALL: up to SMALL_HASHES_MAX distinct hashes in a plain array of int32
 *   (small integers to V8, so no typed array and its ~200 bytes of objects),
 *   searched linearly; 4, 8 or 16 slots of 8 bytes, never more than
 *   sparseMax(p) slots (so at p <= 7 it turns dense directly).
 * - SPARSE: the exact set of distinct 32-bit hashes in an open-addressing
 *   Uint32Array (linear probing, load <= 1/2, 0 marks an empty slot and a
 *   separate flag stands for the hash 0). It holds at most 2^(p-3) hashes in
 *   at most 2^(p-2) slots, so its table never outgrows the dense registers:
 *   bytes = 4 x slots, from 0 (empty: no table at all) to 2^p (p = 12: 4 KiB).
 *   The estimate is the exact distinct count (of hashes).
 * - DENSE: Uint8Array(2^p) registers (p = 12: 4096 bytes), one byte each,
 *   with their running sum and zero count in an object of their own, so a
 *   sketch that never turns dense does not carry them.
 * Plus about 70 bytes of object in every mode; an empty sketch holds nothing else.
 *
 * Invariants:
 * - Small: `small` holds `sparseCount` distinct hashes (as int32) in its first
 *   slots; `table` is null. sparseCount <= min(SMALL_HASHES_MAX, sparseMax(p)).
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
import { hash32 } from './hash.js';
import { HllCorruptError, HllPrecisionMismatchError } from './state-errors.js';

export const HLL_PRECISION_MIN = 4;
export const HLL_PRECISION_MAX = 16;
export const HLL_PRECISION_DEFAULT = 12;
export const HLL_FORMAT_VERSION = 1;

const MODE_SPARSE = 0;
const MODE_DENSE = 1;
const HEADER_BYTES = 4;
const SPARSE_COUNT_BYTES = 4;
const SPARSE_SLOTS_MIN = 4;
/** Distinct hashes kept in the SMALL array before a sparse table is built. */
export const SMALL_HASHES_MAX = 16;
const SMALL_SLOTS_MIN = 4;
/** Rough heap cost of the sketch object, and of the JS objects behind any typed array (not its bytes). */
const SKETCH_OBJECT_BYTES = 72;
const TYPED_ARRAY_BYTES = 200;
const TWO_POW_32 = 4_294_967_296;

/** 2^-r for every possible register value, so add() does no Math.pow. */
const POW2_NEG = new Float64Array(34);
for (let r = 0; r < POW2_NEG.length; r++) POW2_NEG[r] = 2 ** -r;

/** Most distinct hashes a sparse sketch holds before it turns dense. */
export function hllSparseMax(precision: number): number {
  // A shift, not 2 ** (a Math.pow call on every sparse add; precision is 4..16).
  return 1 << (precision - 3);
}

/** Bytes of the registers of a dense sketch (the sparse table never exceeds this). */
export function hllDenseBytes(precision: number): number {
  return 1 << precision;
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

/** The dense registers with their running sum of 2^-register and count of zero registers. */
interface Dense {
  registers: Uint8Array;
  /** Σ 2^-register and the count of zero registers; valid unless `stale`. */
  sum: number;
  zeros: number;
  /**
   * Registers changed in bulk (merge, deserialize) since sum and zeros were
   * counted: they are recounted once, when estimate() needs them, not after
   * every merge, so merging N sketches (a range query, a coarse window made
   * of finer ones) counts the registers once instead of 2N - 1 times
   * (mergeSerialized of 60 dense sketches: 0.9 ms instead of 2.1).
   */
  stale: boolean;
}

export class HyperLogLog {
  readonly precision: number;
  /** SMALL: distinct hashes as int32 in the first sparseCount slots; null when empty or past SMALL. */
  private small: number[] | null = null;
  /** SPARSE table, or null while empty, small or dense. */
  private table: Uint32Array | null = null;
  private sparseHasZero = false;
  private sparseCount = 0;
  /** DENSE state, or null before. */
  private dense: Dense | null = null;

  constructor(precision: number = HLL_PRECISION_DEFAULT) {
    assertPrecision(precision);
    this.precision = precision;
  }

  get isSparse(): boolean {
    return this.dense === null;
  }

  /** Bytes of data held by the small array (8 per slot), the table or the registers; not the objects around them. */
  get dataBytes(): number {
    if (this.dense !== null) return this.dense.registers.byteLength;
    if (this.table !== null) return this.table.byteLength;
    return this.small === null ? 0 : 8 * this.small.length;
  }

  /** Rough heap bytes of the whole sketch (objects included), for memory estimates. */
  approxBytes(): number {
    if (this.dense !== null) return SKETCH_OBJECT_BYTES + 48 + TYPED_ARRAY_BYTES + this.dense.registers.byteLength;
    if (this.table !== null) return SKETCH_OBJECT_BYTES + TYPED_ARRAY_BYTES + this.table.byteLength;
    return SKETCH_OBJECT_BYTES + (this.small === null ? 0 : 48 + 8 * this.small.length);
  }

  /** Adds a 32-bit hash (from hash32). Values are taken modulo 2^32. */
  add(hash: number): void {
    const dense = this.dense;
    if (dense !== null) {
      addDense(dense, this.precision, hash >>> 0);
      return;
    }
    if (this.table === null) {
      // SMALL: compare as int32, which V8 keeps as small integers.
      const v = hash | 0;
      let small = this.small;
      const n = this.sparseCount;
      if (small === null) {
        // Never more slots than the sparse limit: at p <= 7 the small array turns dense directly.
        small = this.small = new Array<number>(Math.min(SMALL_SLOTS_MIN, hllSparseMax(this.precision))).fill(0);
      } else {
        for (let i = 0; i < n; i++) if (small[i] === v) return;
      }
      if (n + 1 > hllSparseMax(this.precision)) {
        this.toDense();
        addDense(this.dense!, this.precision, hash >>> 0);
        return;
      }
      if (n < SMALL_HASHES_MAX) {
        if (n === small.length) small = this.small = growSmall(small);
        small[n] = v;
        this.sparseCount = n + 1;
        return;
      }
      this.toTable();
    }
    this.addSparse(hash >>> 0);
  }

  addString(s: string): void {
    this.add(hash32(s));
  }

  /** Estimated distinct count, rounded to an integer. Exact while sparse. */
  estimate(): number {
    const dense = this.dense;
    if (dense === null) return this.sparseCount;
    if (dense.stale) recount(dense);
    const m = dense.registers.length;
    const raw = (alpha(m) * m * m) / dense.sum;
    if (raw <= 2.5 * m && dense.zeros > 0) return Math.round(m * Math.log(m / dense.zeros));
    if (raw > TWO_POW_32 / 30) return Math.round(-TWO_POW_32 * Math.log(1 - Math.min(raw / TWO_POW_32, 1 - 1e-12)));
    return Math.round(raw);
  }

  /** Adds every value of `other` to this sketch (set union). Both must have the same precision. */
  merge(other: HyperLogLog): this {
    if (other.precision !== this.precision) throw new HllPrecisionMismatchError(this.precision, other.precision);
    const theirs = other.dense;
    if (theirs === null) {
      // Other is small or sparse: replaying its hashes is exact in either mode.
      other.forEachSparse((h) => this.add(h));
      return this;
    }
    if (this.dense === null) this.toDense();
    const mine = this.dense!;
    for (let i = 0; i < mine.registers.length; i++) if (theirs.registers[i]! > mine.registers[i]!) mine.registers[i] = theirs.registers[i]!;
    mine.stale = true;
    return this;
  }

  clone(): HyperLogLog {
    const copy = new HyperLogLog(this.precision);
    copy.small = this.small === null ? null : this.small.slice();
    copy.table = this.table === null ? null : this.table.slice();
    copy.sparseHasZero = this.sparseHasZero;
    copy.sparseCount = this.sparseCount;
    copy.dense = this.dense === null ? null : { registers: this.dense.registers.slice(), sum: this.dense.sum, zeros: this.dense.zeros, stale: this.dense.stale };
    return copy;
  }

  serialize(): Uint8Array {
    const dense = this.dense;
    if (dense !== null) {
      const out = new Uint8Array(HEADER_BYTES + dense.registers.length);
      out[0] = HLL_FORMAT_VERSION;
      out[1] = this.precision;
      out[2] = MODE_DENSE;
      out.set(dense.registers, HEADER_BYTES);
      return out;
    }
    const hashes = new Uint32Array(this.sparseCount);
    let n = 0;
    this.forEachSparse((h) => {
      hashes[n++] = h;
    });
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
      sketch.dense = { registers, sum: 0, zeros: 0, stale: true };
      return sketch;
    }
    if (bytes[2] !== MODE_SPARSE) return fail(`unknown mode ${bytes[2]}`);
    if (bytes.length < HEADER_BYTES + SPARSE_COUNT_BYTES) return fail('sparse sketch without a count');
    const n = view.getUint32(HEADER_BYTES, true);
    const sparseMax = hllSparseMax(p);
    if (n > sparseMax) return fail(`sparse count ${n} above ${sparseMax}`);
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

  /** Every distinct hash of a small or sparse sketch, unsigned. */
  private forEachSparse(fn: (h: number) => void): void {
    const small = this.small;
    if (small !== null) for (let i = 0; i < this.sparseCount; i++) fn(small[i]! >>> 0);
    if (this.sparseHasZero) fn(0);
    const table = this.table;
    if (table !== null) for (let i = 0; i < table.length; i++) if (table[i] !== 0) fn(table[i]!);
  }

  private addSparse(h: number): void {
    if (h === 0) {
      if (!this.sparseHasZero) {
        this.sparseHasZero = true;
        this.sparseCount++;
        if (this.sparseCount > hllSparseMax(this.precision)) this.toDense();
      }
      return;
    }
    const table = this.table!;
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
    if (this.sparseCount > hllSparseMax(this.precision)) this.toDense();
    else if (this.sparseCount * 2 > table.length) this.growSparse();
  }

  /** SMALL to SPARSE: the small array's hashes move into a table. */
  private toTable(): void {
    const small = this.small!;
    const n = this.sparseCount;
    let slots = SPARSE_SLOTS_MIN;
    while (slots < (n + 1) * 2) slots *= 2;
    this.table = new Uint32Array(slots);
    this.small = null;
    this.sparseCount = 0;
    for (let i = 0; i < n; i++) this.addSparse(small[i]! >>> 0);
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
    const m = 2 ** this.precision;
    const dense: Dense = { registers: new Uint8Array(m), sum: m, zeros: m, stale: false };
    const p = this.precision;
    this.forEachSparse((h) => addDense(dense, p, h));
    this.dense = dense;
    this.small = null;
    this.table = null;
    this.sparseHasZero = false;
    this.sparseCount = 0;
  }
}

function addDense(dense: Dense, p: number, h: number): void {
  // (On a stale sketch the sum and zeros below go wrong, and stay unused: estimate() recounts first.)
  const index = h >>> (32 - p);
  // clz32 of the remaining 32-p bits (shifted to the top), +1; 0 remaining bits rank 33-p.
  const rest = (h << p) >>> 0;
  const rank = rest === 0 ? 33 - p : Math.clz32(rest) + 1;
  const registers = dense.registers;
  const old = registers[index]!;
  if (rank > old) {
    registers[index] = rank;
    dense.sum += POW2_NEG[rank]! - POW2_NEG[old]!;
    if (old === 0) dense.zeros--;
  }
}

function recount(dense: Dense): void {
  const registers = dense.registers;
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < registers.length; i++) {
    const r = registers[i]!;
    sum += POW2_NEG[r]!;
    if (r === 0) zeros++;
  }
  dense.sum = sum;
  dense.zeros = zeros;
  dense.stale = false;
}

function growSmall(small: number[]): number[] {
  const out = new Array<number>(small.length * 2).fill(0);
  for (let i = 0; i < small.length; i++) out[i] = small[i]!;
  return out;
}
