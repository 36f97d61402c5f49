/**
 * The event as an application sends it, and as the buffer holds it once
 * send() has checked and encoded it (encode.ts).
 *
 * Invariants:
 * - The field names and types are the server's body model (src/actors/schema.ts,
 *   EventInput); test/client/event.test.ts checks at compile time that the
 *   two are the same.
 * - send() checks types only, the things an encoder needs. Limits (lengths,
 *   counts, the future tolerance) vary per deployment and are the server's
 *   to judge: it answers with a `rejected` receipt.
 */
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
