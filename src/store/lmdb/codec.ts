/**
 * Checks on values read back from LMDB, and the one conversion they need.
 *
 * msgpack decodes binary as a Node Buffer. The port promises `Uint8Array`, and
 * callers compare sketches with deepStrictEqual or hand them to code that must
 * not depend on Buffer methods, so sketches are re-wrapped as plain Uint8Array
 * views over the same memory (lmdb-js copies embedded buffers on decode, see
 * `copyBuffers` in its open.js, so the view does not alias a reused buffer).
 *
 * Checks stay shallow on purpose: they catch data written by another version or
 * a wrong database name, not every field, and they run once per record read.
 */
import type { OwnerSnapshot, StoredEvent, WindowState } from '../../actors/types.js';
import type { Rollup, ShardCheckpoint } from '../port.js';
import type { Key } from 'lmdb';
import { StoreCorruptError, StoreReadError } from '../errors.js';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Re-wraps a decoded Buffer as a plain Uint8Array; throws when the field is not binary at all. */
export function plainBytes(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new StoreCorruptError(`${field} is not binary`, field);
  if (Object.getPrototypeOf(value) === Uint8Array.prototype) return value;
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** The maps of a window whose keys are user input (event names, categories). */
const NAME_MAPS = ['byName', 'byCategory', 'bySeverity', 'values'] as const;

/**
 * The form a window is written in: its name maps as `[key, value]` pairs.
 * msgpackr renames an object key `__proto__` to `__proto_` on decode (a guard
 * against prototype pollution), and `__proto__` is a valid event name; pairs
 * keep every name exactly. Other fields are written as they are.
 */
export function storableWindow<T extends WindowState>(window: T): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(window as WindowState) };
  for (const map of NAME_MAPS) out[map] = Object.entries(window[map]);
  return out;
}

export function storableSnapshot(snapshot: OwnerSnapshot): Record<string, unknown> {
  return { ...snapshot, windows: snapshot.windows.map((window) => storableWindow(window)) };
}

/** Mutates the decoded window in place: decoded values are fresh objects owned by the caller. */
export function readWindow<T extends WindowState>(value: unknown, field: string): T {
  if (!isObject(value) || typeof value.startMs !== 'number' || typeof value.resolution !== 'string') {
    throw new StoreCorruptError(`${field} is not a window`, field);
  }
  for (const map of NAME_MAPS) {
    const pairs = value[map];
    if (!Array.isArray(pairs)) throw new StoreCorruptError(`${field}/${map} is not a list of pairs`, `${field}/${map}`);
    // Object.fromEntries defines own properties, so `__proto__` stays an ordinary key.
    value[map] = Object.fromEntries(pairs as Array<[string, unknown]>);
  }
  value.uniquesSketch = plainBytes(value.uniquesSketch, `${field}/uniquesSketch`);
  return value as unknown as T;
}

export function readRollup(value: unknown): Rollup {
  const rollup = readWindow<Rollup>(value, 'rollup');
  if (typeof rollup.owner !== 'string') throw new StoreCorruptError('rollup has no owner', 'owner');
  return rollup;
}

export function readStoredEvent(value: unknown): StoredEvent {
  if (
    !isObject(value) ||
    typeof value.owner !== 'string' ||
    typeof value.shard !== 'number' ||
    !isObject(value.event) ||
    typeof value.event.id !== 'string'
  ) {
    throw new StoreCorruptError('not a stored event', 'event');
  }
  return value as unknown as StoredEvent;
}

export function readOwnerSnapshot(value: unknown): OwnerSnapshot {
  if (
    !isObject(value) ||
    typeof value.owner !== 'string' ||
    !Array.isArray(value.windows) ||
    !Array.isArray(value.recentIds)
  ) {
    throw new StoreCorruptError('not an owner snapshot', 'snapshot');
  }
  const windows = value.windows as unknown[];
  for (let i = 0; i < windows.length; i++) readWindow(windows[i], `windows/${i}`);
  if (value.recentIdHashes !== undefined) value.recentIdHashes = plainBytes(value.recentIdHashes, 'recentIdHashes');
  const position = value.logPosition;
  if (
    position !== undefined &&
    (!Array.isArray(position) || position.length !== 2 || !Number.isSafeInteger(position[0]) || !Number.isSafeInteger(position[1]))
  ) {
    throw new StoreCorruptError('logPosition is not [epoch, lsn]', 'logPosition');
  }
  return value as unknown as OwnerSnapshot;
}

export function readCheckpoint(value: unknown): ShardCheckpoint {
  if (!isObject(value) || typeof value.shard !== 'number' || typeof value.logOffset !== 'number') {
    throw new StoreCorruptError('not a shard checkpoint', 'checkpoint');
  }
  return value as unknown as ShardCheckpoint;
}

/**
 * Runs a synchronous LMDB read (a memory-mapped lookup, no I/O wait worth
 * deferring) and hands its outcome back as a promise, so that every failure
 * reaches the caller as a rejection, as the ports promise, never as a throw.
 */
export function settle<T>(read: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(read());
  });
}

/**
 * One keyed read: the value checked by `read`, or undefined when absent. A
 * failing LMDB read becomes EVT_STORE_READ naming the operation; a value of the
 * wrong shape stays the reader's EVT_STORE_CORRUPT.
 */
export function getChecked<T>(db: { get(key: Key): unknown }, key: Key, operation: string, read: (value: unknown) => T): T | undefined {
  let value: unknown;
  try {
    value = db.get(key);
  } catch (cause) {
    throw new StoreReadError(operation, { cause });
  }
  return value === undefined ? undefined : read(value);
}
