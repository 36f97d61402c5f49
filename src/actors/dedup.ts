/**
 * Recent event ids of one owner, to answer `duplicate` for a re-sent event.
 *
 * What is kept is not the id but its 64-bit hash (hash64: MurmurHash3 x86_128,
 * first 64 bits), with the time it was first seen, in one Int32Array (int32,
 * not uint32, so that V8 compares them as small integers):
 * - a ring of `cap` ids in arrival order, as three runs of `cap` words: the
 *   `a` words, the `b` words, and seenAtMs - baseMs (so a linear search reads
 *   one contiguous run);
 * - past LINEAR_IDS_MAX ids, behind the ring, an open-addressing table
 *   (linear probing, load <= 1/2, backward-shift deletion, no tombstones) of
 *   two words per slot: the id's `a` word and its ring index + 1 (0 marks an
 *   empty slot). The slot comes from `a`. Up to LINEAR_IDS_MAX ids the ring
 *   is searched directly.
 * Why `a` in the table: a worker holds many busy owners' memories (100 of
 *   100K ids is ~300 MB), so every access to one is a cache miss. With only
 *   the ring index in a slot, each probe of a lookup and of the deletion's
 *   backward shift read the ring too (2-5 misses per new id); with `a`
 *   beside it, a probe run is one or two cache lines and the ring is read
 *   only on a match (bench/actors/dedup.bench.ts, "many owners").
 * The array starts empty (an owner without ids holds none), doubles as ids
 * arrive, up to idsMax, and halves when ids expire: 12 bytes per id in the
 * ring plus 8 to 16 in the table, plus one typed array (~200 bytes), against
 * ~55 bytes per id for the Map of strings this replaced (bench/results/memory.md).
 *
 * The guarantee: an event whose id was first seen at time t is answered
 * `duplicate` at time t' if t' - t < horizonMs, provided fewer than idsMax
 * other distinct ids were first seen in between (the ring drops its oldest
 * id to take a new one once it holds idsMax; counted in `evictedEarly`).
 * Beyond horizonMs it is never a duplicate: the ring is in time order, and
 * every lookup first drops the ids whose horizon has passed. (The two
 * generations of Maps this replaced promised only idsMax/2.)
 *
 * False duplicates: two different ids with the same 64-bit hash. With n ids
 * remembered a new id is taken for a duplicate with probability n / 2^64 per
 * event (5.4e-15 at n = 100K); a million events a second against full
 * memories for a year gives an expected 0.17 such events in total. That is
 * below any other failure, so there is no verification path: keeping the ids
 * to compare would cost what this saves. hash64 is not keyed, so ids chosen
 * on purpose can collide; dedup is per owner, so a sender can only make its
 * own events be answered `duplicate` (the receipt says so). docs/ARCHITECTURE.md
 * states the choice.
 *
 * The clock is the memory's own: the largest time it was given (the owner
 * passes its clock, which never goes backwards; a restore replays in time
 * order), so the ring stays in time order. Times are kept as unsigned 32-bit
 * offsets from `baseMs`, rebased long before they could overflow (horizonMs
 * is at most 2^30 ms, config allows 7 days).
 *
 * Packed form (snapshots), little-endian, version 1:
 *   [0] version=1 [1..4) 0  [4..8) u32 count n  [8..16) f64 baseMs (an integer)
 *   then n x [u32 a, u32 b, u32 offsetMs], offsets non-decreasing (oldest first);
 *   seenAtMs = baseMs + offsetMs, and the writer makes the first offset 0, so
 *   equal memories give equal bytes.
 */
import assert from 'node:assert/strict';
import { hash64 } from './hash.js';
import { SnapshotInvalidError } from './state-errors.js';

