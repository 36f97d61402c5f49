/**
 * Turns one decoded event (an `unknown` from decode.ts) into an EventRecord,
 * or says exactly why not. Runs per event at about a million events per
 * second across cores, so it is a hand-written walk: one pass that checks
 * and fills at once and allocates nothing but the record (bench/actors/
 * decode.bench.ts compares it with TypeBox's compiled checker, which only
 * checks and would still need this walk to fill the record and to name the
 * field at fault).
 *
 * Invariants:
 * - Never throws on bad input, and lets nothing hostile through: only plain
 *   objects (prototype Object.prototype or null) and arrays are walked; the
 *   keys `__proto__`, `constructor` and `prototype` are refused in properties;
 *   NaN and the infinities are refused everywhere.
 * - The first fault found is reported, in field order (the order of
 *   schema.ts), with the path of the field within the event (`tags/3`,
 *   `properties/color`, JSON-pointer escaped) or '' for the event as a whole.
 * - The record reuses the input's `tags` array and `properties` object: the
 *   decoded body is owned by the worker and nothing else holds it.
 * - An event without `id` gets `<requestId>-<index>`. Such an event cannot be
 *   deduplicated when the client retries, because the retry has another
 *   request id.
 */
import type { EventRecord, Receipt, Severity } from './types.js';
import { FORBIDDEN_KEYS, type EventLimits } from './schema.js';
import type { Rejection, RejectionCode } from './errors.js';

/** What one batch shares: who sent it and when it arrived. */
export interface ValidateContext {
  requestId: string;
  /** When the edge received the batch, unix ms. Fills absent timestamps and corrects skew. */
  receivedAtMs: number;
}

export interface Validator {
  readonly limits: EventLimits;
  /** One event at `index` of its batch. Returns the record, or a Rejection (test with isRejection). */
  validate(input: unknown, index: number, ctx: ValidateContext): EventRecord | Rejection;
  /**
   * A whole batch into fresh arrays: the answer may be held (a durable ack
   * waits for a flush) while the next batch is validated, so nothing is reused.
   */
  validateBatch(events: readonly unknown[], ctx: ValidateContext): ValidatedBatch;
}

/** Parallel arrays in the shape the owner actor consumes. */
export interface ValidatedBatch {
  /** Valid events, in batch order. */
  records: EventRecord[];
  /** indexes[i] is the position of records[i] in the request's batch. */
  indexes: number[];
  /** One `rejected` receipt per invalid event, in batch order; the actor appends its own receipts here. */
  receipts: Receipt[];
  rejected: number;
}

export function isRejection(r: EventRecord | Rejection): r is Rejection {
  return (r as Partial<Rejection>).code !== undefined;
}

export function createValidatedBatch(): ValidatedBatch {
  return { records: [], indexes: [], receipts: [], rejected: 0 };
}

/**
 * Validates a whole batch into `out`, which is cleared first so a caller that
 * is done with the previous answer can reuse its arrays.
 */
export function validateBatch(
  events: readonly unknown[],
  ctx: ValidateContext & { validator: Validator },
  out: ValidatedBatch,
): void {
  out.records.length = 0;
  out.indexes.length = 0;
  out.receipts.length = 0;
  out.rejected = 0;
  const { validator } = ctx;
  const idCharsMax = validator.limits.idCharsMax;
  for (let i = 0; i < events.length; i++) {
    const input = events[i];
    const r = validator.validate(input, i, ctx);
    if (isRejection(r)) {
      out.rejected++;
      out.receipts.push({
        index: i,
        id: clientId(input, idCharsMax),
        status: 'rejected',
        code: r.code,
        field: r.field,
        message: r.message,
      });
    } else {
      out.records.push(r);
      out.indexes.push(i);
    }
  }
}

