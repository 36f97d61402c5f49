/**
 * The columnar path's msgpack reader (docs/columnar-path.md, step 5): a
 * msgpack batch body, `[event, ...]` or `{ "events": [...], "batchId"?,
 * ... }`, read straight into EventColumns as columns.ts reads protobuf, with
 * the same rule that keeps it exact: it takes a batch only when it can hold
 * every valid event of it exactly; an event the validator rejects is read
 * again by the record path's reader (msgpack-fast.ts, one event) and judged
 * by the validator itself; on anything else it gives up and the batch
 * takes the record path (decode.ts, validate.ts) from the start.
 *
 * What the record path does with a msgpack body, and how this reader keeps
 * to it:
 * - The scan's bounds (scan.ts scanMsgpack): the events array against
 *   batchEventsMax, every container's depth against bodyDepthMax, tags and
 *   properties against itemsMax, all checked where they open. The count
 *   of values needs no check: each container adds its items + 1 to it, and
 *   its header and each item take a byte at least, so a body no longer
 *   than valuesMax bytes cannot pass valuesMax (a longer one is given up).
 * - Fields as msgpack-fast.ts tells them apart (fast-read.ts fieldOf); a
 *   schema field given twice, a key that is not a string, `__proto__`, and
 *   a value the columns do not hold (null, a container outside tags and
 *   properties, bin, ext, a string with a byte past 0x7f) make the event
 *   odd: it is read again as an object, and either rejected with the
 *   validator's receipt or the batch is given up.
 * - Numbers of every msgpack width read as msgpackr reads them (float 32
 *   widened, 64-bit integers as high × 2^32 + low: msgpack-fast.ts
 *   msgpackNumber), severities as their names, a user id of '' as none.
 * - The envelope: `events` once and an array, `batchId` a string of ASCII
 *   (kept as sent, '' included, as decode.ts keeps it), other keys with a
 *   scalar value are skipped; anything else gives the batch up. No `ack`
 *   or `receipts_all` (JSON and msgpack bodies do not carry them).
 *
 * Invariants: as columns.ts (test/actors/columns-msgpack.test.ts drives both
 * paths over seeded random msgpack bodies, hand-made encodings and
 * mangled bodies).
 */
import type { Buffer } from 'node:buffer';
import {
  ascii,
  checkAscii,
  commitEvent,
  EventDraft,
  GIVE_UP,
  NUMBER_BYTES,
  PROP_FALSE,
  PROP_NUMBER,
  PROP_TRUE,
  propertyKey,
  propertyString,
  STATUS_REJECTED,
  stringSlot,
  type ColumnLimits,
  type EventColumns,
} from './columns.js';
import { F_CATEGORY, F_ID, F_NAME, F_OTHER, F_PROPERTIES, F_SENT_AT, F_SEVERITY, F_TAGS, F_TIMESTAMP, F_USER_ID, F_VALUE, type FastReadLimits, type Latin1Slicer } from './fast-read.js';
import { msgpackNumber, numberEnd, readMsgpackEventAt } from './msgpack-fast.js';
import { clientId, isRejection, type Validator } from './validate.js';

/** Where the helpers below leave the position they read to. */
let next = 0;

const EVENTS_KEY = [0x65, 0x76, 0x65, 0x6e, 0x74, 0x73]; // events
const BATCH_ID_KEY = [0x62, 0x61, 0x74, 0x63, 0x68, 0x49, 0x64]; // batchId
const PROTO_KEY = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // __proto__

/**
 * Reads the msgpack body `b` into `cols`; GIVE_UP (this module's or
 * fast-read.ts's) when the record path must answer it. `d`: the reader's
 * scratch for one event; `s`: the scan's bounds (fast-read.ts
 * fastReadLimits of the same configuration).
 */
