// Frozen copy of src/actors/window.ts at commit a25fbde (before the memory work of issue 3), kept
// only so the benchmarks can run the old implementation beside the new one in one process.
// Not used by the product; do not edit except to keep it compiling.
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
 *   (`categoriesOverflow`). Event names are user input, so every name map is a
 *   Map (a name `__proto__` is an ordinary key) and exports write own
 *   properties with defineProperty semantics.
 * - `total` = Σ byName = Σ byCategory = Σ bySeverity. `late` <= `total`.
 *   `tooLate` is separate: too-late events are in no other count.
 * - A delta (Tally) counts exactly what the window counted since the last
 *   takeDelta(), with the same folded names, so adding every delta of a
 *   window to the first snapshot gives the window.
 */
import { HyperLogLog } from './hll.js';
import { SnapshotInvalidError } from '../../../src/actors/state-errors.js';
import {
  RESOLUTIONS,
  RESOLUTION_MS,
  SEVERITIES,
  type Resolution,
  type ValueStats,
  type WindowDelta,
  type WindowState,
} from '../../../src/actors/types.js';

/** Distinct event names (and categories) per window before new ones fold into OTHER_NAME. */
export const NAMES_PER_WINDOW_MAX_DEFAULT = 1000;
/** The name (and category) under which overflowing names are counted. */
export const OTHER_NAME = '~other';

/** Rough heap cost of a window without its names and sketch data: object, four Maps, sketch object. */
export const WINDOW_BASE_BYTES = 640;
/** Rough heap cost of one Map entry beyond its key string's characters. */
export const MAP_ENTRY_BYTES = 48;
/** Rough heap cost of one ValueStats object. */
export const VALUE_STATS_BYTES = 64;

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

/** Writes an own enumerable property even for the key `__proto__`. */
function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}

function mapToRecord(map: ReadonlyMap<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of map) setOwn(out, key, value);
  return out;
}

/** Counts that add: the body of a window, and of a delta. */
export class Tally {
  total = 0;
  late = 0;
  tooLate = 0;
  readonly byName = new Map<string, number>();
  readonly byCategory = new Map<string, number>();
  /** Indexed like SEVERITIES. */
  readonly bySeverity: number[] = SEVERITIES.map(() => 0);
  readonly values = new Map<string, ValueStats>();
  /** Estimated heap bytes of keys and value objects, grown as keys are added. */
  keyBytes = 0;

  /** Counts one event; names must already be folded by the window. */
  count(name: string, category: string, severity: number, value: number | undefined, late: boolean): void {
    this.total++;
    if (late) this.late++;
    const n = this.byName.get(name);
    if (n === undefined) {
      this.byName.set(name, 1);
      this.keyBytes += MAP_ENTRY_BYTES + 2 * name.length;
    } else {
      this.byName.set(name, n + 1);
    }
    const c = this.byCategory.get(category);
    if (c === undefined) {
      this.byCategory.set(category, 1);
      this.keyBytes += MAP_ENTRY_BYTES + 2 * category.length;
    } else {
      this.byCategory.set(category, c + 1);
    }
    this.bySeverity[severity]!++;
    if (value !== undefined) {
      const stats = this.values.get(name);
      if (stats === undefined) {
        this.values.set(name, { count: 1, sum: value, min: value, max: value });
        this.keyBytes += MAP_ENTRY_BYTES + VALUE_STATS_BYTES;
      } else {
        stats.count++;
        stats.sum += value;
        if (value < stats.min) stats.min = value;
        if (value > stats.max) stats.max = value;
      }
    }
  }

  isEmpty(): boolean {
    return this.total === 0 && this.tooLate === 0;
  }

  reset(): void {
    this.total = 0;
    this.late = 0;
    this.tooLate = 0;
    this.byName.clear();
    this.byCategory.clear();
    this.bySeverity.fill(0);
    this.values.clear();
    this.keyBytes = 0;
  }

  /** Adds the counts of a state or delta (already validated) to this tally. */
  addRecords(from: Pick<WindowDelta, 'total' | 'late' | 'tooLate' | 'byName' | 'byCategory' | 'bySeverity' | 'values'>): void {
    this.total += from.total;
    this.late += from.late;
    this.tooLate += from.tooLate;
    for (const key of Object.keys(from.byName)) {
      if (!this.byName.has(key)) this.keyBytes += MAP_ENTRY_BYTES + 2 * key.length;
      this.byName.set(key, (this.byName.get(key) ?? 0) + from.byName[key]!);
    }
    for (const key of Object.keys(from.byCategory)) {
      if (!this.byCategory.has(key)) this.keyBytes += MAP_ENTRY_BYTES + 2 * key.length;
      this.byCategory.set(key, (this.byCategory.get(key) ?? 0) + from.byCategory[key]!);
    }
    for (const key of Object.keys(from.bySeverity)) {
      const index = severityIndex(key);
      if (index >= 0) this.bySeverity[index]! += from.bySeverity[key]!;
    }
    for (const key of Object.keys(from.values)) {
      const add = from.values[key]!;
      const stats = this.values.get(key);
      if (stats === undefined) {
        this.values.set(key, { count: add.count, sum: add.sum, min: add.min, max: add.max });
        this.keyBytes += MAP_ENTRY_BYTES + VALUE_STATS_BYTES;
      } else {
        stats.count += add.count;
        stats.sum += add.sum;
        if (add.min < stats.min) stats.min = add.min;
        if (add.max > stats.max) stats.max = add.max;
      }
    }
  }

