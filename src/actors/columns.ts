/**
 * The columnar path's reader (docs/columnar-path.md): one protobuf
 * `IngestRequest` read straight into columns, typed arrays of one batch with
 * one entry per event, checked against every rule of validate.ts on the way.
 * No event object, no EventRecord, no id or user-id string: ids and user ids
 * stay byte ranges of the body with their hashes (hash64 for dedup, hash32
 * for the sketches) computed from the bytes; names, categories, tags,
 * property keys and short values are the readers' cached strings.
 *
 * The rule that keeps it exact: the reader takes a batch only when it can
 * hold every valid event of it exactly. An event the validator rejects is
 * read again by the record reader (protobuf.ts readEvent) and judged by the
 * validator itself, so its receipt is the one validateBatch makes; it is
 * marked STATUS_REJECTED and neither applied nor stored. On anything else
 * it gives up (read() returns false) and the batch takes the record path
 * (decode.ts, validate.ts, OwnerActor.applyBatch) from the start, which
 * answers it as it always did. It gives up on:
 * - a body the record path would refuse (malformed, empty, more than
 *   batchEventsMax events, a batchId over idCharsMax);
 * - a valid event without an id (the server assigns one from the request id);
 * - a valid event with a byte past 0x7f in a string (its hashes are defined
 *   over UTF-16 code units, which equal the bytes only for ASCII);
 * - a valid event with a property key repeated, or one that starts with a
 *   digit (an object lists array-index keys first, so the stored order
 *   would differ).
 * So the clients' batches of plain ASCII events take this path, invalid
 * events included, and every other batch is answered by the code that
 * answered it before.
 *
 * Invariants:
 * - Same answers: for a batch it takes, OwnerActor.applyColumns and
 *   encodeBucketColumns give the receipts, windows and stored buckets the
 *   record path gives (test/actors/columns.test.ts drives both over seeded
 *   random bodies).
 * - Same hashes: hash64Ascii / hash32Ascii of an id's bytes equal
 *   hash64 / hash32 of its string (ASCII only, see above).
 * - Bounded: one reader per worker; its arrays grow to the largest batch
 *   taken (batchEventsMax events, tagsMax tags and propertiesMax
 *   properties each) and are dropped back to COLUMNS_KEPT_EVENTS after an
 *   outsized one (release()).
 */
import { Buffer } from 'node:buffer';
import { asBuffer, cachedAsciiSlot, cachedString, fastReadLimits, SHORT_STRING_BYTES_MAX, type FastReadLimits, type Latin1Slicer } from './fast-read.js';
import { readMsgpackRequest } from './columns-msgpack.js';
import { hash32Ascii, hash64Ascii } from './hash.js';
import { Reader } from './protobuf.js';
import { FORBIDDEN_KEYS, type EventLimits } from './schema.js';
import { AckLevel as PbAckLevel } from '../gen/eventide/v1/ingest.js';
import type { AckLevel, Receipt } from './types.js';
import { readEvent as readEventObject } from './protobuf.js';
import { clientId, createValidator, isRejection, type Validator } from './validate.js';

/** Property value kinds in the columns. */
export const PROP_STRING = 0;
export const PROP_LONG_STRING = 1;
export const PROP_NUMBER = 2;
export const PROP_TRUE = 3;
export const PROP_FALSE = 4;

/**
 * String property values up to this many bytes are cached strings (the
 * bucket writes them through its string table, PROPERTY_REF_CHARS there);
 * longer ones stay byte ranges of the body.
 */
export const PROPERTY_SHORT_BYTES = 32;

/** Events the columns keep room for between batches; an outsized batch's arrays are dropped after it. */
export const COLUMNS_KEPT_EVENTS = 4_096;
const INITIAL_EVENTS = 512;

/** Estimated bytes of one number in eventBytesMax (as validate.ts). */
export const NUMBER_BYTES = 8;

const ACK_LEVEL_APPLIED: number = PbAckLevel.ACK_LEVEL_APPLIED;
const ACK_LEVEL_DURABLE: number = PbAckLevel.ACK_LEVEL_DURABLE;

/** Thrown inside the reader to give up; caught in read(). One instance, its stack captured once. */
class GiveUpColumns extends Error {}
export const GIVE_UP = new GiveUpColumns('the columnar reader gave up; the record path reads this body');

/**
 * One batch in columns. Arrays are indexed by event (0..n-1), except the
 * flat tag and property lists, which event k holds from its predecessor's
 * `tagsEnd` / `propsEnd` to its own.
 */