export const DEDUP_FORMAT_VERSION = 1;
/** Up to this many ids the ring is searched directly; beyond it a hash table is kept beside it. */
export const LINEAR_IDS_MAX = 32;
/** Ring capacity of the first allocation. */
const RING_MIN = 8;
const PACKED_HEADER_BYTES = 16;
const PACKED_ENTRY_BYTES = 12;
/** Offsets are rebased past this (the array holds them as u32). */
const OFFSET_MS_MAX = 0x7fff_ffff;
/** horizonMs must stay well below the offset range, so a rebase always fits every live id (2^30 ms: 12.4 days). */
export const DEDUP_HORIZON_MS_MAX = 2 ** 30;

/** An id as the memory keeps it: its hash64 words and when it was first seen. */
export type HashedId = [a: number, b: number, seenAtMs: number];

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Scratch for hash64; one per thread, used synchronously. */
const HASH = new Uint32Array(2);

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class DedupMemory {
  /** Ids forgotten before their horizon, because idsMax newer ones were held. */
  evictedEarly = 0;
  /** Ring (a words, b words, time words: cap each), then the table (two words per slot: a, ring index + 1) when cap > LINEAR_IDS_MAX; null while empty. */
  private words: Int32Array | null = null;
  private cap = 0;
  /** Ring index of the oldest id. */
  private head = 0;
  private count = 0;
  /** Table slots - 1, or -1 without a table. */
  private mask = -1;
  /** Word index where the table starts. */
  private tableAt = 0;
  private baseMs: number;
  private clockMs: number;
  /** What hashBatch's loads read, kept so that they cannot be dropped as unused (no meaning). */
  touched = 0;

  constructor(
    readonly horizonMs: number,
    readonly idsMax: number,
    nowMs: number,
  ) {
    assert.ok(
      Number.isSafeInteger(horizonMs) && horizonMs > 0 && horizonMs <= DEDUP_HORIZON_MS_MAX,
      `dedupHorizonMs must be an integer in 1..2^30, got ${horizonMs}`,
    );
    assert.ok(Number.isSafeInteger(idsMax) && idsMax >= 2, `dedupIdsMax must be an integer >= 2, got ${idsMax}`);
    this.baseMs = nowMs;
    this.clockMs = nowMs;
  }

  /** Ids held (each within its horizon as of the last call). */
  get size(): number {
    return this.count;
  }

  /** Bytes of the typed array (0 while empty). */
  get dataBytes(): number {
    return this.words === null ? 0 : this.words.byteLength;
  }

  /**
   * True when `id` was seen within the horizon (a duplicate); otherwise
   * remembers it as seen at nowMs and returns false.
   */
  seen(id: string, nowMs: number): boolean {
    hash64(id, HASH);
    return this.seenHash(HASH[0]! | 0, HASH[1]! | 0, nowMs);
  }

  /**
   * Hashes `ids` with hash64 into `out` (two words per id, int32) and reads
   * the table slots their lookups and the coming evictions will touch, so
   * that the seenHash calls that follow find them in cache. A worker holds
   * many busy owners' memories, far past the CPU caches: one at a time, each
   * lookup waits for its own cache miss; here the loads of a whole batch are
   * independent of each other and the CPU overlaps them
   * (bench/actors/dedup-many.bench.ts). Changes nothing the memory answers.
   */
  hashBatch(ids: readonly { readonly id: string }[], out: Int32Array): void {
    const n = ids.length;
    const hash = HASH;
    for (let k = 0; k < n; k++) {
      hash64(ids[k]!.id, hash);
      out[2 * k] = hash[0]!;
      out[2 * k + 1] = hash[1]!;
    }
    this.touchBatch(out, n);
  }

  /**
   * hashBatch's second half, for hashes computed elsewhere (the columnar
   * path hashes ids from their bytes): reads the slots the lookups of
   * `hashes` (two words per id, n ids) and the coming evictions will touch.
   */
  touchBatch(hashes: Int32Array, n: number): void {
    const out = hashes;
    const mask = this.mask;
    if (mask < 0) return;
    const words = this.words!;
    const table = this.tableAt;
    let touched = 0;
    for (let k = 0; k < n; k++) touched ^= words[table + 2 * (out[2 * k]! & mask) + 1]!;
    // Full: each new id evicts the oldest, whose slot the deletion visits.
    const evictions = this.count + n - this.idsMax;
    if (this.count === this.cap && evictions > 0) {
      const cap = this.cap;
      const m = evictions < n ? evictions : n;
      for (let k = 0, i = this.head; k < m; k++) {
        touched ^= words[table + 2 * (words[i]! & mask) + 1]!;
        if (++i === cap) i = 0;
      }
    }
    this.touched = touched;
  }

  /** seen() for an id already hashed with hash64 (a, b = its two words, as uint32 or int32). */
  seenHash(a: number, b: number, nowMs: number): boolean {
    a |= 0;
    b |= 0;
    const now = nowMs > this.clockMs ? (this.clockMs = nowMs) : this.clockMs;
    if (this.count > 0) {
      // Most calls expire nothing: check the oldest id before calling out.
      if (this.words![2 * this.cap + this.head]! <= now - this.horizonMs - this.baseMs) this.expire(now);
      if (this.count > 0 && this.find(a, b) >= 0) return true;
    }
    this.insert(a, b, now);
    return false;
  }

  /** The live ids, packed (see the format above); null when there are none. */
  exportPacked(nowMs: number): Uint8Array | null {
    const now = nowMs > this.clockMs ? (this.clockMs = nowMs) : this.clockMs;
    if (this.count > 0) this.expire(now);
    const words = this.words;
    const n = this.count;
    if (words === null || n === 0) return null;
    const out = new Uint8Array(PACKED_HEADER_BYTES + PACKED_ENTRY_BYTES * n);
    const view = new DataView(out.buffer);
    // Times relative to the oldest id, so equal memories pack to equal bytes.
    const cap = this.cap;
    const first = words[2 * cap + this.head]!;
    out[0] = DEDUP_FORMAT_VERSION;
    view.setUint32(4, n, true);
    view.setFloat64(8, this.baseMs + first, true);
    if (LITTLE_ENDIAN) {
      // The packed words are little-endian: on such a machine an Int32Array over
      // them writes the same bytes as setUint32(.., true), without a call per word
      // (a snapshot round packs every busy owner's ids; 0.88x per id, bench/actors/dedup-grow.bench.ts).
      const packed = new Int32Array(out.buffer, PACKED_HEADER_BYTES, 3 * n);
      for (let k = 0, i = this.head, at = 0; k < n; k++, at += 3) {
        packed[at] = words[i]!;
        packed[at + 1] = words[cap + i]!;
        packed[at + 2] = words[2 * cap + i]! - first;
        if (++i === cap) i = 0;
      }
      return out;
    }
    let at = PACKED_HEADER_BYTES;
    for (let k = 0, i = this.head; k < n; k++) {
      view.setUint32(at, words[i]!, true);
      view.setUint32(at + 4, words[cap + i]!, true);
      view.setUint32(at + 8, words[2 * cap + i]! - first, true);
      at += PACKED_ENTRY_BYTES;
      if (++i === cap) i = 0;
    }
    return out;
  }

  /**
   * Reads exportPacked() bytes back as [a, b, seenAtMs] entries, validating
   * them; a SnapshotInvalidError naming `field` when malformed.
   */
  static readPacked(bytes: unknown, field = 'recentIdHashes'): HashedId[] {
    const fail = (reason: string): never => {
      throw new SnapshotInvalidError(reason, { field });
    };
    if (!(bytes instanceof Uint8Array)) return fail('not bytes');
    if (bytes.length < PACKED_HEADER_BYTES) return fail(`${bytes.length} bytes, shorter than the header`);
    if (bytes[0] !== DEDUP_FORMAT_VERSION) return fail(`unknown version ${bytes[0]}`);
    if (bytes[1] !== 0 || bytes[2] !== 0 || bytes[3] !== 0) return fail('reserved bytes are not 0');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = view.getUint32(4, true);
    if (bytes.length !== PACKED_HEADER_BYTES + PACKED_ENTRY_BYTES * n) return fail(`length ${bytes.length} does not match count ${n}`);
    const baseMs = view.getFloat64(8, true);
    if (!Number.isSafeInteger(baseMs)) return fail('baseMs is not an integer');
    const out: HashedId[] = [];
    let previous = 0;
    for (let k = 0, at = PACKED_HEADER_BYTES; k < n; k++, at += PACKED_ENTRY_BYTES) {
      const offset = view.getUint32(at + 8, true);
      if (offset < previous) return fail(`times not in order at entry ${k}`);
      previous = offset;
      out.push([view.getUint32(at, true), view.getUint32(at + 4, true), baseMs + offset]);
    }
    return out;
  }

  /** The ids of snapshots written before ids were hashed (OwnerSnapshot.recentIds, already validated), hashed. */
  static hashIds(entries: ReadonlyArray<readonly [string, number]>): HashedId[] {
    return entries.map(([id, seenAtMs]) => {
      hash64(id, HASH);
      return [HASH[0]!, HASH[1]!, seenAtMs];
    });
  }

  /**
   * Rebuilds a memory by replaying hashed ids in time order (a stable sort, so
   * equal times keep their order), so both the time and the count guarantee
   * carry over; ids past the horizon at nowMs are dropped, an id listed twice
   * is kept once (its first time).
   */
  static fromHashed(entries: readonly HashedId[], horizonMs: number, idsMax: number, nowMs: number): DedupMemory {
    const live = entries.filter((entry) => nowMs - entry[2] < horizonMs).sort((x, y) => x[2] - y[2]);
    const memory = new DedupMemory(horizonMs, idsMax, live.length === 0 ? nowMs : live[0]![2]);
    for (const [a, b, seenAtMs] of live) memory.seenHash(a, b, seenAtMs);
    memory.evictedEarly = 0;
    memory.advanceTo(nowMs);
    return memory;
  }

  /** fromHashed(readPacked(bytes)). */
  static importPacked(bytes: Uint8Array, horizonMs: number, idsMax: number, nowMs: number, field = 'recentIdHashes'): DedupMemory {
    return DedupMemory.fromHashed(DedupMemory.readPacked(bytes, field), horizonMs, idsMax, nowMs);
  }

  /** fromHashed(hashIds(entries)): the previous snapshot format. */
  static import(entries: ReadonlyArray<readonly [string, number]>, horizonMs: number, idsMax: number, nowMs: number): DedupMemory {
    return DedupMemory.fromHashed(DedupMemory.hashIds(entries), horizonMs, idsMax, nowMs);
  }

  /** Advances the clock to nowMs and drops what expired by then. */
  private advanceTo(nowMs: number): void {
    if (nowMs > this.clockMs) this.clockMs = nowMs;
    if (this.count > 0) this.expire(this.clockMs);
  }

  /** Drops the ids whose horizon has passed (all at the old end of the ring), then shrinks if mostly empty. */
  private expire(now: number): void {
    const words = this.words!;
    const limit = now - this.horizonMs - this.baseMs; // an id is live while its offset > limit
    const before = this.count;
    const times = 2 * this.cap;
    while (this.count > 0 && words[times + this.head]! <= limit) this.dropOldest();
    if (this.count === before) return;
    if (this.count === 0) {
      this.release();
    } else if (this.cap > RING_MIN && this.count * 4 <= this.cap) {
      this.resize(Math.max(RING_MIN, nextPow2(this.count * 2)));
    }
  }

  /** Ring index of (a, b), or -1. */
  private find(a: number, b: number): number {
    const words = this.words!;
    const mask = this.mask;
    const cap = this.cap;
    if (mask < 0) {
      // The live ids are head..head+count-1, wrapping: two contiguous runs of b words.
      const head = this.head;
      const end = head + this.count;
      const firstEnd = end < cap ? end : cap;
      for (let i = head; i < firstEnd; i++) if (words[cap + i] === b && words[i] === a) return i;
      for (let i = 0, wrapEnd = end - cap; i < wrapEnd; i++) if (words[cap + i] === b && words[i] === a) return i;
      return -1;
    }
    const table = this.tableAt;
    for (let slot = a & mask; ; slot = (slot + 1) & mask) {
      const at = table + 2 * slot;
      const ref = words[at + 1]!;
      if (ref === 0) return -1;
      if (words[at] === a && words[cap + ref - 1] === b) return ref - 1;
    }
  }

  private insert(a: number, b: number, now: number): void {
    if (this.count === this.cap) {
      if (this.cap < this.idsMax) {
        this.resize(Math.min(this.idsMax, Math.max(RING_MIN, this.cap * 2)));
      } else {
        this.dropOldest();
        this.evictedEarly++;
      }
    }
    if (this.count === 0) this.baseMs = now;
    else if (now - this.baseMs > OFFSET_MS_MAX) this.rebase(now);
    const words = this.words!;
    const cap = this.cap;
    let i = this.head + this.count;
    if (i >= cap) i -= cap;
    words[i] = a;
    words[cap + i] = b;
    words[2 * cap + i] = now - this.baseMs;
    this.count++;
    if (this.mask >= 0) this.tableAdd(words, a, i);
  }

  private tableAdd(words: Int32Array, a: number, ringIndex: number): void {
    const mask = this.mask;
    const table = this.tableAt;
    let slot = a & mask;
    while (words[table + 2 * slot + 1] !== 0) slot = (slot + 1) & mask;
    words[table + 2 * slot] = a;
    words[table + 2 * slot + 1] = ringIndex + 1;
  }

  private dropOldest(): void {
    const words = this.words!;
    const i = this.head;
    if (this.mask >= 0) {
      const mask = this.mask;
      const table = this.tableAt;
      let slot = words[i]! & mask;
      while (words[table + 2 * slot + 1] !== i + 1) slot = (slot + 1) & mask;
      // Backward-shift deletion: pull later entries of the probe run into the hole,
      // unless their home slot lies cyclically after the hole.
      let hole = slot;
      for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
        const ref = words[table + 2 * j + 1]!;
        if (ref === 0) break;
        const a = words[table + 2 * j]!;
        const home = a & mask;
        const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
        if (stays) continue;
        words[table + 2 * hole] = a;
        words[table + 2 * hole + 1] = ref;
        hole = j;
      }
      words[table + 2 * hole + 1] = 0;
    }
    this.head = i + 1 === this.cap ? 0 : i + 1;
    this.count--;
  }

  /** New capacity (>= count): live ids move to ring indexes 0..count-1, and the table is rebuilt. */
  private resize(cap: number): void {
    const old = this.words;
    const slots = cap > LINEAR_IDS_MAX ? nextPow2(cap * 2) : 0;
    const words = new Int32Array(3 * cap + 2 * slots);
    if (old !== null) {
      const oldCap = this.cap;
      for (let k = 0, i = this.head; k < this.count; k++) {
        words[k] = old[i]!;
        words[cap + k] = old[oldCap + i]!;
        words[2 * cap + k] = old[2 * oldCap + i]!;
        if (++i === oldCap) i = 0;
      }
    }
    this.words = words;
    this.cap = cap;
    this.head = 0;
    this.tableAt = 3 * cap;
    this.mask = slots - 1;
    if (slots > 0) for (let k = 0; k < this.count; k++) this.tableAdd(words, words[k]!, k);
  }

  private release(): void {
    this.words = null;
    this.cap = 0;
    this.head = 0;
    this.count = 0;
    this.mask = -1;
    this.tableAt = 0;
  }

  /** Moves baseMs up to now - horizonMs; every live id is younger, so its offset stays positive. */
  private rebase(now: number): void {
    const newBase = now - this.horizonMs;
    const shift = newBase - this.baseMs;
    const words = this.words!;
    const times = 2 * this.cap;
    for (let k = 0, i = this.head; k < this.count; k++) {
      words[times + i] = words[times + i]! - shift;
      if (++i === this.cap) i = 0;
    }
    this.baseMs = newBase;
  }
}