  /** Plain records (own properties, Object.prototype) for the wire and the stores. */
  toRecords(): Pick<WindowDelta, 'total' | 'late' | 'tooLate' | 'byName' | 'byCategory' | 'bySeverity' | 'values'> {
    const bySeverity: Record<string, number> = {};
    for (let i = 0; i < SEVERITIES.length; i++) if (this.bySeverity[i]! > 0) bySeverity[SEVERITIES[i]!] = this.bySeverity[i]!;
    const values: Record<string, ValueStats> = {};
    for (const [key, s] of this.values) setOwn(values, key, { count: s.count, sum: s.sum, min: s.min, max: s.max });
    return {
      total: this.total,
      late: this.late,
      tooLate: this.tooLate,
      byName: mapToRecord(this.byName),
      byCategory: mapToRecord(this.byCategory),
      bySeverity,
      values,
    };
  }
}

export class WindowAggregate {
  readonly endMs: number;
  readonly tally = new Tally();
  readonly uniques: HyperLogLog;
  /** Set by the owner while this window's resolution is watched; null costs nothing. */
  delta: Tally | null = null;
  /** True while the owner has this window in its list of pending deltas. */
  deltaQueued = false;
  /** Events counted under OTHER_NAME because namesPerWindowMax names were already present. */
  namesOverflow = 0;
  categoriesOverflow = 0;
  private readonly namesMax: number;

  constructor(
    readonly resolution: Resolution,
    readonly startMs: number,
    options: WindowOptions,
  ) {
    this.endMs = startMs + RESOLUTION_MS[resolution];
    this.uniques = new HyperLogLog(options.hllPrecision);
    this.namesMax = options.namesPerWindowMax;
  }

  /**
   * Counts one event. `severity` is its index in SEVERITIES; `userHash` is
   * hash32(userId), or -1 without a user. Both are computed once per event by
   * the owner, not once per resolution.
   */
  add(name: string, category: string, severity: number, value: number | undefined, late: boolean, userHash: number): void {
    const tally = this.tally;
    // Fold only once the map is full: the common case pays no extra lookup.
    if (tally.byName.size >= this.namesMax && !tally.byName.has(name)) {
      name = OTHER_NAME;
      this.namesOverflow++;
    }
    if (tally.byCategory.size >= this.namesMax && !tally.byCategory.has(category)) {
      category = OTHER_NAME;
      this.categoriesOverflow++;
    }
    tally.count(name, category, severity, value, late);
    if (this.delta !== null) this.delta.count(name, category, severity, value, late);
    if (userHash >= 0) this.uniques.add(userHash);
  }

  /** Counts an event that arrived during this window but was too late for its own. */
  addTooLate(): void {
    this.tally.tooLate++;
    if (this.delta !== null) this.delta.tooLate++;
  }

  approxBytes(): number {
    return WINDOW_BASE_BYTES + this.tally.keyBytes + this.uniques.dataBytes + (this.delta === null ? 0 : this.delta.keyBytes);
  }

  toState(open: boolean): WindowState {
    return {
      resolution: this.resolution,
      startMs: this.startMs,
      ...this.tally.toRecords(),
      uniquesSketch: this.uniques.serialize(),
      uniques: this.uniques.estimate(),
      open,
    };
  }

  /** The pending delta (uniques = the current estimate), then clears it; null when nothing changed. */
  takeDelta(): WindowDelta | null {
    const delta = this.delta;
    if (delta === null || delta.isEmpty()) return null;
    const out: WindowDelta = {
      resolution: this.resolution,
      startMs: this.startMs,
      ...delta.toRecords(),
      uniques: this.uniques.estimate(),
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
    window.tally.addRecords(state);
    window.uniques.merge(uniques);
    return window;
  }
}

/** Two pending deltas of one window become one (a slow subscriber): counts add, min/max merge, uniques from `b` (the newer). */
export function mergeDelta(a: WindowDelta, b: WindowDelta): WindowDelta {
  if (a.resolution !== b.resolution || a.startMs !== b.startMs) {
    throw new RangeError(`cannot merge deltas of windows ${a.resolution}@${a.startMs} and ${b.resolution}@${b.startMs}`);
  }
  const tally = new Tally();
  tally.addRecords(a);
  tally.addRecords(b);
  return { resolution: b.resolution, startMs: b.startMs, ...tally.toRecords(), uniques: b.uniques };
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
  for (const key of Object.keys(values)) {
    const stats = values[key];
    const at = `${field}/values/${key}`;
    if (!isRecord(stats) || !isCount(stats.count) || stats.count === 0) throw new SnapshotInvalidError('bad count', { field: at });
    for (const part of ['sum', 'min', 'max'] as const) {
      if (typeof stats[part] !== 'number' || !Number.isFinite(stats[part])) throw new SnapshotInvalidError(`bad ${part}`, { field: `${at}/${part}` });
    }
    if ((stats.min as number) > (stats.max as number)) throw new SnapshotInvalidError('min above max', { field: at });
  }
  if (!(state.uniquesSketch instanceof Uint8Array)) throw new SnapshotInvalidError('not bytes', { field: `${field}/uniquesSketch` });
}
