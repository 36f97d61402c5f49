/**
 * The event bucket format: one owner's stored events in a fixed layout,
 * written field by field instead of through a general encoder.
 *
 * Why: packing buckets with msgpackr records was 8-9 % of the server's CPU
 * at saturation (perf, bench/RESULTS.md), the largest part of the store's
 * cost after LZ4. A bucket always holds the same shape (an EventRecord of
 * one owner and shard), so the encoder needs no type dispatch and no key
 * lookups, and the owner and shard are written once per bucket, not once per
 * event (fewer bytes for LZ4 and for the map). Measured side by side in
 * bench/store/bucket-codec.bench.ts.
 *
 * Layout (integers are unsigned LEB128 varints unless said; strings are a
 * varint byte length and UTF-8; f64 is little-endian IEEE 754):
 *
 *   0xC1 (BUCKET_MARK)  u8 version (1)  count  owner  shard
 *   count × event:
 *     u8 flags  u8 severity (index in SEVERITIES)
 *     id  name  f64 timestampMs
 *     [f64 clientTimestampMs]   flag CLIENT_TS: differs from timestampMs
 *     [f64 receivedAtMs]        flag RECEIVED_AT: differs from the previous event's (always on the first)
 *     [userId]                  flag USER_ID
 *     category  tagCount × tag  propertyCount × (key, u8 kind, value)
 *     [f64 value]               flag VALUE
 *   flags bits 0-1: status (0 accepted, 1 late, 2 too_late).
 *   property kind: 0 string, 1 f64 number, 2 true, 3 false.
 *
 * Invariants:
 * - 0xC1 is the one byte msgpack never uses, so a reader tells this format
 *   from the msgpack buckets written before it by the first byte, and it is
 *   below 250, which lmdb-js would take for its own compression marker.
 * - encodeBucket returns undefined for events that do not have the shape
 *   (not every StoredEvent a caller may pass is a validated one); the store
 *   then packs that bucket with msgpack, which reads back the same way.
 * - Decoding is exact: property keys are defined as own properties (a key
 *   `__proto__` stays a key), -0 and NaN survive f64, absent userId and value
 *   stay undefined.
 */
import { SEVERITIES, type EventRecord, type StoredEvent } from '../../actors/types.js';
import { StoreCorruptError } from '../errors.js';

export const BUCKET_MARK = 0xc1;
const BUCKET_VERSION = 1;

const STATUS_MASK = 0b11;
const CLIENT_TS = 1 << 2;
const RECEIVED_AT = 1 << 3;
const USER_ID = 1 << 4;
const VALUE = 1 << 5;
const STATUSES = ['accepted', 'late', 'too_late'] as const;

const KIND_STRING = 0;
const KIND_NUMBER = 1;
const KIND_TRUE = 2;
const KIND_FALSE = 3;

/** Index of a severity in SEVERITIES, -1 for anything else. */
function severityIndex(s: unknown): number {
  switch (s) {
    case 'debug':
      return 0;
    case 'info':
      return 1;
    case 'notice':
      return 2;
    case 'warning':
      return 3;
    case 'error':
      return 4;
    case 'critical':
      return 5;
    default:
      return -1;
  }
}

/** Index of a stored status in STATUSES, -1 for anything else. */
function statusIndex(s: unknown): number {
  return s === 'accepted' ? 0 : s === 'late' ? 1 : s === 'too_late' ? 2 : -1;
}

/** A string this long or shorter takes at most 127 UTF-8 bytes: its length fits one varint byte, written before the string. */
const SHORT_STRING_CHARS = 42;

class Writer {
  buf: Buffer;
  view: DataView;
  pos = 0;

