/**
 * Encodings of the Redis snapshot store: the binary snapshot an owner is
 * restored from, the readable window hashes other programs read, and the
 * checkpoint hash. docs/redis.md documents the hash fields.
 *
 * Invariants:
 * - decodeSnapshot(encodeSnapshot(s)) deep-equals s, sketches as plain
 *   Uint8Array (not Buffer), for every name including `__proto__`. The binary
 *   form therefore carries name-keyed records as flat [key, value, ...] arrays:
 *   msgpackr renames an object key `__proto__` to `__proto_` on decode (a
 *   prototype-pollution guard), which would corrupt an event named so.
 * - windowFromFields(windowFields(w)) deep-equals w once given the sketch back.
 *   Numbers are written as decimal text that parses back to the same double
 *   (JavaScript's shortest round-trip form; -0 written as "-0").
 * - Every decoder checks shape and throws StoreCorruptError, never returns a
 *   half-read value.
 */
import { Packr } from 'msgpackr';
import { RESOLUTION_MS, type OwnerSnapshot, type Resolution, type ValueStats, type WindowState } from '../../actors/types.js';
import type { ShardCheckpoint } from '../port.js';
import { StoreCorruptError } from '../errors.js';

/** First element of every binary snapshot; bump when the layout below changes. */
export const SNAPSHOT_FORMAT = 1;

// Records off: the arrays below are positional already, and a record table
// shared across values would tie one value's decoding to another's.
const packr = new Packr({ useRecords: false });

type Flat = Array<string | number>;

/** Writes an own enumerable property, also for the key `__proto__` (plain assignment would set the prototype). */
function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}

function flatCounts(record: Record<string, number>): Flat {
  const out: Flat = [];
  for (const key of Object.keys(record)) out.push(key, record[key]!);
  return out;
}

/**
 * msgpackr writes -0 as the integer 0 (it passes its integer test), so a
 * value of -0 travels as the string "-0". Only sum, min and max can be -0:
 * counts start at 0 and only grow.
 */
function signed(value: number): number | string {
  return Object.is(value, -0) ? '-0' : value;
}

function unsigned(value: unknown): unknown {
  return value === '-0' ? -0 : value;
}

function flatValues(record: Record<string, ValueStats>): Flat {
  const out: Flat = [];
  for (const key of Object.keys(record)) {
    const stats = record[key]!;
    out.push(key, stats.count, signed(stats.sum), signed(stats.min), signed(stats.max));
  }
  return out;
}

/** One window, positionally: [res, startMs, total, late, tooLate, uniques, open, names, categories, severities, values, sketch]. */
type WindowTuple = [Resolution, number, number, number, number, number, boolean, Flat, Flat, Flat, Flat, Uint8Array];

export function encodeSnapshot(snapshot: OwnerSnapshot): Buffer {
  const windows: WindowTuple[] = [];
  for (const w of snapshot.windows) {
    windows.push([
      w.resolution,
      w.startMs,
      w.total,
      w.late,
      w.tooLate,
      w.uniques,
      w.open,
      flatCounts(w.byName),
      flatCounts(w.byCategory),
      flatCounts(w.bySeverity),
      flatValues(w.values),
      w.uniquesSketch,
    ]);
  }
  const ids: Flat = [];
  for (const [id, seenAtMs] of snapshot.recentIds) ids.push(id, seenAtMs);
  const tuple: unknown[] = [SNAPSHOT_FORMAT, snapshot.owner, snapshot.takenAtMs, windows, ids];
  // Optional trailing elements: snapshots written before the log (and before hashed ids) simply lack them.
  if (snapshot.logPosition !== undefined || snapshot.recentIdHashes !== undefined) tuple.push(snapshot.logPosition ?? null);
  if (snapshot.recentIdHashes !== undefined) tuple.push(snapshot.recentIdHashes);
  return packr.pack(tuple);
}

function checkLogPosition(value: unknown): [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || !Number.isSafeInteger(value[0]) || !Number.isSafeInteger(value[1])) {
    throw corrupt('logPosition is not [epoch, lsn]', 'logPosition');
  }
  return [value[0] as number, value[1] as number];
}

function corrupt(what: string, field: string): StoreCorruptError {
  return new StoreCorruptError(what, field);
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number';
}

