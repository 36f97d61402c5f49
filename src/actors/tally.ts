/**
 * The counts of a window (or of a delta), laid out for a small heap: two
 * double arrays instead of three Maps keyed by strings and an object per
 * value statistic.
 *
 * - `names`: one row per event name, in first-seen order,
 *   NAME_STRIDE numbers each: [id, count, valueCount, sum, min, max]
 *   (min/max/sum mean something only while valueCount > 0).
 * - `cats`: the counts per severity (SEVERITIES order), then one row per
 *   category in first-seen order: [id, count].
 * Ids come from the thread's name table (names.ts), so a row is 48 (name) or
 * 16 (category) bytes and the string is held once per thread. A name the
 * table refused (it is full) gets an id of this tally only: -1, -2, ...
 *
 * Rows are searched linearly up to LINEAR_ROWS_MAX; past it an open-addressing
 * index (row + 1 per slot, 0 empty) is kept beside them. Arrays start at
 * ROWS_INITIAL rows and double; an empty tally holds no arrays.
 *
 * Invariants:
 * - total = Σ name counts = Σ category counts = Σ severity counts, for
 *   counts made by count()/countRows(); addRecords() adds whatever the
 *   (validated) records say.
 * - An id appears in at most one row of each array.
 * - toRecords() writes every row (own properties, defineProperty semantics
 *   for `__proto__`), so a name counted 0 times by addRecords stays listed.
 */
import { intern, nameOf } from './names.js';
import { SEVERITIES, type ValueStats, type WindowDelta } from './types.js';

/** [id, count, valueCount, sum, min, max] */
export const NAME_STRIDE = 6;
/** [id, count] */
export const CAT_STRIDE = 2;
export const SEVERITY_COUNT = SEVERITIES.length;
/** Rows searched by a plain scan; past this many an index is built. */
export const LINEAR_ROWS_MAX = 12;
const ROWS_INITIAL = 4;
/** mergeFrom() returns folded names + this x folded categories. */
export const FOLDED_CATS_UNIT = 2 ** 24;
/** Knuth's multiplicative hash constant, for index slots. */
const GOLDEN = 0x9e3779b1;

/** The shared empty array of a tally that counted nothing yet; never written to. */
const NO_ROWS: number[] = [];

/** A double-element array of n zeros (fill(-0) makes V8 choose double elements at once; the zeros are written after). */
function doubles(n: number): number[] {
  const out = new Array<number>(n).fill(-0);
  out.fill(0);
  return out;
}

/** Writes an own enumerable property even for the key `__proto__`. */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}

/** The counted parts of a window state or delta. */
export type TallyRecords = Pick<WindowDelta, 'total' | 'late' | 'tooLate' | 'byName' | 'byCategory' | 'bySeverity' | 'values'>;

export class Tally {
  total = 0;
  late = 0;
  tooLate = 0;
  nameRows = 0;
  catRows = 0;
  private names: number[] = NO_ROWS;
  private cats: number[] = NO_ROWS;
  private nameIndex: number[] | null = null;
  private catIndex: number[] | null = null;
  /** Names the thread table refused, and their ids here (-1 - position). */
  private local: Map<string, number> | null = null;
  private localNames: string[] | null = null;

  /**
   * Counts one event. nameId/catId are intern() results for name/category
   * (-1 when the table refused them); names must already be folded by the window.
   */
  count(nameId: number, name: string, catId: number, category: string, severity: number, value: number | undefined, late: boolean): void {
    const nr = this.nameRowOrAdd(nameId < 0 ? this.localId(name) : nameId);
    const cr = this.catRowOrAdd(catId < 0 ? this.localId(category) : catId);
    this.countRows(nr, cr, severity, value, late);
  }

  /** Counts one event in rows already found (nameRow/catRow or their *OrAdd). */
  countRows(nameRow: number, catRow: number, severity: number, value: number | undefined, late: boolean): void {
    this.total++;
    if (late) this.late++;
    const names = this.names;
    const at = nameRow * NAME_STRIDE;
    names[at + 1]!++;
    if (value !== undefined) {
      const valueCount = names[at + 2]!;
      if (valueCount === 0) {
        names[at + 3] = value;
        names[at + 4] = value;
        names[at + 5] = value;
      } else {
        names[at + 3]! += value;
        if (value < names[at + 4]!) names[at + 4] = value;
        if (value > names[at + 5]!) names[at + 5] = value;
      }
      names[at + 2] = valueCount + 1;
    }
    const cats = this.cats;
    cats[severity]!++;
    cats[SEVERITY_COUNT + catRow * CAT_STRIDE + 1]!++;
  }

