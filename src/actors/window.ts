/**
 * One tumbling window of one owner at one resolution, and the deltas a live
 * subscriber gets from it.
 *
 * Invariants:
 * - Windows are aligned to the UTC epoch: startMs = floor(ts / windowMs) * windowMs,
 *   and an event at exactly endMs belongs to the next window.
 * - `byName` holds at most namesPerWindowMax names plus OTHER_NAME; an event
 *   whose new name would exceed that is counted under OTHER_NAME (and in
 *   `namesOverflow`), so do its `values`. `byCategory` is bounded the same way
 *   (`categoriesOverflow`). Event names are user input: they are kept as ids
 *   (names.ts), never as object keys, and exports write own properties with
 *   defineProperty semantics (a name `__proto__` is an ordinary name).
 * - The counts live in the Tally this class extends (tally.ts: two double
 *   arrays); the sketch is created with the first user.
 * - `total` = Σ byName = Σ byCategory = Σ bySeverity. `late` <= `total`.
 *   `tooLate` is separate: too-late events are in no other count.
 * - A delta (Tally) counts exactly what the window counted since the last
 *   takeDelta(), with the same folded names, so adding every delta of a
 *   window to the first snapshot gives the window.
 */
import { HyperLogLog } from './hll.js';
import { intern } from './names.js';
import { SnapshotInvalidError } from './state-errors.js';
import { FOLDED_CATS_UNIT, Tally, setOwn, type TallyRecords } from './tally.js';
import {
  RESOLUTIONS,
  RESOLUTION_MS,
  SEVERITIES,
  type Resolution,
  type ValueStats,
  type WindowDelta,
  type WindowState,
} from './types.js';

export { Tally } from './tally.js';

/** Distinct event names (and categories) per window before new ones fold into OTHER_NAME. */
export const NAMES_PER_WINDOW_MAX_DEFAULT = 1000;
/** The name (and category) under which overflowing names are counted. */
export const OTHER_NAME = '~other';
/** Interned first, so the table always has it (names.ts refuses only once full). */
const OTHER_ID = intern(OTHER_NAME);

/** Rough heap cost of a window without its arrays and sketch: the object and its boxed start time. */
export const WINDOW_BASE_BYTES = 200;
/** Rough heap cost of a Tally object (a delta) without its arrays. */
const TALLY_OBJECT_BYTES = 120;

export interface WindowOptions {
  hllPrecision: number;
  namesPerWindowMax: number;
}

const SEVERITY_INDEX: ReadonlyMap<string, number> = new Map(SEVERITIES.map((s, i) => [s, i]));

/** The index of a severity in SEVERITIES, or -1. */
export function severityIndex(severity: string): number {
  return SEVERITY_INDEX.get(severity) ?? -1;
}

/** Start of the window of `windowMs` holding `timestampMs`, aligned to the UTC epoch. */
export function windowStartMs(timestampMs: number, windowMs: number): number {
  return timestampMs - (((timestampMs % windowMs) + windowMs) % windowMs);
}

export class WindowAggregate extends Tally {
  /**
   * True when the next coarser window already counts what this one counts
   * (both came back from a snapshot): events are then counted in both, and
   * this window does not roll up into it when it closes.
   */
  eager = false;
  /** Set by the owner while this window's resolution is watched; null costs nothing. */
  delta: Tally | null = null;
  /** True while the owner has this window in its list of pending deltas. */
  deltaQueued = false;
  /** Events counted under OTHER_NAME because namesPerWindowMax names were already present. */
  namesOverflow = 0;
  categoriesOverflow = 0;
  /** The sketch of user ids, created with the first user. */
  private sketch: HyperLogLog | null = null;
  private readonly options: WindowOptions;

  constructor(
    readonly resolution: Resolution,
    readonly startMs: number,
    options: WindowOptions,
  ) {
    super();
    this.options = options;
  }

  get endMs(): number {
    return this.startMs + RESOLUTION_MS[this.resolution];
  }

  /** The sketch of user ids (an empty one, not kept, while no user was counted). */
  get uniques(): HyperLogLog {
    return this.sketch ?? new HyperLogLog(this.options.hllPrecision);
  }

  /** Counts one event by its strings (tests, benchmarks); the owner uses addIds(). */
  add(name: string, category: string, severity: number, value: number | undefined, late: boolean, userHash: number): void {
    this.addIds(intern(name), name, intern(category), category, severity, value, late, userHash);
  }

