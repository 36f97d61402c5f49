/**
 * Encodes a batch of events once, before the clock starts, in one of the
 * three body formats, and records where the few bytes that must change per
 * send live: the event ids' sequence digits and the timestamps. A send then
 * copies a handful of precomputed bytes into those places (patchBatch) instead
 * of encoding 500 events again, so the generator's own cost stays small.
 *
 * Invariants:
 * - Every patched field has a fixed width in every format, so patching never
 *   moves a byte: ids are ASCII with a SEQ_DIGITS-digit sequence, JSON
 *   timestamps are 13 digits, msgpack timestamps are float64, protobuf
 *   timestamps are 6-byte varints (valid for unix ms in [2^35, 2^42), i.e.
 *   1971 to 2109).
 * - Only ASCII strings are written (the generator makes no others), so a
 *   string's byte length is its length.
 * - The formats are hand-written because the patch offsets must be known;
 *   test/bench/encode.test.ts decodes every format with the real decoders
 *   (JSON.parse, msgpackr, the ts-proto IngestRequest) after a patch.
 */
import type { BodyFormat, Severity } from '../actors/types.js';

/** Digits of the per-send sequence number inside every event id. */
export const SEQ_DIGITS = 12;
const TS_JSON_DIGITS = 13;
const TS_VARINT_BYTES = 6;
const VARINT_MIN_MS = 2 ** 35;
const VARINT_MAX_MS = 2 ** 42;

/** What a patch slot receives. */
export const SLOT_SEQ = 0;
export const SLOT_TS = 1;
export const SLOT_TS_LATE = 2;
export const SLOT_SENT_AT = 3;

export interface EventSpec {
  /** Fixed part of the id before the sequence digits (ASCII). */
  idPrefix: string;
  /** Fixed part after the sequence digits (ASCII), e.g. `-0042`. */
  idSuffix: string;
  name: string;
  userId: string;
  category: string;
  severity: Severity;
  tags: string[];
  properties: Record<string, string | number | boolean>;
  value: number;
  /** Timestamp comes from SLOT_TS_LATE instead of SLOT_TS. */
  late: boolean;
  /** Carries sentAt (SLOT_SENT_AT). */
  withSentAt: boolean;
}

export interface EncodedBatch {
  bytes: Uint8Array;
  /** Pairs (byte offset, slot kind). */
  slots: Int32Array;
  format: BodyFormat;
}

/** The bytes each slot kind receives on one send, in one format. */
export interface SlotValues {
  seq: Uint8Array;
  ts: Uint8Array;
  tsLate: Uint8Array;
  sentAt: Uint8Array;
}

class Writer {
  bytes: Uint8Array;
  length = 0;
  readonly slots: number[] = [];

  constructor(initialBytes = 1024) {
    this.bytes = new Uint8Array(initialBytes);
  }

  private ensure(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.bytes[this.length++] = b;
  }
  ascii(s: string): void {
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7e) throw new RangeError(`the generator writes ASCII only, got ${JSON.stringify(s)}`);
      this.bytes[this.length++] = c;
    }
  }
  /** Reserves n zero bytes for a slot. */
  slot(kind: number, n: number): void {
    this.slots.push(this.length, kind);
    this.ensure(n);
    this.bytes.fill(0x30, this.length, this.length + n);
    this.length += n;
  }
  float64(v: number): void {
    this.ensure(8);
    new DataView(this.bytes.buffer).setFloat64(this.length, v, false);
    this.length += 8;
  }
  float64le(v: number): void {
    this.ensure(8);
    new DataView(this.bytes.buffer).setFloat64(this.length, v, true);
    this.length += 8;
  }
  varint(v: number): void {
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }
  done(format: BodyFormat): EncodedBatch {
    return { bytes: this.bytes.slice(0, this.length), slots: Int32Array.from(this.slots), format };
  }
}

/** Writes an id with its sequence slot; the same in every format once the length prefix is out. */
function writeId(w: Writer, e: EventSpec): void {
  w.ascii(e.idPrefix);
  w.slot(SLOT_SEQ, SEQ_DIGITS);
  w.ascii(e.idSuffix);
}

function idLength(e: EventSpec): number {
  return e.idPrefix.length + SEQ_DIGITS + e.idSuffix.length;
}

// ---------------------------------------------------------------- JSON

function jsonString(s: string): string {
  return JSON.stringify(s);
}