export function readMsgpackRequest(b: Buffer, cols: EventColumns, d: EventDraft, l: ColumnLimits, s: FastReadLimits, validator: Validator, receivedAtMs: number): void {
  const n = b.length;
  if (n === 0 || n > s.valuesMax || s.depthMax < 1) throw GIVE_UP;
  const view = new DataView(b.buffer, b.byteOffset, n);
  cols.body = b;
  cols.receivedAtMs = receivedAtMs;
  let batchId: string | undefined;
  let count = -1;
  let pos: number;
  const t = b[0]!;
  if (isArray(t)) {
    count = containerCount(b, view, 0, n);
    pos = readEvents(b, view, next, n, count, 1, cols, d, l, s, validator, receivedAtMs);
  } else if (isMap(t)) {
    const entries = containerCount(b, view, 0, n);
    if (entries > s.itemsMax) throw GIVE_UP;
    pos = next;
    for (let i = 0; i < entries; i++) {
      const keyStart = stringStart(b, view, pos, n);
      const keyEnd = next;
      pos = keyEnd;
      if (bytesAre(b, keyStart, keyEnd, EVENTS_KEY)) {
        if (count >= 0 || pos >= n || !isArray(b[pos]!)) throw GIVE_UP;
        count = containerCount(b, view, pos, n);
        pos = readEvents(b, view, next, n, count, 2, cols, d, l, s, validator, receivedAtMs);
      } else if (bytesAre(b, keyStart, keyEnd, BATCH_ID_KEY)) {
        const start = stringStart(b, view, pos, n);
        pos = next;
        checkAscii(b, view, start, pos);
        batchId = (b as unknown as Latin1Slicer).latin1Slice(start, pos);
      } else {
        if (bytesAre(b, keyStart, keyEnd, PROTO_KEY)) throw GIVE_UP;
        pos = skipScalar(b, view, pos, n);
      }
    }
  } else {
    throw GIVE_UP;
  }
  if (pos !== n || count <= 0) throw GIVE_UP;
  if (batchId !== undefined && batchId.length > l.idCharsMax) throw GIVE_UP;
  cols.n = count;
  cols.batchId = batchId;
  cols.ack = undefined;
  cols.receiptsAll = false;
}

/** The events array's `count` items from `pos`, the array at `depth`: where they end. */
function readEvents(
  b: Buffer,
  view: DataView,
  pos: number,
  n: number,
  count: number,
  depth: number,
  cols: EventColumns,
  d: EventDraft,
  l: ColumnLimits,
  s: FastReadLimits,
  validator: Validator,
  receivedAtMs: number,
): number {
  if (count > s.eventsMax || count > l.batchEventsMax || depth > s.depthMax) throw GIVE_UP;
  let tagCount = 0;
  let propCount = 0;
  for (let k = 0; k < count; k++) {
    if (k === cols.capacity) cols.growEvents();
    const start = pos;
    try {
      pos = readEvent(b, view, pos, n, cols, d, k, l, s, depth + 1, receivedAtMs, tagCount, propCount);
    } catch (err) {
      if (err !== GIVE_UP) throw err;
      pos = rejectOrGiveUp(b, start, depth, cols, k, s, validator, receivedAtMs, tagCount, propCount, l.idCharsMax);
    }
    tagCount = cols.tagsEnd[k]!;
    propCount = cols.propsEnd[k]!;
  }
  return pos;
}

/**
 * Event k, which the columns cannot take, read again as the record path
 * reads it (msgpack-fast.ts) and judged by the validator: a rejection is
 * kept with the receipt validateBatch makes, and the batch goes on (the
 * return value is where the event ends); a valid event gives the batch up,
 * and so does an event the one-pass reader gives up on.
 */