  /** This tally's id for a name the thread table refused. */
  localId(name: string): number {
    let local = this.local;
    if (local === null) {
      local = this.local = new Map();
      this.localNames = [];
    }
    let id = local.get(name);
    if (id === undefined) {
      id = -1 - this.localNames!.length;
      local.set(name, id);
      this.localNames!.push(name);
    }
    return id;
  }

  /** The row of a name id, or -1. */
  nameRow(id: number): number {
    const names = this.names;
    const index = this.nameIndex;
    if (index !== null) return findIndexed(index, names, NAME_STRIDE, 0, id);
    const end = this.nameRows * NAME_STRIDE;
    for (let at = 0; at < end; at += NAME_STRIDE) if (names[at] === id) return at / NAME_STRIDE;
    return -1;
  }

  /** The row of a category id, or -1. */
  catRow(id: number): number {
    const cats = this.cats;
    const index = this.catIndex;
    if (index !== null) return findIndexed(index, cats, CAT_STRIDE, SEVERITY_COUNT, id);
    const end = SEVERITY_COUNT + this.catRows * CAT_STRIDE;
    for (let at = SEVERITY_COUNT; at < end; at += CAT_STRIDE) if (cats[at] === id) return (at - SEVERITY_COUNT) / CAT_STRIDE;
    return -1;
  }

  nameRowOrAdd(id: number): number {
    const row = this.nameRow(id);
    return row >= 0 ? row : this.addNameRow(id);
  }

  catRowOrAdd(id: number): number {
    const row = this.catRow(id);
    return row >= 0 ? row : this.addCatRow(id);
  }

  /** Appends a row for a name id not present yet. */
  addNameRow(id: number): number {
    const row = this.nameRows;
    if ((row + 1) * NAME_STRIDE > this.names.length) this.names = grow(this.names, Math.max(ROWS_INITIAL, row * 2) * NAME_STRIDE);
    this.names[row * NAME_STRIDE] = id;
    this.nameRows = row + 1;
    if (this.nameIndex !== null) this.nameIndex = indexAdd(this.nameIndex, this.names, NAME_STRIDE, 0, row, this.nameRows);
    else if (this.nameRows > LINEAR_ROWS_MAX) this.nameIndex = buildIndex(this.names, NAME_STRIDE, 0, this.nameRows);
    return row;
  }

  /** Appends a row for a category id not present yet (and the severity counts with the first). */
  addCatRow(id: number): number {
    const row = this.catRows;
    if (SEVERITY_COUNT + (row + 1) * CAT_STRIDE > this.cats.length) {
      this.cats = grow(this.cats, SEVERITY_COUNT + Math.max(ROWS_INITIAL, row * 2) * CAT_STRIDE);
    }
    this.cats[SEVERITY_COUNT + row * CAT_STRIDE] = id;
    this.catRows = row + 1;
    if (this.catIndex !== null) this.catIndex = indexAdd(this.catIndex, this.cats, CAT_STRIDE, SEVERITY_COUNT, row, this.catRows);
    else if (this.catRows > LINEAR_ROWS_MAX) this.catIndex = buildIndex(this.cats, CAT_STRIDE, SEVERITY_COUNT, this.catRows);
    return row;
  }