function encodeJson(events: readonly EventSpec[]): EncodedBatch {
  const w = new Writer(64 * 1024);
  w.ascii('{"events":[');
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (i > 0) w.ascii(',');
    w.ascii('{"id":"');
    writeId(w, e);
    w.ascii(`","name":${jsonString(e.name)},"timestamp":`);
    w.slot(e.late ? SLOT_TS_LATE : SLOT_TS, TS_JSON_DIGITS);
    if (e.withSentAt) {
      w.ascii(',"sentAt":');
      w.slot(SLOT_SENT_AT, TS_JSON_DIGITS);
    }
    w.ascii(
      `,"userId":${jsonString(e.userId)},"category":${jsonString(e.category)},"severity":${jsonString(e.severity)},` +
        `"tags":${JSON.stringify(e.tags)},"properties":${JSON.stringify(e.properties)},"value":${JSON.stringify(e.value)}}`,
    );
  }
  w.ascii(']}');
  return w.done('json');
}

// ---------------------------------------------------------------- msgpack

function mpStr(w: Writer, s: string): void {
  if (s.length < 32) w.byte(0xa0 | s.length);
  else if (s.length < 256) {
    w.byte(0xd9);
    w.byte(s.length);
  } else {
    w.byte(0xda);
    w.byte(s.length >>> 8);
    w.byte(s.length & 0xff);
  }
  w.ascii(s);
}

function mpStrHeader(w: Writer, n: number): void {
  if (n < 32) w.byte(0xa0 | n);
  else {
    w.byte(0xd9);
    w.byte(n);
  }
}

function mpMapHeader(w: Writer, n: number): void {
  if (n < 16) w.byte(0x80 | n);
  else {
    w.byte(0xde);
    w.byte(n >>> 8);
    w.byte(n & 0xff);
  }
}

function mpArrayHeader(w: Writer, n: number): void {
  if (n < 16) w.byte(0x90 | n);
  else if (n < 65_536) {
    w.byte(0xdc);
    w.byte(n >>> 8);
    w.byte(n & 0xff);
  } else throw new RangeError('msgpack arrays over 65535 items are not generated');
}

function mpValue(w: Writer, v: string | number | boolean): void {
  if (typeof v === 'string') mpStr(w, v);
  else if (typeof v === 'boolean') w.byte(v ? 0xc3 : 0xc2);
  else {
    w.byte(0xcb);
    w.float64(v);
  }
}

function encodeMsgpack(events: readonly EventSpec[]): EncodedBatch {
  const w = new Writer(64 * 1024);
  mpMapHeader(w, 1);
  mpStr(w, 'events');
  mpArrayHeader(w, events.length);
  for (const e of events) {
    mpMapHeader(w, e.withSentAt ? 10 : 9);
    mpStr(w, 'id');
    mpStrHeader(w, idLength(e));
    writeId(w, e);
    mpStr(w, 'name');
    mpStr(w, e.name);
    mpStr(w, 'timestamp');
    w.byte(0xcb);
    w.slot(e.late ? SLOT_TS_LATE : SLOT_TS, 8);
    if (e.withSentAt) {
      mpStr(w, 'sentAt');
      w.byte(0xcb);
      w.slot(SLOT_SENT_AT, 8);
    }
    mpStr(w, 'userId');
    mpStr(w, e.userId);
    mpStr(w, 'category');
    mpStr(w, e.category);
    mpStr(w, 'severity');
    mpStr(w, e.severity);
    mpStr(w, 'tags');
    mpArrayHeader(w, e.tags.length);
    for (const t of e.tags) mpStr(w, t);
    const keys = Object.keys(e.properties);
    mpStr(w, 'properties');
    mpMapHeader(w, keys.length);
    for (const k of keys) {
      mpStr(w, k);
      mpValue(w, e.properties[k]!);
    }
    mpStr(w, 'value');
    mpValue(w, e.value);
  }
  return w.done('msgpack');
}

// ---------------------------------------------------------------- protobuf

