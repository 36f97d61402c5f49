// Frozen copy of src/actors/owner.ts at commit a25fbde (before the memory work of issue 3), kept
// only so the benchmarks can run the old implementation beside the new one in one process.
// Not used by the product; do not edit except to keep it compiling.
/**
 * The actor of one owner: its open windows at every resolution, its recent
 * event ids, and the live deltas of the resolutions someone watches. One
 * thread applies all of an owner's batches, in arrival order, so nothing here
 * is shared or locked.
 *
 * Invariants:
 * - Time only moves forward for an owner: every method that takes nowMs uses
 *   max(nowMs, the largest nowMs seen so far) (`clockMs`). A window closed by
 *   closeDue therefore never reopens: an event reaches a window only while its
 *   finest window has end + allowedLatenessMs > clockMs, and a coarser window
 *   holding the same timestamp ends no earlier (resolutions nest: 1 s | 1 min
 *   | 1 h | 1 d), so it is still open too.
 * - Classification uses the finest configured resolution: `too_late` when
 *   clockMs >= finestEnd + allowedLatenessMs (stored; counted only in
 *   `tooLate` of the window holding clockMs, at every resolution); `late`
 *   when clockMs >= finestEnd (counted everywhere, `late` incremented);
 *   otherwise `accepted`. `duplicate` (DedupMemory) is neither stored nor counted.
 * - A window is in `levels[r].windows` until closeDue returns it; `nextCloseMs`
 *   is no later than the earliest end + allowedLatenessMs among them.
 * - A window has a delta Tally exactly while its resolution is watched; a
 *   window with a non-empty delta is in `pendingDeltas` (once).
 */
import assert from 'node:assert/strict';
import { DedupMemory } from './dedup.js';
import { hash32 } from '../../../src/actors/hash.js';
import { HLL_PRECISION_MAX, HLL_PRECISION_MIN } from './hll.js';
import { SnapshotInvalidError } from '../../../src/actors/state-errors.js';
import {
  RESOLUTIONS,
  RESOLUTION_MS,
  type BatchCounts,
  type EventRecord,
  type OwnerSnapshot,
  type Receipt,
  type Resolution,
  type StoredEvent,
  type WindowDelta,
  type WindowState,
} from '../../../src/actors/types.js';
import { Tally, WindowAggregate, severityIndex, windowStartMs, type WindowOptions } from './window.js';

/** Resolved owner options: all required, validated once per options object. */
export interface OwnerOptions {
  /** Resolutions kept, any order; the finest one classifies late events. */
  resolutions: readonly Resolution[];
  allowedLatenessMs: number;
  dedupHorizonMs: number;
  dedupIdsMax: number;
  hllPrecision: number;
  /** Distinct names (and categories) per window; beyond it they count under "~other". */
  namesPerWindowMax: number;
}

/**
 * Where applyBatch writes its results. The caller owns it and may reuse it:
 * applyBatch only adds to `counts` and appends to `receipts` and `stored`.
 */
export interface ApplySink {
  /** Shard of this owner, copied into every StoredEvent. */
  shard: number;
  counts: BatchCounts;
  /** Non-accepted receipts always; accepted ones when receiptsAll. Appended in record order. */
  receipts: Receipt[];
  receiptsAll: boolean;
  /** Accepted, late and too-late events, in record order. */
  stored: StoredEvent[];
}

/** Overflows of bounded maps, cumulative for the actor's life in this process. */
export interface OwnerCounters {
  namesOverflow: number;
  categoriesOverflow: number;
  dedupEarlyRotations: number;
  /** Windows in a restored snapshot whose resolution is no longer configured; dropped. */
  windowsDroppedOnRestore: number;
}

/** Rough heap cost of an actor without its windows and ids. */
export const OWNER_BASE_BYTES = 1024;
/** Rough heap cost of one remembered event id: Map entry, a ~36-character id string, its time. */
export const DEDUP_ID_BYTES = 128;

interface Level {
  readonly resolution: Resolution;
  readonly windowMs: number;
  readonly windows: Map<number, WindowAggregate>;
  watchers: number;
  /** One-entry cache: most events of a batch share their window. */
  lastStartMs: number;
  lastWindow: WindowAggregate | null;
}