export class EventColumns {
  n = 0;
  /** The body the byte ranges point into (only valid until the next read). */
  body: Buffer = Buffer.alloc(0);
  receivedAtMs = 0;
  batchId: string | undefined;
  ack: AckLevel | undefined;
  receiptsAll = false;

  /** hash64 of each id: words 2k and 2k + 1 (int32, as DedupMemory takes them). */
  idHash = new Int32Array(2 * INITIAL_EVENTS);
  idStart = new Int32Array(INITIAL_EVENTS);
  idEnd = new Int32Array(INITIAL_EVENTS);
  /** Byte range of the user id; userStart -1 when there is none (absent or empty). */
  userStart = new Int32Array(INITIAL_EVENTS);
  userEnd = new Int32Array(INITIAL_EVENTS);
  /** hash32 of the user id (unsigned), when there is one. */
  userHash = new Uint32Array(INITIAL_EVENTS);
  name: string[] = [];
  category: string[] = [];
  /**
   * Where each cached string of the columns came from (fast-read.ts
   * cachedAsciiSlot's numbering; -1 for others): the bucket encoder's
   * string table finds a string by its slot before its Map
   * (bucket-codec.ts Writer.refAt). For the name and category of each
   * event, each tag, each property key and each PROP_STRING value.
   */
  nameSlot = new Int32Array(INITIAL_EVENTS);
  categorySlot = new Int32Array(INITIAL_EVENTS);
  /** Index in SEVERITIES. */
  severity = new Uint8Array(INITIAL_EVENTS);
  timestampMs = new Float64Array(INITIAL_EVENTS);
  clientTimestampMs = new Float64Array(INITIAL_EVENTS);
  value = new Float64Array(INITIAL_EVENTS);
  hasValue = new Uint8Array(INITIAL_EVENTS);
  tagsEnd = new Int32Array(INITIAL_EVENTS);
  propsEnd = new Int32Array(INITIAL_EVENTS);
  /** STATUS_REJECTED from the reader; the others written by OwnerActor.applyColumns. */
  status = new Uint8Array(INITIAL_EVENTS);
  /** Events the validator rejected, and their `rejected` receipts (as validateBatch makes them), in batch order. */
  rejected = 0;
  rejections: Receipt[] = [];

  tags: string[] = [];
  tagSlot = new Int32Array(4 * INITIAL_EVENTS);
  propKey: string[] = [];
  propKeySlot = new Int32Array(4 * INITIAL_EVENTS);
  propKind = new Uint8Array(4 * INITIAL_EVENTS);
  /** PROP_STRING: the value; '' for other kinds. */
  propString: string[] = [];
  propStringSlot = new Int32Array(4 * INITIAL_EVENTS);
  /** PROP_NUMBER: the value; PROP_LONG_STRING: the value's start byte. */
  propNumber = new Float64Array(4 * INITIAL_EVENTS);
  /** PROP_LONG_STRING: the value's end byte. */
  propEnd = new Int32Array(4 * INITIAL_EVENTS);

  /** Events the arrays hold room for. */
  get capacity(): number {
    return this.idStart.length;
  }

  /** The id of event k as a string (for receipts). */
  id(k: number): string {
    return (this.body as unknown as Latin1Slicer).latin1Slice(this.idStart[k]!, this.idEnd[k]!);
  }

  /** The user id of event k, or undefined. */
  userId(k: number): string | undefined {
    const start = this.userStart[k]!;
    return start < 0 ? undefined : (this.body as unknown as Latin1Slicer).latin1Slice(start, this.userEnd[k]!);
  }

  /** Room for event k (k <= capacity): doubles the per-event arrays. */
  growEvents(): void {
    const next = this.capacity * 2;
    this.idHash = grow(this.idHash, 2 * next);
    this.idStart = grow(this.idStart, next);
    this.idEnd = grow(this.idEnd, next);
    this.nameSlot = grow(this.nameSlot, next);
    this.categorySlot = grow(this.categorySlot, next);
    this.userStart = grow(this.userStart, next);
    this.userEnd = grow(this.userEnd, next);
    this.userHash = grow(this.userHash, next);
    this.severity = grow(this.severity, next);
    this.timestampMs = grow(this.timestampMs, next);
    this.clientTimestampMs = grow(this.clientTimestampMs, next);
    this.value = grow(this.value, next);
    this.hasValue = grow(this.hasValue, next);
    this.tagsEnd = grow(this.tagsEnd, next);
    this.propsEnd = grow(this.propsEnd, next);
    this.status = grow(this.status, next);
  }

