/**
 * A msgpack reader for batch bodies that does in one pass what the
 * structure walk (scan.ts scanMsgpack) and msgpackr's unpack do in two: it
 * reads `[event, ...]` and `{ "events": [...], ... }` straight into the plain
 * events the validator reads, with repeating short strings from the shared
 * cache (fast-read.ts). Measured against the two passes in
 * bench/actors/decode.bench.ts.
 *
 * Invariants (as json-fast.ts):
 * - It either returns what the scan would let through and msgpackr (as
 *   decode.ts configures it: maps as objects, 64-bit integers as numbers)
 *   would return, equal in every field the validator reads and in key order,
 *   or it gives up (undefined) and decode.ts runs the scan and msgpackr, which
 *   give every error message.
 * - It checks the scan's bounds at the same points the scan does: when a
 *   container opens, its item count against eventsMax (the events array),
 *   values (each container's items + 1) and depth, before any item is read;
 *   and any other container's count against `itemsMax` (fast-read.ts).
 * - Events are built in one object shape with the schema's fields; other
 *   keys are read and dropped. Maps elsewhere are built key by key (a repeated
 *   key keeps its first place and last value, as msgpackr's).
 * - It gives up on: a body that is one event, an envelope without `events`
 *   or with it twice or not an array, anything the scan refuses (extension
 *   types, the byte 0xc1, a key that is not a string, the key `__proto__`,
 *   truncation, trailing bytes), bin values (msgpackr would return bytes),
 *   and non-ASCII strings that are not valid UTF-8 (msgpackr's own decoder
 *   decides those).
 */
import { Buffer } from 'node:buffer';
import {
  F_ID,
  F_USER_ID,
  EventFields,
  fieldOf,
  cachedAscii,
  GIVE_UP,
  SHORT_STRING_BYTES_MAX,
  asBuffer,
  readOrGiveUp,
  type FastReadLimits,
  type OnePassCounts,
  type Latin1Slicer,
} from './fast-read.js';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** How often each way was taken since the thread started (worker-telemetry.ts reports it: eventide_decode_one_pass_total). */
export const msgpackFastCounts: OnePassCounts = { read: 0, gaveUp: 0 };

/** The body's value as the scan and msgpackr would give it, or undefined when this reader gives up. */
export function readMsgpackFast(bytes: Uint8Array, limits: FastReadLimits): unknown {
  return readOrGiveUp(new Reader(asBuffer(bytes), limits), msgpackFastCounts);
}

const PROTO_KEY: readonly number[] = [...'__proto__'].map((c) => c.charCodeAt(0));

/** What a container header says: 1 array, 2 map; and its item (or entry) count. */
const ARRAY = 1;
const MAP = 2;

class Reader {
  pos = 0;
  private values = 0;
  private readonly n: number;
  private readonly view: DataView;
  private readonly depthMax: number;
  private readonly valuesMax: number;
  private readonly eventsMax: number;
  private readonly itemsMax: number;
  private readonly fields = new EventFields();
  /** Set by header(): the count of the container just read. */
  private count = 0;

  constructor(
    private readonly b: Buffer,
    limits: FastReadLimits,
  ) {
    this.n = b.length;
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.depthMax = limits.depthMax;
    this.valuesMax = limits.valuesMax;
    this.eventsMax = limits.eventsMax;
    this.itemsMax = limits.itemsMax;
  }

  body(): unknown {
    const kind = this.header();
    let value: unknown;
    if (kind === ARRAY) value = this.events(1, this.count);
    else if (kind === MAP) value = this.envelope(this.count);
    else throw GIVE_UP;
    if (this.pos !== this.n) throw GIVE_UP;
    return value;
  }

  /** Reads a container header at the position: ARRAY or MAP with this.count set, or 0 (nothing read). */
  private header(): number {
    const b = this.b;
    const p = this.pos;
    const t = b[p];
    if (t === undefined) throw GIVE_UP;
    if (t >= 0x80 && t <= 0x8f) {
      this.count = t & 0x0f;
      this.pos = p + 1;
      return MAP;
    }
    if (t >= 0x90 && t <= 0x9f) {
      this.count = t & 0x0f;
      this.pos = p + 1;
      return ARRAY;
    }
    if (t === 0xdc || t === 0xde) {
      if (p + 3 > this.n) throw GIVE_UP;
      this.count = (b[p + 1]! << 8) | b[p + 2]!;
      this.pos = p + 3;
      return t === 0xdc ? ARRAY : MAP;
    }
    if (t === 0xdd || t === 0xdf) {
      if (p + 5 > this.n) throw GIVE_UP;
      this.count = this.view.getUint32(p + 1);
      this.pos = p + 5;
      return t === 0xdd ? ARRAY : MAP;
    }
    return 0;
  }