  /**
   * Adds another tally's counts: a closed finer window rolling up into its
   * coarser one, or a read summing a window with its open finer ones. A name
   * not present here while namesMax rows are taken folds into `otherId` (the
   * window's OTHER_NAME), as count() callers fold. Returns the events folded:
   * names + 2^24 x categories.
   */
  mergeFrom(other: Tally, namesMax: number, otherId: number): number {
    this.total += other.total;
    this.late += other.late;
    this.tooLate += other.tooLate;
    let foldedNames = 0;
    let foldedCats = 0;
    const theirs = other.names;
    for (let r = 0, at = 0; r < other.nameRows; r++, at += NAME_STRIDE) {
      const id = this.idFrom(other, theirs[at]!);
      let row = this.nameRow(id);
      if (row < 0) {
        if (this.nameRows >= namesMax && id !== otherId) {
          foldedNames += theirs[at + 1]!;
          row = this.nameRowOrAdd(otherId);
        } else {
          row = this.addNameRow(id);
        }
      }
      const mine = this.names;
      const to = row * NAME_STRIDE;
      mine[to + 1]! += theirs[at + 1]!;
      const valueCount = theirs[at + 2]!;
      if (valueCount > 0) {
        if (mine[to + 2] === 0) {
          mine[to + 3] = theirs[at + 3]!;
          mine[to + 4] = theirs[at + 4]!;
          mine[to + 5] = theirs[at + 5]!;
        } else {
          mine[to + 3]! += theirs[at + 3]!;
          if (theirs[at + 4]! < mine[to + 4]!) mine[to + 4] = theirs[at + 4]!;
          if (theirs[at + 5]! > mine[to + 5]!) mine[to + 5] = theirs[at + 5]!;
        }
        mine[to + 2]! += valueCount;
      }
    }
    const theirCats = other.cats;
    if (theirCats.length > 0) {
      this.ensureCats();
      for (let i = 0; i < SEVERITY_COUNT; i++) this.cats[i]! += theirCats[i]!;
      for (let r = 0, at = SEVERITY_COUNT; r < other.catRows; r++, at += CAT_STRIDE) {
        const id = this.idFrom(other, theirCats[at]!);
        let row = this.catRow(id);
        if (row < 0) {
          if (this.catRows >= namesMax && id !== otherId) {
            foldedCats += theirCats[at + 1]!;
            row = this.catRowOrAdd(otherId);
          } else {
            row = this.addCatRow(id);
          }
        }
        this.cats[SEVERITY_COUNT + row * CAT_STRIDE + 1]! += theirCats[at + 1]!;
      }
    }
    return foldedNames + foldedCats * FOLDED_CATS_UNIT;
  }

  isEmpty(): boolean {
    return this.total === 0 && this.tooLate === 0;
  }

  /** Back to empty; keeps the arrays (a watched window's delta is reset every tick). */
  reset(): void {
    this.total = 0;
    this.late = 0;
    this.tooLate = 0;
    this.nameRows = 0;
    this.catRows = 0;
    this.nameIndex = null;
    this.catIndex = null;
    this.local = null;
    this.localNames = null;
    this.names.fill(0);
    this.cats.fill(0);
  }

  /** Adds the counts of a state or delta (already validated: `values` names are in `byName`). */
  addRecords(from: TallyRecords): void {
    this.total += from.total;
    this.late += from.late;
    this.tooLate += from.tooLate;
    const byName = from.byName;
    for (const key of Object.keys(byName)) {
      const row = this.nameRowOrAdd(this.idOf(key));
      this.names[row * NAME_STRIDE + 1]! += byName[key]!;
    }
    const values = from.values;
    for (const key of Object.keys(values)) {
      const add = values[key]!;
      const at = this.nameRowOrAdd(this.idOf(key)) * NAME_STRIDE;
      const names = this.names;
      if (names[at + 2] === 0) {
        names[at + 3] = add.sum;
        names[at + 4] = add.min;
        names[at + 5] = add.max;
      } else {
        names[at + 3]! += add.sum;
        if (add.min < names[at + 4]!) names[at + 4] = add.min;
        if (add.max > names[at + 5]!) names[at + 5] = add.max;
      }
      names[at + 2]! += add.count;
    }
    const byCategory = from.byCategory;
    for (const key of Object.keys(byCategory)) {
      const row = this.catRowOrAdd(this.idOf(key));
      this.cats[SEVERITY_COUNT + row * CAT_STRIDE + 1]! += byCategory[key]!;
    }
    const bySeverity = from.bySeverity;
    for (let i = 0; i < SEVERITY_COUNT; i++) {
      const add = Object.hasOwn(bySeverity, SEVERITIES[i]!) ? bySeverity[SEVERITIES[i]!]! : 0;
      if (add === 0) continue;
      this.ensureCats();
      this.cats[i]! += add;
    }
  }