  /** Room for tag t (t <= tagSlot's length). */
  growTags(): void {
    this.tagSlot = grow(this.tagSlot, this.tagSlot.length * 2);
  }

  /** Room for property p (p <= the property arrays' length). */
  growProps(): void {
    const next = this.propKind.length * 2;
    this.propKind = grow(this.propKind, next);
    this.propKeySlot = grow(this.propKeySlot, next);
    this.propStringSlot = grow(this.propStringSlot, next);
    this.propNumber = grow(this.propNumber, next);
    this.propEnd = grow(this.propEnd, next);
  }

  /** After a batch: drops arrays grown past COLUMNS_KEPT_EVENTS, and the body. */
  release(): void {
    this.body = EMPTY;
    if (this.capacity > COLUMNS_KEPT_EVENTS) {
      const fresh = new EventColumns();
      Object.assign(this, fresh);
    } else {
      if (this.tags.length > 8 * COLUMNS_KEPT_EVENTS) {
        this.tags = [];
        this.tagSlot = new Int32Array(4 * INITIAL_EVENTS);
      }
      if (this.propKey.length > 8 * COLUMNS_KEPT_EVENTS) {
        this.propKey = [];
        this.propString = [];
        this.propKind = new Uint8Array(4 * INITIAL_EVENTS);
        this.propKeySlot = new Int32Array(4 * INITIAL_EVENTS);
        this.propStringSlot = new Int32Array(4 * INITIAL_EVENTS);
        this.propNumber = new Float64Array(4 * INITIAL_EVENTS);
        this.propEnd = new Int32Array(4 * INITIAL_EVENTS);
      }
    }
  }
}

const EMPTY = Buffer.alloc(0);

function grow<T extends Int32Array | Uint32Array | Uint8Array | Float64Array>(a: T, length: number): T {
  const next = new (a.constructor as new (n: number) => T)(length);
  next.set(a);
  return next;
}

/** Status codes OwnerActor.applyColumns writes into EventColumns.status. */
export const STATUS_ACCEPTED = 0;
export const STATUS_LATE = 1;
export const STATUS_TOO_LATE = 2;
export const STATUS_DUPLICATE = 3;
/** Set by the reader: an event the validator rejects (its receipt is in EventColumns.rejections); neither applied nor stored. */
export const STATUS_REJECTED = 4;

/**
 * What the reader needs: the event limits and batchEventsMax (validate.ts,
 * decode.ts), and for msgpack bodies bodyDepthMax (without it, none is taken).
 */
export type ColumnLimits = EventLimits & { readonly bodyDepthMax?: number };

/** Bodies every ColumnReader of this thread took and gave up on, by format (worker telemetry: eventide_decode_columnar_total). */
export const columnarCounts = { protobuf: { read: 0, gaveUp: 0 }, msgpack: { read: 0, gaveUp: 0 } };

/** Reads protobuf and msgpack bodies into one EventColumns; one per worker. */
export class ColumnReader {
  readonly columns = new EventColumns();
  /** Bodies taken, and given up on (to the record path), since the thread started. */
  readonly counts = { read: 0, gaveUp: 0 };
  readonly #limits: ColumnLimits;
  /** For an event the columns cannot take: the record path's own verdict on it (see readRequest). */
  readonly #validator: Validator;

  /** The scan's bounds for msgpack bodies (fast-read.ts); depthMax 0 without bodyDepthMax, so no msgpack body is taken. */
  readonly #structure: FastReadLimits;
  /** Either reader's scratch for one event (commitEvent). */
  readonly #draft = new EventDraft();

  constructor(limits: ColumnLimits) {
    this.#limits = Object.freeze({ ...limits });
    this.#validator = createValidator(this.#limits);
    this.#structure = fastReadLimits({ ...this.#limits, bodyDepthMax: limits.bodyDepthMax ?? 0 });
  }