function rejectOrGiveUp(
  b: Buffer,
  start: number,
  eventsDepth: number,
  cols: EventColumns,
  k: number,
  s: FastReadLimits,
  validator: Validator,
  receivedAtMs: number,
  tagAt: number,
  propAt: number,
  idCharsMax: number,
): number {
  const { value, end } = readMsgpackEventAt(b, start, eventsDepth, s);
  const verdict = validator.validate(value, k, { requestId: '', receivedAtMs });
  if (!isRejection(verdict)) throw GIVE_UP;
  cols.rejected++;
  cols.rejections.push({ index: k, id: clientId(value, idCharsMax), status: 'rejected', code: verdict.code, field: verdict.field, message: verdict.message });
  cols.status[k] = STATUS_REJECTED;
  cols.tagsEnd[k] = tagAt;
  cols.propsEnd[k] = propAt;
  return end;
}

/** Event k, a map at b[pos] at `depth`, into the columns (commitEvent); where it ends. GIVE_UP unless it is valid and plain. */
function readEvent(
  b: Buffer,
  view: DataView,
  pos: number,
  n: number,
  cols: EventColumns,
  d: EventDraft,
  k: number,
  l: ColumnLimits,
  s: FastReadLimits,
  depth: number,
  receivedAtMs: number,
  tagAt: number,
  propAt: number,
): number {
  const t = b[pos]!;
  if (!isMap(t) || depth > s.depthMax) throw GIVE_UP;
  const entries = containerCount(b, view, pos, n);
  pos = next;
  d.idStart = -1;
  d.idEnd = -1;
  d.name = '';
  d.nameSlot = -1;
  d.hasTimestamp = false;
  d.hasSentAt = false;
  d.userStart = -1;
  d.userEnd = -1;
  d.category = undefined;
  d.categorySlot = -1;
  d.severity = 1;
  d.tags = tagAt;
  d.props = propAt;
  d.value = 0;
  d.hasValue = false;
  d.size = 0;
  let seen = 0;
  for (let i = 0; i < entries; i++) {
    // The key: a fixstr inline, a longer string through stringStart (which gives up on anything else).
    let keyStart: number;
    const kt = b[pos]!;
    if (kt >= 0xa0 && kt <= 0xbf) {
      keyStart = pos + 1;
      pos = keyStart + (kt & 0x1f);
      if (pos > n) throw GIVE_UP;
    } else {
      keyStart = stringStart(b, view, pos, n);
      pos = next;
    }
    const field = fieldAt(b, view, keyStart, pos);
    if (field === F_OTHER) {
      if (bytesAre(b, keyStart, pos, PROTO_KEY)) throw GIVE_UP;
      pos = skipScalar(b, view, pos, n);
      continue;
    }
    // A schema field given twice: the record path keeps the last; left to it.
    if ((seen & (1 << field)) !== 0) throw GIVE_UP;
    seen |= 1 << field;
    switch (field) {
      case F_ID:
        d.idStart = stringStart(b, view, pos, n);
        d.idEnd = pos = next;
        break;
      case F_NAME: {
        const start = stringStart(b, view, pos, n);
        pos = next;
        d.name = ascii(b, view, start, pos);
        d.nameSlot = stringSlot;
        break;
      }
      case F_TIMESTAMP:
        d.timestampMs = numberAt(b, view, pos, n);
        d.hasTimestamp = true;
        pos = next;
        break;
      case F_SENT_AT:
        d.sentAt = numberAt(b, view, pos, n);
        d.hasSentAt = true;
        pos = next;
        break;
      case F_USER_ID:
        d.userStart = stringStart(b, view, pos, n);
        d.userEnd = pos = next;
        break;
      case F_CATEGORY: {
        const start = stringStart(b, view, pos, n);
        pos = next;
        d.category = ascii(b, view, start, pos);
        d.categorySlot = stringSlot;
        break;
      }
      case F_SEVERITY: {
        const start = stringStart(b, view, pos, n);
        pos = next;
        d.severity = severityAt(b, view, start, pos);
        break;
      }
      case F_TAGS:
        pos = readTags(b, view, pos, n, cols, d, l, s, depth + 1);
        break;
      case F_PROPERTIES:
        pos = readProperties(b, view, pos, n, cols, d, l, s, depth + 1);
        break;
      default:
        // F_VALUE
        d.value = numberAt(b, view, pos, n);
        d.hasValue = true;
        pos = next;
    }
  }
  commitEvent(b, view, cols, k, l, receivedAtMs, d);
  return pos;
}