function countsFrom(flat: unknown, field: string): Record<string, number> {
  if (!Array.isArray(flat) || flat.length % 2 !== 0) throw corrupt(`${field} is not a flat record`, field);
  const out: Record<string, number> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const key: unknown = flat[i];
    const value: unknown = flat[i + 1];
    if (typeof key !== 'string' || !isNumber(value)) throw corrupt(`${field} holds a bad entry`, field);
    setOwn(out, key, value);
  }
  return out;
}

function valuesFrom(flat: unknown, field: string): Record<string, ValueStats> {
  if (!Array.isArray(flat) || flat.length % 5 !== 0) throw corrupt(`${field} is not a flat record`, field);
  const out: Record<string, ValueStats> = {};
  for (let i = 0; i < flat.length; i += 5) {
    const key: unknown = flat[i];
    const count: unknown = flat[i + 1];
    const sum = unsigned(flat[i + 2]);
    const min = unsigned(flat[i + 3]);
    const max = unsigned(flat[i + 4]);
    if (typeof key !== 'string' || !isNumber(count) || !isNumber(sum) || !isNumber(min) || !isNumber(max)) {
      throw corrupt(`${field} holds a bad entry`, field);
    }
    setOwn(out, key, { count, sum, min, max });
  }
  return out;
}

/** A copy, as a plain Uint8Array: the decoded Buffer may be a view into a larger reply buffer. */
function ownBytes(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw corrupt(`${field} is not binary`, field);
  return new Uint8Array(value);
}

function isResolution(value: unknown): value is Resolution {
  return typeof value === 'string' && Object.hasOwn(RESOLUTION_MS, value);
}

export function decodeSnapshot(bytes: Uint8Array): OwnerSnapshot {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (cause) {
    throw new StoreCorruptError(`snapshot is not msgpack (${String(cause)})`, 'snapshot');
  }
  if (!Array.isArray(value) || value[0] !== SNAPSHOT_FORMAT) throw corrupt(`snapshot is not format ${SNAPSHOT_FORMAT}`, 'snapshot');
  const [, owner, takenAtMs, windowTuples, ids, logPosition, recentIdHashes] = value as unknown[];
  if (typeof owner !== 'string' || !isNumber(takenAtMs) || !Array.isArray(windowTuples) || !Array.isArray(ids) || ids.length % 2 !== 0) {
    throw corrupt('snapshot header is malformed', 'snapshot');
  }
  const windows: WindowState[] = [];
  for (let i = 0; i < windowTuples.length; i++) {
    const field = `windows/${i}`;
    const t: unknown = windowTuples[i];
    if (!Array.isArray(t) || t.length !== 12) throw corrupt(`${field} is not a window`, field);
    const [resolution, startMs, total, late, tooLate, uniques, open] = t as unknown[];
    if (!isResolution(resolution) || !isNumber(startMs) || !isNumber(total) || !isNumber(late) || !isNumber(tooLate) || !isNumber(uniques) || typeof open !== 'boolean') {
      throw corrupt(`${field} has a malformed header`, field);
    }
    windows.push({
      resolution,
      startMs,
      total,
      late,
      tooLate,
      byName: countsFrom(t[7], `${field}/byName`),
      byCategory: countsFrom(t[8], `${field}/byCategory`),
      bySeverity: countsFrom(t[9], `${field}/bySeverity`),
      values: valuesFrom(t[10], `${field}/values`),
      uniquesSketch: ownBytes(t[11], `${field}/uniquesSketch`),
      uniques,
      open,
    });
  }
  const recentIds: Array<[string, number]> = [];
  for (let i = 0; i < ids.length; i += 2) {
    const id: unknown = ids[i];
    const seenAtMs: unknown = ids[i + 1];
    if (typeof id !== 'string' || !isNumber(seenAtMs)) throw corrupt('recentIds holds a bad entry', 'recentIds');
    recentIds.push([id, seenAtMs]);
  }
  const snapshot: OwnerSnapshot = { owner, windows, recentIds, takenAtMs };
  if (logPosition !== undefined && logPosition !== null) snapshot.logPosition = checkLogPosition(logPosition);
  if (recentIdHashes !== undefined) snapshot.recentIdHashes = ownBytes(recentIdHashes, 'recentIdHashes');
  return snapshot;
}

// ---- readable hashes --------------------------------------------------------

