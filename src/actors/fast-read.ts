/**
 * What the one-pass body readers (json-fast.ts, msgpack-fast.ts) share: the
 * schema's event fields told apart by their key bytes, the cache of short
 * ASCII strings that repeat from event to event, and the way they give up.
 *
 * The cache: direct-mapped, STRING_CACHE_SLOTS slots keyed by a hash of the
 * bytes (FNV-style, computed by the caller while it finds the string's end),
 * ASCII strings of at most SHORT_STRING_BYTES_MAX bytes; a hit is checked
 * against the slot's copy of its bytes, a miss replaces the slot. It only ever returns a string equal
 * to the bytes asked for: it changes what is allocated, not what is read. Its
 * point: a string that is the same object batch after batch is hashed by V8
 * once, for every Map and property lookup downstream.
 */
import { Buffer } from 'node:buffer';
import { bodyStructureLimits, VALUES_PER_EVENT_SLACK, type StructureLimits } from './scan.js';

/** Node's Buffer has had latin1Slice since v0.x; @types/node does not list it (protobuf.ts checks it exists). */
export interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

/**
 * The scan's bounds, plus `itemsMax`: the items of any container a reader
 * builds item by item (properties, tags, anything else but the events
 * array). A valid event never has more (tagsMax / propertiesMax, with the
 * scan's slack); past it a reader gives up at once, so a hostile object of a
 * million keys costs it a few dozen, not a million keyed stores into a
 * growing object before the scan refuses the body.
 */
export interface FastReadLimits extends StructureLimits {
  readonly itemsMax: number;
}

export function fastReadLimits(l: { bodyDepthMax: number; batchEventsMax: number; tagsMax: number; propertiesMax: number }): FastReadLimits {
  return { ...bodyStructureLimits(l), itemsMax: Math.max(l.tagsMax, l.propertiesMax) + VALUES_PER_EVENT_SLACK };
}

/** Thrown inside a reader to give up; caught at its entry. One instance: its stack is captured once, at load. */
export class GiveUp extends Error {}
export const GIVE_UP = new GiveUp('a one-pass reader gave up; the scan and the full parser read this body');

/** How often a reader read a body, and gave up on one, since the thread started. */
export interface OnePassCounts {
  read: number;
  gaveUp: number;
}

/** `bytes` as a Buffer over the same memory (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A reader's body(): its value, or undefined when it gave up (GIVE_UP); counted either way. */
export function readOrGiveUp(reader: { body(): unknown }, counts: OnePassCounts): unknown {
  try {
    const value = reader.body();
    counts.read++;
    return value;
  } catch (err) {
    if (err !== GIVE_UP) throw err;
    counts.gaveUp++;
    return undefined;
  }
}

/** Longest string the cache holds, in bytes (as the protobuf reader's). */
export const SHORT_STRING_BYTES_MAX = 32;
const STRING_CACHE_SLOTS = 4096;
const stringCache: Array<string | undefined> = new Array<string | undefined>(STRING_CACHE_SLOTS).fill(undefined);

/**
 * One step of the hash fromCache expects, from h = 0: over each four-byte
 * little-endian word of the string while four bytes remain, then over each
 * byte left (the same for every reader, so a string read from any format
 * takes one slot).
 */
export function hashStep(h: number, wordOrByte: number): number {
  return Math.imul(h ^ wordOrByte, 0x01000193);
}

/**
 * The ASCII string of bytes [start, end) of `b` (at most
 * SHORT_STRING_BYTES_MAX), from the cache; undefined when a byte is not
 * ASCII. For readers that know a string's length before its bytes (msgpack,
 * protobuf): four bytes a step for the ASCII check and the hash. `view`: a
 * DataView over exactly `b`'s bytes.
 */
export function cachedAscii(b: Buffer, view: DataView, start: number, end: number): string | undefined {
  const slot = cachedAsciiSlot(b, view, start, end);
  return slot < 0 ? undefined : cachedString(slot);
}

/**
 * cachedAscii as the slot that holds the string (cachedString(slot) gives
 * it), in one numbering over both caches: the word-key cache's slots
 * 0..WORD_KEY_SLOTS - 1, then the general cache's; -1 when a byte is not
 * ASCII. For a reader that keeps where its strings came from (columns.ts:
 * the bucket encoder's string table finds a string by its slot). The slot
 * names the string only until another string takes it.
 */