const validatedOptions = new WeakSet<OwnerOptions>();

function validateOptions(options: OwnerOptions): void {
  if (validatedOptions.has(options)) return;
  const resolutions: readonly string[] = options.resolutions;
  assert.ok(Array.isArray(options.resolutions) && resolutions.length > 0, 'resolutions must be a non-empty array');
  for (const r of resolutions) assert.ok((RESOLUTIONS as readonly string[]).includes(r), `unknown resolution ${r}`);
  assert.equal(new Set(resolutions).size, resolutions.length, 'resolutions must not repeat');
  assert.ok(Number.isSafeInteger(options.allowedLatenessMs) && options.allowedLatenessMs >= 0, 'allowedLatenessMs must be an integer >= 0');
  assert.ok(Number.isSafeInteger(options.dedupHorizonMs) && options.dedupHorizonMs > 0, 'dedupHorizonMs must be an integer > 0');
  assert.ok(Number.isSafeInteger(options.dedupIdsMax) && options.dedupIdsMax >= 2, 'dedupIdsMax must be an integer >= 2');
  assert.ok(
    Number.isInteger(options.hllPrecision) && options.hllPrecision >= HLL_PRECISION_MIN && options.hllPrecision <= HLL_PRECISION_MAX,
    `hllPrecision must be an integer in ${HLL_PRECISION_MIN}..${HLL_PRECISION_MAX}`,
  );
  assert.ok(Number.isSafeInteger(options.namesPerWindowMax) && options.namesPerWindowMax >= 1, 'namesPerWindowMax must be an integer >= 1');
  validatedOptions.add(options);
}

export class OwnerActor {
  /** The largest nowMs this actor was given by applyBatch: for idle eviction. */
  lastActiveMs: number;
  readonly counters: OwnerCounters = { namesOverflow: 0, categoriesOverflow: 0, dedupEarlyRotations: 0, windowsDroppedOnRestore: 0 };
  private clockMs: number;
  private readonly levels: Level[];
  private dedup: DedupMemory;
  private readonly windowOptions: WindowOptions;
  private nextCloseMs = Number.POSITIVE_INFINITY;
  private pendingDeltas: WindowAggregate[] = [];

  constructor(
    readonly owner: string,
    readonly options: OwnerOptions,
    nowMs: number,
  ) {
    validateOptions(options);
    this.clockMs = nowMs;
    this.lastActiveMs = nowMs;
    this.windowOptions = { hllPrecision: options.hllPrecision, namesPerWindowMax: options.namesPerWindowMax };
    this.levels = [...options.resolutions]
      .sort((a, b) => RESOLUTION_MS[a] - RESOLUTION_MS[b])
      .map((resolution) => ({
        resolution,
        windowMs: RESOLUTION_MS[resolution],
        windows: new Map<number, WindowAggregate>(),
        watchers: 0,
        lastStartMs: Number.NaN,
        lastWindow: null,
      }));
    this.dedup = new DedupMemory(options.dedupHorizonMs, options.dedupIdsMax, nowMs);
  }