  /**
   * Reads `bytes` (an identity-encoded IngestRequest, or a msgpack batch
   * body: columns-msgpack.ts) into `columns`: true
   * when it took the batch, false when the record path must answer it (see
   * the module comment). `columns` holds the batch until the next read.
   */
  read(bytes: Uint8Array, receivedAtMs: number, format: 'protobuf' | 'msgpack' = 'protobuf'): boolean {
    const cols = this.columns;
    cols.n = 0;
    cols.rejected = 0;
    cols.rejections = [];
    try {
      if (format === 'protobuf') readRequest(new Reader(bytes), cols, this.#draft, this.#limits, this.#validator, receivedAtMs);
      else readMsgpackRequest(asBuffer(bytes), cols, this.#draft, this.#limits, this.#structure, this.#validator, receivedAtMs);
      this.counts.read++;
      columnarCounts[format].read++;
      return true;
    } catch {
      // GIVE_UP (columns.ts's or fast-read.ts's), or the protobuf reader's ProtobufError on a malformed body: the record path reads it and says why.
      this.counts.gaveUp++;
      columnarCounts[format].gaveUp++;
      cols.n = 0;
      cols.release();
      return false;
    }
  }
}

function readRequest(r: Reader, cols: EventColumns, d: EventDraft, l: ColumnLimits, validator: Validator, receivedAtMs: number): void {
  cols.body = r.buffer;
  cols.receivedAtMs = receivedAtMs;
  let batchId = '';
  let ack = 0;
  let receiptsAll = false;
  const end = r.bytes.length;
  let n = 0;
  let tagCount = 0;
  let propCount = 0;
  while (r.pos < end) {
    const tag = tagOf(r);
    switch (tag) {
      case 0x0a: {
        if (n >= l.batchEventsMax) throw GIVE_UP;
        if (n === cols.capacity) cols.growEvents();
        const eventEnd = endOf(r);
        const eventStart = r.pos;
        try {
          readEvent(r.buffer, r.view, eventStart, eventEnd, cols, d, n, l, receivedAtMs, tagCount, propCount);
        } catch (err) {
          if (err !== GIVE_UP) throw err;
          rejectOrGiveUp(r, eventStart, eventEnd, cols, n, l, validator, receivedAtMs, tagCount, propCount);
        }
        r.pos = eventEnd;
        tagCount = cols.tagsEnd[n]!;
        propCount = cols.propsEnd[n]!;
        n++;
        break;
      }
      case 0x12:
        batchId = r.string();
        break;
      case 0x18:
        ack = r.int32();
        break;
      case 0x20:
        receiptsAll = r.varintNonZero();
        break;
      default:
        r.skip(tag);
    }
  }
  if (n === 0) throw GIVE_UP;
  if (batchId.length > l.idCharsMax) throw GIVE_UP;
  cols.n = n;
  cols.batchId = batchId === '' ? undefined : batchId;
  cols.ack = ack === ACK_LEVEL_APPLIED ? 'applied' : ack === ACK_LEVEL_DURABLE ? 'durable' : undefined;
  cols.receiptsAll = receiptsAll;
}

/**
 * Event k, which the columns cannot take, read again as the record path
 * reads it (protobuf.ts) and validated as it validates it: a rejection is
 * kept in the columns exactly as validateBatch would have made it (the
 * batch goes on); a valid event (no id, a non-ASCII string, a property key
 * that repeats or starts with a digit) gives the whole batch up, since
 * only the record path can apply it in its place. A malformed event throws
 * ProtobufError (the record path reports it).
 */
function rejectOrGiveUp(
  r: Reader,
  start: number,
  end: number,
  cols: EventColumns,
  k: number,
  l: ColumnLimits,
  validator: Validator,
  receivedAtMs: number,
  tagAt: number,
  propAt: number,
): void {
  r.pos = start;
  const input = readEventObject(r, end);
  const verdict = validator.validate(input, k, { requestId: '', receivedAtMs });
  if (!isRejection(verdict)) throw GIVE_UP;
  cols.rejected++;
  cols.rejections.push({ index: k, id: clientId(input, l.idCharsMax), status: 'rejected', code: verdict.code, field: verdict.field, message: verdict.message });
  cols.status[k] = STATUS_REJECTED;
  cols.tagsEnd[k] = tagAt;
  cols.propsEnd[k] = propAt;
}

/** r.tag() with the one-byte case first (every field of the schema has a one-byte tag). */
function tagOf(r: Reader): number {
  const b = r.bytes;
  const pos = r.pos;
  const t = b[pos]!;
  // One byte, field number > 0, wire type 0..5 (tags 8..0x7f whose low three bits are not 6 or 7).
  if (t < 0x80 && t >= 8 && (t & 7) < 6) {
    r.pos = pos + 1;
    return t;
  }
  return r.tag();
}

/** r.subEnd() with the one-byte length first. */
function endOf(r: Reader): number {
  const b = r.bytes;
  const pos = r.pos;
  const length = b[pos]!;
  if (length < 0x80) {
    const end = pos + 1 + length;
    if (end > b.length) throw GIVE_UP;
    r.pos = pos + 1;
    return end;
  }
  return r.subEnd();
}

/** Where varint() and skip() leave the position they read to. */
let next = 0;

/** A varint at b[pos] (not past `end`) as its low 32 bits, unsigned; its end in `next`. GIVE_UP past `end` or 10 bytes (as Reader.uint32). */
function varint(b: Uint8Array, pos: number, end: number): number {
  let result = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw GIVE_UP;
    const byte = b[pos++]!;
    if (i < 5) result |= (byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      next = pos;
      return result >>> 0;
    }
  }
  throw GIVE_UP;
}

/**
 * A timestamp (int64) at b[pos]: its value, its end in `next`. Up to seven
 * bytes inline (2^49 ms, past the year 19,000); a longer varint (a
 * negative timestamp) through Reader.int64, GIVE_UP where that throws
 * (past the safe integers: the record path refuses the body).
 */
function timestamp(b: Buffer, pos: number, end: number): number {
  const start = pos;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    if (pos >= end) throw GIVE_UP;
    const byte = b[pos++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      next = pos;
      return value;
    }
    scale *= 128;
  }
  return longTimestamp(b, start, end);
}