  /** The scan's checks for a container of `count` items opening at `depth` (the body is 1). */
  private open(depth: number, count: number): void {
    this.values += count + 1;
    if (this.values > this.valuesMax || depth > this.depthMax) throw GIVE_UP;
  }

  private envelope(count: number): Record<string, unknown> {
    if (count > this.itemsMax) throw GIVE_UP;
    this.open(1, count);
    const out: Record<string, unknown> = {};
    let sawEvents = false;
    for (let i = 0; i < count; i++) {
      const key = this.key();
      if (key === 'events') {
        if (sawEvents || this.header() !== ARRAY) throw GIVE_UP;
        sawEvents = true;
        out[key] = this.events(2, this.count);
      } else {
        out[key] = this.value(1);
      }
    }
    if (!sawEvents) throw GIVE_UP;
    return out;
  }

  /** The events array, its header read, at `depth`; apart from array() for the reason json-fast.ts gives. */
  private events(depth: number, count: number): unknown[] {
    if (count > this.eventsMax) throw GIVE_UP;
    this.open(depth, count);
    const out = new Array<unknown>(count);
    for (let i = 0; i < count; i++) out[i] = this.eventAt(depth);
    return out;
  }

  /** The item at the position of an events array at `depth`. */
  eventAt(depth: number): unknown {
    const t = this.b[this.pos];
    // A map (fixmap, or map 16 / 32: msgpackr writes every object as map 16 unless told variableMapSize) is an event.
    return t !== undefined && ((t & 0xf0) === 0x80 || t === 0xde || t === 0xdf) ? this.event(depth + 1) : this.value(depth);
  }

  /** One event, a map at the position, at `depth`. */
  private event(depth: number): Record<string, unknown> {
    this.header();
    const count = this.count;
    this.open(depth, count);
    const fields = this.fields;
    fields.clear();
    for (let i = 0; i < count; i++) {
      const field = this.field();
      // Ids and user ids seldom repeat: kept out of the cache, where they would only evict names.
      fields.set(field, this.value(depth, field !== F_ID && field !== F_USER_ID));
    }
    return fields.build();
  }

  /** The span [start, end) of the string at the position (str8/16/32 or fixstr), consumed; gives up on anything else. */
  private stringSpan(): number {
    const b = this.b;
    const p = this.pos;
    const t = b[p];
    let start: number;
    let length: number;
    if (t !== undefined && t >= 0xa0 && t <= 0xbf) {
      length = t & 0x1f;
      start = p + 1;
    } else if (t === 0xd9) {
      if (p + 2 > this.n) throw GIVE_UP;
      length = b[p + 1]!;
      start = p + 2;
    } else if (t === 0xda) {
      if (p + 3 > this.n) throw GIVE_UP;
      length = (b[p + 1]! << 8) | b[p + 2]!;
      start = p + 3;
    } else if (t === 0xdb) {
      if (p + 5 > this.n) throw GIVE_UP;
      length = this.view.getUint32(p + 1);
      start = p + 5;
    } else {
      throw GIVE_UP;
    }
    const end = start + length;
    if (end > this.n) throw GIVE_UP;
    this.pos = end;
    return start;
  }

  /** A map key: a string, never `__proto__`. */
  private key(): string {
    const key = this.string(true);
    if (key === '__proto__') throw GIVE_UP;
    return key;
  }

  /** An event's key: which schema field it names (F_OTHER for any other string, non-ASCII ones included). */
  private field(): number {
    const start = this.stringSpan();
    const end = this.pos;
    const b = this.b;
    // `__proto__` is no schema field, but the walk refuses it as any map's key.
    if (end - start === PROTO_KEY.length && b[start] === 0x5f) {
      let proto = true;
      for (let i = 0; i < PROTO_KEY.length; i++) if (b[start + i] !== PROTO_KEY[i]) proto = false;
      if (proto) throw GIVE_UP;
    }
    return fieldOf(b, start, end);
  }

  /** The string at the position; `cached`: likely to repeat (see fast-read.ts). */
  private string(cached: boolean): string {
    const start = this.stringSpan();
    return this.text(start, this.pos, cached);
  }

  /** The bytes [start, end) as text: ASCII by one slice (short ones from the cache when `cached`), else strict UTF-8. */
  private text(start: number, end: number, cached: boolean): string {
    const b = this.b;
    if (cached && end - start <= SHORT_STRING_BYTES_MAX) return cachedAscii(b, this.view, start, end) ?? this.wide(start, end);
    for (let i = start; i < end; i++) if (b[i]! >= 0x80) return this.wide(start, end);
    return (b as unknown as Latin1Slicer).latin1Slice(start, end);
  }

  private wide(start: number, end: number): string {
    try {
      return utf8.decode(this.b.subarray(start, end));
    } catch {
      throw GIVE_UP;
    }
  }