  /**
   * Applies validated events: `records[k]` sits at position `indexes[k]` of the request.
   * Each is deduplicated, classified against the finest window, and counted in a
   * window of every resolution (see the invariants above).
   */
  applyBatch(records: readonly EventRecord[], indexes: readonly number[], nowMs: number, out: ApplySink): void {
    assert.equal(records.length, indexes.length, 'records and indexes differ in length');
    const now = this.advance(nowMs);
    this.lastActiveMs = now;
    const levels = this.levels;
    const finestMs = levels[0]!.windowMs;
    const latenessMs = this.options.allowedLatenessMs;
    const { counts, receipts, stored, receiptsAll, shard } = out;
    const earlyBefore = this.dedup.earlyRotations;
    for (let k = 0; k < records.length; k++) {
      const record = records[k]!;
      const index = indexes[k]!;
      if (this.dedup.seen(record.id, now)) {
        counts.duplicate++;
        receipts.push({ index, id: record.id, status: 'duplicate' });
        continue;
      }
      const finestEndMs = windowStartMs(record.timestampMs, finestMs) + finestMs;
      let status: StoredEvent['status'];
      if (now >= finestEndMs + latenessMs) {
        status = 'too_late';
        counts.tooLate++;
        for (let r = 0; r < levels.length; r++) {
          const level = levels[r]!;
          const window = this.windowAt(level, windowStartMs(now, level.windowMs));
          window.addTooLate();
          if (window.delta !== null) this.queueDelta(window);
        }
      } else {
        const late = now >= finestEndMs;
        if (late) {
          status = 'late';
          counts.late++;
        } else {
          status = 'accepted';
          counts.accepted++;
        }
        const severity = severityIndex(record.severity);
        assert.ok(severity >= 0, 'records must be validated: unknown severity');
        const userHash = record.userId === undefined ? -1 : hash32(record.userId);
        for (let r = 0; r < levels.length; r++) {
          const level = levels[r]!;
          const window = this.windowAt(level, windowStartMs(record.timestampMs, level.windowMs));
          const namesBefore = window.namesOverflow;
          const categoriesBefore = window.categoriesOverflow;
          window.add(record.name, record.category, severity, record.value, late, userHash);
          this.counters.namesOverflow += window.namesOverflow - namesBefore;
          this.counters.categoriesOverflow += window.categoriesOverflow - categoriesBefore;
          if (window.delta !== null) this.queueDelta(window);
        }
      }
      stored.push({ owner: this.owner, shard, status, event: record });
      if (status !== 'accepted' || receiptsAll) receipts.push({ index, id: record.id, status });
    }
    this.counters.dedupEarlyRotations += this.dedup.earlyRotations - earlyBefore;
  }

  /** Removes and returns (open = false) every window whose end + allowedLatenessMs <= nowMs, oldest first per resolution. */
  closeDue(nowMs: number): WindowState[] {
    const now = this.advance(nowMs);
    const closed: WindowState[] = [];
    if (now < this.nextCloseMs) return closed;
    const latenessMs = this.options.allowedLatenessMs;
    let next = Number.POSITIVE_INFINITY;
    for (const level of this.levels) {
      const due: WindowAggregate[] = [];
      for (const window of level.windows.values()) {
        const closeMs = window.endMs + latenessMs;
        if (closeMs <= now) due.push(window);
        else if (closeMs < next) next = closeMs;
      }
      if (due.length === 0) continue;
      due.sort((a, b) => a.startMs - b.startMs);
      for (const window of due) {
        level.windows.delete(window.startMs);
        closed.push(window.toState(false));
      }
      level.lastWindow = null;
      level.lastStartMs = Number.NaN;
    }
    this.nextCloseMs = next;
    return closed;
  }

  /** Open windows of every resolution and the recent ids: what a restart needs. */
  snapshot(nowMs: number): OwnerSnapshot {
    const now = this.advance(nowMs);
    const windows: WindowState[] = [];
    for (const level of this.levels) for (const window of level.windows.values()) windows.push(window.toState(true));
    return { owner: this.owner, windows, recentIds: this.dedup.export(now), takenAtMs: now };
  }

