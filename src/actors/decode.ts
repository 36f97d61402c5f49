/**
 * Turns a raw request body into plain event objects, inside a shard worker.
 * The edge never parses bodies: it transfers the bytes here, so parsing is
 * spread over all cores and the edge's event loop stays an I/O router.
 *
 * Invariants:
 * - Every body shape (JSON, msgpack, protobuf) yields the same plain shape,
 *   the JSON field names of schema.ts, so validate.ts has one input model.
 *   Absent protobuf optionals are undefined here, never zero (the validator
 *   reads undefined as absent); so are absent fields of events the one-pass
 *   readers built (json-fast.ts, msgpack-fast.ts), which also drop keys the
 *   schema does not have.
 * - Whole-body failures throw an actors error (errors.ts) and nothing of the
 *   batch is applied; per-event problems are left to validate.ts.
 * - Nothing is parsed before it is bounded. A JSON or msgpack body is first
 *   scanned (scan.ts) for depth (bodyDepthMax), values (derived from
 *   batchEventsMax, tagsMax, propertiesMax) and the length of its events
 *   array; a msgpack body also for extension types, non-string keys and
 *   `__proto__`. A JSON or msgpack batch is first tried by a one-pass reader
 *   (json-fast.ts, msgpack-fast.ts), which counts the same bounds as it reads and gives up
 *   past them (or on anything unusual), leaving the body to the scan and
 *   JSON.parse or msgpackr. A protobuf body's events are counted by a field scan. So
 *   batchEventsMax is checked before the events are materialised, in every
 *   format.
 * - Decoding holds no state between bodies: a msgpack record structure
 *   defined in one body is not visible to the next (no shared structures),
 *   so one owner's body can never change how another's is read. (The
 *   protobuf reader's string cache only ever returns a string equal to the
 *   bytes it is asked for: it changes what is allocated, not what is read.)
 */
import { gunzipSync } from 'node:zlib';
import { Unpackr } from 'msgpackr';
import { AckLevel as PbAckLevel } from '../gen/eventide/v1/ingest.js';
import { readJsonFast } from './json-fast.js';
import { readMsgpackFast } from './msgpack-fast.js';
import { countEvents, readIngestRequest, TooManyEvents, type ProtobufIngest } from './protobuf.js';
import { BatchEmptyError, BatchTooLongError, BodyMalformedError, BodyTooLargeError } from './errors.js';
import { scanJson, scanMsgpack, type ScanFault } from './scan.js';
import { fastReadLimits, type FastReadLimits } from './fast-read.js';
import type { AckLevel, BodyEncoding, BodyFormat } from './types.js';