export function cachedAsciiSlot(b: Buffer, view: DataView, start: number, end: number): number {
  if (end - start <= WORD_KEY_BYTES_MAX) return wordKeySlot(b, view, start, end);
  let h = 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const word = view.getUint32(i, true);
    if ((word & 0x80808080) !== 0) return -1;
    h = hashStep(h, word);
  }
  for (; i < end; i++) {
    const c = b[i]!;
    if (c >= 0x80) return -1;
    h = hashStep(h, c);
  }
  return WORD_KEY_SLOTS + fromCacheSlot(b, start, end, h, view);
}

/** The string in `slot` (cachedAsciiSlot's numbering; a slot it returned). */
export function cachedString(slot: number): string {
  return slot < WORD_KEY_SLOTS ? wordKeyStrings[slot]! : stringCache[slot - WORD_KEY_SLOTS]!;
}

/**
 * Strings of up to this many bytes (most names, categories, tags, keys and
 * flag values) have a cache of their own, keyed by the bytes themselves:
 * two little-endian words (zero past the string) and the length, which
 * name the string exactly, so a hit is three compares and no copy of the
 * bytes is kept or walked (bench/actors/string-cache.bench.ts).
 */
export const WORD_KEY_BYTES_MAX = 8;
const WORD_KEY_SLOTS = 4096;
/** Slot s: its string's words at 2s and 2s + 1, its length (-1: empty slot), the string. */
const wordKeys = new Int32Array(2 * WORD_KEY_SLOTS);
const wordKeyLengths = new Int8Array(WORD_KEY_SLOTS).fill(-1);
const wordKeyStrings: string[] = new Array<string>(WORD_KEY_SLOTS).fill('');
/** The bits of the first and the second word that a string of each length 0..8 covers. */
const LOW_WORD_MASK = Int32Array.of(0, 0xff, 0xffff, 0xffffff, -1, -1, -1, -1, -1);
const HIGH_WORD_MASK = Int32Array.of(0, 0, 0, 0, 0, 0xff, 0xffff, 0xffffff, -1);

/**
 * cachedAsciiSlot for bytes [start, end) of `b`, at most WORD_KEY_BYTES_MAX
 * of them: the word-key cache's slot of the string (cachedAsciiSlot's
 * numbering), -1 when a byte is not ASCII. `view`: a DataView over exactly
 * `b`'s bytes.
 */
function wordKeySlot(b: Buffer, view: DataView, start: number, end: number): number {
  const length = end - start;
  let w0 = 0;
  let w1 = 0;
  if (start + 8 <= b.length) {
    // Two words read whole and masked to the string (the bytes after it are the body's, or its end).
    w0 = view.getInt32(start, true) & LOW_WORD_MASK[length]!;
    w1 = view.getInt32(start + 4, true) & HIGH_WORD_MASK[length]!;
  } else {
    for (let i = 0; i < length; i++) {
      const c = b[start + i]!;
      if (i < 4) w0 |= c << (8 * i);
      else w1 |= c << (8 * (i - 4));
    }
  }
  if (((w0 | w1) & 0x80808080) !== 0) return -1;
  const h = Math.imul(w0 ^ Math.imul(w1 ^ length, 0x9e3779b1), 0x85ebca6b);
  const slot = (h ^ (h >>> 16)) & (WORD_KEY_SLOTS - 1);
  if (wordKeys[2 * slot] === w0 && wordKeys[2 * slot + 1] === w1 && wordKeyLengths[slot] === length) return slot;
  wordKeys[2 * slot] = w0;
  wordKeys[2 * slot + 1] = w1;
  wordKeyLengths[slot] = length;
  wordKeyStrings[slot] = (b as unknown as Latin1Slicer).latin1Slice(start, end);
  return slot;
}

/** Slots of both caches in cachedAsciiSlot's numbering. */
export const CACHE_SLOTS = WORD_KEY_SLOTS + STRING_CACHE_SLOTS;

/** The bytes of each cached string, SHORT_STRING_BYTES_MAX per slot: a hit is checked four bytes at a time against them. */
const cacheBytes = new Uint8Array(STRING_CACHE_SLOTS * SHORT_STRING_BYTES_MAX);
const cacheView = new DataView(cacheBytes.buffer);

/**
 * ASCII bytes [start, end) of `b`, at most SHORT_STRING_BYTES_MAX of them,
 * hashed (hashStep) to `h`: the cached string or a fresh one. `view`, when
 * given, is a DataView over exactly `b`'s bytes: the check then compares
 * words against the slot's copy of its bytes. Against the check by
 * charCodeAt it read a harness batch in ~0.97x the time
 * (bench/actors/reader-ab.bench.ts, nine runs both ways round: 0.93-1.03
 * and, reversed, 1.03-1.09): small, as the harness's strings are short.
 */
export function fromCache(b: Buffer, start: number, end: number, h: number, view?: DataView): string {
  return stringCache[fromCacheSlot(b, start, end, h, view)]!;
}