  constructor(bytes: number) {
    this.buf = Buffer.allocUnsafe(bytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  ensure(more: number): void {
    if (this.pos + more <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + more));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  varuint(v: number): void {
    this.ensure(8);
    const b = this.buf;
    while (v >= 0x80) {
      b[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    b[this.pos++] = v;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  str(s: string): void {
    const n = s.length;
    if (n <= SHORT_STRING_CHARS) {
      this.ensure(1 + 3 * n);
      const b = this.buf;
      const at = this.pos;
      let p = at + 1;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          // Not ASCII: the rest through the UTF-8 encoder (surrogate pairs included).
          p += b.write(s.slice(i), p, 'utf8');
          break;
        }
        b[p++] = c;
      }
      b[at] = p - at - 1;
      this.pos = p;
      return;
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varuint(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

/** One per thread, reused by every encodeBucket call (it grows to the largest bucket and stays). */
const SCRATCH = new Writer(128 * 1024);

function isShaped(stored: StoredEvent, owner: string, shard: number): boolean {
  const e = stored.event;
  return (
    stored.owner === owner &&
    stored.shard === shard &&
    statusIndex(stored.status) >= 0 &&
    typeof e === 'object' &&
    e !== null &&
    typeof e.id === 'string' &&
    typeof e.name === 'string' &&
    typeof e.timestampMs === 'number' &&
    typeof e.clientTimestampMs === 'number' &&
    typeof e.receivedAtMs === 'number' &&
    (e.userId === undefined || typeof e.userId === 'string') &&
    typeof e.category === 'string' &&
    severityIndex(e.severity) >= 0 &&
    Array.isArray(e.tags) &&
    typeof e.properties === 'object' &&
    e.properties !== null &&
    (e.value === undefined || typeof e.value === 'number')
  );
}

/**
 * Encodes `group` (one owner's events, in the order they are to be stored) in
 * the bucket format, or returns undefined when an event does not have the
 * shape of a validated one (the caller falls back to msgpack).
 */
export function encodeBucket(group: readonly StoredEvent[]): Buffer | undefined {
  if (group.length === 0) return undefined;
  const { owner, shard } = group[0]!;
  if (typeof owner !== 'string' || !Number.isSafeInteger(shard) || shard < 0) return undefined;
  const w = SCRATCH;
  w.pos = 0;
  w.u8(BUCKET_MARK);
  w.u8(BUCKET_VERSION);
  w.varuint(group.length);
  w.str(owner);
  w.varuint(shard);
  let receivedAtMs = Number.NaN;
  for (let i = 0; i < group.length; i++) {
    const stored = group[i]!;
    if (!isShaped(stored, owner, shard)) return undefined;
    const e = stored.event;
    let flags = statusIndex(stored.status);
    const clientDiffers = !Object.is(e.clientTimestampMs, e.timestampMs);
    const receivedDiffers = !Object.is(e.receivedAtMs, receivedAtMs);
    if (clientDiffers) flags |= CLIENT_TS;
    if (receivedDiffers) flags |= RECEIVED_AT;
    if (e.userId !== undefined) flags |= USER_ID;
    if (e.value !== undefined) flags |= VALUE;
    w.u8(flags);
    w.u8(severityIndex(e.severity));
    w.str(e.id);
    w.str(e.name);
    w.f64(e.timestampMs);
    if (clientDiffers) w.f64(e.clientTimestampMs);
    if (receivedDiffers) {
      w.f64(e.receivedAtMs);
      receivedAtMs = e.receivedAtMs;
    }
    if (e.userId !== undefined) w.str(e.userId);
    w.str(e.category);
    const tags = e.tags;
    w.varuint(tags.length);
    for (let t = 0; t < tags.length; t++) {
      const tag = tags[t];
      if (typeof tag !== 'string') return undefined;
      w.str(tag);
    }
    const keys = Object.keys(e.properties);
    w.varuint(keys.length);
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      const v = e.properties[key];
      w.str(key);
      if (typeof v === 'string') {
        w.u8(KIND_STRING);
        w.str(v);
      } else if (typeof v === 'number') {
        w.u8(KIND_NUMBER);
        w.f64(v);
      } else if (v === true) w.u8(KIND_TRUE);
      else if (v === false) w.u8(KIND_FALSE);
      else return undefined;
    }
    if (e.value !== undefined) w.f64(e.value);
  }
  // A copy of exactly its size: the bucket may wait in the flush buffer a while, and the scratch is reused.
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** True when `bytes` is a bucket in this format (else it is a msgpack bucket of an earlier version). */
export function isCodecBucket(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === BUCKET_MARK;
}

const UTF8 = new TextDecoder('utf-8');

class Reader {
  pos = 0;
  readonly #view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(n: number): void {
    if (this.pos + n > this.bytes.length) throw new StoreCorruptError('event bucket ends early', 'event');
  }

  u8(): number {
    this.#need(1);
    return this.bytes[this.pos++]!;
  }

  varuint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 128;
    }
    throw new StoreCorruptError('event bucket holds a broken number', 'event');
  }

  f64(): number {
    this.#need(8);
    const v = this.#view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  str(): string {
    const n = this.varuint();
    this.#need(n);
    const b = this.bytes;
    const start = this.pos;
    this.pos += n;
    if (n <= SHORT_STRING_CHARS) {
      // ASCII by hand (most ids, names and values): cheaper than a decoder call for a few bytes.
      let s = '';
      for (let i = start; i < start + n; i++) {
        const c = b[i]!;
        if (c >= 0x80) return UTF8.decode(b.subarray(start, start + n));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return UTF8.decode(b.subarray(start, start + n));
  }
}

/** Decodes a bucket written by encodeBucket. Throws StoreCorruptError on anything else. */
export function decodeBucket(bytes: Uint8Array): StoredEvent[] {
  const r = new Reader(bytes);
  if (r.u8() !== BUCKET_MARK) throw new StoreCorruptError('not an event bucket', 'event');
  const version = r.u8();
  if (version !== BUCKET_VERSION) throw new StoreCorruptError(`event bucket version ${version} is unknown`, 'event');
  const count = r.varuint();
  const owner = r.str();
  const shard = r.varuint();
  const out: StoredEvent[] = [];
  let receivedAtMs = Number.NaN;
  for (let i = 0; i < count; i++) {
    const flags = r.u8();
    const status = STATUSES[flags & STATUS_MASK];
    const severity = SEVERITIES[r.u8()];
    if (status === undefined || severity === undefined) throw new StoreCorruptError('event bucket holds an unknown status or severity', 'event');
    const id = r.str();
    const name = r.str();
    const timestampMs = r.f64();
    const clientTimestampMs = flags & CLIENT_TS ? r.f64() : timestampMs;
    if (flags & RECEIVED_AT) receivedAtMs = r.f64();
    const userId = flags & USER_ID ? r.str() : undefined;
    const category = r.str();
    const tagCount = r.varuint();
    const tags: string[] = [];
    for (let t = 0; t < tagCount; t++) tags.push(r.str());
    const propertyCount = r.varuint();
    const properties: Record<string, string | number | boolean> = {};
    for (let k = 0; k < propertyCount; k++) {
      const key = r.str();
      const kind = r.u8();
      let v: string | number | boolean;
      if (kind === KIND_STRING) v = r.str();
      else if (kind === KIND_NUMBER) v = r.f64();
      else if (kind === KIND_TRUE) v = true;
      else if (kind === KIND_FALSE) v = false;
      else throw new StoreCorruptError(`event bucket holds an unknown property kind ${kind}`, 'event');
      // Defined, not assigned: a key `__proto__` stays an own property.
      if (key === '__proto__') Object.defineProperty(properties, key, { value: v, enumerable: true, writable: true, configurable: true });
      else properties[key] = v;
    }
    const value = flags & VALUE ? r.f64() : undefined;
    const event: EventRecord = {
      id,
      name,
      timestampMs,
      clientTimestampMs,
      receivedAtMs,
      userId,
      category,
      severity: severity,
      tags,
      properties,
      value,
    };
    out.push({ owner, shard, status: status, event });
  }
  if (r.pos !== bytes.length) throw new StoreCorruptError('event bucket has bytes after its last event', 'event');
  return out;
}

// severityIndex spells out SEVERITIES; a reordered list would silently change what stored bytes mean.
if (SEVERITIES.some((s, i) => severityIndex(s) !== i)) throw new Error('bucket-codec: severityIndex does not match SEVERITIES');
