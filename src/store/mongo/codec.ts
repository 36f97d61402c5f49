/**
 * The documents the MongoDB event store writes, and the way back to the port's
 * shapes. docs/mongodb.md shows each document.
 *
 * Invariants:
 * - An event document's `_id` is `{ o: owner, i: eventId }`: the natural key,
 *   so the mandatory `_id` index is the uniqueness that makes first-write-wins
 *   and the index getEvent reads, with no second index to maintain.
 * - Map keys that come from users (event properties, rollup byName,
 *   byCategory, bySeverity, values) are escaped so no stored key contains `.`,
 *   starts with `$` or holds NUL: MongoDB 5+ accepts such keys only in some
 *   operations and FerretDB 1.x in none. `%` is escaped too, so decoding is
 *   exact: `%` -> `%25`, `.` -> `%2E`, `$` -> `%24`, NUL -> `%00`.
 * - Decoding restores exactly what was written, `undefined` fields included
 *   (the client omits them on write: `ignoreUndefined`).
 * - Sketches are BSON Binary (subtype 0) on disk and a plain Uint8Array, copied
 *   out of the driver's receive buffer, when read.
 */
import { Binary, type Document } from 'mongodb';
import type { StoredEvent, WindowState } from '../../actors/types.js';
import type { Rollup } from '../port.js';
import { StoreCorruptError } from '../errors.js';

const NEEDS_ESCAPE = /[.$%\0]/;
const ESCAPED = /%(25|2E|24|00)/g;
const ESCAPE_OF: Readonly<Record<string, string>> = { '%': '%25', '.': '%2E', $: '%24', '\0': '%00' };
const UNESCAPE_OF: Readonly<Record<string, string>> = { '25': '%', '2E': '.', '24': '$', '00': '\0' };

export function escapeKey(key: string): string {
  return NEEDS_ESCAPE.test(key) ? key.replace(/[.$%\0]/g, (c) => ESCAPE_OF[c]!) : key;
}

export function unescapeKey(key: string): string {
  return key.includes('%') ? key.replace(ESCAPED, (_, hex: string) => UNESCAPE_OF[hex]!) : key;
}

/**
 * Returns `map` itself when no key needs escaping (the common case: no copy),
 * else a copy with escaped keys. `__proto__` is defined as an own key, not
 * assigned, so it stays data.
 */
