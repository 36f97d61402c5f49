/**
 * A protobuf reader for `eventide.v1.IngestRequest`, written for the one
 * message the workers decode per batch: it builds the plain JSON-shaped
 * events (schema.ts field names) directly, with no intermediate message
 * objects, Maps or `{ $case, value }` wrappers, and reads ASCII strings
 * with one native slice. The generated decoder (src/gen, ts-proto over
 * @bufbuild/protobuf's BinaryReader) decoded 0.61x as many events per second
 * as JSON.parse; this one is measured in bench/actors/decode.bench.ts.
 *
 * Semantics (proto3, as the generated decoder, except where said):
 * - Unknown fields are skipped, whatever their number; a known field number
 *   with another wire type is skipped too (as unknown).
 * - A scalar repeated in the message: the last one wins; `tags` append;
 *   a properties key repeated: its last value, at its first place.
 * - Strings are UTF-8; invalid sequences become U+FFFD, a leading U+FEFF is
 *   kept (TextDecoder with ignoreBOM, as @bufbuild/protobuf).
 * - int64 timestamps outside ±2^53 are an error (they cannot be a number).
 * - Stricter than the generated decoder: tag 0, an end-group tag without a
 *   start, wire types 6 and 7, a sub-message that does not end exactly at its
 *   length, or groups nested deeper than GROUP_DEPTH_MAX are malformed
 *   (the generated decoder stops reading the message there and goes on).
 * Every failure throws ProtobufError; decode.ts turns it into
 * EVT_BODY_MALFORMED.
 */
import { Buffer } from 'node:buffer';
import { cachedAscii, SHORT_STRING_BYTES_MAX, type Latin1Slicer } from './fast-read.js';

export class ProtobufError extends Error {}

if (typeof (Buffer.prototype as unknown as Partial<Latin1Slicer>).latin1Slice !== 'function') {
  throw new Error('this Node.js has no Buffer.prototype.latin1Slice; the protobuf reader needs it');
}

/** Nested groups a skipped unknown field may hold (groups are a proto2 relic; nobody sends them deep). */
const GROUP_DEPTH_MAX = 32;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_I32 = 5;

const SEVERITY_NAMES = ['', 'debug', 'info', 'notice', 'warning', 'error', 'critical'] as const;

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
/*
 * Strings that repeat from event to event (names, categories, tags,
 * property keys) come from the cache the one-pass JSON and msgpack readers
 * share (fast-read.ts): a string made fresh is hashed and internalized again
 * by V8 every time it is used as a property key or a Map key, which cost
 * more than reading it (msgpackr keeps a key cache for the same reason).
 */

export interface ProtobufIngest {
  /** Plain events in the JSON shape of schema.ts; a field absent from the message is undefined. */
  events: Array<Record<string, unknown>>;
  batchId: string;
  /** AckLevel as sent: 0 unspecified, 1 applied, 2 durable, anything else unknown. */
  ack: number;
  receiptsAll: boolean;
}

/**
 * Thrown by readIngestRequest at the event past its `eventsMax`: it stops
 * there, so a body of a million small events costs eventsMax + 1 objects,
 * not a million (the caller counts the rest with countEvents to say how many).
 */
export class TooManyEvents extends Error {}
const TOO_MANY_EVENTS = new TooManyEvents('more events than the reader was allowed');

/**
 * Reads one body; the caller has bounded its size. More than `eventsMax`
 * events: TooManyEvents, at the first one past it. (One pass: counting the
 * events first, as before, was ~2 % of a worker's time at saturation.)
 */
export function readIngestRequest(bytes: Uint8Array, eventsMax = Number.POSITIVE_INFINITY): ProtobufIngest {
  const r = new Reader(bytes);
  const out: ProtobufIngest = { events: [], batchId: '', ack: 0, receiptsAll: false };
  const end = bytes.length;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a: // 1 events, LEN
        if (out.events.length >= eventsMax) throw TOO_MANY_EVENTS;
        out.events.push(readEvent(r, r.subEnd()));
        break;
      case 0x12: // 2 batch_id, LEN
        out.batchId = r.string();
        break;
      case 0x18: // 3 ack, VARINT (enum: int32)
        out.ack = r.int32();
        break;
      case 0x20: // 4 receipts_all, VARINT
        out.receiptsAll = r.varintNonZero();
        break;
      default:
        r.skip(tag);
    }
  }
  return out;
}

