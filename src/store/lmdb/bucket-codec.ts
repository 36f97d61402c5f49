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
 * Layout (integers are unsigned LEB128 varints unless said; zigzag is a
 * signed integer as a varint, 0, -1, 1, -2 → 0, 1, 2, 3; f64 is little-endian
 * IEEE 754; a string is a varint byte length and UTF-8; a ref is a string
 * through the bucket's string table, see below):
 *
 *   0xC1 (BUCKET_MARK)  u8 version (2)  count  owner (string)  shard
 *   count × event:
 *     u8 flags  u8 severity (index in SEVERITIES)
 *     id (string)  name (ref)
 *     timestampMs: zigzag of (timestampMs − the previous event's, 0 before the first),
 *                  or f64 with flag TS_F64 (not an integer, or a delta past ±2^52)
 *     [f64 clientTimestampMs]   flag CLIENT_TS: differs from timestampMs
 *     [f64 receivedAtMs]        flag RECEIVED_AT: differs from the previous event's (always on the first)
 *     [userId (string)]         flag USER_ID
 *     category (ref)  tagCount × tag (ref)
 *     propertyCount × (key (ref), u8 kind, value)
 *     [f64 value]               flag VALUE
 *   flags bits 0-1: status (0 accepted, 1 late, 2 too_late).
 *   property kind: 0 string (ref; up to PROPERTY_REF_CHARS), 1 f64, 2 true,
 *   3 false, 4 zigzag integer, 5 string (plain; longer ones).
 *   A ref is a varint tag: odd, (index × 2 + 1), an earlier string of this
 *   bucket's table; even, (byteLength × 2), a new string whose bytes follow
 *   and which takes the next index. Names, categories, tags, property keys
 *   and short property values repeat within a bucket. Ids, user ids and long
 *   values are mostly unique: they are plain strings, because a table entry
 *   that is never used again costs more than it saves (with the harness's
 *   user ids in the table the encoding took 1.5x the time, and the bucket was
 *   no smaller: 31,244 bytes against 31,148).
 *
 * Why the table and the deltas: they halve the bucket (31 KB instead of
 * 66 KB for the harness's 500 events; 42 instead of 75 KB for events with
 * random ids, users and paths), which makes the encoding itself cheaper, and
 * small enough that the store keeps buckets without LZ4 by default
 * (lmdbEventCompression): they take about the pages that LZ4 gave msgpack
 * buckets, without its 0.3-0.7 µs per event (bench/store/bucket-codec.bench.ts).
 *
 * Invariants:
 * - 0xC1 is the one byte msgpack never uses, so a reader tells this format
 *   from the msgpack buckets written before it by the first byte, and it is
 *   below 250, which lmdb-js would take for its own compression marker.
 * - encodeBucket returns undefined for events that do not have the shape
 *   (not every StoredEvent a caller may pass is a validated one); the store
 *   then packs that bucket with msgpack, which reads back the same way.
 * - Properties are read with for...in (Object.keys allocated an array per
 *   event: ~80 of the ~900 bytes the worker path allocated per event,
 *   bench/runtime/alloc-per-event.ts; encoding 0.95-0.98x the time), so an
 *   event is encoded only when its properties object is plain (prototype
 *   Object.prototype or null, as validation requires), whose enumerable
 *   properties are all its own; another is packed with msgpack.
 * - Decoding is exact: property keys are defined as own properties (a key
 *   `__proto__` stays a key), -0 and NaN survive f64, absent userId and value
 *   stay undefined.
 */
import { SEVERITIES, type EventRecord, type StoredEvent } from '../../actors/types.js';
import { StoreCorruptError } from '../errors.js';
import { PROP_LONG_STRING, PROP_NUMBER, PROP_STRING, PROP_TRUE, PROPERTY_SHORT_BYTES, STATUS_DUPLICATE, STATUS_REJECTED, type EventColumns } from '../../actors/columns.js';
import { CACHE_SLOTS } from '../../actors/fast-read.js';

export const BUCKET_MARK = 0xc1;
/**
 * 2: the string table and timestamp deltas. Version 1 (each string written out,
 * f64 timestamps) was on main for one commit (1137171) and never released; it
 * reads as EVT_STORE_CORRUPT.
 */
const BUCKET_VERSION = 2;

const STATUS_MASK = 0b11;
const CLIENT_TS = 1 << 2;
const RECEIVED_AT = 1 << 3;
const USER_ID = 1 << 4;
const VALUE = 1 << 5;
const TS_F64 = 1 << 6;
const STATUSES = ['accepted', 'late', 'too_late'] as const;

const KIND_STRING = 0;
const KIND_NUMBER = 1;
const KIND_TRUE = 2;
const KIND_FALSE = 3;
const KIND_INT = 4;
const KIND_LONG_STRING = 5;

/** Integers whose zigzag form stays a safe integer (and deltas of timestamps within it) are written as varints. */
const ZIGZAG_ABS_MAX = 2 ** 52 - 1;

/**
 * Property values up to this long go through the table (plans, flags, hosts,
 * short paths repeat); longer ones are written out (UUIDs, tokens and long
 * paths rarely repeat, and a table entry used once costs more than it saves).
 */
const PROPERTY_REF_CHARS = 32;

/** A string this long or shorter takes at most 63 UTF-8 bytes: a new string's ref tag (2 × bytes) fits one varint byte. */
const SHORT_REF_CHARS = 21;

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

  /** Only for integers within ±ZIGZAG_ABS_MAX. */
  zigzag(v: number): void {
    this.varuint(v < 0 ? -2 * v - 1 : 2 * v);
  }

  /** A property's number: its kind, then a zigzag varint for an integer that fits, else f64. */
  propertyNumber(v: number): void {
    if (Number.isSafeInteger(v) && Math.abs(v) <= ZIGZAG_ABS_MAX && !Object.is(v, -0)) {
      this.u8(KIND_INT);
      this.zigzag(v);
    } else {
      this.u8(KIND_NUMBER);
      this.f64(v);
    }
  }

  /** The strings of the bucket being encoded, by index; cleared per bucket. */
  readonly table = new Map<string, number>();

  /**
   * In front of the table for refAt(): by cache slot (fast-read.ts
   * cachedAsciiSlot), the string of the current bucket that last used it
   * and its index. Valid for the bucket stamped in slotStamps; a slot
   * answers only for a string equal to the one it recorded, so a slot
   * another string took since (or a wrong slot) costs a Map lookup, never a
   * wrong index.
   */
  readonly slotStrings: string[] = new Array<string>(CACHE_SLOTS).fill('');
  readonly slotIndexes = new Int32Array(CACHE_SLOTS);
  readonly slotStamps = new Int32Array(CACHE_SLOTS);
  stamp = 0;

  /** Starts a bucket: an empty table. */
  clearTable(): void {
    this.table.clear();
    if (++this.stamp === 0x40000000) {
      this.slotStamps.fill(0);
      this.stamp = 1;
    }
  }

  ref(s: string): void {
    const index = this.table.get(s);
    if (index !== undefined) {
      this.varuint(index * 2 + 1);
      return;
    }
    this.#add(s);
  }

  /** ref(s) for a string from the readers' caches, `slot` where it came from (-1: no cache): the slot first, the Map after. */
  refAt(s: string, slot: number): void {
    if (slot >= 0 && this.slotStamps[slot] === this.stamp && this.slotStrings[slot] === s) {
      this.varuint(this.slotIndexes[slot]! * 2 + 1);
      return;
    }
    let index = this.table.get(s);
    if (index !== undefined) this.varuint(index * 2 + 1);
    else index = this.#add(s);
    if (slot >= 0) {
      this.slotStamps[slot] = this.stamp;
      this.slotStrings[slot] = s;
      this.slotIndexes[slot] = index;
    }
  }

  /** A new string: its index, then its byte length times 2 (even) and its bytes. */
  #add(s: string): number {
    const index = this.table.size;
    this.table.set(s, index);
    this.#text(s, 2, SHORT_REF_CHARS);
    return index;
  }

  str(s: string): void {
    this.#text(s, 1, SHORT_STRING_CHARS);
  }

  /** ASCII bytes [start, end) of `b` (`view` over exactly its bytes) as a string: what str() writes for the string they spell. */
  asciiBytes(b: Uint8Array, view: DataView, start: number, end: number): void {
    const n = end - start;
    this.varuint(n);
    this.ensure(n);
    const out = this.buf;
    if (n <= SHORT_STRING_CHARS) {
      // Ids and user ids four bytes at a time, then byte by byte: a subarray per copy cost more than the copy.
      const to = this.view;
      let p = this.pos;
      let i = start;
      for (; i + 4 <= end; i += 4, p += 4) to.setInt32(p, view.getInt32(i, true), true);
      for (; i < end; i++) out[p++] = b[i]!;
      this.pos = p;
      return;
    }
    out.set(b.subarray(start, end), this.pos);
    this.pos += n;
  }

  /** `s` as a varint of (byte length × scale) and its UTF-8 bytes; up to shortChars the header fits one byte, written first and patched. */
  #text(s: string, scale: 1 | 2, shortChars: number): void {
    const n = s.length;
    if (n <= shortChars) {
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
      b[at] = (p - at - 1) * scale;
      this.pos = p;
      return;
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varuint(bytes * scale);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

/** The scratch buffer's size: a bucket of 500 harness events takes ~31 KB, one of 500 large events more. */
const SCRATCH_BYTES = 128 * 1024;
/**
 * A scratch that grew past this for a bucket of large events (bounded by the
 * body limits, up to tens of MiB) is dropped after that bucket, so one such
 * bucket does not pin its size in every worker for good.
 */
const SCRATCH_BYTES_KEPT_MAX = 1024 * 1024;
/** One per thread, reused by every encodeBucket call. */
let SCRATCH = new Writer(SCRATCH_BYTES);

/** Bytes the thread's scratch holds now (tests: it does not stay large). */
export function bucketScratchBytes(): number {
  return SCRATCH.buf.length;
}

/** The thread's scratch, reset, with a bucket's header written (count events of owner and shard). */
function startBucket(count: number, owner: string, shard: number): Writer {
  // (Also here: a bucket given up half way, events of another shape, may have grown it.)
  if (SCRATCH.buf.length > SCRATCH_BYTES_KEPT_MAX) SCRATCH = new Writer(SCRATCH_BYTES);
  const w = SCRATCH;
  w.pos = 0;
  w.clearTable();
  w.u8(BUCKET_MARK);
  w.u8(BUCKET_VERSION);
  w.varuint(count);
  w.str(owner);
  w.varuint(shard);
  return w;
}

/** The bucket written to `w`, copied out at exactly its size (it may wait in the flush buffer; the scratch is reused). */
/**
 * The scratch's bucket copied out, with `trailerBytes` more bytes after it,
 * left unset for the caller (the event store's id words: one allocation
 * and one copy for the stored value, not two).
 */
function finishBucket(w: Writer, trailerBytes: number): Buffer {
  const bytes = Buffer.allocUnsafe(w.pos + trailerBytes);
  bytes.set(w.buf.subarray(0, w.pos));
  if (w.buf.length > SCRATCH_BYTES_KEPT_MAX) SCRATCH = new Writer(SCRATCH_BYTES);
  return bytes;
}

/** A plain object (Object.prototype or no prototype): all its enumerable properties are its own, so for...in reads only those. */
function isPlain(o: object): boolean {
  const proto: unknown = Object.getPrototypeOf(o);
  return proto === Object.prototype || proto === null;
}

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
    isPlain(e.properties) &&
    (e.value === undefined || typeof e.value === 'number')
  );
}