export function escapeKeys<V>(map: Record<string, V>): Record<string, V> {
  let needs = false;
  for (const key in map) {
    if (NEEDS_ESCAPE.test(key)) {
      needs = true;
      break;
    }
  }
  if (!needs) return map;
  const out: Record<string, V> = {};
  for (const [key, value] of Object.entries(map)) {
    Object.defineProperty(out, escapeKey(key), { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Decodes in place when a key was escaped; decoded documents are fresh objects owned by the caller. */
export function unescapeKeys<V>(map: Record<string, V>): Record<string, V> {
  let needs = false;
  for (const key in map) {
    if (key.includes('%')) {
      needs = true;
      break;
    }
  }
  if (!needs) return map;
  const out: Record<string, V> = {};
  for (const [key, value] of Object.entries(map)) {
    Object.defineProperty(out, unescapeKey(key), { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export interface EventId {
  o: string;
  i: string;
}

export interface EventDocument {
  _id: EventId;
  shard: number;
  status: StoredEvent['status'];
  event: StoredEvent['event'];
  /** TTL: the document is removed after this instant (absent: kept). */
  expiresAt?: Date;
}

export function eventDocument(stored: StoredEvent, retentionMs: number): EventDocument {
  const event = stored.event;
  const properties = escapeKeys(event.properties);
  const doc: EventDocument = {
    _id: { o: stored.owner, i: event.id },
    shard: stored.shard,
    status: stored.status,
    event: properties === event.properties ? event : { ...event, properties },
  };
  if (retentionMs > 0) doc.expiresAt = new Date(event.receivedAtMs + retentionMs);
  return doc;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function readEventDocument(doc: Document): StoredEvent {
  const id: unknown = doc._id;
  const event: unknown = doc.event;
  if (!isObject(id) || typeof id.o !== 'string' || !isObject(event) || typeof event.id !== 'string' || !isObject(event.properties)) {
    throw new StoreCorruptError('not an event document', 'event');
  }
  // Fields written as undefined were omitted; the port's shape has them as own keys.
  event.userId ??= undefined;
  event.value ??= undefined;
  event.properties = unescapeKeys(event.properties);
  return { owner: id.o, shard: doc.shard as number, status: doc.status as StoredEvent['status'], event: event as unknown as StoredEvent['event'] };
}

export interface RollupDocument {
  owner: string;
  resolution: Rollup['resolution'];
  startMs: number;
  total: number;
  late: number;
  tooLate: number;
  byName: Record<string, number>;
  byCategory: Record<string, number>;
  bySeverity: Record<string, number>;
  values: WindowState['values'];
  uniquesSketch: Binary;
  uniques: number;
  open: boolean;
  expiresAt?: Date;
}

export function rollupDocument(rollup: Rollup, retentionMs: number): RollupDocument {
  const doc: RollupDocument = {
    owner: rollup.owner,
    resolution: rollup.resolution,
    startMs: rollup.startMs,
    total: rollup.total,
    late: rollup.late,
    tooLate: rollup.tooLate,
    byName: escapeKeys(rollup.byName),
    byCategory: escapeKeys(rollup.byCategory),
    bySeverity: escapeKeys(rollup.bySeverity),
    values: escapeKeys(rollup.values),
    uniquesSketch: new Binary(rollup.uniquesSketch),
    uniques: rollup.uniques,
    open: rollup.open,
  };
  if (retentionMs > 0) doc.expiresAt = new Date(rollup.startMs + retentionMs);
  return doc;
}

export function readRollupDocument(doc: Document): Rollup {
  const sketch: unknown = doc.uniquesSketch;
  if (typeof doc.owner !== 'string' || typeof doc.startMs !== 'number' || !(sketch instanceof Binary)) {
    throw new StoreCorruptError('not a rollup document', 'rollup');
  }
  return {
    owner: doc.owner,
    resolution: doc.resolution as Rollup['resolution'],
    startMs: doc.startMs,
    total: doc.total as number,
    late: doc.late as number,
    tooLate: doc.tooLate as number,
    byName: unescapeKeys(doc.byName as Record<string, number>),
    byCategory: unescapeKeys(doc.byCategory as Record<string, number>),
    bySeverity: unescapeKeys(doc.bySeverity as Record<string, number>),
    values: unescapeKeys(doc.values as WindowState['values']),
    // A copy: the driver's Binary may view the receive buffer of the whole reply.
    uniquesSketch: new Uint8Array(sketch.buffer.subarray(0, sketch.position)),
    uniques: doc.uniques as number,
    open: doc.open as boolean,
  };
}

export type DeadLetterKind = 'event' | 'rollup';

export interface DeadLetterDocument {
  /** One dead letter per record: `{ k, o, i }` for an event, `{ k, o, r, s }` for a rollup. */
  _id: Document;
  kind: DeadLetterKind;
  owner: string;
  /** The driver's or server's message. */
  reason: string;
  /** `mongo:<server code>` or the driver error's name. */
  code: string;
  atMs: number;
  /** The record as JSON text: a string field stores whatever the record held. */
  payload: string;
}

export function deadLetterOfEvent(stored: StoredEvent, reason: string, code: string, atMs: number): DeadLetterDocument {
  return {
    _id: { k: 'event', o: stored.owner, i: stored.event.id },
    kind: 'event',
    owner: stored.owner,
    reason,
    code,
    atMs,
    payload: JSON.stringify(stored),
  };
}

export function deadLetterOfRollup(rollup: Rollup, reason: string, code: string, atMs: number): DeadLetterDocument {
  return {
    _id: { k: 'rollup', o: rollup.owner, r: rollup.resolution, s: rollup.startMs },
    kind: 'rollup',
    owner: rollup.owner,
    reason,
    code,
    atMs,
    payload: JSON.stringify({ ...rollup, uniquesSketch: Buffer.from(rollup.uniquesSketch).toString('base64') }),
  };
}
