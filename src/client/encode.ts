/**
 * Encoding, once per event when send() takes it, and the request bodies built
 * around the encoded events per attempt. The encoded form is what the buffer
 * holds and what every attempt sends, so a retry carries the same id and the
 * same bytes, and an application may change its object after send() without
 * changing the event.
 *
 * Invariants:
 * - Every encoded event has an id: the application's, or `<clientId>.<seq>`.
 *   A JSON encoding therefore always starts with `{"id":`, which is where
 *   sentAt is spliced in per attempt (encodeJsonBody).
 * - The protobuf encoding is byte for byte that of the generated
 *   `Event.encode` (test/client/event.test.ts), written by hand so that the
 *   client loads no protobuf runtime and pays about half the cost.
 */
import type { BodyFormat, ClientEvent, PendingEvent, PropertyValue, Severity } from './event.js';

/** The known fields only, id first; unknown fields are the application's and stay home. */
function jsonOf(e: ClientEvent, id: string, timestamp: number | undefined): string {
  const out: Record<string, unknown> = { id, name: e.name };
  if (timestamp !== undefined) out.timestamp = timestamp;
  if (e.userId !== undefined) out.userId = e.userId;
  if (e.category !== undefined) out.category = e.category;
  if (e.severity !== undefined) out.severity = e.severity;
  if (e.tags !== undefined) out.tags = e.tags;
  if (e.properties !== undefined) out.properties = e.properties;
  if (e.value !== undefined) out.value = e.value;
  return JSON.stringify(out);
}

/** Severity enum numbers of event.proto. */
const PB_SEVERITY: Readonly<Record<Severity, number>> = Object.freeze({ debug: 1, info: 2, notice: 3, warning: 4, error: 5, critical: 6 });

/** Strings longer than this go through Buffer's native UTF-8 code; shorter ones are cheaper to walk in JS than to cross into C++ for. */
const NATIVE_UTF8_CHARS_MIN = 64;

/** UTF-8 length of `s` as Buffer and TextEncoder write it (a lone surrogate becomes U+FFFD, 3 bytes). */
function utf8Length(s: string): number {
  if (s.length > NATIVE_UTF8_CHARS_MIN) return Buffer.byteLength(s);
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: two units, four bytes.
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}

function writeUtf8(out: Buffer, at: number, s: string): number {
  if (s.length > NATIVE_UTF8_CHARS_MIN) return at + out.write(s, at);
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[at++] = c;
    } else if (c < 0x800) {
      out[at++] = 0xc0 | (c >> 6);
      out[at++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && (next & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[at++] = 0xf0 | (c >> 18);
        out[at++] = 0x80 | ((c >> 12) & 0x3f);
        out[at++] = 0x80 | ((c >> 6) & 0x3f);
        out[at++] = 0x80 | (c & 0x3f);
      } else {
        out[at++] = 0xef;
        out[at++] = 0xbf;
        out[at++] = 0xbd;
      }
    } else {
      out[at++] = 0xe0 | (c >> 12);
      out[at++] = 0x80 | ((c >> 6) & 0x3f);
      out[at++] = 0x80 | (c & 0x3f);
    }
  }
  return at;
}

function stringField(s: string): number {
  const n = utf8Length(s);
  return 1 + varintLength(n) + n;
}

function propertyValueBytes(v: PropertyValue): number {
  return typeof v === 'string' ? stringField(v) : typeof v === 'number' ? 9 : 2;
}

function writeString(out: Buffer, at: number, tag: number, s: string): number {
  out[at++] = tag;
  at = writeVarint(out, at, utf8Length(s));
  return writeUtf8(out, at, s);
}

/**
 * One eventide.v1.Event, written by hand in two passes (sizes, then bytes):
 * several times cheaper than the generated encoder, which builds a Map and a
 * message object per event (bench/results/client.md). The bytes are those of
 * the generated `Event.encode` (test/client/event.test.ts compares them):
 * fields in number order, proto3 defaults left out where it leaves them out.
 */