/**
 * Encodes `group` (one owner's events, in the order they are to be stored) in
 * the bucket format, or returns undefined when an event does not have the
 * shape of a validated one (the caller falls back to msgpack).
 * `trailerBytes`: as for encodeBucketColumns.
 */
export function encodeBucket(group: readonly StoredEvent[], trailerBytes = 0): Buffer | undefined {
  if (group.length === 0) return undefined;
  const { owner, shard } = group[0]!;
  if (typeof owner !== 'string' || !Number.isSafeInteger(shard) || shard < 0) return undefined;
  const w = startBucket(group.length, owner, shard);
  let receivedAtMs = Number.NaN;
  let previousTs = 0;
  for (let i = 0; i < group.length; i++) {
    const stored = group[i]!;
    if (!isShaped(stored, owner, shard)) return undefined;
    const e = stored.event;
    let flags = statusIndex(stored.status);
    const ts = e.timestampMs;
    const delta = ts - previousTs;
    const tsF64 = !Number.isSafeInteger(ts) || !(Math.abs(delta) <= ZIGZAG_ABS_MAX);
    const clientDiffers = !Object.is(e.clientTimestampMs, ts);
    const receivedDiffers = !Object.is(e.receivedAtMs, receivedAtMs);
    if (tsF64) flags |= TS_F64;
    if (clientDiffers) flags |= CLIENT_TS;
    if (receivedDiffers) flags |= RECEIVED_AT;
    if (e.userId !== undefined) flags |= USER_ID;
    if (e.value !== undefined) flags |= VALUE;
    w.u8(flags);
    w.u8(severityIndex(e.severity));
    w.str(e.id);
    w.ref(e.name);
    if (tsF64) w.f64(ts);
    else {
      w.zigzag(delta);
      previousTs = ts;
    }
    if (clientDiffers) w.f64(e.clientTimestampMs);
    if (receivedDiffers) {
      w.f64(e.receivedAtMs);
      receivedAtMs = e.receivedAtMs;
    }
    if (e.userId !== undefined) w.str(e.userId);
    w.ref(e.category);
    const tags = e.tags;
    w.varuint(tags.length);
    for (let t = 0; t < tags.length; t++) {
      const tag = tags[t];
      if (typeof tag !== 'string') return undefined;
      w.ref(tag);
    }
    // The keys' count first (in place of Object.keys, which allocated ~80 bytes an event): plain
    // objects only (isShaped), whose enumerable properties are all their own.
    const props = e.properties;
    let count = 0;
    for (const _ in props) count++;
    w.varuint(count);
    for (const key in props) {
      const v = props[key];
      w.ref(key);
      if (typeof v === 'string') {
        if (v.length <= PROPERTY_REF_CHARS) {
          w.u8(KIND_STRING);
          w.ref(v);
        } else {
          w.u8(KIND_LONG_STRING);
          w.str(v);
        }
      } else if (typeof v === 'number') {
        w.propertyNumber(v);
      } else if (v === true) w.u8(KIND_TRUE);
      else if (v === false) w.u8(KIND_FALSE);
      else return undefined;
    }
    if (e.value !== undefined) w.f64(e.value);
  }
  return finishBucket(w, trailerBytes);
}