/** Decimal text that parses back to the same double; String(-0) would be "0". */
function num(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

/**
 * The readable hash of one window as HSET arguments [field, value, ...].
 * Fields: resolution, startMs, takenAtMs, total, late, tooLate, uniques, open
 * (1|0), n:<name>, c:<category>, s:<severity>, v:<name>:count|sum|min|max.
 */
export function windowFields(w: WindowState, takenAtMs: number): string[] {
  const out = [
    'resolution', w.resolution,
    'startMs', num(w.startMs),
    'takenAtMs', num(takenAtMs),
    'total', num(w.total),
    'late', num(w.late),
    'tooLate', num(w.tooLate),
    'uniques', num(w.uniques),
    'open', w.open ? '1' : '0',
  ];
  for (const key of Object.keys(w.byName)) out.push(`n:${key}`, num(w.byName[key]!));
  for (const key of Object.keys(w.byCategory)) out.push(`c:${key}`, num(w.byCategory[key]!));
  for (const key of Object.keys(w.bySeverity)) out.push(`s:${key}`, num(w.bySeverity[key]!));
  for (const key of Object.keys(w.values)) {
    const stats = w.values[key]!;
    out.push(`v:${key}:count`, num(stats.count), `v:${key}:sum`, num(stats.sum), `v:${key}:min`, num(stats.min), `v:${key}:max`, num(stats.max));
  }
  return out;
}

function parseNum(text: string | undefined, field: string): number {
  const value = text === undefined || text === '' ? NaN : Number(text);
  if (Number.isNaN(value)) throw corrupt(`window field ${field} is not a number`, field);
  return value;
}

const STAT_NAMES: ReadonlySet<string> = new Set(['count', 'sum', 'min', 'max']);

/**
 * Reads a window hash (HGETALL's object) back into a WindowState, with its
 * sketch read from the `hll` key. The reference for other readers of the
 * schema; the store itself restores from the binary snapshot.
 */
export function windowFromFields(fields: Record<string, string>, sketch: Uint8Array): WindowState {
  const resolution = fields.resolution;
  if (!isResolution(resolution)) throw corrupt('window hash has no resolution', 'resolution');
  const window: WindowState = {
    resolution,
    startMs: parseNum(fields.startMs, 'startMs'),
    total: parseNum(fields.total, 'total'),
    late: parseNum(fields.late, 'late'),
    tooLate: parseNum(fields.tooLate, 'tooLate'),
    byName: {},
    byCategory: {},
    bySeverity: {},
    values: {},
    uniquesSketch: ownBytes(sketch, 'uniquesSketch'),
    uniques: parseNum(fields.uniques, 'uniques'),
    open: fields.open === '1',
  };
  for (const field of Object.keys(fields)) {
    if (field.length < 2 || field[1] !== ':') continue;
    const rest = field.slice(2);
    switch (field[0]) {
      case 'n':
        setOwn(window.byName, rest, parseNum(fields[field], field));
        break;
      case 'c':
        setOwn(window.byCategory, rest, parseNum(fields[field], field));
        break;
      case 's':
        setOwn(window.bySeverity, rest, parseNum(fields[field], field));
        break;
      case 'v': {
        // The stat is after the last ':'; the name before it may hold ':' itself.
        const cut = rest.lastIndexOf(':');
        const stat = rest.slice(cut + 1);
        if (cut < 0 || !STAT_NAMES.has(stat)) throw corrupt(`window field ${field} names no stat`, field);
        const name = rest.slice(0, cut);
        let stats = Object.hasOwn(window.values, name) ? window.values[name] : undefined;
        if (stats === undefined) {
          stats = { count: 0, sum: 0, min: 0, max: 0 };
          setOwn(window.values, name, stats);
        }
        stats[stat as keyof ValueStats] = parseNum(fields[field], field);
        break;
      }
      default:
        break;
    }
  }
  return window;
}

// ---- checkpoint ---------------------------------------------------------------

export function checkpointFields(checkpoint: ShardCheckpoint): string[] {
  return ['shard', num(checkpoint.shard), 'takenAtMs', num(checkpoint.takenAtMs), 'logOffset', num(checkpoint.logOffset)];
}

/** HGETALL of a missing key is `{}`: that is "no checkpoint", not corruption. */
export function checkpointFromFields(fields: Record<string, string>): ShardCheckpoint | undefined {
  if (Object.keys(fields).length === 0) return undefined;
  return {
    shard: parseNum(fields.shard, 'checkpoint/shard'),
    takenAtMs: parseNum(fields.takenAtMs, 'checkpoint/takenAtMs'),
    logOffset: parseNum(fields.logOffset, 'checkpoint/logOffset'),
  };
}
