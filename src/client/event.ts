/**
 * The event as an application sends it, checked and encoded once, when send()
 * takes it. The encoded form is what the buffer holds and what every attempt
 * sends, so a retry carries the same id and the same bytes, and an
 * application may change its object after send() without changing the event.
 *
 * Invariants:
 * - The field names and types are the server's body model (src/actors/schema.ts,
 *   EventInput); test/client/event.test.ts checks at compile time that a
 *   ClientEvent is an EventInput.
 * - send() checks types only, the things an encoder needs. Limits (lengths,
 *   counts, the future tolerance) vary per deployment and are the server's
 *   to judge: it answers with a `rejected` receipt.
 * - Every encoded event has an id: the application's, or `<clientId>.<seq>`.
 *   A JSON encoding therefore always starts with `{"id":`, which is where
 *   sentAt is spliced in per attempt (encodeJsonBody).
 */
import { Event as PbEvent, Severity as PbSeverity, type PropertyValue as PbPropertyValue } from '../gen/eventide/v1/event.js';
import { ClientEventError } from './errors.js';

export const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export type PropertyValue = string | number | boolean;

/** One event, with the server's JSON field names. Only `name` is required. */
export interface ClientEvent {
  /** The dedup key (≤ 128 characters on a default server). Absent: the client assigns one, kept across retries. */
  id?: string;
  /** 1 to 128 characters on a default server. */
  name: string;
  /** Event time, unix ms (an integer ≥ 0). Absent: send() stamps it, unless stampTimestamp is false. */
  timestamp?: number;
  /** Counted in unique users. */
  userId?: string;
  /** Absent: `default`. */
  category?: string;
  /** Absent: `info`. */
  severity?: Severity;
  tags?: readonly string[];
  properties?: Readonly<Record<string, PropertyValue>>;
  /** Aggregated per name and window (count, sum, min, max). */
  value?: number;
}

export type BodyFormat = 'json' | 'protobuf';

/** An event as the buffer holds it. */
export interface PendingEvent<E extends ClientEvent = ClientEvent> {
  /** Order of send(); flush() waits for every seq below its mark. */
  readonly seq: number;
  readonly id: string;
  /** The application's object, handed back in receipts and errors. */
  readonly event: E;
  /** JSON text starting with `{"id":`, or a protobuf Event message without sent_at_ms. */
  readonly encoded: string | Uint8Array;
  /** Size of `encoded` in bytes. */
  readonly bytes: number;
  /** When send() took it, unix ms; its batch leaves lingerMs later at the latest. */
  readonly atMs: number;
}

const SEVERITY_SET: ReadonlySet<string> = new Set(SEVERITIES);
const PB_SEVERITY: Readonly<Record<Severity, PbSeverity>> = Object.freeze({
  debug: PbSeverity.SEVERITY_DEBUG,
  info: PbSeverity.SEVERITY_INFO,
  notice: PbSeverity.SEVERITY_NOTICE,
  warning: PbSeverity.SEVERITY_WARNING,
  error: PbSeverity.SEVERITY_ERROR,
  critical: PbSeverity.SEVERITY_CRITICAL,
});

function optionalString(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'string') throw new ClientEventError(`${field} must be a string`, field);
}

/** Throws ClientEventError for anything an encoder could not carry faithfully; `at` prefixes the field path. */
export function checkEvent(input: unknown, at: string): asserts input is ClientEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ClientEventError('an event must be an object', at === '' ? 'event' : at.slice(0, -1));
  }
  const e = input as Record<string, unknown>;
  if (typeof e.name !== 'string') throw new ClientEventError('name must be a string', `${at}name`);
  if (e.id !== undefined && (typeof e.id !== 'string' || e.id.length === 0)) {
    throw new ClientEventError('id must be a non-empty string; leave it out to have one assigned', `${at}id`);
  }
  if (e.timestamp !== undefined && !(Number.isSafeInteger(e.timestamp) && (e.timestamp as number) >= 0)) {
    throw new ClientEventError('timestamp must be an integer number of unix ms, at least 0', `${at}timestamp`);
  }
  optionalString(e.userId, `${at}userId`);
  optionalString(e.category, `${at}category`);
  if (e.severity !== undefined && !SEVERITY_SET.has(e.severity as string)) {
    throw new ClientEventError(`severity must be one of ${SEVERITIES.join(', ')}`, `${at}severity`);
  }
  if (e.tags !== undefined) {
    if (!Array.isArray(e.tags)) throw new ClientEventError('tags must be an array of strings', `${at}tags`);
    for (let i = 0; i < e.tags.length; i++) {
      if (typeof e.tags[i] !== 'string') throw new ClientEventError('a tag must be a string', `${at}tags/${i}`);
    }
  }
  if (e.properties !== undefined) {
    const p = e.properties;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new ClientEventError('properties must be an object', `${at}properties`);
    for (const [key, value] of Object.entries(p)) {
      const t = typeof value;
      if (t !== 'string' && t !== 'number' && t !== 'boolean') {
        throw new ClientEventError('a property value must be a string, a number or a boolean', `${at}properties/${key}`);
      }
    }
  }
  if (e.value !== undefined && typeof e.value !== 'number') throw new ClientEventError('value must be a number', `${at}value`);
}

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

function protobufOf(e: ClientEvent, id: string, timestamp: number | undefined): Uint8Array {
  const properties = new Map<string, PbPropertyValue>();
  if (e.properties !== undefined) {
    for (const [key, value] of Object.entries(e.properties)) {
      properties.set(
        key,
        typeof value === 'string'
          ? { kind: { $case: 'stringValue', value } }
          : typeof value === 'number'
            ? { kind: { $case: 'numberValue', value } }
            : { kind: { $case: 'boolValue', value } },
      );
    }
  }
  return PbEvent.encode({
    id,
    name: e.name,
    timestampMs: timestamp,
    sentAtMs: undefined,
    userId: e.userId,
    category: e.category,
    severity: e.severity === undefined ? PbSeverity.SEVERITY_UNSPECIFIED : PB_SEVERITY[e.severity],
    tags: e.tags === undefined ? [] : [...e.tags],
    properties,
    value: e.value,
  }).finish();
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