/**
 * encodeBucket for events held in columns (columns.ts, the columnar path):
 * the events of `cols` from `from` to `to` that are neither duplicates nor rejected,
 * `count` of them, as one bucket of `owner` and `shard`. The same bytes
 * encodeBucket writes for the StoredEvents the record path makes of the
 * same body (test/actors/columns.test.ts): ids, user ids and long values
 * are copied from the body, every other string goes through the table as
 * there. `idWords[j]` gets the id-list word (the first word of hash64) of
 * the bucket's j-th event. The Buffer returned holds `trailerBytes` more
 * bytes after the bucket, unset (the bucket is the rest).
 */
export function encodeBucketColumns(owner: string, shard: number, cols: EventColumns, from: number, to: number, count: number, idWords: Uint32Array, trailerBytes = 0): Buffer {
  const w = startBucket(count, owner, shard);
  const body = cols.body;
  const bodyView = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const receivedAtMs = cols.receivedAtMs;
  const status = cols.status;
  const { timestampMs, clientTimestampMs, userStart, hasValue, tagsEnd, propsEnd, tags, tagSlot, propKey, propKeySlot, propKind, propString, propStringSlot, propNumber, propEnd } = cols;
  let previousTs = 0;
  let j = 0;
  let tag = from === 0 ? 0 : tagsEnd[from - 1]!;
  let prop = from === 0 ? 0 : propsEnd[from - 1]!;
  for (let k = from; k < to; k++) {
    const tagEnd = tagsEnd[k]!;
    const propLast = propsEnd[k]!;
    const code = status[k]!;
    if (code === STATUS_DUPLICATE || code === STATUS_REJECTED) {
      tag = tagEnd;
      prop = propLast;
      continue;
    }
    idWords[j++] = cols.idHash[2 * k]! >>> 0;
    let flags = code;
    const ts = timestampMs[k]!;
    const delta = ts - previousTs;
    const tsF64 = !Number.isSafeInteger(ts) || !(Math.abs(delta) <= ZIGZAG_ABS_MAX);
    const client = clientTimestampMs[k]!;
    const clientDiffers = !Object.is(client, ts);
    const user = userStart[k]!;
    if (tsF64) flags |= TS_F64;
    if (clientDiffers) flags |= CLIENT_TS;
    // The batch's receive time: written with the bucket's first event, the same for the others.
    if (j === 1) flags |= RECEIVED_AT;
    if (user >= 0) flags |= USER_ID;
    if (hasValue[k] === 1) flags |= VALUE;
    w.u8(flags);
    w.u8(cols.severity[k]!);
    w.asciiBytes(body, bodyView, cols.idStart[k]!, cols.idEnd[k]!);
    w.refAt(cols.name[k]!, cols.nameSlot[k]!);
    if (tsF64) w.f64(ts);
    else {
      w.zigzag(delta);
      previousTs = ts;
    }
    if (clientDiffers) w.f64(client);
    if (j === 1) w.f64(receivedAtMs);
    if (user >= 0) w.asciiBytes(body, bodyView, user, cols.userEnd[k]!);
    w.refAt(cols.category[k]!, cols.categorySlot[k]!);
    w.varuint(tagEnd - tag);
    for (; tag < tagEnd; tag++) w.refAt(tags[tag]!, tagSlot[tag]!);
    w.varuint(propLast - prop);
    for (; prop < propLast; prop++) {
      w.refAt(propKey[prop]!, propKeySlot[prop]!);
      const kind = propKind[prop]!;
      if (kind === PROP_STRING) {
        w.u8(KIND_STRING);
        w.refAt(propString[prop]!, propStringSlot[prop]!);
      } else if (kind === PROP_LONG_STRING) {
        w.u8(KIND_LONG_STRING);
        w.asciiBytes(body, bodyView, propNumber[prop]!, propEnd[prop]!);
      } else if (kind === PROP_NUMBER) {
        w.propertyNumber(propNumber[prop]!);
      } else w.u8(kind === PROP_TRUE ? KIND_TRUE : KIND_FALSE);
    }
    if (hasValue[k] === 1) w.f64(cols.value[k]!);
  }
  if (j !== count) throw new Error(`encodeBucketColumns: ${j} events in ${from}..${to}, ${count} expected`);
  return finishBucket(w, trailerBytes);
}

