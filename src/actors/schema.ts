/**
 * The HTTP body model as TypeBox schemas: what fastify shows in the OpenAPI
 * document, and what the validator (validate.ts) enforces by hand. The edge
 * does not validate bodies with these schemas (it does not parse bodies at
 * all); a shard worker does, with validate.ts.
 *
 * Invariants:
 * - Every limit stated here comes from an EventLimits value, and the same
 *   value drives validate.ts, so the documented limit and the enforced limit
 *   cannot drift apart. `EventSchema` / `BatchSchema` are built from
 *   config/defaults.ts; a deployment with other limits calls buildSchemas().
 * - String lengths are counted in UTF-16 code units (JavaScript's `length`),
 *   which is what JSON Schema's maxLength means in every JS validator.
 * - Unknown event fields are ignored, not rejected, so that an older server
 *   accepts events from a newer SDK (protobuf does the same).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { defaults } from '../../config/defaults.js';
import { SEVERITIES } from './types.js';

/** The limits that shape one event and one batch. */
export interface EventLimits {
  readonly batchEventsMax: number;
  readonly eventBytesMax: number;
  readonly idCharsMax: number;
  readonly nameCharsMax: number;
  readonly categoryCharsMax: number;
  readonly tagsMax: number;
  readonly tagCharsMax: number;
  readonly propertiesMax: number;
  readonly propertyKeyCharsMax: number;
  readonly propertyValueCharsMax: number;
  readonly futureToleranceMs: number;
}

/** Picks the event limits out of a full configuration (or the defaults). */
export function eventLimitsFrom(config: EventLimits): EventLimits {
  return Object.freeze({
    batchEventsMax: config.batchEventsMax,
    eventBytesMax: config.eventBytesMax,
    idCharsMax: config.idCharsMax,
    nameCharsMax: config.nameCharsMax,
    categoryCharsMax: config.categoryCharsMax,
    tagsMax: config.tagsMax,
    tagCharsMax: config.tagCharsMax,
    propertiesMax: config.propertiesMax,
    propertyKeyCharsMax: config.propertyKeyCharsMax,
    propertyValueCharsMax: config.propertyValueCharsMax,
    futureToleranceMs: config.futureToleranceMs,
  });
}

export const DEFAULT_EVENT_LIMITS: EventLimits = eventLimitsFrom(defaults);

/** Property keys that could reach an object's prototype chain in some consumer; always refused. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

function buildEventSchema(l: EventLimits) {
  return Type.Object(
    {
      id: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: l.idCharsMax,
          description:
            `Client-chosen id, the key for deduplication (at most ${l.idCharsMax} characters). ` +
            'Absent: the server assigns `<requestId>-<index>`; such an event cannot be deduplicated when the client retries.',
        }),
      ),
      name: Type.String({
        minLength: 1,
        maxLength: l.nameCharsMax,
        description: `Event name, 1 to ${l.nameCharsMax} characters.`,
      }),
      timestamp: Type.Optional(
        Type.Number({ description: 'Event time, unix ms. Absent: the time the server received the batch.' }),
      ),
      sentAt: Type.Optional(
        Type.Number({
          description:
            "The client's clock when the batch was sent, unix ms. When given, the server corrects clock skew: " +
            `timestamp + (receivedAt - sentAt). A corrected time more than ${l.futureToleranceMs} ms ahead is rejected.`,
        }),
      ),
      userId: Type.Optional(
        Type.String({
          maxLength: l.idCharsMax,
          description: `The user the event is about, counted in unique users (at most ${l.idCharsMax} characters).`,
        }),
      ),
      category: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: l.categoryCharsMax,
          description: `Free grouping key, 1 to ${l.categoryCharsMax} characters. Absent: \`default\`.`,
        }),
      ),
      severity: Type.Optional(
        Type.Union(
          SEVERITIES.map((s) => Type.Literal(s)),
          { description: 'Absent: `info`.' },
        ),
      ),
      tags: Type.Optional(
        Type.Array(Type.String({ minLength: 1, maxLength: l.tagCharsMax }), {
          maxItems: l.tagsMax,
          description: `At most ${l.tagsMax} tags of 1 to ${l.tagCharsMax} characters.`,
        }),
      ),
      properties: Type.Optional(
        Type.Record(
          Type.String(),
          Type.Union([Type.String({ maxLength: l.propertyValueCharsMax }), Type.Number(), Type.Boolean()]),
          {
            maxProperties: l.propertiesMax,
            propertyNames: { minLength: 1, maxLength: l.propertyKeyCharsMax, not: { enum: [...FORBIDDEN_KEYS] } },
            description:
              `At most ${l.propertiesMax} properties; keys of 1 to ${l.propertyKeyCharsMax} characters ` +
              `(not __proto__, constructor or prototype); string values of at most ${l.propertyValueCharsMax} characters; ` +
              'numbers must be finite.',
          },
        ),
      ),
      value: Type.Optional(
        Type.Number({ description: 'A finite number aggregated per event name and window (count, sum, min, max).' }),
      ),
    },
    {
      $id: 'Event',
      description:
        `One event. Its estimated size (sum of string lengths plus 8 per number) must stay within ${l.eventBytesMax}; ` +
        'unknown fields are ignored.',
    },
  );
}

function buildBatchSchema(l: EventLimits, event: TSchema) {
  return Type.Object(
    {
      events: Type.Array(event, {
        minItems: 1,
        maxItems: l.batchEventsMax,
        description: `1 to ${l.batchEventsMax} events.`,
      }),
      batchId: Type.Optional(
        Type.String({ maxLength: l.idCharsMax, description: 'Free text, echoed in the answer.' }),
      ),
    },
    { $id: 'Batch' },
  );
}

/** Builds the schemas for a set of limits. */
export function buildSchemas(limits: EventLimits) {
  const event = buildEventSchema(limits);
  const batch = buildBatchSchema(limits, Type.Ref('Event'));
  /** What POST /v1/events accepts: one event, an array of events, or a batch envelope. */
  const body = Type.Union([Type.Ref('Event'), Type.Array(Type.Ref('Event'), { maxItems: limits.batchEventsMax }), Type.Ref('Batch')], {
    $id: 'IngestBody',
  });
  return { EventSchema: event, BatchSchema: batch, BodySchema: body };
}

const built = buildSchemas(DEFAULT_EVENT_LIMITS);
/** One event, with the limits of config/defaults.ts. */
export const EventSchema = built.EventSchema;
/** `{ events: Event[], batchId? }`, with the limits of config/defaults.ts. Refers to EventSchema by `$id`. */
export const BatchSchema = built.BatchSchema;
/** One event, an array, or a batch envelope. Refers to the others by `$id`; register all three. */
export const BodySchema = built.BodySchema;

/** An event as the client sends it (JSON field names). */
export type EventInput = Static<typeof EventSchema>;