function longTimestamp(b: Buffer, pos: number, end: number): number {
  const r = new Reader(b);
  r.pos = pos;
  let value: number;
  try {
    value = r.int64();
  } catch {
    throw GIVE_UP;
  }
  if (r.pos > end) throw GIVE_UP;
  next = r.pos;
  return value;
}

/**
 * Past a field of `tag` (read; any tag the switch did not take) at b[pos]:
 * `next` is where it ends. GIVE_UP on an invalid tag (field 0, wire type 6
 * or 7), a field that runs past `end`, and groups (the record reader
 * skips those, and judges the event).
 */
function skip(b: Uint8Array, pos: number, tag: number, end: number): void {
  if (tag >>> 3 === 0) throw GIVE_UP;
  switch (tag & 7) {
    case 0:
      varint(b, pos, end);
      return;
    case 1:
      next = pos + 8;
      break;
    case 2: {
      const length = varint(b, pos, end);
      next += length;
      break;
    }
    case 5:
      next = pos + 4;
      break;
    default:
      throw GIVE_UP;
  }
  if (next > end) throw GIVE_UP;
}

/** The cache slot of the string ascii() returned last (-1: a longer string, from no cache). */
export let stringSlot = -1;

/** An ASCII string of bytes [start, end) (within the body), cached when short (its slot in stringSlot); GIVE_UP on a byte past 0x7f. */
export function ascii(b: Buffer, view: DataView, start: number, end: number): string {
  if (end - start <= SHORT_STRING_BYTES_MAX) {
    const slot = cachedAsciiSlot(b, view, start, end);
    if (slot < 0) throw GIVE_UP;
    stringSlot = slot;
    return cachedString(slot);
  }
  checkAscii(b, view, start, end);
  stringSlot = -1;
  return (b as unknown as Latin1Slicer).latin1Slice(start, end);
}

export function checkAscii(b: Uint8Array, view: DataView, start: number, end: number): void {
  let i = start;
  for (; i + 4 <= end; i += 4) if ((view.getUint32(i, true) & 0x80808080) !== 0) throw GIVE_UP;
  for (; i < end; i++) if (b[i]! > 0x7f) throw GIVE_UP;
}

/**
 * Event k, bytes [pos, end) of the body, into the columns, its tags from
 * `tagAt` and properties from `propAt`; GIVE_UP unless it is valid and
 * plain. The fields are read as protobuf.ts's readEvent reads them (the
 * last of a repeated field wins, unknown fields are skipped), with the
 * position in a local and the one-byte tags and lengths of the schema read
 * inline; anything longer goes through varint() and skip().
 */