function protobufOf(e: ClientEvent, id: string, timestamp: number | undefined): Uint8Array {
  const props = e.properties === undefined ? undefined : Object.entries(e.properties);
  let size = stringField(id);
  if (e.name !== '') size += stringField(e.name);
  if (timestamp !== undefined) size += 1 + varintLength(timestamp);
  if (e.userId !== undefined) size += stringField(e.userId);
  if (e.category !== undefined) size += stringField(e.category);
  if (e.severity !== undefined) size += 2;
  if (e.tags !== undefined) for (const tag of e.tags) size += stringField(tag);
  if (props !== undefined) {
    for (const [key, value] of props) {
      const valueBytes = propertyValueBytes(value);
      const entry = (key === '' ? 0 : stringField(key)) + 1 + varintLength(valueBytes) + valueBytes;
      size += 1 + varintLength(entry) + entry;
    }
  }
  if (e.value !== undefined) size += 9;

  const out = Buffer.allocUnsafe(size);
  let at = writeString(out, 0, (1 << 3) | 2, id);
  if (e.name !== '') at = writeString(out, at, (2 << 3) | 2, e.name);
  if (timestamp !== undefined) {
    out[at++] = 3 << 3;
    at = writeVarint(out, at, timestamp);
  }
  if (e.userId !== undefined) at = writeString(out, at, (5 << 3) | 2, e.userId);
  if (e.category !== undefined) at = writeString(out, at, (6 << 3) | 2, e.category);
  if (e.severity !== undefined) {
    out[at++] = 7 << 3;
    out[at++] = PB_SEVERITY[e.severity];
  }
  if (e.tags !== undefined) for (const tag of e.tags) at = writeString(out, at, (8 << 3) | 2, tag);
  if (props !== undefined) {
    for (const [key, value] of props) {
      const valueBytes = propertyValueBytes(value);
      const entry = (key === '' ? 0 : stringField(key)) + 1 + varintLength(valueBytes) + valueBytes;
      out[at++] = (9 << 3) | 2;
      at = writeVarint(out, at, entry);
      if (key !== '') at = writeString(out, at, (1 << 3) | 2, key);
      out[at++] = (2 << 3) | 2;
      at = writeVarint(out, at, valueBytes);
      if (typeof value === 'string') at = writeString(out, at, (1 << 3) | 2, value);
      else if (typeof value === 'number') {
        out[at++] = (2 << 3) | 1;
        at = out.writeDoubleLE(value, at);
      } else {
        out[at++] = 3 << 3;
        out[at++] = value ? 1 : 0;
      }
    }
  }
  if (e.value !== undefined) {
    out[at++] = (10 << 3) | 1;
    at = out.writeDoubleLE(e.value, at);
  }
  if (at !== size) throw new Error(`protobufOf wrote ${at} of ${size} bytes`);
  return out;
}

/** Encodes one checked event. */
export function encodeEvent<E extends ClientEvent>(
  e: E,
  seq: number,
  id: string,
  timestamp: number | undefined,
  format: BodyFormat,
  atMs: number,
): PendingEvent<E> {
  if (format === 'json') {
    const encoded = jsonOf(e, id, timestamp);
    return { seq, id, event: e, encoded, bytes: Buffer.byteLength(encoded), atMs };
  }
  const encoded = protobufOf(e, id, timestamp);
  return { seq, id, event: e, encoded, bytes: encoded.byteLength, atMs };
}

// ---------------------------------------------------------------- bodies

/**
 * What a body adds to each event's encoding, at most: JSON's spliced-in
 * `"sentAt":<13 digits>,` and a comma; protobuf's field tag, length prefix
 * and sent_at_ms. A batch of events whose bytes plus this stay within
 * batchBytesMax - ENVELOPE_BYTES_MAX has a body of at most batchBytesMax.
 */
export const FRAMING_BYTES: Readonly<Record<BodyFormat, number>> = Object.freeze({ json: 24, protobuf: 11 });
/** The rest of a body: `{"events":[]}`, or an IngestRequest's batch_id (a request id) and ack. */
export const ENVELOPE_BYTES_MAX = 64;

/**
 * `{"events":[...]}` with `sentAt` set to this attempt's clock in every event,
 * so the server can correct the sender's clock skew (docs/proto.md).
 */
export function encodeJsonBody(events: readonly PendingEvent[], sentAtMs: number): Buffer {
  const head = `{"sentAt":${sentAtMs},`;
  const parts = new Array<string>(events.length);
  for (let i = 0; i < events.length; i++) parts[i] = head + (events[i]!.encoded as string).slice(1);
  return Buffer.from(`{"events":[${parts.join(',')}]}`);
}

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

function writeVarint(out: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[at++] = v;
  return at;
}

const TAG_EVENTS = (1 << 3) | 2;
const TAG_SENT_AT = 4 << 3;
const TAG_BATCH_ID = (2 << 3) | 2;
const TAG_ACK = 3 << 3;

/** AckLevel numbers of ingest.proto. */
export const PB_ACK = Object.freeze({ applied: 1, durable: 2 });

/**
 * An IngestRequest, written by hand around the pre-encoded events: each
 * event message gets sent_at_ms appended (a protobuf field may follow the
 * others; the decoder reads it the same), so nothing is encoded twice.
 */
export function encodeProtobufBody(
  events: readonly PendingEvent[],
  sentAtMs: number,
  batchId: string | undefined,
  ack: 'applied' | 'durable' | undefined,
): Buffer {
  const sentAtBytes = 1 + varintLength(sentAtMs);
  let total = 0;
  for (const e of events) {
    const inner = e.bytes + sentAtBytes;
    total += 1 + varintLength(inner) + inner;
  }
  const batchIdBytes = batchId === undefined ? undefined : Buffer.from(batchId);
  if (batchIdBytes !== undefined) total += 1 + varintLength(batchIdBytes.length) + batchIdBytes.length;
  if (ack !== undefined) total += 2;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const e of events) {
    out[at++] = TAG_EVENTS;
    at = writeVarint(out, at, e.bytes + sentAtBytes);
    out.set(e.encoded as Uint8Array, at);
    at += e.bytes;
    out[at++] = TAG_SENT_AT;
    at = writeVarint(out, at, sentAtMs);
  }
  if (batchIdBytes !== undefined) {
    out[at++] = TAG_BATCH_ID;
    at = writeVarint(out, at, batchIdBytes.length);
    out.set(batchIdBytes, at);
    at += batchIdBytes.length;
  }
  if (ack !== undefined) {
    out[at++] = TAG_ACK;
    out[at++] = PB_ACK[ack];
  }
  if (at !== total) throw new Error(`encodeProtobufBody wrote ${at} of ${total} bytes`);
  return out;
}