/** The tags array at b[pos], at `depth`, into the flat tag list from d.tags; where it ends. */
function readTags(b: Buffer, view: DataView, pos: number, n: number, cols: EventColumns, d: EventDraft, l: ColumnLimits, s: FastReadLimits, depth: number): number {
  if (!isArray(b[pos]!)) throw GIVE_UP;
  const count = containerCount(b, view, pos, n);
  pos = next;
  if (count > s.itemsMax || depth > s.depthMax || count > l.tagsMax) throw GIVE_UP;
  let t = d.tags;
  for (let i = 0; i < count; i++) {
    const start = stringStart(b, view, pos, n);
    pos = next;
    const length = pos - start;
    if (length === 0 || length > l.tagCharsMax) throw GIVE_UP;
    const tag = ascii(b, view, start, pos);
    d.size += length;
    if (t >= cols.tagSlot.length) cols.growTags();
    cols.tagSlot[t] = stringSlot;
    cols.tags[t++] = tag;
  }
  d.tags = t;
  return pos;
}

/** The properties map at b[pos], at `depth`, into the flat property lists from d.props; where it ends. */
function readProperties(b: Buffer, view: DataView, pos: number, n: number, cols: EventColumns, d: EventDraft, l: ColumnLimits, s: FastReadLimits, depth: number): number {
  if (!isMap(b[pos]!)) throw GIVE_UP;
  const count = containerCount(b, view, pos, n);
  pos = next;
  if (count > s.itemsMax || depth > s.depthMax || count > l.propertiesMax) throw GIVE_UP;
  const first = d.props;
  let p = first;
  for (let i = 0; i < count; i++) {
    const keyStart = stringStart(b, view, pos, n);
    pos = next;
    propertyKey(b, view, keyStart, pos, cols, p, first, l);
    d.size += pos - keyStart;
    const t = b[pos]!;
    if ((t >= 0xa0 && t <= 0xbf) || t === 0xd9 || t === 0xda || t === 0xdb) {
      const start = stringStart(b, view, pos, n);
      pos = next;
      cols.propKind[p] = propertyString(b, view, start, pos, cols, p, l);
      d.size += pos - start;
    } else if (t === 0xc2 || t === 0xc3) {
      pos++;
      cols.propString[p] = '';
      cols.propKind[p] = t === 0xc3 ? PROP_TRUE : PROP_FALSE;
      d.size += 1;
    } else {
      const number = numberAt(b, view, pos, n);
      pos = next;
      if (!Number.isFinite(number)) throw GIVE_UP;
      cols.propString[p] = '';
      cols.propNumber[p] = number;
      cols.propKind[p] = PROP_NUMBER;
      d.size += NUMBER_BYTES;
    }
    p++;
  }
  d.props = p;
  return pos;
}

function isMap(t: number): boolean {
  return (t & 0xf0) === 0x80 || t === 0xde || t === 0xdf;
}

function isArray(t: number): boolean {
  return (t & 0xf0) === 0x90 || t === 0xdc || t === 0xdd;
}

/** The item count of the map or array whose header is at b[pos] (checked by the caller); its first item in `next`. */
function containerCount(b: Buffer, view: DataView, pos: number, n: number): number {
  const t = b[pos]!;
  if (t < 0xdc) {
    next = pos + 1;
    return t & 0x0f;
  }
  if (t === 0xdc || t === 0xde) {
    if (pos + 3 > n) throw GIVE_UP;
    next = pos + 3;
    return view.getUint16(pos + 1);
  }
  if (pos + 5 > n) throw GIVE_UP;
  next = pos + 5;
  return view.getUint32(pos + 1);
}