export interface DecodeLimits {
  /** A gzip body that inflates past this is refused (EVT_BODY_TOO_LARGE). */
  readonly bodyInflatedBytesMax: number;
  /** Events per body; more is EVT_BATCH_TOO_LONG. */
  readonly batchEventsMax: number;
  /** Length of batchId (UTF-16 units); the id limit is reused because a batch id is an id. */
  readonly idCharsMax: number;
  /** Nesting of a JSON or msgpack body; deeper is EVT_BODY_MALFORMED before parsing. */
  readonly bodyDepthMax: number;
  /** With batchEventsMax, these bound the values a body may hold (scan.ts bodyStructureLimits). */
  readonly tagsMax: number;
  readonly propertiesMax: number;
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

/**
 * The worker's msgpack reader. 64-bit integers become numbers: timestamps
 * from other languages' encoders arrive as uint64. It never meets an
 * extension type: scanMsgpack refuses them first, because msgpackr has no
 * per-reader switch for its built-in ones (and they live in module state).
 */
const unpackr = new Unpackr({ mapsAsObjects: true, int64AsType: 'number', structuredClone: false });
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
      return fromValue(parseJson(raw, fastReadLimits(limits)), limits);
    case 'msgpack':
      return fromValue(parseMsgpack(raw, fastReadLimits(limits)), limits);
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

/** A scan's refusal as the error the client gets. */
function scanError(format: 'json' | 'msgpack', fault: ScanFault): BodyMalformedError | BatchTooLongError {
  switch (fault.kind) {
    case 'events':
      return new BatchTooLongError(fault.count, fault.limit, fault.exact);
    case 'depth':
      return new BodyMalformedError(`${format}: the body nests deeper than ${fault.limit} levels (bodyDepthMax)`);
    case 'values':
      return new BodyMalformedError(
        `${format}: the body holds more than ${fault.limit} values, more than batchEventsMax events with tagsMax tags and propertiesMax properties can hold`,
      );
    case 'extension':
      return new BodyMalformedError(
        `msgpack: extension types are not accepted (type ${fault.type}; msgpackr: encode with useRecords: false and no Date, Set, Error or typed-array values)`,
      );
    case 'reserved':
      return new BodyMalformedError(`msgpack: byte ${fault.offset} is not a msgpack type`);
    case 'key':
      return new BodyMalformedError(`msgpack: the map key at byte ${fault.offset} is not a string`);
    case 'proto':
      return new BodyMalformedError(`msgpack: the map key __proto__ (byte ${fault.offset}) is not allowed`);
    case 'truncated':
      return new BodyMalformedError(`msgpack: the body ends early, at byte ${fault.offset}`);
    case 'trailing':
      return new BodyMalformedError(`msgpack: bytes after the end of the body, from byte ${fault.offset}`);
  }
}

function parseJson(bytes: Uint8Array, structure: FastReadLimits): unknown {
  // One pass for the bodies clients send; it gives up (undefined) on anything else, which the passes below read.
  const fast = readJsonFast(bytes, structure);
  if (fast !== undefined) return fast;
  const fault = scanJson(bytes, structure);
  if (fault !== undefined) throw scanError('json', fault);
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

function parseMsgpack(bytes: Uint8Array, structure: FastReadLimits): unknown {
  // As for JSON: one pass for the batches clients send, the scan and msgpackr for anything else.
  const fast = readMsgpackFast(bytes, structure);
  if (fast !== undefined) return fast;
  const fault = scanMsgpack(bytes, structure);
  if (fault !== undefined) throw scanError('msgpack', fault);
  try {
    return unpackr.unpack(bytes) as unknown;
  } catch (err) {
    throw new BodyMalformedError(`msgpack: ${(err as Error).message}`, { cause: err });
  }
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

const ACK_LEVEL_APPLIED: number = PbAckLevel.ACK_LEVEL_APPLIED;
const ACK_LEVEL_DURABLE: number = PbAckLevel.ACK_LEVEL_DURABLE;

function decodeProtobuf(bytes: Uint8Array, limits: DecodeLimits): DecodedBody {
  let message: ProtobufIngest;
  try {
    // The reader stops at the event past the limit, so a body of a million empty events is refused
    // before a million objects exist; only then are the rest counted, by skipping, to say how many.
    message = readIngestRequest(bytes, limits.batchEventsMax);
  } catch (err) {
    if (!(err instanceof TooManyEvents)) throw new BodyMalformedError(`protobuf: ${(err as Error).message}`, { cause: err });
    let n: number;
    try {
      n = countEvents(bytes);
    } catch (countErr) {
      throw new BodyMalformedError(`protobuf: ${(countErr as Error).message}`, { cause: countErr });
    }
    throw new BatchTooLongError(n, limits.batchEventsMax);
  }
  const out: DecodedBody = { events: message.events, single: false };
  if (message.batchId !== '') out.batchId = checkBatchId(message.batchId, limits);
  if (message.ack === ACK_LEVEL_APPLIED) out.ack = 'applied';
  else if (message.ack === ACK_LEVEL_DURABLE) out.ack = 'durable';
  if (message.receiptsAll) out.receiptsAll = true;
  return checked(out, limits);
}