  /** Plain records (own properties, Object.prototype) for the wire and the stores. */
  toRecords(): TallyRecords {
    const byName: Record<string, number> = {};
    const values: Record<string, ValueStats> = {};
    const names = this.names;
    for (let r = 0, at = 0; r < this.nameRows; r++, at += NAME_STRIDE) {
      const name = this.stringOf(names[at]!);
      setOwn(byName, name, names[at + 1]!);
      const count = names[at + 2]!;
      if (count > 0) setOwn(values, name, { count, sum: names[at + 3]!, min: names[at + 4]!, max: names[at + 5]! });
    }
    const byCategory: Record<string, number> = {};
    const bySeverity: Record<string, number> = {};
    const cats = this.cats;
    if (cats.length > 0) {
      for (let i = 0; i < SEVERITY_COUNT; i++) if (cats[i]! > 0) bySeverity[SEVERITIES[i]!] = cats[i]!;
      for (let r = 0, at = SEVERITY_COUNT; r < this.catRows; r++, at += CAT_STRIDE) setOwn(byCategory, this.stringOf(cats[at]!), cats[at + 1]!);
    }
    return { total: this.total, late: this.late, tooLate: this.tooLate, byName, byCategory, bySeverity, values };
  }

  /** Heap bytes of the arrays (8 per element, plus ~48 per array and index), for memory estimates. */
  get dataBytes(): number {
    let bytes = 8 * (this.names.length + this.cats.length);
    if (this.names.length > 0) bytes += 48;
    if (this.cats.length > 0) bytes += 48;
    if (this.nameIndex !== null) bytes += 48 + 8 * this.nameIndex.length;
    if (this.catIndex !== null) bytes += 48 + 8 * this.catIndex.length;
    if (this.localNames !== null) bytes += 200 + 64 * this.localNames.length;
    return bytes;
  }

  /** This tally's id for an id of `other` (the same, unless it is one of other's local ids). */
  private idFrom(other: Tally, id: number): number {
    return id >= 0 ? id : this.idOf(other.localNames![-1 - id]!);
  }

  private ensureCats(): void {
    if (this.cats.length === 0) this.cats = grow(this.cats, SEVERITY_COUNT + ROWS_INITIAL * CAT_STRIDE);
  }

  private idOf(name: string): number {
    const id = intern(name);
    return id >= 0 ? id : this.localId(name);
  }

  private stringOf(id: number): string {
    return id >= 0 ? nameOf(id) : this.localNames![-1 - id]!;
  }
}

/** A copy of `from` with room for `length` numbers, in double elements. */
function grow(from: number[], length: number): number[] {
  const out = doubles(length);
  for (let i = 0; i < from.length; i++) out[i] = from[i]!;
  return out;
}

function slotsFor(rows: number): number {
  let slots = 16;
  while (slots < rows * 2) slots *= 2;
  return slots;
}

function slotOf(id: number, slots: number): number {
  return (Math.imul(id, GOLDEN) >>> 0) % slots;
}

function findIndexed(index: number[], rows: number[], stride: number, offset: number, id: number): number {
  const slots = index.length;
  for (let slot = slotOf(id, slots); ; slot = slot + 1 === slots ? 0 : slot + 1) {
    const ref = index[slot]!;
    if (ref === 0) return -1;
    if (rows[offset + (ref - 1) * stride] === id) return ref - 1;
  }
}

function buildIndex(rows: number[], stride: number, offset: number, count: number): number[] {
  const index = new Array<number>(slotsFor(count)).fill(0);
  for (let row = 0; row < count; row++) insertIndexed(index, rows[offset + row * stride]!, row);
  return index;
}

/** Adds a row to an index, rebuilding it larger when the load would pass 1/2. */
function indexAdd(index: number[], rows: number[], stride: number, offset: number, row: number, count: number): number[] {
  if (count * 2 > index.length) return buildIndex(rows, stride, offset, count);
  insertIndexed(index, rows[offset + row * stride]!, row);
  return index;
}

function insertIndexed(index: number[], id: number, row: number): void {
  const slots = index.length;
  let slot = slotOf(id, slots);
  while (index[slot] !== 0) slot = slot + 1 === slots ? 0 : slot + 1;
  index[slot] = row + 1;
}