/** The client's id for a rejected event's receipt, when it sent a usable one. */
export function clientId(input: unknown, idCharsMax: number): string {
  if (typeof input !== 'object' || input === null) return '';
  const id = (input as { id?: unknown }).id;
  return typeof id === 'string' && id.length <= idCharsMax ? id : '';
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function reject(code: RejectionCode, field: string, message: string): Rejection {
  return { code, field, message };
}

/** JSON-pointer escaping of one path segment, cut to `max` characters so a hostile key is not echoed whole. */
function segment(key: string, max: number): string {
  const cut = key.length > max ? `${key.slice(0, max)}…` : key;
  return cut.replaceAll('~', '~0').replaceAll('/', '~1');
}

function toSeverity(s: string): Severity | undefined {
  switch (s) {
    case 'debug':
    case 'info':
    case 'notice':
    case 'warning':
    case 'error':
    case 'critical':
      return s;
    default:
      return undefined;
  }
}

/** Estimated bytes of one number in eventBytesMax; a boolean counts as one. */
const NUMBER_BYTES = 8;

/** Builds a validator for a set of limits. Build it once per worker; it holds no per-batch state. */
export function createValidator(limits: EventLimits): Validator {
  const l = Object.freeze({ ...limits });

  function validate(input: unknown, index: number, ctx: ValidateContext): EventRecord | Rejection {
    if (!isPlainObject(input)) return reject('EVT_FIELD_TYPE', '', 'an event must be a JSON object');
    let size = 0;

    const rawId = input.id;
    let id: string;
    if (rawId === undefined) {
      id = `${ctx.requestId}-${index}`;
    } else if (typeof rawId !== 'string') {
      return reject('EVT_FIELD_TYPE', 'id', 'id must be a string');
    } else if (rawId.length === 0) {
      return reject('EVT_FIELD_INVALID', 'id', 'id must not be empty; leave it out to have one assigned');
    } else if (rawId.length > l.idCharsMax) {
      return reject('EVT_FIELD_TOO_LONG', 'id', `id is longer than ${l.idCharsMax} characters`);
    } else {
      id = rawId;
      size += rawId.length;
    }

    const name = input.name;
    if (name === undefined || name === '') return reject('EVT_FIELD_MISSING', 'name', 'name is required');
    if (typeof name !== 'string') return reject('EVT_FIELD_TYPE', 'name', 'name must be a string');
    if (name.length > l.nameCharsMax) return reject('EVT_FIELD_TOO_LONG', 'name', `name is longer than ${l.nameCharsMax} characters`);
    size += name.length;

    const timestamp = input.timestamp;
    let clientTimestampMs = ctx.receivedAtMs;
    if (timestamp !== undefined) {
      if (typeof timestamp !== 'number') return reject('EVT_FIELD_TYPE', 'timestamp', 'timestamp must be a number (unix ms)');
      if (!Number.isFinite(timestamp) || timestamp < 0) {
        return reject('EVT_FIELD_INVALID', 'timestamp', 'timestamp must be a finite, non-negative number (unix ms)');
      }
      clientTimestampMs = timestamp;
      size += NUMBER_BYTES;
    }

    const sentAt = input.sentAt;
    let timestampMs = clientTimestampMs;
    if (sentAt !== undefined) {
      if (typeof sentAt !== 'number') return reject('EVT_FIELD_TYPE', 'sentAt', 'sentAt must be a number (unix ms)');
      if (!Number.isFinite(sentAt) || sentAt < 0) {
        return reject('EVT_FIELD_INVALID', 'sentAt', 'sentAt must be a finite, non-negative number (unix ms)');
      }
      // Skew correction only applies to a time the client's clock produced; a
      // filled-in receive time is already on the server's clock.
      if (timestamp !== undefined) timestampMs = clientTimestampMs + (ctx.receivedAtMs - sentAt);
      size += NUMBER_BYTES;
    }
    if (timestampMs - ctx.receivedAtMs > l.futureToleranceMs) {
      return reject(
        'EVT_TIMESTAMP_FUTURE',
        'timestamp',
        `timestamp is ${timestampMs - ctx.receivedAtMs} ms ahead of the server clock (futureToleranceMs ${l.futureToleranceMs})`,
      );
    }

    const rawUserId = input.userId;
    let userId: string | undefined;
    if (rawUserId !== undefined) {
      if (typeof rawUserId !== 'string') return reject('EVT_FIELD_TYPE', 'userId', 'userId must be a string');
      if (rawUserId.length > l.idCharsMax) return reject('EVT_FIELD_TOO_LONG', 'userId', `userId is longer than ${l.idCharsMax} characters`);
      // An empty user id would be counted as one more unique user; treat it as absent.
      if (rawUserId.length > 0) userId = rawUserId;
      size += rawUserId.length;
    }

    const rawCategory = input.category;
    let category = 'default';
    if (rawCategory !== undefined) {
      if (typeof rawCategory !== 'string') return reject('EVT_FIELD_TYPE', 'category', 'category must be a string');
      if (rawCategory.length === 0) return reject('EVT_FIELD_INVALID', 'category', 'category must not be empty');
      if (rawCategory.length > l.categoryCharsMax) {
        return reject('EVT_FIELD_TOO_LONG', 'category', `category is longer than ${l.categoryCharsMax} characters`);
      }
      category = rawCategory;
      size += rawCategory.length;
    }

    const rawSeverity = input.severity;
    let severity: Severity = 'info';
    if (rawSeverity !== undefined) {
      if (typeof rawSeverity !== 'string') return reject('EVT_FIELD_TYPE', 'severity', 'severity must be a string');
      const s = toSeverity(rawSeverity);
      if (s === undefined) return reject('EVT_FIELD_INVALID', 'severity', 'severity must be debug, info, notice, warning, error or critical');
      severity = s;
    }

    const rawTags = input.tags;
    let tags: string[];
    if (rawTags === undefined) {
      tags = [];
    } else {
      if (!Array.isArray(rawTags)) return reject('EVT_FIELD_TYPE', 'tags', 'tags must be an array of strings');
      if (rawTags.length > l.tagsMax) return reject('EVT_FIELD_TOO_MANY', 'tags', `more than ${l.tagsMax} tags`);
      for (let i = 0; i < rawTags.length; i++) {
        const tag: unknown = rawTags[i];
        if (typeof tag !== 'string') return reject('EVT_FIELD_TYPE', `tags/${i}`, 'a tag must be a string');
        if (tag.length === 0) return reject('EVT_FIELD_INVALID', `tags/${i}`, 'a tag must not be empty');
        if (tag.length > l.tagCharsMax) return reject('EVT_FIELD_TOO_LONG', `tags/${i}`, `a tag is longer than ${l.tagCharsMax} characters`);
        size += tag.length;
      }
      tags = rawTags as string[];
    }

    const rawProps = input.properties;
    let properties: Record<string, string | number | boolean>;
    if (rawProps === undefined) {
      properties = {};
    } else {
      if (!isPlainObject(rawProps)) return reject('EVT_FIELD_TYPE', 'properties', 'properties must be an object');
      let count = 0;
      for (const key in rawProps) {
        if (++count > l.propertiesMax) return reject('EVT_FIELD_TOO_MANY', 'properties', `more than ${l.propertiesMax} properties`);
        if (key.length === 0) return reject('EVT_FIELD_INVALID', 'properties/', 'a property key must not be empty');
        if (FORBIDDEN_KEYS.has(key)) return reject('EVT_FIELD_INVALID', `properties/${key}`, `the property key ${key} is not allowed`);
        if (key.length > l.propertyKeyCharsMax) {
          return reject(
            'EVT_FIELD_TOO_LONG',
            `properties/${segment(key, l.propertyKeyCharsMax)}`,
            `a property key is longer than ${l.propertyKeyCharsMax} characters`,
          );
        }
        size += key.length;
        const v = rawProps[key];
        if (typeof v === 'string') {
          if (v.length > l.propertyValueCharsMax) {
            return reject(
              'EVT_FIELD_TOO_LONG',
              `properties/${segment(key, l.propertyKeyCharsMax)}`,
              `a property value is longer than ${l.propertyValueCharsMax} characters`,
            );
          }
          size += v.length;
        } else if (typeof v === 'number') {
          if (!Number.isFinite(v)) return reject('EVT_FIELD_INVALID', `properties/${segment(key, l.propertyKeyCharsMax)}`, 'a property number must be finite');
          size += NUMBER_BYTES;
        } else if (typeof v === 'boolean') {
          size += 1;
        } else if (v === undefined) {
          return reject('EVT_FIELD_MISSING', `properties/${segment(key, l.propertyKeyCharsMax)}`, 'a property has no value');
        } else {
          return reject('EVT_FIELD_TYPE', `properties/${segment(key, l.propertyKeyCharsMax)}`, 'a property value must be a string, number or boolean');
        }
      }
      properties = rawProps as Record<string, string | number | boolean>;
    }

    const rawValue = input.value;
    let value: number | undefined;
    if (rawValue !== undefined) {
      if (typeof rawValue !== 'number') return reject('EVT_FIELD_TYPE', 'value', 'value must be a number');
      if (!Number.isFinite(rawValue)) return reject('EVT_FIELD_INVALID', 'value', 'value must be finite');
      value = rawValue;
      size += NUMBER_BYTES;
    }

    if (size > l.eventBytesMax) {
      return reject('EVT_EVENT_TOO_LARGE', '', `the event's estimated size ${size} is over ${l.eventBytesMax} (eventBytesMax)`);
    }

    return {
      id,
      name,
      timestampMs,
      clientTimestampMs,
      receivedAtMs: ctx.receivedAtMs,
      userId,
      category,
      severity,
      tags,
      properties,
      value,
    };
  }

  const validator: Validator = {
    limits: l,
    validate,
    validateBatch(events, ctx) {
      const out = createValidatedBatch();
      validateBatch(events, { requestId: ctx.requestId, receivedAtMs: ctx.receivedAtMs, validator }, out);
      return out;
    },
  };
  return validator;
}
