// Frozen copy of src/actors/dedup.ts at commit a25fbde (before the memory work of issue 3), kept
// only so the benchmarks can run the old implementation beside the new one in one process.
// Not used by the product; do not edit except to keep it compiling.
/**
 * Recent event ids of one owner, to answer `duplicate` for a re-sent event.
 *
 * Two generations of `Map<id, seenAtMs>`: new ids go into `current`; a
 * rotation makes `current` the `previous` and drops the old `previous`.
 * Rotations happen when `current` has been filling for horizonMs, or early
 * when it holds idsMax/2 ids (counted in `earlyRotations`). The time is kept
 * per id, so an id counts as seen only while nowMs - seenAtMs < horizonMs.
 *
 * The guarantee: an event whose id was first seen at time t is answered
 * `duplicate` at time t' if t' - t < horizonMs, provided fewer than
 * floor(idsMax/2) other distinct ids were first seen in between. Beyond
 * horizonMs it is never a duplicate (the time check is exact). Memory holds
 * at most idsMax ids (two generations of at most idsMax/2).
 *
 * Why the rotation period is horizonMs and not horizonMs/2: an id lives in
 * `current` for up to one period and in `previous` for one more, so a period
 * of horizonMs/2 would only promise horizonMs/2 of memory; the receipt
 * contract says a duplicate is "the same id within the dedup horizon".
 *
 * The clock is the owner's: nowMs is expected not to go backwards (the owner
 * takes the maximum of the times it was given).
 */
import assert from 'node:assert/strict';

export class DedupMemory {
  /** Rotations forced by the count bound before horizonMs elapsed. */
  earlyRotations = 0;
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private rotatedAtMs: number;
  private readonly generationIdsMax: number;

  constructor(
    readonly horizonMs: number,
    readonly idsMax: number,
    nowMs: number,
  ) {
    assert.ok(Number.isSafeInteger(horizonMs) && horizonMs > 0, `dedupHorizonMs must be a positive integer, got ${horizonMs}`);
    assert.ok(Number.isSafeInteger(idsMax) && idsMax >= 2, `dedupIdsMax must be an integer >= 2, got ${idsMax}`);
    this.generationIdsMax = Math.floor(idsMax / 2);
    this.rotatedAtMs = nowMs;
  }

  /** Ids held (both generations; an id re-seen after its horizon may be held twice). */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  /**
   * True when `id` was seen within the horizon (a duplicate); otherwise
   * remembers it as seen at nowMs and returns false.
   */
  seen(id: string, nowMs: number): boolean {
    if (nowMs - this.rotatedAtMs >= this.horizonMs) this.rotateByTime(nowMs);
    const inCurrent = this.current.get(id);
    if (inCurrent !== undefined && nowMs - inCurrent < this.horizonMs) return true;
    const inPrevious = this.previous.get(id);
    if (inPrevious !== undefined && nowMs - inPrevious < this.horizonMs) return true;
    this.current.set(id, nowMs);
    if (this.current.size >= this.generationIdsMax) {
      this.rotate(nowMs);
      this.earlyRotations++;
    }
    return false;
  }

  /** Ids still within the horizon with the time each was first seen, oldest generation first. */
  export(nowMs: number): Array<[id: string, seenAtMs: number]> {
    const out: Array<[string, number]> = [];
    for (const [id, seenAtMs] of this.previous) {
      if (nowMs - seenAtMs < this.horizonMs && !this.current.has(id)) out.push([id, seenAtMs]);
    }
    for (const [id, seenAtMs] of this.current) {
      if (nowMs - seenAtMs < this.horizonMs) out.push([id, seenAtMs]);
    }
    return out;
  }

  /**
   * Rebuilds the memory from export() output (entries already validated) by
   * replaying them in time order, so both the time and the count guarantee
   * carry over; entries beyond the horizon at nowMs are dropped.
   */
  static import(entries: ReadonlyArray<readonly [string, number]>, horizonMs: number, idsMax: number, nowMs: number): DedupMemory {
    const live = entries.filter((entry) => nowMs - entry[1] < horizonMs).sort((a, b) => a[1] - b[1]);
    const memory = new DedupMemory(horizonMs, idsMax, live.length === 0 ? nowMs : live[0]![1]);
    for (const [id, seenAtMs] of live) memory.seen(id, seenAtMs);
    memory.earlyRotations = 0;
    if (nowMs - memory.rotatedAtMs >= horizonMs) memory.rotateByTime(nowMs);
    return memory;
  }

  private rotateByTime(nowMs: number): void {
    if (nowMs - this.rotatedAtMs >= 2 * this.horizonMs) {
      // Both generations are past the horizon: drop them together.
      this.previous = new Map();
      this.current = new Map();
      this.rotatedAtMs = nowMs;
      return;
    }
    this.rotate(nowMs);
  }

  private rotate(nowMs: number): void {
    this.previous = this.current;
    this.current = new Map();
    this.rotatedAtMs = nowMs;
  }
}
