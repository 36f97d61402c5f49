/**
 * Turns a raw request body into plain event objects, inside a shard worker.
 * The edge never parses bodies: it transfers the bytes here, so parsing is
 * spread over all cores and the edge's event loop stays an I/O router.
 *
 * Invariants:
 * - Every body shape (JSON, msgpack, protobuf) yields the same plain shape,
 *   the JSON field names of schema.ts, so validate.ts has one input model.
 *   Absent protobuf optionals are absent here, not zero.
 * - Whole-body failures throw an actors error (errors.ts) and nothing of the
 *   batch is applied; per-event problems are left to validate.ts.
 * - batchEventsMax is checked before any per-event work. For protobuf and for
 *   a msgpack array it is checked before the events are even materialised
 *   (a header or a field scan); JSON.parse cannot be stopped early, so a JSON
 *   body is bounded only by bodyInflatedBytesMax (see Caveats in docs/proto.md).
 * - Decoding holds no state between bodies: a msgpack record structure
 *   defined in one body is not visible to the next (no shared structures),
 *   so one owner's body can never change how another's is read.
 */
import { gunzipSync } from 'node:zlib';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { Unpackr } from 'msgpackr';
import { IngestRequest, AckLevel as PbAckLevel, type IngestRequest as PbIngestRequest } from '../gen/eventide/v1/ingest.js';
import { Severity as PbSeverity, type Event as PbEvent } from '../gen/eventide/v1/event.js';
import { BatchEmptyError, BatchTooLongError, BodyMalformedError, BodyTooLargeError } from './errors.js';
import type { AckLevel, BodyEncoding, BodyFormat } from './types.js';

export interface DecodeLimits {
  /** A gzip body that inflates past this is refused (EVT_BODY_TOO_LARGE). */
  readonly bodyInflatedBytesMax: number;
  /** Events per body; more is EVT_BATCH_TOO_LONG. */
  readonly batchEventsMax: number;
  /** Length of batchId (UTF-16 units); the id limit is reused because a batch id is an id. */
  readonly idCharsMax: number;
}

export interface DecodedBody {
  /** Plain event objects, not yet validated, in body order. */
  events: unknown[];
  /** The body was one event object, not an array or an envelope (the HTTP edge answers a single receipt). */
  single: boolean;
  /** The envelope's batchId / IngestRequest.batch_id, to be echoed in the answer. */
  batchId?: string;
  /**
   * Ack level asked for inside the body (protobuf `ack`); absent when the body
   * does not say (ACK_LEVEL_UNSPECIFIED, and always for JSON and msgpack).
   * The request's own ack (gRPC metadata, HTTP query) is set by the edge; the
   * consumer should take the stronger of the two, so a client asking for
   * `durable` in either place gets it.
   */
  ack?: AckLevel;
  /** receipts_all asked for inside the body; OR-ed with the request's. */
  receiptsAll?: boolean;
}

/** The worker's msgpack reader. 64-bit integers become numbers: timestamps from other languages' encoders arrive as uint64. */
const unpackr = new Unpackr({ mapsAsObjects: true, int64AsType: 'number' });
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one body. Throws BodyMalformedError, BodyTooLargeError, BatchTooLongError or BatchEmptyError. */
export function decodeBody(
  bytes: Uint8Array,
  format: BodyFormat,
  encoding: BodyEncoding,
  limits: DecodeLimits,
): DecodedBody {
  const raw = encoding === 'gzip' ? gunzip(bytes, limits.bodyInflatedBytesMax) : bytes;
  switch (format) {
    case 'json':
      return fromValue(parseJson(raw), limits);
    case 'msgpack':
      return fromValue(parseMsgpack(raw, limits.batchEventsMax), limits);
    case 'protobuf':
      return decodeProtobuf(raw, limits);
    default:
      throw new BodyMalformedError(`unknown body format ${String(format)}`);
  }
}

function gunzip(bytes: Uint8Array, maxOutputLength: number): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength });
  } catch (err) {
    // Node reports an output over maxOutputLength as ERR_BUFFER_TOO_LARGE; anything else is a broken stream.
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw new BodyTooLargeError(maxOutputLength, { cause: err });
    throw new BodyMalformedError(`gzip: ${(err as Error).message}`, { cause: err });
  }
}

function parseJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (err) {
    throw new BodyMalformedError('json: the body is not valid UTF-8', { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // V8's message names the position ("... in JSON at position 17").
    throw new BodyMalformedError(`json: ${(err as Error).message}`, { cause: err });
  }
}

function parseMsgpack(bytes: Uint8Array, batchEventsMax: number): unknown {
  const declared = msgpackDeclaredEvents(bytes);
  if (declared > batchEventsMax) throw new BatchTooLongError(declared, batchEventsMax);
  try {
    return unpackr.unpack(bytes) as unknown;
  } catch (err) {
    throw new BodyMalformedError(`msgpack: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The event count a msgpack body declares in its header, without decoding it:
 * a top-level array, or a map whose first key is "events". -1 when the body
 * has another layout (records, other key order); the count is then checked
 * after decoding.
 */
function msgpackDeclaredEvents(b: Uint8Array): number {
  if (b.length === 0) return -1;
  let pos = 0;
  const first = b[0]!;
  if (first >= 0x80 && first <= 0x8f) pos = 1;
  else if (first === 0xde) pos = 3;
  else if (first === 0xdf) pos = 5;
  if (pos > 0) {
    // fixstr "events": 0xa6 then six bytes.
    if (b.length < pos + 8 || b[pos] !== 0xa6) return -1;
    if (b[pos + 1] !== 0x65 || b[pos + 2] !== 0x76 || b[pos + 3] !== 0x65 || b[pos + 4] !== 0x6e) return -1;
    if (b[pos + 5] !== 0x74 || b[pos + 6] !== 0x73) return -1;
    pos += 7;
  }
  const h = b[pos];
  if (h === undefined) return -1;
  if (h >= 0x90 && h <= 0x9f) return h & 0x0f;
  if (h === 0xdc && pos + 2 < b.length) return (b[pos + 1]! << 8) | b[pos + 2]!;
  if (h === 0xdd && pos + 4 < b.length) return ((b[pos + 1]! << 24) >>> 0) + (b[pos + 2]! << 16) + (b[pos + 3]! << 8) + b[pos + 4]!;
  return -1;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** JSON and msgpack: one event object, an array of events, or `{ events: [...], batchId? }`. */
function fromValue(value: unknown, limits: DecodeLimits): DecodedBody {
  if (Array.isArray(value)) return checked({ events: value, single: false }, limits);
  if (!isPlainObject(value)) {
    throw new BodyMalformedError('the body must be an event object, an array of events, or { "events": [...] }');
  }
  if (!Object.hasOwn(value, 'events')) return { events: [value], single: true };
  const events = value.events;
  if (!Array.isArray(events)) throw new BodyMalformedError('"events" must be an array', { field: 'events' });
  const out: DecodedBody = { events, single: false };
  const batchId = value.batchId;
  if (batchId !== undefined) out.batchId = checkBatchId(batchId, limits);
  return checked(out, limits);
}

function checkBatchId(batchId: unknown, limits: DecodeLimits): string {
  if (typeof batchId !== 'string') throw new BodyMalformedError('"batchId" must be a string', { field: 'batchId' });
  if (batchId.length > limits.idCharsMax) {
    throw new BodyMalformedError(`"batchId" is longer than ${limits.idCharsMax} characters (idCharsMax)`, { field: 'batchId' });
  }
  return batchId;
}

function checked(body: DecodedBody, limits: DecodeLimits): DecodedBody {
  const n = body.events.length;
  if (n > limits.batchEventsMax) throw new BatchTooLongError(n, limits.batchEventsMax);
  if (n === 0) throw new BatchEmptyError();
  return body;
}

/**
 * Counts IngestRequest.events (field 1) by skipping over them, so a body of
 * a million empty events is refused before a million objects exist.
 */
function countProtobufEvents(bytes: Uint8Array): number {
  const reader = new BinaryReader(bytes);
  let count = 0;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) count++;
    reader.skip(wireType, field);
  }
  return count;
}

function decodeProtobuf(bytes: Uint8Array, limits: DecodeLimits): DecodedBody {
  let message: PbIngestRequest;
  try {
    const n = countProtobufEvents(bytes);
    if (n > limits.batchEventsMax) throw new BatchTooLongError(n, limits.batchEventsMax);
    message = IngestRequest.decode(bytes);
  } catch (err) {
    if (err instanceof BatchTooLongError) throw err;
    throw new BodyMalformedError(`protobuf: ${(err as Error).message}`, { cause: err });
  }
  const source = message.events;
  const events: unknown[] = new Array<unknown>(source.length);
  for (let i = 0; i < source.length; i++) events[i] = plainEvent(source[i]!);
  const out: DecodedBody = { events, single: false };
  if (message.batchId !== '') out.batchId = checkBatchId(message.batchId, limits);
  if (message.ack === PbAckLevel.ACK_LEVEL_APPLIED) out.ack = 'applied';
  else if (message.ack === PbAckLevel.ACK_LEVEL_DURABLE) out.ack = 'durable';
  if (message.receiptsAll) out.receiptsAll = true;
  return checked(out, limits);
}

/** Severity enum to the wire string; an unknown number becomes a string the validator rejects as EVT_FIELD_INVALID. */
function severityName(s: PbSeverity): string | undefined {
  switch (s) {
    case PbSeverity.SEVERITY_UNSPECIFIED:
      return undefined;
    case PbSeverity.SEVERITY_DEBUG:
      return 'debug';
    case PbSeverity.SEVERITY_INFO:
      return 'info';
    case PbSeverity.SEVERITY_NOTICE:
      return 'notice';
    case PbSeverity.SEVERITY_WARNING:
      return 'warning';
    case PbSeverity.SEVERITY_ERROR:
      return 'error';
    case PbSeverity.SEVERITY_CRITICAL:
      return 'critical';
    default:
      return `unknown(${String(s)})`;
  }
}

/** The JSON-shaped view of one protobuf Event. Absent stays absent; repeated fields are reused, not copied. */
function plainEvent(e: PbEvent): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (e.id !== '') o.id = e.id;
  // An empty name is proto3's "unset"; leaving it out makes the validator say EVT_FIELD_MISSING.
  if (e.name !== '') o.name = e.name;
  if (e.timestampMs !== undefined) o.timestamp = e.timestampMs;
  if (e.sentAtMs !== undefined) o.sentAt = e.sentAtMs;
  if (e.userId !== undefined) o.userId = e.userId;
  if (e.category !== undefined) o.category = e.category;
  const severity = severityName(e.severity);
  if (severity !== undefined) o.severity = severity;
  if (e.tags.length > 0) o.tags = e.tags;
  if (e.properties.size > 0) {
    const props: Record<string, unknown> = {};
    for (const [key, pv] of e.properties) {
      const value = pv.kind?.value;
      // Assigning `__proto__` would set the prototype instead of a key; define it
      // as an own key like JSON.parse does, so the validator sees and rejects it.
      if (key === '__proto__') Object.defineProperty(props, key, { value, enumerable: true, writable: true, configurable: true });
      else props[key] = value;
    }
    o.properties = props;
  }
  if (e.value !== undefined) o.value = e.value;
  return o;
}