const SEVERITY_NUMBER: Record<Severity, number> = { debug: 1, info: 2, notice: 3, warning: 4, error: 5, critical: 6 };

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Encodes one message body into a fresh writer and returns it, so its length is known for the prefix. */
function pbEvent(e: EventSpec): Writer {
  const w = new Writer();
  const str = (field: number, s: string): void => {
    w.byte((field << 3) | 2);
    w.varint(s.length);
    w.ascii(s);
  };
  w.byte((1 << 3) | 2);
  w.varint(idLength(e));
  writeId(w, e);
  str(2, e.name);
  w.byte(3 << 3);
  w.slot(e.late ? SLOT_TS_LATE : SLOT_TS, TS_VARINT_BYTES);
  if (e.withSentAt) {
    w.byte(4 << 3);
    w.slot(SLOT_SENT_AT, TS_VARINT_BYTES);
  }
  str(5, e.userId);
  str(6, e.category);
  w.byte(7 << 3);
  w.varint(SEVERITY_NUMBER[e.severity]);
  for (const t of e.tags) str(8, t);
  for (const [k, v] of Object.entries(e.properties)) {
    // map entry = message { 1: key, 2: PropertyValue { 1 string | 2 double | 3 bool } }
    const value = new Writer(64);
    if (typeof v === 'string') {
      value.byte((1 << 3) | 2);
      value.varint(v.length);
      value.ascii(v);
    } else if (typeof v === 'number') {
      value.byte((2 << 3) | 1);
      value.float64le(v);
    } else {
      value.byte(3 << 3);
      value.byte(v ? 1 : 0);
    }
    const entryLength = 1 + varintLength(k.length) + k.length + 1 + varintLength(value.length) + value.length;
    w.byte((9 << 3) | 2);
    w.varint(entryLength);
    w.byte((1 << 3) | 2);
    w.varint(k.length);
    w.ascii(k);
    w.byte((2 << 3) | 2);
    w.varint(value.length);
    for (let i = 0; i < value.length; i++) w.byte(value.bytes[i]!);
  }
  w.byte((10 << 3) | 1);
  w.float64le(e.value);
  return w;
}

function encodeProtobuf(events: readonly EventSpec[]): EncodedBatch {
  const w = new Writer(64 * 1024);
  for (const e of events) {
    const inner = pbEvent(e);
    w.byte((1 << 3) | 2);
    w.varint(inner.length);
    const base = w.length;
    for (let i = 0; i < inner.slots.length; i += 2) w.slots.push(base + inner.slots[i]!, inner.slots[i + 1]!);
    for (let i = 0; i < inner.length; i++) w.byte(inner.bytes[i]!);
  }
  return w.done('protobuf');
}

export function encodeBatch(events: readonly EventSpec[], format: BodyFormat): EncodedBatch {
  if (format === 'json') return encodeJson(events);
  if (format === 'msgpack') return encodeMsgpack(events);
  return encodeProtobuf(events);
}

// ---------------------------------------------------------------- per-send values

/** Scratch for one format; reused on every send so a send allocates nothing. */
export function createSlotValues(format: BodyFormat): SlotValues {
  const tsBytes = format === 'json' ? TS_JSON_DIGITS : format === 'msgpack' ? 8 : TS_VARINT_BYTES;
  return { seq: new Uint8Array(SEQ_DIGITS), ts: new Uint8Array(tsBytes), tsLate: new Uint8Array(tsBytes), sentAt: new Uint8Array(tsBytes) };
}

function writeDigits(out: Uint8Array, v: number): void {
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
  if (v !== 0) throw new RangeError('value does not fit its fixed-width slot');
}

function writeTime(out: Uint8Array, format: BodyFormat, ms: number): void {
  if (format === 'json') writeDigits(out, ms);
  else if (format === 'msgpack') new DataView(out.buffer, out.byteOffset, 8).setFloat64(0, ms, false);
  else {
    if (!(ms >= VARINT_MIN_MS && ms < VARINT_MAX_MS)) throw new RangeError(`timestamp ${ms} has no 6-byte varint`);
    let v = ms;
    for (let i = 0; i < TS_VARINT_BYTES; i++) {
      const low = v % 0x80;
      v = Math.floor(v / 0x80);
      out[i] = i < TS_VARINT_BYTES - 1 ? low | 0x80 : low;
    }
  }
}

/** Fills the per-send values: one call per send, not per event. */
export function setSlotValues(values: SlotValues, format: BodyFormat, seq: number, tsMs: number, tsLateMs: number, sentAtMs: number): void {
  writeDigits(values.seq, seq);
  writeTime(values.ts, format, tsMs);
  writeTime(values.tsLate, format, tsLateMs);
  writeTime(values.sentAt, format, sentAtMs);
}

/** Copies the per-send values into every slot of the batch, in place. */
export function patchBatch(batch: EncodedBatch, values: SlotValues): void {
  const { bytes, slots } = batch;
  for (let i = 0; i < slots.length; i += 2) {
    const kind = slots[i + 1]!;
    const src = kind === SLOT_SEQ ? values.seq : kind === SLOT_TS ? values.ts : kind === SLOT_TS_LATE ? values.tsLate : values.sentAt;
    bytes.set(src, slots[i]);
  }
}