  /**
   * Counts one event. nameId/catId are intern(name)/intern(category) (-1 when
   * the thread table refused them); `severity` is its index in SEVERITIES;
   * `userHash` is hash32(userId), or -1 without a user. All are computed once
   * per event by the owner, not once per resolution.
   */
  addIds(nameId: number, name: string, catId: number, category: string, severity: number, value: number | undefined, late: boolean, userHash: number): void {
    const namesMax = this.options.namesPerWindowMax;
    let nameRow = this.nameRow(nameId < 0 ? this.localId(name) : nameId);
    if (nameRow < 0) {
      // Fold only once the rows are full: the common case pays no extra lookup.
      if (this.nameRows >= namesMax) {
        nameId = OTHER_ID;
        name = OTHER_NAME;
        this.namesOverflow++;
        nameRow = this.nameRowOrAdd(OTHER_ID);
      } else {
        nameRow = this.addNameRow(nameId < 0 ? this.localId(name) : nameId);
      }
    }
    let catRow = this.catRow(catId < 0 ? this.localId(category) : catId);
    if (catRow < 0) {
      if (this.catRows >= namesMax) {
        catId = OTHER_ID;
        category = OTHER_NAME;
        this.categoriesOverflow++;
        catRow = this.catRowOrAdd(OTHER_ID);
      } else {
        catRow = this.addCatRow(catId < 0 ? this.localId(category) : catId);
      }
    }
    this.countRows(nameRow, catRow, severity, value, late);
    if (this.delta !== null) this.delta.count(nameId, name, catId, category, severity, value, late);
    if (userHash >= 0) (this.sketch ??= new HyperLogLog(this.options.hllPrecision)).add(userHash);
  }

  /**
   * Adds a finer window's counts and users to this one (it closed, or a read
   * sums the open ones). Names past namesPerWindowMax fold into OTHER_NAME,
   * counted in the overflow counters when `count` (a roll-up, not a read).
   */
  absorb(finer: WindowAggregate, count: boolean): void {
    const folded = this.mergeFrom(finer, this.options.namesPerWindowMax, OTHER_ID);
    if (count && folded > 0) {
      this.namesOverflow += folded % FOLDED_CATS_UNIT;
      this.categoriesOverflow += Math.floor(folded / FOLDED_CATS_UNIT);
    }
    if (finer.sketch !== null) (this.sketch ??= new HyperLogLog(this.options.hllPrecision)).merge(finer.sketch);
  }

  /** Counts an event that arrived during this window but was too late for its own. */
  addTooLate(): void {
    this.tooLate++;
    if (this.delta !== null) this.delta.tooLate++;
  }

  approxBytes(): number {
    const sketch = this.sketch === null ? 0 : this.sketch.approxBytes();
    return WINDOW_BASE_BYTES + this.dataBytes + sketch + (this.delta === null ? 0 : TALLY_OBJECT_BYTES + this.delta.dataBytes);
  }

  /** True once a user was counted (the sketch exists). */
  get hasUsers(): boolean {
    return this.sketch !== null;
  }

  uniquesEstimate(): number {
    return this.sketch === null ? 0 : this.sketch.estimate();
  }

  toState(open: boolean): WindowState {
    return this.toStateAs(this.resolution, this.startMs, open);
  }

  /** This window's counts as the state of another window (a coarser one that holds nothing else). */
  toStateAs(resolution: Resolution, startMs: number, open: boolean): WindowState {
    const sketch = this.uniques;
    return {
      resolution,
      startMs,
      ...this.toRecords(),
      uniquesSketch: sketch.serialize(),
      uniques: sketch.estimate(),
      open,
    };
  }

  /**
   * The pending delta, then clears it; null when nothing changed. `uniques` is
   * the window's current estimate: this window's own unless the owner passes
   * the estimate of the window with its open finer windows.
   */
  takeDelta(uniques = this.sketch === null ? 0 : this.sketch.estimate()): WindowDelta | null {
    const delta = this.delta;
    if (delta === null || delta.isEmpty()) return null;
    const out: WindowDelta = {
      resolution: this.resolution,
      startMs: this.startMs,
      ...delta.toRecords(),
      uniques,
    };
    delta.reset();
    return out;
  }

  /** Rebuilds a window from a stored state, validating it; `field` prefixes error paths. */
  static fromState(state: WindowState, options: WindowOptions, field: string): WindowAggregate {
    validateWindowState(state, field);
    let uniques: HyperLogLog;
    try {
      uniques = HyperLogLog.deserialize(state.uniquesSketch, `${field}/uniquesSketch`);
    } catch (error) {
      throw new SnapshotInvalidError('corrupt sketch', { field: `${field}/uniquesSketch`, cause: error });
    }
    if (uniques.precision !== options.hllPrecision) {
      throw new SnapshotInvalidError(`sketch precision ${uniques.precision}, configured ${options.hllPrecision}`, {
        field: `${field}/uniquesSketch`,
      });
    }
    const window = new WindowAggregate(state.resolution, state.startMs, options);
    window.addRecords(state);
    if (!uniques.isSparse || uniques.estimate() > 0) window.sketch = uniques;
    return window;
  }
}