/** IngestRequest.events (field 1) counted by skipping over them: a million empty events cost no objects. Malformed: ProtobufError. */
export function countEvents(bytes: Uint8Array): number {
  const r = new Reader(bytes);
  let count = 0;
  while (r.pos < bytes.length) {
    const tag = r.tag();
    if (tag === 0x0a) count++;
    r.skip(tag);
  }
  return count;
}

export function readEvent(r: Reader, end: number): Record<string, unknown> {
  let id = '';
  let name = '';
  let timestamp: number | undefined;
  let sentAt: number | undefined;
  let userId: string | undefined;
  let category: string | undefined;
  let severity = 0;
  let tags: string[] | undefined;
  let props: Record<string, unknown> | undefined;
  let propertyCount = 0;
  let value: number | undefined;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag) {
      case 0x0a: // 1 id
        id = r.string();
        break;
      case 0x12: // 2 name
        name = r.cachedString();
        break;
      case 0x18: // 3 timestamp_ms, int64
        timestamp = r.int64();
        break;
      case 0x20: // 4 sent_at_ms, int64
        sentAt = r.int64();
        break;
      case 0x2a: // 5 user_id
        userId = r.string();
        break;
      case 0x32: // 6 category
        category = r.cachedString();
        break;
      case 0x38: // 7 severity, enum
        severity = r.int32();
        break;
      case 0x42: // 8 tags
        // The first two into a literal of their size (a pushed-to empty array reserves 17 items).
        if (tags === undefined) tags = [r.cachedString()];
        else if (tags.length === 1) tags = [tags[0]!, r.cachedString()];
        else tags.push(r.cachedString());
        break;
      case 0x4a: // 9 properties, map entry
        props ??= {};
        if (readPropertyEntry(r, r.subEnd(), props)) propertyCount++;
        break;
      case 0x51: // 10 value, double
        value = r.double();
        break;
      default:
        r.skip(tag);
    }
  }
  r.endAt(end);
  // One object shape for every event (absent fields are undefined, which the
  // validator reads as absent): building it key by key as fields turned up
  // cost a third of the reader's time in hidden-class transitions.
  return {
    // Empty is proto3's "unset"; a missing name makes the validator say EVT_FIELD_MISSING.
    id: id === '' ? undefined : id,
    name: name === '' ? undefined : name,
    timestamp,
    sentAt,
    userId,
    category,
    severity: severity === 0 ? undefined : severity > 0 && severity < SEVERITY_NAMES.length ? SEVERITY_NAMES[severity] : `unknown(${severity})`,
    tags,
    properties: propertyCount === 0 ? undefined : props,
    value,
  };
}

/** One `map<string, PropertyValue>` entry: key field 1, value field 2 (a message with a oneof of string, double, bool). */
function readPropertyEntry(r: Reader, end: number, props: Record<string, unknown>): boolean {
  let key = '';
  let hasValue = false;
  let value: unknown;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === 0x0a) {
      key = r.cachedString();
    } else if (tag === 0x12) {
      hasValue = true;
      value = undefined;
      const valueEnd = r.subEnd();
      while (r.pos < valueEnd) {
        const inner = r.tag();
        if (inner === 0x0a) value = r.cachedString();
        else if (inner === 0x11) value = r.double();
        else if (inner === 0x18) value = r.varintNonZero();
        else r.skip(inner);
      }
      r.endAt(valueEnd);
    } else {
      r.skip(tag);
    }
  }
  r.endAt(end);
  // An entry without a value is no property (as the generated decoder); an empty PropertyValue is one without a value.
  if (!hasValue) return false;
  // `__proto__` as an own key (as JSON.parse makes it), so the validator sees and refuses it.
  if (key === '__proto__') Object.defineProperty(props, key, { value, enumerable: true, writable: true, configurable: true });
  else props[key] = value;
  return true;
}

export class Reader {
  readonly bytes: Uint8Array;
  /** The same memory as a Buffer, for native ASCII slices. */
  readonly buffer: Buffer;
  readonly view: DataView;
  pos = 0;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** A field tag; tag 0 and wire types 6 and 7 do not exist. */
  tag(): number {
    const tag = this.uint32();
    const wire = tag & 7;
    if (tag >>> 3 === 0 || wire > WIRE_I32) throw new ProtobufError(`invalid tag ${tag} at byte ${this.pos}`);
    return tag;
  }