  /** Any value; containers opened here are at `depth` + 1; `cached`: for strings, see string(). */
  private value(depth: number, cached = true): unknown {
    const b = this.b;
    const p = this.pos;
    const t = b[p];
    if (t === undefined) throw GIVE_UP;
    if (t < 0x80) {
      this.pos = p + 1;
      return t;
    }
    if (t >= 0xe0) {
      this.pos = p + 1;
      return t - 0x100;
    }
    if ((t >= 0xa0 && t <= 0xbf) || t === 0xd9 || t === 0xda || t === 0xdb) return this.string(cached);
    const kind = this.header();
    if (kind === MAP) return this.map(depth + 1, this.count);
    if (kind === ARRAY) return this.array(depth + 1, this.count);
    switch (t) {
      case 0xc0:
        this.pos = p + 1;
        return null;
      case 0xc2:
        this.pos = p + 1;
        return false;
      case 0xc3:
        this.pos = p + 1;
        return true;
      default: {
        // bin, ext, fixext, 0xc1: left to the scan and msgpackr (msgpackNumber gives up on them).
        const v = msgpackNumber(t, b, this.view, p, this.n);
        this.pos = numberEnd;
        return v;
      }
    }
  }

  private map(depth: number, count: number): Record<string, unknown> {
    if (count > this.itemsMax) throw GIVE_UP;
    this.open(depth, count);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < count; i++) {
      const key = this.key();
      out[key] = this.value(depth);
    }
    return out;
  }

  private array(depth: number, count: number): unknown[] {
    if (count > this.itemsMax) throw GIVE_UP;
    this.open(depth, count);
    const out = new Array<unknown>(count);
    for (let i = 0; i < count; i++) out[i] = this.value(depth);
    return out;
  }
}

/** Where msgpackNumber left off: the position after the number it read. */
export let numberEnd = 0;

/**
 * The number at b[p] whose type byte `t` (0xca..0xd3: float 32 / 64, uint
 * and int 8..64) is read, as msgpackr reads it with int64AsType 'number'
 * (its end in numberEnd). GIVE_UP on any other type byte and past `n`.
 * Fixints are the callers' (one byte, inline).
 */
export function msgpackNumber(t: number, b: Uint8Array, view: DataView, p: number, n: number): number {
  let size: number;
  let v: number;
  switch (t) {
    case 0xca:
      size = 4;
      if (p + 1 + size > n) throw GIVE_UP;
      v = view.getFloat32(p + 1);
      break;
    case 0xcb:
      size = 8;
      if (p + 1 + size > n) throw GIVE_UP;
      v = view.getFloat64(p + 1);
      break;
    case 0xcc:
      size = 1;
      if (p + 1 + size > n) throw GIVE_UP;
      v = b[p + 1]!;
      break;
    case 0xcd:
      size = 2;
      if (p + 1 + size > n) throw GIVE_UP;
      v = view.getUint16(p + 1);
      break;
    case 0xce:
      size = 4;
      if (p + 1 + size > n) throw GIVE_UP;
      v = view.getUint32(p + 1);
      break;
    case 0xcf:
      // As msgpackr with int64AsType 'number': high word × 2^32 + low word, rounded as that sum rounds.
      size = 8;
      if (p + 1 + size > n) throw GIVE_UP;
      v = view.getUint32(p + 1) * 0x100000000 + view.getUint32(p + 5);
      break;
    case 0xd0:
      size = 1;
      if (p + 1 + size > n) throw GIVE_UP;
      v = view.getInt8(p + 1);
      break;
    case 0xd1:
      size = 2;
      if (p + 1 + size > n) throw GIVE_UP;
      v = view.getInt16(p + 1);
      break;
    case 0xd2:
      size = 4;
      if (p + 1 + size > n) throw GIVE_UP;
      v = view.getInt32(p + 1);
      break;
    case 0xd3:
      size = 8;
      if (p + 1 + size > n) throw GIVE_UP;
      v = view.getInt32(p + 1) * 0x100000000 + view.getUint32(p + 5);
      break;
    default:
      throw GIVE_UP;
  }
  numberEnd = p + 1 + size;
  return v;
}

/**
 * One event of a body read as this reader reads the events array (a map
 * as an event, anything else as a value): the item at `pos` of an events
 * array at `depth`, and where it ends. GIVE_UP (fast-read.ts) where the
 * reader would give up on the body. The values bound is not checked here
 * (the caller's: see columns-msgpack.ts).
 */
export function readMsgpackEventAt(b: Buffer, pos: number, depth: number, limits: FastReadLimits): { value: unknown; end: number } {
  const reader = new Reader(b, limits);
  reader.pos = pos;
  const value = reader.eventAt(depth);
  return { value, end: reader.pos };
}