/**
 * The StoredEvents of the columns' events that are neither duplicates nor rejected (`count`
 * of them), as the record path would have made them: one bucket encoded
 * and read back. For the rare case a store cannot prepare them.
 */
export function storedEventsOfColumns(owner: string, shard: number, cols: EventColumns, count: number): StoredEvent[] {
  return decodeBucket(encodeBucketColumns(owner, shard, cols, 0, cols.n, count, new Uint32Array(count)));
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

  zigzag(): number {
    const z = this.varuint();
    return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
  }

  /** The strings of this bucket's table, in the order they were first written. */
  readonly table: string[] = [];

  ref(): string {
    const tag = this.varuint();
    if (tag % 2 === 1) {
      const s = this.table[(tag - 1) / 2];
      if (s === undefined) throw new StoreCorruptError('event bucket refers to a string it does not hold', 'event');
      return s;
    }
    const s = this.#chars(tag / 2);
    this.table.push(s);
    return s;
  }

  str(): string {
    return this.#chars(this.varuint());
  }

  #chars(n: number): string {
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
  let previousTs = 0;
  for (let i = 0; i < count; i++) {
    const flags = r.u8();
    const status = STATUSES[flags & STATUS_MASK];
    const severity = SEVERITIES[r.u8()];
    if (status === undefined || severity === undefined) throw new StoreCorruptError('event bucket holds an unknown status or severity', 'event');
    const id = r.str();
    const name = r.ref();
    let timestampMs: number;
    if (flags & TS_F64) timestampMs = r.f64();
    else {
      timestampMs = previousTs + r.zigzag();
      previousTs = timestampMs;
    }
    const clientTimestampMs = flags & CLIENT_TS ? r.f64() : timestampMs;
    if (flags & RECEIVED_AT) receivedAtMs = r.f64();
    const userId = flags & USER_ID ? r.str() : undefined;
    const category = r.ref();
    const tagCount = r.varuint();
    const tags: string[] = [];
    for (let t = 0; t < tagCount; t++) tags.push(r.ref());
    const propertyCount = r.varuint();
    const properties: Record<string, string | number | boolean> = {};
    for (let k = 0; k < propertyCount; k++) {
      const key = r.ref();
      const kind = r.u8();
      let v: string | number | boolean;
      if (kind === KIND_STRING) v = r.ref();
      else if (kind === KIND_LONG_STRING) v = r.str();
      else if (kind === KIND_INT) v = r.zigzag();
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

// The columns hold string values up to PROPERTY_SHORT_BYTES as table strings (ASCII: bytes are characters); encodeBucket
// writes up to PROPERTY_REF_CHARS through the table. Apart, the two paths would store the same event differently.
if (PROPERTY_SHORT_BYTES !== PROPERTY_REF_CHARS) throw new Error('bucket-codec: PROPERTY_REF_CHARS and the columns\' PROPERTY_SHORT_BYTES differ');
// severityIndex spells out SEVERITIES; a reordered list would silently change what stored bytes mean.
if (SEVERITIES.some((s, i) => severityIndex(s) !== i)) throw new Error('bucket-codec: severityIndex does not match SEVERITIES');