  /** A varint's low 32 bits, unsigned (lengths, tags). Up to 10 bytes, as protobuf allows. */
  uint32(): number {
    const b = this.bytes;
    let pos = this.pos;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= b.length) throw new ProtobufError('premature end of data in a varint');
      const byte = b[pos++]!;
      if (shift < 32) result |= (byte & 0x7f) << shift;
      shift += 7;
      if (byte < 0x80) {
        this.pos = pos;
        return result >>> 0;
      }
    }
    throw new ProtobufError('varint longer than 10 bytes');
  }

  int32(): number {
    return this.uint32() | 0;
  }

  varintNonZero(): boolean {
    const b = this.bytes;
    let nonZero = false;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= b.length) throw new ProtobufError('premature end of data in a varint');
      const byte = b[this.pos++]!;
      if ((byte & 0x7f) !== 0) nonZero = true;
      if (byte < 0x80) return nonZero;
    }
    throw new ProtobufError('varint longer than 10 bytes');
  }

  /** A two's complement int64 varint as a number; an error outside the safe integers. */
  int64(): number {
    const b = this.bytes;
    let lo = 0;
    let hi = 0;
    let pos = this.pos;
    let i = 0;
    for (; i < 10; i++) {
      if (pos >= b.length) throw new ProtobufError('premature end of data in a varint');
      const byte = b[pos++]!;
      const bits = byte & 0x7f;
      const shift = 7 * i;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if (byte < 0x80) break;
    }
    if (i === 10) throw new ProtobufError('varint longer than 10 bytes');
    this.pos = pos;
    const value = (hi | 0) * 4294967296 + (lo >>> 0);
    if (!Number.isSafeInteger(value)) throw new ProtobufError(`int64 ${value < 0 ? 'smaller than Number.MIN_SAFE_INTEGER' : 'larger than Number.MAX_SAFE_INTEGER'}`);
    return value;
  }

  double(): number {
    if (this.pos + 8 > this.bytes.length) throw new ProtobufError('premature end of data in a double');
    const value = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return value;
  }

  /** Where a length-delimited field that starts here ends; checked against the data. */
  subEnd(): number {
    const length = this.uint32();
    const end = this.pos + length;
    if (end > this.bytes.length) throw new ProtobufError('premature end of data in a length-delimited field');
    return end;
  }

  /** A sub-message must end exactly at its declared length. */
  endAt(end: number): void {
    if (this.pos !== end) throw new ProtobufError('a field runs past the end of its message');
  }

  /** A string that is likely to repeat across events: short ASCII ones from the shared cache (fast-read.ts). */
  cachedString(): string {
    const end = this.subEnd();
    const start = this.pos;
    this.pos = end;
    if (end - start > SHORT_STRING_BYTES_MAX) return this.stringAt(start, end);
    return cachedAscii(this.buffer, this.view, start, end) ?? this.stringAt(start, end);
  }

  string(): string {
    const end = this.subEnd();
    const start = this.pos;
    this.pos = end;
    return this.stringAt(start, end);
  }

  stringAt(start: number, end: number): string {
    const b = this.bytes;
    for (let i = start; i < end; i++) {
      if (b[i]! > 0x7f) return utf8.decode(b.subarray(start, end));
    }
    // ASCII: one native slice (70 ns for an id; a byte at a time in JavaScript took 115). Buffer's own
    // latin1Slice, not toString('latin1'), whose argument handling was as costly as the slice.
    return (this.buffer as unknown as Latin1Slicer).latin1Slice(start, end);
  }

  /** Skips the value of a field whose tag was just read (groups included, bounded in depth). */
  skip(tag: number): void {
    switch (tag & 7) {
      case WIRE_VARINT:
        this.uint32();
        return;
      case WIRE_I64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.pos = this.subEnd();
        return;
      case WIRE_I32:
        this.advance(4);
        return;
      case WIRE_START_GROUP: {
        // Iterative, with a stack of the open groups' field numbers.
        const open = [tag >>> 3];
        while (open.length > 0) {
          if (this.pos >= this.bytes.length) throw new ProtobufError('premature end of data in a group');
          const inner = this.tag();
          const wire = inner & 7;
          if (wire === WIRE_END_GROUP) {
            if (inner >>> 3 !== open.pop()) throw new ProtobufError('a group ends with another field number');
          } else if (wire === WIRE_START_GROUP) {
            if (open.length >= GROUP_DEPTH_MAX) throw new ProtobufError(`groups nested deeper than ${GROUP_DEPTH_MAX}`);
            open.push(inner >>> 3);
          } else {
            this.skip(inner);
          }
        }
        return;
      }
      default:
        throw new ProtobufError(`an end-group tag without a group at byte ${this.pos}`);
    }
  }

  advance(n: number): void {
    if (this.pos + n > this.bytes.length) throw new ProtobufError('premature end of data');
    this.pos += n;
  }
}