/** fromCache as the general cache's slot of the string. */
function fromCacheSlot(b: Buffer, start: number, end: number, h: number, view?: DataView): number {
  const length = end - start;
  // The hash's high bits mixed down first: a word's high bits reach only the product's high bits.
  const mixed = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  const slot = (mixed ^ (mixed >>> 13) ^ length) & (STRING_CACHE_SLOTS - 1);
  const cached = stringCache[slot];
  const base = slot * SHORT_STRING_BYTES_MAX;
  if (cached !== undefined && cached.length === length) {
    let i = 0;
    if (view !== undefined) while (i + 4 <= length && view.getUint32(start + i, true) === cacheView.getUint32(base + i, true)) i += 4;
    while (i < length && cacheBytes[base + i] === b[start + i]) i++;
    if (i === length) return slot;
  }
  stringCache[slot] = (b as unknown as Latin1Slicer).latin1Slice(start, end);
  for (let i = 0; i < length; i++) cacheBytes[base + i] = b[start + i]!;
  return slot;
}

// The schema's event fields (schema.ts), as the readers tell them apart.
export const F_ID = 0;
export const F_NAME = 1;
export const F_TIMESTAMP = 2;
export const F_SENT_AT = 3;
export const F_USER_ID = 4;
export const F_CATEGORY = 5;
export const F_SEVERITY = 6;
export const F_TAGS = 7;
export const F_PROPERTIES = 8;
export const F_VALUE = 9;
export const F_OTHER = -1;

/** The keys by field number (the F_ constants above). */
export const FIELD_NAMES: readonly string[] = ['id', 'name', 'timestamp', 'sentAt', 'userId', 'category', 'severity', 'tags', 'properties', 'value'];
/** FIELD_KEYS[field]: the key's bytes. */
export const FIELD_KEYS: ReadonlyArray<readonly number[]> = FIELD_NAMES.map((name) => [...name].map((c) => c.charCodeAt(0)));

/** The field whose key is the bytes [start, end) of `b` (plain ASCII, no escapes), or F_OTHER: by length and first byte, then every byte. */
export function fieldOf(b: Buffer, start: number, end: number): number {
  let field: number;
  switch (end - start) {
    case 2:
      field = F_ID;
      break;
    case 4:
      field = b[start] === 0x6e ? F_NAME : F_TAGS;
      break;
    case 5:
      field = F_VALUE;
      break;
    case 6:
      field = b[start] === 0x73 ? F_SENT_AT : F_USER_ID;
      break;
    case 8:
      field = b[start] === 0x63 ? F_CATEGORY : F_SEVERITY;
      break;
    case 9:
      field = F_TIMESTAMP;
      break;
    case 10:
      field = F_PROPERTIES;
      break;
    default:
      return F_OTHER;
  }
  const expected = FIELD_KEYS[field]!;
  for (let i = 0; i < expected.length; i++) if (b[start + i] !== expected[i]) return F_OTHER;
  return field;
}

/**
 * The schema's fields of the event a reader is reading: one per reader,
 * cleared for each event (a repeated key: the last value wins, as with the
 * full parsers), then built into an event object in one shape, absent fields
 * undefined; keys the schema does not have are dropped (the validator
 * ignores them).
 */
export class EventFields {
  id: unknown;
  name: unknown;
  timestamp: unknown;
  sentAt: unknown;
  userId: unknown;
  category: unknown;
  severity: unknown;
  tags: unknown;
  properties: unknown;
  value: unknown;

  clear(): void {
    this.id = this.name = this.timestamp = this.sentAt = this.userId = undefined;
    this.category = this.severity = this.tags = this.properties = this.value = undefined;
  }

  set(field: number, v: unknown): void {
    switch (field) {
      case F_ID:
        this.id = v;
        break;
      case F_NAME:
        this.name = v;
        break;
      case F_TIMESTAMP:
        this.timestamp = v;
        break;
      case F_SENT_AT:
        this.sentAt = v;
        break;
      case F_USER_ID:
        this.userId = v;
        break;
      case F_CATEGORY:
        this.category = v;
        break;
      case F_SEVERITY:
        this.severity = v;
        break;
      case F_TAGS:
        this.tags = v;
        break;
      case F_PROPERTIES:
        this.properties = v;
        break;
      case F_VALUE:
        this.value = v;
        break;
      default:
      // Not a schema field: dropped.
    }
  }

  build(): Record<string, unknown> {
    const { id, name, timestamp, sentAt, userId, category, severity, tags, properties, value } = this;
    return { id, name, timestamp, sentAt, userId, category, severity, tags, properties, value };
  }
}
