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
 * - Roll-up: an event is counted once, in the window of the finest resolution
 *   holding its timestamp. A window of a coarser resolution counts its own
 *   events only through its finer windows: when one closes, its counts and
 *   users are added to the coarser window holding it (which exists: a window
 *   is created with every coarser one above it, and a coarser window closes
 *   no earlier than the finer ones it holds). Reads (snapshot, openWindows,
 *   window, the uniques of a delta) therefore sum a coarser window with its
 *   open finer windows, recursively. Most owners hold one event-bearing
 *   window instead of four (bench/results/memory.md), and an event updates
 *   one window instead of four.
 * - Exception, after a restore: a snapshot holds every window with all its
 *   counts, so a restored window whose coarser window was restored too is
 *   `eager`: the coarser one already counts it, it gets its new events
 *   directly as well (and so on up while windows are eager), and it does not
 *   roll up when it closes. A finer window created after the restore is not
 *   eager; when it rolls up into an eager window, the counts go on up the
 *   same way.
 * - A watched resolution's windows have a delta Tally that counts each event
 *   as it arrives (a coarser window's delta too, though its own counts wait
 *   for the roll-up); with more than namesPerWindowMax names the roll-up may
 *   fold another set of names into "~other" than the deltas did (totals agree).
 * - Memory (bench/results/memory.md): windows keep names as ids of the
 *   thread's name table (names.ts) in double arrays (tally.ts), the dedup
 *   memory keeps 64-bit hashes of ids (dedup.ts), and nothing is allocated
 *   before it is needed (no sketch without a user, no id memory without ids).
 * - A window has a delta Tally exactly while its resolution is watched; a
 *   window with a non-empty delta is in `pendingDeltas` (once).
 * - `deltaOldestReceivedAtMs` is the smallest `receivedAtMs` of the batches
 *   that counted an event (any status but duplicate) while `pendingDeltas`
 *   was filling, and +Infinity while it is empty. Every counted event reaches
 *   a delta of every watched resolution (countUp, tooLateUp), so the figure is
 *   exact for each of them, with one exception: a resolution that starts being
 *   watched while others have pending deltas shares their older figure in its
 *   first take. The shard host takes an owner's deltas before each watch, so
 *   it never happens there.
 */
import assert from 'node:assert/strict';
import { STATUS_ACCEPTED, STATUS_DUPLICATE, STATUS_LATE, STATUS_REJECTED, STATUS_TOO_LATE, type EventColumns } from './columns.js';
import { DedupMemory } from './dedup.js';
import { hash32 } from './hash.js';
import { HLL_PRECISION_MAX, HLL_PRECISION_MIN } from './hll.js';
import { internAt } from './names.js';
import { SnapshotInvalidError } from './state-errors.js';
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
} from './types.js';
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
  /** When present, the first word of hash64(id) (uint32) of each event pushed to `stored`, in step with it (EventStore.prepareEvents). */
  storedIdWords?: number[];
}

/** Where applyColumns writes: as ApplySink, without `stored` (the statuses stay in the columns). */
export interface ColumnSink {
  counts: BatchCounts;
  receipts: Receipt[];
  receiptsAll: boolean;
}

/** StoredEvent statuses by STATUS_* code (columns.ts). */
const STORED_STATUSES: ReadonlyArray<StoredEvent['status']> = ['accepted', 'late', 'too_late'];

/** Overflows of bounded maps, cumulative for the actor's life in this process. */
export interface OwnerCounters {
  namesOverflow: number;
  categoriesOverflow: number;
  /** Ids forgotten before dedupHorizonMs because dedupIdsMax newer ones were held. */
  dedupEvictedEarly: number;
  /** @deprecated The same count as dedupEvictedEarly, under its name from when ids rotated in two generations. */
  dedupEarlyRotations: number;
  /** Windows in a restored snapshot whose resolution is no longer configured; dropped. */
  windowsDroppedOnRestore: number;
}

/** What one delta tick takes from an actor: the runtime's OwnerDeltas. */
export interface TakenDeltas {
  owner: string;
  /** One per touched window, never empty. */
  deltas: WindowDelta[];
  /**
   * Edge receive time (unix ms) of the oldest batch counted in `deltas`. Not
   * finite only for records without a receive time (never from validateBatch);
   * the hub then leaves the field off its frame.
   */
  oldestReceivedAtMs: number;
}