  /** Rebuilds an actor from a snapshot, validating it first; throws SnapshotInvalidError (with the field) when malformed. */
  static restore(snapshot: OwnerSnapshot, options: OwnerOptions, nowMs: number): OwnerActor {
    const value: unknown = snapshot;
    if (typeof value !== 'object' || value === null) throw new SnapshotInvalidError('not an object', { field: '' });
    const { owner, windows, recentIds, takenAtMs } = value as Record<string, unknown>;
    if (typeof owner !== 'string') throw new SnapshotInvalidError('not a string', { field: 'owner' });
    if (typeof takenAtMs !== 'number' || !Number.isFinite(takenAtMs)) throw new SnapshotInvalidError('not a number', { field: 'takenAtMs' });
    if (!Array.isArray(windows)) throw new SnapshotInvalidError('not an array', { field: 'windows' });
    if (!Array.isArray(recentIds)) throw new SnapshotInvalidError('not an array', { field: 'recentIds' });
    for (let i = 0; i < recentIds.length; i++) {
      const entry: unknown = recentIds[i];
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'number' || !Number.isFinite(entry[1])) {
        throw new SnapshotInvalidError('not an [id, seenAtMs] pair', { field: `recentIds/${i}` });
      }
    }
    const actor = new OwnerActor(owner, options, nowMs);
    for (let i = 0; i < windows.length; i++) {
      const window = WindowAggregate.fromState(windows[i] as WindowState, actor.windowOptions, `windows/${i}`);
      const level = actor.levels.find((l) => l.resolution === window.resolution);
      if (level === undefined) {
        actor.counters.windowsDroppedOnRestore++;
        continue;
      }
      if (level.windows.has(window.startMs)) throw new SnapshotInvalidError('window listed twice', { field: `windows/${i}/startMs` });
      level.windows.set(window.startMs, window);
      actor.nextCloseMs = Math.min(actor.nextCloseMs, window.endMs + options.allowedLatenessMs);
    }
    actor.dedup = DedupMemory.import(recentIds as Array<[string, number]>, options.dedupHorizonMs, options.dedupIdsMax, nowMs);
    return actor;
  }

  /** Open windows of a resolution, oldest first ([] for a resolution not kept). */
  openWindows(resolution: Resolution): WindowState[] {
    const level = this.levels.find((l) => l.resolution === resolution);
    if (level === undefined) return [];
    return [...level.windows.values()].sort((a, b) => a.startMs - b.startMs).map((w) => w.toState(true));
  }

  /** One open window, or undefined. */
  window(resolution: Resolution, startMs: number): WindowState | undefined {
    return this.levels.find((l) => l.resolution === resolution)?.windows.get(startMs)?.toState(true);
  }

  /** Starts (or adds a watcher to) delta accumulation for a resolution. */
  watch(resolution: Resolution): void {
    const level = this.levels.find((l) => l.resolution === resolution);
    assert.ok(level !== undefined, `resolution ${resolution} is not kept by this owner`);
    if (level.watchers++ > 0) return;
    for (const window of level.windows.values()) window.delta = new Tally();
  }

  /** Removes a watcher; the last one stops accumulation and drops pending deltas of that resolution. */
  unwatch(resolution: Resolution): void {
    const level = this.levels.find((l) => l.resolution === resolution);
    if (level === undefined || level.watchers === 0) return;
    if (--level.watchers > 0) return;
    for (const window of level.windows.values()) window.delta = null;
    const kept: WindowAggregate[] = [];
    for (const window of this.pendingDeltas) {
      if (window.resolution === resolution) {
        window.delta = null;
        window.deltaQueued = false;
      } else {
        kept.push(window);
      }
    }
    this.pendingDeltas = kept;
  }

  isWatched(): boolean {
    return this.levels.some((l) => l.watchers > 0);
  }

  /** What changed since the last call, one delta per touched window (also windows closed since); [] when nothing did. */
  takeDeltas(): WindowDelta[] {
    const out: WindowDelta[] = [];
    if (this.pendingDeltas.length === 0) return out;
    for (const window of this.pendingDeltas) {
      window.deltaQueued = false;
      const delta = window.takeDelta();
      if (delta !== null) out.push(delta);
    }
    this.pendingDeltas = [];
    return out;
  }

  /** Estimated heap bytes held by this actor, for memory accounting (not exact). */
  approxBytes(): number {
    let bytes = OWNER_BASE_BYTES + this.dedup.size * DEDUP_ID_BYTES;
    for (const level of this.levels) for (const window of level.windows.values()) bytes += window.approxBytes();
    return bytes;
  }

  private advance(nowMs: number): number {
    if (nowMs > this.clockMs) this.clockMs = nowMs;
    return this.clockMs;
  }

  private windowAt(level: Level, startMs: number): WindowAggregate {
    if (level.lastStartMs === startMs) return level.lastWindow!;
    let window = level.windows.get(startMs);
    if (window === undefined) {
      window = new WindowAggregate(level.resolution, startMs, this.windowOptions);
      if (level.watchers > 0) window.delta = new Tally();
      level.windows.set(startMs, window);
      const closeMs = window.endMs + this.options.allowedLatenessMs;
      if (closeMs < this.nextCloseMs) this.nextCloseMs = closeMs;
    }
    level.lastStartMs = startMs;
    level.lastWindow = window;
    return window;
  }

  private queueDelta(window: WindowAggregate): void {
    if (window.deltaQueued) return;
    window.deltaQueued = true;
    this.pendingDeltas.push(window);
  }
}