/** The first byte of the string (fixstr, str 8 / 16 / 32) at b[pos]; its end in `next`. GIVE_UP on anything else and past `n`. */
function stringStart(b: Buffer, view: DataView, pos: number, n: number): number {
  const t = b[pos];
  let start: number;
  let length: number;
  if (t === undefined) throw GIVE_UP;
  if (t >= 0xa0 && t <= 0xbf) {
    start = pos + 1;
    length = t & 0x1f;
  } else if (t === 0xd9) {
    if (pos + 2 > n) throw GIVE_UP;
    start = pos + 2;
    length = b[pos + 1]!;
  } else if (t === 0xda) {
    if (pos + 3 > n) throw GIVE_UP;
    start = pos + 3;
    length = view.getUint16(pos + 1);
  } else if (t === 0xdb) {
    if (pos + 5 > n) throw GIVE_UP;
    start = pos + 5;
    length = view.getUint32(pos + 1);
  } else {
    throw GIVE_UP;
  }
  next = start + length;
  if (next > n) throw GIVE_UP;
  return start;
}

/** The number (any msgpack width) at b[pos]; its end in `next`. GIVE_UP on anything else. */
function numberAt(b: Buffer, view: DataView, pos: number, n: number): number {
  const t = b[pos];
  if (t === undefined) throw GIVE_UP;
  if (t < 0x80) {
    next = pos + 1;
    return t;
  }
  if (t >= 0xe0) {
    next = pos + 1;
    return t - 0x100;
  }
  if (t === 0xcb) {
    // float 64, what most encoders write for a number past 32 bits (timestamps): inline.
    next = pos + 9;
    if (next > n) throw GIVE_UP;
    return view.getFloat64(pos + 1);
  }
  if (t < 0xca || t > 0xd3) throw GIVE_UP;
  const v = msgpackNumber(t, b, view, pos, n);
  next = numberEnd;
  return v;
}

/**
 * Past the value at b[pos], which must be a scalar: nil, a boolean, a
 * number or a string of ASCII (msgpack-fast.ts decodes other strings
 * strictly, and gives up where they are not UTF-8). GIVE_UP on anything
 * else: containers, bin, ext, 0xc1.
 */
function skipScalar(b: Buffer, view: DataView, pos: number, n: number): number {
  const t = b[pos];
  if (t === undefined) throw GIVE_UP;
  if (t < 0x80 || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return pos + 1;
  if ((t >= 0xa0 && t <= 0xbf) || t === 0xd9 || t === 0xda || t === 0xdb) {
    const start = stringStart(b, view, pos, n);
    checkAscii(b, view, start, next);
    return next;
  }
  numberAt(b, view, pos, n);
  return next;
}

function bytesAre(b: Buffer, start: number, end: number, expected: readonly number[]): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (b[start + i] !== expected[i]) return false;
  return true;
}

/** The little-endian 32-bit word of `s`'s bytes from `at` (up to four; missing ones zero). */
function word(s: string, at: number): number {
  let w = 0;
  for (let i = 0; i < 4 && at + i < s.length; i++) w |= s.charCodeAt(at + i) << (8 * i);
  return w;
}
/** A schema field's or severity's name as words (and the byte or half-word after them). */
const ID_16 = word('id', 0);
const NAME_0 = word('name', 0);
const TAGS_0 = word('tags', 0);
const VALUE_0 = word('value', 0);
const SENT_AT_0 = word('sentAt', 0);
const SENT_AT_1 = word('sentAt', 4);
const USER_ID_0 = word('userId', 0);
const USER_ID_1 = word('userId', 4);
const CATEGORY_0 = word('category', 0);
const CATEGORY_1 = word('category', 4);
const SEVERITY_0 = word('severity', 0);
const SEVERITY_1 = word('severity', 4);
const TIMESTAMP_0 = word('timestamp', 0);
const TIMESTAMP_1 = word('timestamp', 4);
const PROPERTIES_0 = word('properties', 0);
const PROPERTIES_1 = word('properties', 4);
const PROPERTIES_2 = word('properties', 8);
const INFO_0 = word('info', 0);
const DEBUG_0 = word('debug', 0);
const ERROR_0 = word('error', 0);
const NOTICE_0 = word('notice', 0);
const NOTICE_1 = word('notice', 4);
const WARNING_0 = word('warning', 0);
const WARNING_1 = word('warning', 4);
const CRITICAL_0 = word('critical', 0);
const CRITICAL_1 = word('critical', 4);