/** Rough heap cost of an actor without its windows and ids (the actor, its levels, counters and dedup object). */
export const OWNER_BASE_BYTES = 900;

/** Bounds the walk up from the finest window: resolutions kept per owner. */
const LEVELS_MAX = RESOLUTIONS.length;

interface Level {
  readonly resolution: Resolution;
  readonly windowMs: number;
  /** Open windows, oldest first: a handful at 1 s, one or two at coarser resolutions, so a scan beats a Map. */
  windows: WindowAggregate[];
  watchers: number;
  /** One-entry cache: most events of a batch share their window. */
  lastWindow: WindowAggregate | null;
}

/** applyBatch's scratch: the batch's id hashes (hash64, two words each); grows to the largest batch, one per thread. */
let idHashes = new Int32Array(2 * 512);

/** One WindowOptions object per OwnerOptions object, shared by its actors. */
const windowOptionsOf = new WeakMap<OwnerOptions, WindowOptions>();

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
  readonly counters: OwnerCounters = { namesOverflow: 0, categoriesOverflow: 0, dedupEvictedEarly: 0, dedupEarlyRotations: 0, windowsDroppedOnRestore: 0 };
  private clockMs: number;
  /** Finest first. */
  private readonly levels: Level[];
  private dedup: DedupMemory;
  private readonly windowOptions: WindowOptions;
  private nextCloseMs = Number.POSITIVE_INFINITY;
  private pendingDeltas: WindowAggregate[] = [];
  /** See the invariants: one compare per batch, not per event. */
  private deltaOldestReceivedAtMs = Number.POSITIVE_INFINITY;
  /** Watched levels coarser than the finest, plus eager windows: while 0, an event touches only its finest window. */
  private chainWork = 0;

  constructor(
    readonly owner: string,
    readonly options: OwnerOptions,
    nowMs: number,
  ) {
    validateOptions(options);
    this.clockMs = nowMs;
    this.lastActiveMs = nowMs;
    let windowOptions = windowOptionsOf.get(options);
    if (windowOptions === undefined) {
      windowOptions = Object.freeze({ hllPrecision: options.hllPrecision, namesPerWindowMax: options.namesPerWindowMax });
      windowOptionsOf.set(options, windowOptions);
    }
    this.windowOptions = windowOptions;
    this.levels = [...options.resolutions]
      .sort((a, b) => RESOLUTION_MS[a] - RESOLUTION_MS[b])
      .map((resolution) => ({ resolution, windowMs: RESOLUTION_MS[resolution], windows: [], watchers: 0, lastWindow: null }));
    assert.ok(this.levels.length <= LEVELS_MAX);
    this.dedup = new DedupMemory(options.dedupHorizonMs, options.dedupIdsMax, nowMs);
  }

  /**
   * Applies validated events: `records[k]` sits at position `indexes[k]` of the request.
   * Each is deduplicated, classified against the finest window, and counted in
   * the finest window holding it (see the invariants above). The records are
   * one request's, so they share `receivedAtMs` (validateBatch stamps them all).
   */
  applyBatch(records: readonly EventRecord[], indexes: readonly number[], nowMs: number, out: ApplySink): void {
    assert.equal(records.length, indexes.length, 'records and indexes differ in length');
    const now = this.advance(nowMs);
    this.lastActiveMs = now;
    const { counts, receipts, stored, receiptsAll, shard, storedIdWords } = out;
    const evictedBefore = this.dedup.evictedEarly;
    const duplicatesBefore = counts.duplicate;
    // The batch's ids hashed up front, their dedup slots fetched together (dedup.ts hashBatch).
    if (idHashes.length < 2 * records.length) idHashes = new Int32Array(2 * records.length);
    const hashes = idHashes;
    this.dedup.hashBatch(records, hashes);
    for (let k = 0; k < records.length; k++) {
      const record = records[k]!;
      const index = indexes[k]!;
      if (this.dedup.seenHash(hashes[2 * k]!, hashes[2 * k + 1]!, now)) {
        counts.duplicate++;
        receipts.push({ index, id: record.id, status: 'duplicate' });
        continue;
      }
      const severity = severityIndex(record.severity);
      assert.ok(severity >= 0, 'records must be validated: unknown severity');
      const userHash = record.userId === undefined ? -1 : hash32(record.userId);
      const code = this.countEvent(now, record.timestampMs, record.receivedAtMs, record.name, -1, record.category, -1, severity, record.value, userHash, counts);
      const status = STORED_STATUSES[code]!;
      stored.push({ owner: this.owner, shard, status, event: record });
      if (storedIdWords !== undefined) storedIdWords.push(hashes[2 * k]! >>> 0);
      if (status !== 'accepted' || receiptsAll) receipts.push({ index, id: record.id, status });
    }
    this.counters.dedupEvictedEarly += this.dedup.evictedEarly - evictedBefore;
    this.counters.dedupEarlyRotations = this.counters.dedupEvictedEarly;
    // Pending deltas and a counted event mean this batch is in them (no resolution watched: none pending).
    if (this.pendingDeltas.length > 0 && counts.duplicate - duplicatesBefore < records.length) {
      const receivedAtMs = records[0]!.receivedAtMs;
      if (receivedAtMs < this.deltaOldestReceivedAtMs) this.deltaOldestReceivedAtMs = receivedAtMs;
    }
  }

  /**
   * applyBatch for a batch in columns (columns.ts, the columnar path): the
   * same dedup, classification and counting, event by event in the same
   * order, with no record per event. Writes each event's STATUS_* into
   * `cols.status`; receipts as applyBatch (the id sliced from the body only
   * for a receipt). Event k is at position k of the request; events the
   * reader marked STATUS_REJECTED are skipped (their receipts are the
   * reader's), as validateBatch leaves them out of applyBatch.
   */
  applyColumns(cols: EventColumns, nowMs: number, out: ColumnSink): void {
    const now = this.advance(nowMs);
    this.lastActiveMs = now;
    const { counts, receipts, receiptsAll } = out;
    const n = cols.n;
    const evictedBefore = this.dedup.evictedEarly;
    const duplicatesBefore = counts.duplicate;
    const hashes = cols.idHash;
    this.dedup.touchBatch(hashes, n);
    const receivedAtMs = cols.receivedAtMs;
    const status = cols.status;
    for (let k = 0; k < n; k++) {
      if (status[k] === STATUS_REJECTED) continue;
      if (this.dedup.seenHash(hashes[2 * k]!, hashes[2 * k + 1]!, now)) {
        counts.duplicate++;
        status[k] = STATUS_DUPLICATE;
        receipts.push({ index: k, id: cols.id(k), status: 'duplicate' });
        continue;
      }
      const userHash = cols.userStart[k]! < 0 ? -1 : cols.userHash[k]!;
      const value = cols.hasValue[k] === 1 ? cols.value[k]! : undefined;
      const code = this.countEvent(now, cols.timestampMs[k]!, receivedAtMs, cols.name[k]!, cols.nameSlot[k]!, cols.category[k]!, cols.categorySlot[k]!, cols.severity[k]!, value, userHash, counts);
      status[k] = code;
      if (code !== STATUS_ACCEPTED || receiptsAll) receipts.push({ index: k, id: cols.id(k), status: STORED_STATUSES[code]! });
    }
    this.counters.dedupEvictedEarly += this.dedup.evictedEarly - evictedBefore;
    this.counters.dedupEarlyRotations = this.counters.dedupEvictedEarly;
    if (this.pendingDeltas.length > 0 && counts.duplicate - duplicatesBefore < n - cols.rejected) {
      if (receivedAtMs < this.deltaOldestReceivedAtMs) this.deltaOldestReceivedAtMs = receivedAtMs;
    }
  }

  /**
   * Classifies one event that is not a duplicate against the finest window
   * and counts it (see the invariants); returns STATUS_ACCEPTED, STATUS_LATE
   * or STATUS_TOO_LATE and adds it to `counts`. `severity`: its index in
   * SEVERITIES; `userHash`: hash32 of its user id, -1 for none.
   */
  private countEvent(
    now: number,
    timestampMs: number,
    receivedAtMs: number,
    name: string,
    nameSlot: number,
    category: string,
    categorySlot: number,
    severity: number,
    value: number | undefined,
    userHash: number,
    counts: BatchCounts,
  ): number {
    const finest = this.levels[0]!;
    const finestMs = finest.windowMs;
    // Most events fall in the window the last one did: two compares instead of
    // windowStartMs's two floating-point remainders (fmod calls past 2^31).
    const last = finest.lastWindow;
    const finestStartMs =
      last !== null && timestampMs >= last.startMs && timestampMs < last.startMs + finestMs ? last.startMs : windowStartMs(timestampMs, finestMs);
    if (now >= finestStartMs + finestMs + this.options.allowedLatenessMs) {
      counts.tooLate++;
      const window = this.windowAt(0, windowStartMs(now, finestMs));
      window.addTooLate();
      if (window.delta !== null) this.queueDelta(window);
      if (this.chainWork > 0) this.tooLateUp(window, now);
      return STATUS_TOO_LATE;
    }
    // Late: it arrived after its window ended. Arrival is the edge's receive time, not this apply:
    // a batch received before a second ended but applied after it (the hop to the worker, a wait
    // behind a busy store) arrived on time. (A record without a receive time, or one stamped ahead
    // of the actor's clock, is judged by the clock.)
    const arrivedMs = receivedAtMs < now ? receivedAtMs : now;
    const late = arrivedMs >= finestStartMs + finestMs;
    if (late) counts.late++;
    else counts.accepted++;
    const nameId = internAt(name, nameSlot);
    const catId = internAt(category, categorySlot);
    const window = this.windowAt(0, finestStartMs);
    this.countIn(window, nameId, name, catId, category, severity, value, late, userHash);
    if (this.chainWork > 0) this.countUp(window, timestampMs, nameId, name, catId, category, severity, value, late, userHash);
    return late ? STATUS_LATE : STATUS_ACCEPTED;
  }

  /** Whether closeDue(nowMs) would close a window; no side effects (closeDue also advances the clock). */
  hasDue(nowMs: number): boolean {
    return Math.max(nowMs, this.clockMs) >= this.nextCloseMs;
  }

  /**
   * Removes and returns (open = false) every window whose end + allowedLatenessMs <= nowMs,
   * finest resolution first, oldest first per resolution; each rolls up into its coarser window.
   */
  closeDue(nowMs: number): WindowState[] {
    const now = this.advance(nowMs);
    const closed: WindowState[] = [];
    if (now < this.nextCloseMs) return closed;
    const latenessMs = this.options.allowedLatenessMs;
    let next = Number.POSITIVE_INFINITY;
    for (let r = 0; r < this.levels.length; r++) {
      const level = this.levels[r]!;
      const due: WindowAggregate[] = [];
      let kept = 0;
      const windows = level.windows;
      for (let i = 0; i < windows.length; i++) {
        const window = windows[i]!;
        const closeMs = window.startMs + level.windowMs + latenessMs;
        if (closeMs <= now) {
          due.push(window);
        } else {
          if (closeMs < next) next = closeMs;
          windows[kept++] = window;
        }
      }
      if (due.length === 0) continue;
      windows.length = kept;
      level.lastWindow = null;
      due.sort((a, b) => a.startMs - b.startMs);
      for (const window of due) {
        // Every finer window it held closed before it (they end no later), so its own counts are all of it.
        closed.push(window.toState(false));
        if (window.eager) this.chainWork--;
        else if (r + 1 < this.levels.length) this.rollUp(window, r);
      }
    }
    this.nextCloseMs = next;
    return closed;
  }

  /** Open windows of every resolution and the recent ids: what a restart needs. */
  snapshot(nowMs: number): OwnerSnapshot {
    const now = this.advance(nowMs);
    const windows: WindowState[] = [];
    // Windows made of the same parts (a quiet owner's minute, hour and day hold just its open
    // seconds) get one set of records, each under its own resolution and start.
    const byParts = new Map<string, WindowState>();
    for (let r = 0; r < this.levels.length; r++) for (const window of this.levels[r]!.windows) windows.push(this.stateOf(window, r, byParts));
    const snapshot: OwnerSnapshot = { owner: this.owner, windows, recentIds: [], takenAtMs: now };
    const hashes = this.dedup.exportPacked(now);
    if (hashes !== null) snapshot.recentIdHashes = hashes;
    return snapshot;
  }

  /** Rebuilds an actor from a snapshot, validating it first; throws SnapshotInvalidError (with the field) when malformed. */
  static restore(snapshot: OwnerSnapshot, options: OwnerOptions, nowMs: number): OwnerActor {
    const value: unknown = snapshot;
    if (typeof value !== 'object' || value === null) throw new SnapshotInvalidError('not an object', { field: '' });
    const { owner, windows, recentIds, recentIdHashes, takenAtMs } = value as Record<string, unknown>;
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
      if (level.windows.some((w) => w.startMs === window.startMs)) throw new SnapshotInvalidError('window listed twice', { field: `windows/${i}/startMs` });
      level.windows.push(window);
      actor.nextCloseMs = Math.min(actor.nextCloseMs, window.endMs + options.allowedLatenessMs);
    }
    // A snapshot holds each window whole: one whose coarser window came back too is already counted there.
    for (let r = 0; r < actor.levels.length; r++) {
      const level = actor.levels[r]!;
      level.windows.sort((a, b) => a.startMs - b.startMs);
      const coarser = actor.levels[r + 1];
      for (const window of level.windows) {
        if (coarser !== undefined && actor.find(r + 1, windowStartMs(window.startMs, coarser.windowMs)) !== undefined) {
          window.eager = true;
          actor.chainWork++;
        }
      }
    }
    // Every window needs its coarser ones to roll up into.
    for (let r = 0; r + 1 < actor.levels.length; r++) {
      for (const window of [...actor.levels[r]!.windows]) actor.windowAt(r + 1, windowStartMs(window.startMs, actor.levels[r + 1]!.windowMs));
    }
    // Snapshots before ids were hashed list the ids themselves; newer ones pack hashes. Both are read.
    const hashed = DedupMemory.hashIds(recentIds as Array<[string, number]>);
    if (recentIdHashes !== undefined) hashed.push(...DedupMemory.readPacked(recentIdHashes, 'recentIdHashes'));
    actor.dedup = DedupMemory.fromHashed(hashed, options.dedupHorizonMs, options.dedupIdsMax, nowMs);
    return actor;
  }

  /** Open windows of a resolution, oldest first ([] for a resolution not kept). */
  openWindows(resolution: Resolution): WindowState[] {
    const r = this.levels.findIndex((l) => l.resolution === resolution);
    if (r < 0) return [];
    return this.levels[r]!.windows.map((w) => this.stateOf(w, r));
  }

  /** One open window, or undefined. */
  window(resolution: Resolution, startMs: number): WindowState | undefined {
    const r = this.levels.findIndex((l) => l.resolution === resolution);
    if (r < 0) return undefined;
    const window = this.find(r, startMs);
    return window === undefined ? undefined : this.stateOf(window, r);
  }

  /** Starts (or adds a watcher to) delta accumulation for a resolution. */
  watch(resolution: Resolution): void {
    const r = this.levels.findIndex((l) => l.resolution === resolution);
    assert.ok(r >= 0, `resolution ${resolution} is not kept by this owner`);
    const level = this.levels[r]!;
    if (level.watchers++ > 0) return;
    if (r > 0) this.chainWork++;
    for (const window of level.windows) window.delta = new Tally();
  }

  /** Removes a watcher; the last one stops accumulation and drops pending deltas of that resolution. */
  unwatch(resolution: Resolution): void {
    const r = this.levels.findIndex((l) => l.resolution === resolution);
    const level = this.levels[r];
    if (level === undefined || level.watchers === 0) return;
    if (--level.watchers > 0) return;
    if (r > 0) this.chainWork--;
    for (const window of level.windows) window.delta = null;
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
    if (kept.length === 0) this.deltaOldestReceivedAtMs = Number.POSITIVE_INFINITY;
  }

  isWatched(): boolean {
    return this.levels.some((l) => l.watchers > 0);
  }

  /** What changed since the last call, one delta per touched window (also windows closed since); [] when nothing did. */
  takeDeltas(): WindowDelta[] {
    return this.takeOwnerDeltas()?.deltas ?? [];
  }

  /**
   * takeDeltas with the receive time of the oldest batch in them, for the live
   * stream's latency field (`oldestReceivedAtMs` on ws delta frames); undefined
   * when nothing changed.
   */
  takeOwnerDeltas(): TakenDeltas | undefined {
    if (this.pendingDeltas.length === 0) return undefined;
    const deltas: WindowDelta[] = [];
    for (const window of this.pendingDeltas) {
      window.deltaQueued = false;
      const r = this.levels.findIndex((l) => l.resolution === window.resolution);
      // An open coarser window's users are in its finer windows too; a closed one has them all.
      const open = r > 0 && this.levels[r]!.windows.includes(window);
      const delta = open ? window.takeDelta(this.uniquesOf(window, r)) : window.takeDelta();
      if (delta !== null) deltas.push(delta);
    }
    this.pendingDeltas = [];
    const oldestReceivedAtMs = this.deltaOldestReceivedAtMs;
    this.deltaOldestReceivedAtMs = Number.POSITIVE_INFINITY;
    if (deltas.length === 0) return undefined;
    return { owner: this.owner, deltas, oldestReceivedAtMs };
  }

  /** Estimated heap bytes held by this actor, for memory accounting (not exact). */
  approxBytes(): number {
    let bytes = OWNER_BASE_BYTES + this.dedup.dataBytes;
    for (const level of this.levels) for (const window of level.windows) bytes += window.approxBytes();
    return bytes;
  }

  private advance(nowMs: number): number {
    if (nowMs > this.clockMs) this.clockMs = nowMs;
    return this.clockMs;
  }

  /** Counts one event in a window (and its delta, and queues the delta); adds its overflows to the counters. */
  private countIn(
    window: WindowAggregate,
    nameId: number,
    name: string,
    catId: number,
    category: string,
    severity: number,
    value: number | undefined,
    late: boolean,
    userHash: number,
  ): void {
    const namesBefore = window.namesOverflow;
    const categoriesBefore = window.categoriesOverflow;
    window.addIds(nameId, name, catId, category, severity, value, late, userHash);
    this.counters.namesOverflow += window.namesOverflow - namesBefore;
    this.counters.categoriesOverflow += window.categoriesOverflow - categoriesBefore;
    if (window.delta !== null) this.queueDelta(window);
  }

  /**
   * The coarser windows of an event counted in `finest`: counted outright while
   * the windows below are eager, else only in a watched window's delta.
   */
  private countUp(
    finest: WindowAggregate,
    timestampMs: number,
    nameId: number,
    name: string,
    catId: number,
    category: string,
    severity: number,
    value: number | undefined,
    late: boolean,
    userHash: number,
  ): void {
    let direct = finest.eager;
    for (let r = 1; r < this.levels.length; r++) {
      const window = this.windowAt(r, windowStartMs(timestampMs, this.levels[r]!.windowMs));
      if (direct) {
        this.countIn(window, nameId, name, catId, category, severity, value, late, userHash);
        direct = window.eager;
      } else if (window.delta !== null) {
        window.delta.count(nameId, name, catId, category, severity, value, late);
        this.queueDelta(window);
      }
    }
  }

  /** tooLate of the coarser windows holding `now`, as countUp does for counts. */
  private tooLateUp(finest: WindowAggregate, now: number): void {
    let direct = finest.eager;
    for (let r = 1; r < this.levels.length; r++) {
      const window = this.windowAt(r, windowStartMs(now, this.levels[r]!.windowMs));
      if (direct) {
        window.addTooLate();
        if (window.delta !== null) this.queueDelta(window);
        direct = window.eager;
      } else if (window.delta !== null) {
        window.delta.tooLate++;
        this.queueDelta(window);
      }
    }
  }

  /** A closed window of level r into the coarser window holding it, and on up while that one is eager. */
  private rollUp(window: WindowAggregate, r: number): void {
    for (let up = r + 1; up < this.levels.length; up++) {
      const coarser = this.windowAt(up, windowStartMs(window.startMs, this.levels[up]!.windowMs));
      const namesBefore = coarser.namesOverflow;
      const categoriesBefore = coarser.categoriesOverflow;
      coarser.absorb(window, true);
      this.counters.namesOverflow += coarser.namesOverflow - namesBefore;
      this.counters.categoriesOverflow += coarser.categoriesOverflow - categoriesBefore;
      if (!coarser.eager) return;
    }
  }

  /**
   * The state of an open window with what its open finer windows hold and it
   * does not yet. With `shared`, states of windows made of the same parts
   * share their records and sketch bytes (see WindowState: states are read,
   * encoded and copied, never changed in place).
   */
  private stateOf(window: WindowAggregate, r: number, shared?: Map<string, WindowState>): WindowState {
    const parts: WindowAggregate[] = window.isEmpty() && !window.hasUsers ? [] : [window];
    this.collectPending(window, r, parts);
    if (parts.length === 0) return window.toState(true);
    let key = '';
    if (shared !== undefined) {
      for (const part of parts) key += `${part.resolution}@${part.startMs};`;
      const same = shared.get(key);
      if (same !== undefined) return { ...same, resolution: window.resolution, startMs: window.startMs };
    }
    // Most coarser windows of a quiet owner hold nothing of their own and one finer window: no copy then.
    const state = parts.length === 1 ? parts[0]!.toStateAs(window.resolution, window.startMs, true) : this.sum(window, parts).toState(true);
    shared?.set(key, state);
    return state;
  }

  /** The users estimate of an open window, finer windows included. */
  private uniquesOf(window: WindowAggregate, r: number): number {
    const parts: WindowAggregate[] = [window];
    this.collectPending(window, r, parts);
    return parts.length === 1 ? window.uniquesEstimate() : this.sum(window, parts).uniquesEstimate();
  }

  private sum(window: WindowAggregate, parts: readonly WindowAggregate[]): WindowAggregate {
    const out = new WindowAggregate(window.resolution, window.startMs, this.windowOptions);
    for (const part of parts) out.absorb(part, false);
    return out;
  }

  /**
   * The windows whose own counts make up what the open finer windows of
   * `window` hold that it does not yet: a non-eager finer window whole (its
   * own counts and, recursively, its pending), of an eager one (already
   * counted here) only its pending.
   */
  private collectPending(window: WindowAggregate, r: number, into: WindowAggregate[]): void {
    if (r === 0) return;
    const endMs = window.startMs + this.levels[r]!.windowMs;
    for (const child of this.levels[r - 1]!.windows) {
      if (child.startMs < window.startMs || child.startMs >= endMs) continue;
      if (!child.eager && (!child.isEmpty() || child.hasUsers)) into.push(child);
      this.collectPending(child, r - 1, into);
    }
  }

  private find(r: number, startMs: number): WindowAggregate | undefined {
    const windows = this.levels[r]!.windows;
    for (let i = 0; i < windows.length; i++) if (windows[i]!.startMs === startMs) return windows[i];
    return undefined;
  }

  /** The window of level r starting at startMs, created (with its coarser windows) when missing. */
  private windowAt(r: number, startMs: number): WindowAggregate {
    const level = this.levels[r]!;
    const last = level.lastWindow;
    if (last !== null && last.startMs === startMs) return last;
    const found = this.find(r, startMs);
    if (found !== undefined) {
      level.lastWindow = found;
      return found;
    }
    const window = new WindowAggregate(level.resolution, startMs, this.windowOptions);
    if (level.watchers > 0) window.delta = new Tally();
    // Kept oldest first (events mostly move forward in time), so snapshots and reads list them in order.
    const windows = level.windows;
    let at = windows.length;
    while (at > 0 && windows[at - 1]!.startMs > startMs) at--;
    windows.splice(at, 0, window);
    const closeMs = startMs + level.windowMs + this.options.allowedLatenessMs;
    if (closeMs < this.nextCloseMs) this.nextCloseMs = closeMs;
    level.lastWindow = window;
    const coarser = this.levels[r + 1];
    if (coarser !== undefined) this.windowAt(r + 1, windowStartMs(startMs, coarser.windowMs));
    return window;
  }

  private queueDelta(window: WindowAggregate): void {
    if (window.deltaQueued) return;
    window.deltaQueued = true;
    this.pendingDeltas.push(window);
  }
}