function readEvent(b: Buffer, view: DataView, pos: number, end: number, cols: EventColumns, d: EventDraft, k: number, l: ColumnLimits, receivedAtMs: number, tagAt: number, propAt: number): void {
  let idStart = -1;
  let idEnd = -1;
  let name = '';
  let timestampMs = 0;
  let hasTimestamp = false;
  let sentAt = 0;
  let hasSentAt = false;
  let userStart = -1;
  let userEnd = -1;
  let nameSlot = -1;
  let category: string | undefined;
  let categorySlot = -1;
  let severity = 0;
  let tags = tagAt;
  let props = propAt;
  let value = 0;
  let hasValue = false;
  let size = 0;
  while (pos < end) {
    let tag = b[pos]!;
    if (tag < 0x80) pos++;
    else {
      tag = varint(b, pos, end);
      pos = next;
    }
    // Every field but the numbers is length-delimited: its end, read here for those (a one-byte length inline).
    let fieldEnd = pos;
    if ((tag & 7) === 2) {
      let length = b[pos]!;
      if (length < 0x80) pos++;
      else {
        length = varint(b, pos, end);
        pos = next;
      }
      fieldEnd = pos + length;
      if (fieldEnd > end) throw GIVE_UP;
    }
    switch (tag) {
      case 0x0a:
        // 1 id: a byte range (the last one wins, as in protobuf.ts)
        idStart = pos;
        idEnd = fieldEnd;
        break;
      case 0x12:
        name = ascii(b, view, pos, fieldEnd);
        nameSlot = stringSlot;
        break;
      case 0x18:
        timestampMs = timestamp(b, pos, end);
        fieldEnd = next;
        hasTimestamp = true;
        break;
      case 0x20:
        sentAt = timestamp(b, pos, end);
        fieldEnd = next;
        hasSentAt = true;
        break;
      case 0x2a:
        userStart = pos;
        userEnd = fieldEnd;
        break;
      case 0x32:
        category = ascii(b, view, pos, fieldEnd);
        categorySlot = stringSlot;
        break;
      case 0x38: {
        const byte = b[pos]!;
        if (byte < 0x80 && pos < end) {
          severity = byte;
          fieldEnd = pos + 1;
        } else {
          severity = varint(b, pos, end) | 0;
          fieldEnd = next;
        }
        break;
      }
      case 0x42: {
        if (tags - tagAt >= l.tagsMax) throw GIVE_UP;
        const s = ascii(b, view, pos, fieldEnd);
        if (s.length === 0 || s.length > l.tagCharsMax) throw GIVE_UP;
        size += s.length;
        if (tags >= cols.tagSlot.length) cols.growTags();
        cols.tagSlot[tags] = stringSlot;
        cols.tags[tags++] = s;
        break;
      }
      case 0x4a:
        if (readProperty(b, view, pos, fieldEnd, cols, props, propAt, l)) {
          if (props - propAt >= l.propertiesMax) throw GIVE_UP;
          const key = cols.propKey[props]!;
          size += key.length;
          const kind = cols.propKind[props]!;
          if (kind === PROP_STRING) size += cols.propString[props]!.length;
          else if (kind === PROP_LONG_STRING) size += cols.propEnd[props]! - cols.propNumber[props]!;
          else if (kind === PROP_NUMBER) size += NUMBER_BYTES;
          else size += 1;
          props++;
        }
        break;
      case 0x51:
        if (pos + 8 > end) throw GIVE_UP;
        value = view.getFloat64(pos, true);
        fieldEnd = pos + 8;
        hasValue = true;
        break;
      default:
        if ((tag & 7) !== 2) {
          skip(b, pos, tag, end);
          fieldEnd = next;
        } else if (tag >>> 3 === 0) throw GIVE_UP;
    }
    pos = fieldEnd;
  }

  if (severity < 0 || severity > 6) throw GIVE_UP;
  d.idStart = idStart;
  d.idEnd = idEnd;
  d.name = name;
  d.nameSlot = nameSlot;
  d.timestampMs = timestampMs;
  d.hasTimestamp = hasTimestamp;
  d.sentAt = sentAt;
  d.hasSentAt = hasSentAt;
  d.userStart = userStart;
  d.userEnd = userEnd;
  d.category = category;
  d.categorySlot = categorySlot;
  // protobuf's enum is 1-based with 0 for "unset" (info); SEVERITIES is 0-based.
  d.severity = severity === 0 ? 1 : severity - 1;
  d.tags = tags;
  d.props = props;
  d.value = value;
  d.hasValue = hasValue;
  d.size = size;
  commitEvent(b, view, cols, k, l, receivedAtMs, d);
}

/**
 * One event as a reader found it (the byte ranges and strings of its
 * fields), before commitEvent applies the rules of validate.ts to it.
 */
export class EventDraft {
  idStart = -1;
  idEnd = -1;
  name = '';
  nameSlot = -1;
  timestampMs = 0;
  hasTimestamp = false;
  sentAt = 0;
  hasSentAt = false;
  userStart = -1;
  userEnd = -1;
  category: string | undefined = undefined;
  categorySlot = -1;
  /** Index in SEVERITIES. */
  severity = 1;
  /** The ends of the event's tags and properties in the flat lists. */
  tags = 0;
  props = 0;
  value = 0;
  hasValue = false;
  /** validate.ts's size estimate of what the reader has counted so far (tags and properties). */
  size = 0;
}