/**
 * fast-read.ts fieldOf by whole words: which schema field the key bytes
 * [start, end) name (F_OTHER for any other). Every word read lies within
 * the key (end is within the body). The same answers as fieldOf (a test
 * compares them).
 */
export function fieldAt(b: Buffer, view: DataView, start: number, end: number): number {
  switch (end - start) {
    case 2:
      return view.getUint16(start, true) === ID_16 ? F_ID : F_OTHER;
    case 4: {
      const w0 = view.getInt32(start, true);
      return w0 === NAME_0 ? F_NAME : w0 === TAGS_0 ? F_TAGS : F_OTHER;
    }
    case 5:
      return view.getInt32(start, true) === VALUE_0 && b[start + 4] === 0x65 ? F_VALUE : F_OTHER;
    case 6: {
      const w0 = view.getInt32(start, true);
      const w1 = view.getUint16(start + 4, true);
      return w0 === SENT_AT_0 && w1 === SENT_AT_1 ? F_SENT_AT : w0 === USER_ID_0 && w1 === USER_ID_1 ? F_USER_ID : F_OTHER;
    }
    case 8: {
      const w0 = view.getInt32(start, true);
      const w1 = view.getInt32(start + 4, true);
      return w0 === CATEGORY_0 && w1 === CATEGORY_1 ? F_CATEGORY : w0 === SEVERITY_0 && w1 === SEVERITY_1 ? F_SEVERITY : F_OTHER;
    }
    case 9:
      return view.getInt32(start, true) === TIMESTAMP_0 && view.getInt32(start + 4, true) === TIMESTAMP_1 && b[start + 8] === 0x70 ? F_TIMESTAMP : F_OTHER;
    case 10:
      return view.getInt32(start, true) === PROPERTIES_0 && view.getInt32(start + 4, true) === PROPERTIES_1 && view.getUint16(start + 8, true) === PROPERTIES_2
        ? F_PROPERTIES
        : F_OTHER;
    default:
      return F_OTHER;
  }
}

/** Index in SEVERITIES of the severity named by bytes [start, end), by whole words; GIVE_UP for any other string (the validator's rejection). */
export function severityAt(b: Buffer, view: DataView, start: number, end: number): number {
  switch (end - start) {
    case 4:
      if (view.getInt32(start, true) === INFO_0) return 1;
      break;
    case 5: {
      const w0 = view.getInt32(start, true);
      const last = b[start + 4];
      if (w0 === DEBUG_0 && last === 0x67) return 0;
      if (w0 === ERROR_0 && last === 0x72) return 4;
      break;
    }
    case 6:
      if (view.getInt32(start, true) === NOTICE_0 && view.getUint16(start + 4, true) === NOTICE_1) return 2;
      break;
    case 7:
      if (view.getInt32(start, true) === WARNING_0 && view.getUint16(start + 4, true) === (WARNING_1 & 0xffff) && b[start + 6] === 0x67) return 3;
      break;
    case 8:
      if (view.getInt32(start, true) === CRITICAL_0 && view.getInt32(start + 4, true) === CRITICAL_1) return 5;
      break;
  }
  throw GIVE_UP;
}