/** Two pending deltas of one window become one (a slow subscriber): counts add, min/max merge, uniques from `b` (the newer). */
export function mergeDelta(a: WindowDelta, b: WindowDelta): WindowDelta {
  if (a.resolution !== b.resolution || a.startMs !== b.startMs) {
    throw new RangeError(`cannot merge deltas of windows ${a.resolution}@${a.startMs} and ${b.resolution}@${b.startMs}`);
  }
  // Plain records, not a Tally: this runs on the edge thread, whose name table need not learn every name.
  const merged: TallyRecords = {
    total: a.total + b.total,
    late: a.late + b.late,
    tooLate: a.tooLate + b.tooLate,
    byName: addCounts(a.byName, b.byName),
    byCategory: addCounts(a.byCategory, b.byCategory),
    bySeverity: addCounts(a.bySeverity, b.bySeverity),
    values: addValues(a.values, b.values),
  };
  return { resolution: b.resolution, startMs: b.startMs, ...merged, uniques: b.uniques };
}

function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(a)) setOwn(out, key, a[key]!);
  for (const key of Object.keys(b)) setOwn(out, key, (Object.hasOwn(out, key) ? out[key]! : 0) + b[key]!);
  return out;
}

function addValues(a: Record<string, ValueStats>, b: Record<string, ValueStats>): Record<string, ValueStats> {
  const out: Record<string, ValueStats> = {};
  for (const key of Object.keys(a)) {
    const s = a[key]!;
    setOwn(out, key, { count: s.count, sum: s.sum, min: s.min, max: s.max });
  }
  for (const key of Object.keys(b)) {
    const add = b[key]!;
    const stats = Object.hasOwn(out, key) ? out[key] : undefined;
    if (stats === undefined) {
      setOwn(out, key, { count: add.count, sum: add.sum, min: add.min, max: add.max });
    } else {
      stats.count += add.count;
      stats.sum += add.sum;
      if (add.min < stats.min) stats.min = add.min;
      if (add.max > stats.max) stats.max = add.max;
    }
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function validateCounts(value: unknown, field: string, keyOk: (key: string) => boolean): void {
  if (!isRecord(value)) throw new SnapshotInvalidError('not an object', { field });
  for (const key of Object.keys(value)) {
    if (!keyOk(key)) throw new SnapshotInvalidError(`unknown key ${JSON.stringify(key)}`, { field: `${field}/${key}` });
    if (!isCount(value[key])) throw new SnapshotInvalidError('not a non-negative integer', { field: `${field}/${key}` });
  }
}

/** Checks the shape of a WindowState that came back from a store or another thread. */
export function validateWindowState(state: unknown, field: string): asserts state is WindowState {
  if (!isRecord(state)) throw new SnapshotInvalidError('not an object', { field });
  const resolution = state.resolution;
  if (typeof resolution !== 'string' || !(RESOLUTIONS as readonly string[]).includes(resolution)) {
    throw new SnapshotInvalidError('unknown resolution', { field: `${field}/resolution` });
  }
  const startMs = state.startMs;
  if (typeof startMs !== 'number' || !Number.isSafeInteger(startMs) || windowStartMs(startMs, RESOLUTION_MS[resolution as Resolution]) !== startMs) {
    throw new SnapshotInvalidError('not a window start of its resolution', { field: `${field}/startMs` });
  }
  for (const key of ['total', 'late', 'tooLate'] as const) {
    if (!isCount(state[key])) throw new SnapshotInvalidError('not a non-negative integer', { field: `${field}/${key}` });
  }
  if ((state.late as number) > (state.total as number)) throw new SnapshotInvalidError('late exceeds total', { field: `${field}/late` });
  validateCounts(state.byName, `${field}/byName`, () => true);
  validateCounts(state.byCategory, `${field}/byCategory`, () => true);
  validateCounts(state.bySeverity, `${field}/bySeverity`, (key) => severityIndex(key) >= 0);
  const values = state.values;
  if (!isRecord(values)) throw new SnapshotInvalidError('not an object', { field: `${field}/values` });
  const byName = state.byName as Record<string, unknown>;
  for (const key of Object.keys(values)) {
    const stats = values[key];
    const at = `${field}/values/${key}`;
    if (!Object.hasOwn(byName, key)) throw new SnapshotInvalidError('value statistics of a name not in byName', { field: at });
    if (!isRecord(stats) || !isCount(stats.count) || stats.count === 0) throw new SnapshotInvalidError('bad count', { field: at });
    for (const part of ['sum', 'min', 'max'] as const) {
      if (typeof stats[part] !== 'number' || !Number.isFinite(stats[part])) throw new SnapshotInvalidError(`bad ${part}`, { field: `${at}/${part}` });
    }
    if ((stats.min as number) > (stats.max as number)) throw new SnapshotInvalidError('min above max', { field: at });
  }
  if (!(state.uniquesSketch instanceof Uint8Array)) throw new SnapshotInvalidError('not bytes', { field: `${field}/uniquesSketch` });
}