/**
 * The rules of validate.ts that the readers leave to the end (the order does
 * not matter here: any fault gives up), then the draft into the columns as
 * event k. Shared by the protobuf and the msgpack readers, so the two
 * cannot drift.
 */
export function commitEvent(b: Buffer, view: DataView, cols: EventColumns, k: number, l: ColumnLimits, receivedAtMs: number, d: EventDraft): void {
  let size = d.size;
  const idStart = d.idStart;
  const idEnd = d.idEnd;
  const idLength = idEnd - idStart;
  if (idStart < 0 || idLength <= 0 || idLength > l.idCharsMax) throw GIVE_UP;
  size += idLength;
  const name = d.name;
  if (name === '' || name.length > l.nameCharsMax) throw GIVE_UP;
  size += name.length;
  let clientTimestampMs = receivedAtMs;
  if (d.hasTimestamp) {
    if (!(d.timestampMs >= 0) || !Number.isFinite(d.timestampMs)) throw GIVE_UP;
    clientTimestampMs = d.timestampMs;
    size += NUMBER_BYTES;
  }
  let eventMs = clientTimestampMs;
  if (d.hasSentAt) {
    const sentAt = d.sentAt;
    if (!(sentAt >= 0) || !Number.isFinite(sentAt)) throw GIVE_UP;
    if (d.hasTimestamp) eventMs = clientTimestampMs + (receivedAtMs - sentAt);
    size += NUMBER_BYTES;
  }
  if (eventMs - receivedAtMs > l.futureToleranceMs) throw GIVE_UP;
  let userStart = d.userStart;
  const userEnd = d.userEnd;
  if (userStart >= 0) {
    const userLength = userEnd - userStart;
    if (userLength > l.idCharsMax) throw GIVE_UP;
    size += userLength;
    if (userLength === 0) userStart = -1;
  }
  let category = d.category;
  let categorySlot = d.categorySlot;
  if (category === undefined) {
    category = 'default';
    categorySlot = -1;
  } else {
    if (category.length === 0 || category.length > l.categoryCharsMax) throw GIVE_UP;
    size += category.length;
  }
  const value = d.value;
  if (d.hasValue) {
    if (!Number.isFinite(value)) throw GIVE_UP;
    size += NUMBER_BYTES;
  }
  if (size > l.eventBytesMax) throw GIVE_UP;

  // The id and user id: ASCII, hashed from their bytes.
  checkAscii(b, view, idStart, idEnd);
  hash64Ascii(b, idStart, idEnd, cols.idHash, 2 * k);
  cols.idStart[k] = idStart;
  cols.idEnd[k] = idEnd;
  cols.userStart[k] = userStart;
  if (userStart >= 0) {
    checkAscii(b, view, userStart, userEnd);
    cols.userEnd[k] = userEnd;
    cols.userHash[k] = hash32Ascii(b, userStart, userEnd);
  }
  cols.name[k] = name;
  cols.nameSlot[k] = d.nameSlot;
  cols.category[k] = category;
  cols.categorySlot[k] = categorySlot;
  cols.severity[k] = d.severity;
  cols.timestampMs[k] = eventMs;
  cols.clientTimestampMs[k] = clientTimestampMs;
  cols.value[k] = value;
  cols.hasValue[k] = d.hasValue ? 1 : 0;
  cols.tagsEnd[k] = d.tags;
  cols.propsEnd[k] = d.props;
  cols.status[k] = STATUS_ACCEPTED;
}

/**
 * One map entry, bytes [pos, end), into property slot p (as protobuf.ts's
 * readPropertyEntry): false when it is no property (no value field).
 * GIVE_UP on a value the validator refuses, a key it refuses, a key seen
 * before in this event (from `first`), or a key that starts with a digit.
 */
function readProperty(b: Buffer, view: DataView, pos: number, end: number, cols: EventColumns, p: number, first: number, l: ColumnLimits): boolean {
  let keyStart = 0;
  let keyEnd = 0;
  let hasValue = false;
  let kind = -1;
  let number = 0;
  let strStart = 0;
  let strEnd = 0;
  while (pos < end) {
    let tag = b[pos]!;
    if (tag < 0x80) pos++;
    else {
      tag = varint(b, pos, end);
      pos = next;
    }
    if (tag === 0x0a || tag === 0x12) {
      let length = b[pos]!;
      if (length < 0x80) pos++;
      else {
        length = varint(b, pos, end);
        pos = next;
      }
      const fieldEnd = pos + length;
      if (fieldEnd > end) throw GIVE_UP;
      if (tag === 0x0a) {
        keyStart = pos;
        keyEnd = fieldEnd;
        pos = fieldEnd;
        continue;
      }
      hasValue = true;
      kind = -1;
      // The PropertyValue message: a oneof of string (1), double (2), bool (3).
      while (pos < fieldEnd) {
        let inner = b[pos]!;
        if (inner < 0x80) pos++;
        else {
          inner = varint(b, pos, fieldEnd);
          pos = next;
        }
        if (inner === 0x0a) {
          let n = b[pos]!;
          if (n < 0x80) pos++;
          else {
            n = varint(b, pos, fieldEnd);
            pos = next;
          }
          kind = PROP_STRING;
          strStart = pos;
          strEnd = pos + n;
          if (strEnd > fieldEnd) throw GIVE_UP;
          pos = strEnd;
        } else if (inner === 0x11) {
          if (pos + 8 > fieldEnd) throw GIVE_UP;
          kind = PROP_NUMBER;
          number = view.getFloat64(pos, true);
          pos += 8;
        } else if (inner === 0x18) {
          // A bool: true when any of the varint's bits is set (as Reader.varintNonZero).
          let nonZero = false;
          for (let i = 0; ; i++) {
            if (i === 10 || pos >= fieldEnd) throw GIVE_UP;
            const byte = b[pos++]!;
            if ((byte & 0x7f) !== 0) nonZero = true;
            if (byte < 0x80) break;
          }
          kind = nonZero ? PROP_TRUE : PROP_FALSE;
        } else {
          skip(b, pos, inner, fieldEnd);
          pos = next;
        }
      }
    } else {
      skip(b, pos, tag, end);
      pos = next;
    }
  }
  if (!hasValue) return false;
  // A value message with none of the oneof: the validator's "a property has no value".
  if (kind < 0) throw GIVE_UP;
  propertyKey(b, view, keyStart, keyEnd, cols, p, first, l);
  if (kind === PROP_STRING) kind = propertyString(b, view, strStart, strEnd, cols, p, l);
  else {
    cols.propString[p] = '';
    if (kind === PROP_NUMBER) {
      if (!Number.isFinite(number)) throw GIVE_UP;
      cols.propNumber[p] = number;
    }
  }
  cols.propKind[p] = kind;
  return true;
}

/**
 * Property p's key, bytes [keyStart, keyEnd), into the columns (growing
 * them) after validate.ts's rules for keys; GIVE_UP on a key it refuses, on
 * one seen before in this event (from `first`), and on one that starts with
 * a digit (an object lists index-like keys first, so the record path's
 * order would differ). Shared by the protobuf and msgpack readers.
 */
export function propertyKey(b: Buffer, view: DataView, keyStart: number, keyEnd: number, cols: EventColumns, p: number, first: number, l: ColumnLimits): void {
  const keyLength = keyEnd - keyStart;
  if (keyLength === 0 || keyLength > l.propertyKeyCharsMax) throw GIVE_UP;
  const c = b[keyStart]!;
  if (c >= 0x30 && c <= 0x39) throw GIVE_UP;
  const key = ascii(b, view, keyStart, keyEnd);
  const keySlot = stringSlot;
  // __proto__, constructor, prototype: 9 or 11 characters (a Set lookup per key was ~1.5 % of the path).
  if ((keyLength === 9 || keyLength === 11) && FORBIDDEN_KEYS.has(key)) throw GIVE_UP;
  for (let q = first; q < p; q++) if (cols.propKey[q] === key) throw GIVE_UP;
  if (p >= cols.propKind.length) cols.growProps();
  cols.propKey[p] = key;
  cols.propKeySlot[p] = keySlot;
}

/**
 * Property p's string value, bytes [start, end), into the columns: a
 * cached string up to PROPERTY_SHORT_BYTES, a byte range past it; its kind
 * (PROP_STRING or PROP_LONG_STRING). GIVE_UP past propertyValueCharsMax and
 * on a byte past 0x7f. The caller sets propKind.
 */
export function propertyString(b: Buffer, view: DataView, start: number, end: number, cols: EventColumns, p: number, l: ColumnLimits): number {
  const length = end - start;
  if (length > l.propertyValueCharsMax) throw GIVE_UP;
  if (length <= PROPERTY_SHORT_BYTES) {
    cols.propString[p] = ascii(b, view, start, end);
    cols.propStringSlot[p] = stringSlot;
    return PROP_STRING;
  }
  checkAscii(b, view, start, end);
  cols.propString[p] = '';
  cols.propNumber[p] = start;
  cols.propEnd[p] = end;
  return PROP_LONG_STRING;
}
