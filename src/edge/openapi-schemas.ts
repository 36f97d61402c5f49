/**
 * The route schemas of the HTTP edge as the OpenAPI document shows them
 * (openapi.ts serves the document at /docs/json, its UI at /docs).
 *
 * Invariants:
 * - Every route of the API names one of these schemas, with its answers,
 *   the error body and its security; test/edge/openapi.test.ts fails for a
 *   route without one, and validates real answers against them.
 * - What a route accepts is checked by its handler, by hand, with our own
 *   codes and fields (EVT_QUERY_INVALID, field `from`): the request parts here
 *   (query, params, headers, body) are documentation, compiled to nothing
 *   (`documentedRequest`). Their bounds come from the same constants and
 *   configuration the handlers use, so the two cannot drift.
 * - Answers that other layers build (metrics ranges, event locations,
 *   readiness) are serialized with JSON.stringify (`documentedAnswers`): a
 *   compiled serializer would silently drop a field a worker starts to send.
 *   Only the 200 answer of POST /v1/events is serialized from its schema
 *   (ingest-schema.ts); error answers never are (http.ts, writeError).
 */
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifySchema, FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import { RESOLUTIONS, SEVERITIES } from '../actors/types.js';
import { BodySchema, IngestAnswerSchema, ReceiptSchema } from './ingest-schema.js';

/** Security scheme names in the document's components. */
export const SECURITY_SCHEMES = Object.freeze({
  bearer: {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API key (`evt_…`) in `Authorization: Bearer <key>`. A short-lived browser token minted by ' +
      '`POST /v1/tokens` (`evtt_…`, read only) goes in the same header. The key decides the owner: no request names one.',
  },
  apiKeyHeader: {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: 'The same key in `x-api-key`, for clients that cannot set Authorization.',
  },
  metricsToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'The `metricsToken` setting, when one is set; /metrics is open otherwise.',
  },
} as const);

type Security = Array<Record<string, string[]>>;
/** Either header carries the key (or a browser token). */
const KEY_SECURITY: Security = [{ bearer: [] }, { apiKeyHeader: [] }];
const NO_SECURITY: Security = [];

/** Request parts are checked by the handlers; these schemas only document them. */
export const documentedRequest: FastifySchemaCompiler<unknown> = () => () => true;

/** Answers are written with JSON.stringify; the response schemas only document them. */
export const documentedAnswers: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);

// ---- shared pieces ----------------------------------------------------------

const Count = Type.Integer({ minimum: 0 });
const UnixMs = Type.Integer({ minimum: 0, description: 'Unix milliseconds.' });

/** A map with free keys. JSON Schema's `additionalProperties`, which every OpenAPI tool reads (not `patternProperties`). */
function mapOf(value: TSchema, description: string): TSchema {
  return Type.Object({}, { additionalProperties: value, description });
}

function stringEnum(values: readonly string[], options: Record<string, unknown> = {}): TSchema {
  return Type.Unsafe<string>({ type: 'string', enum: [...values], ...options });
}

const REQUEST_ID_HEADER = {
  'x-request-id': {
    type: 'string',
    description: "The request's id: the client's `x-request-id` when it is sane, else a generated UUID. Logs carry it.",
  },
};
const RETRY_AFTER_HEADER = {
  'retry-after': { type: 'integer', minimum: 1, description: 'Seconds to wait before trying again; from the server\'s own estimate of its backlog.' },
};

/** The error body, registered once with this `$id` (openapi.ts) and referred to by every error answer. */
export const ErrorBodySchema = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.String({ pattern: '^EVT_[A-Z0-9_]+$', description: 'A stable code; docs/errors.md lists every one. Match on this.' }),
        message: Type.String({ description: 'For people; never match on it.' }),
        field: Type.Optional(Type.String({ description: 'The field, parameter or header at fault, when one is.' })),
        retryable: Type.Boolean({ description: 'Whether the same request may succeed later.' }),
      },
      // Later versions may add fields; clients must accept them.
      { additionalProperties: true },
    ),
  },
  { $id: 'ErrorBody', description: 'Every error answer, the HTTP parser\'s included, has this shape.' },
);

const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'The request is malformed or a parameter is invalid (`EVT_QUERY_INVALID`, `EVT_REQUEST_MALFORMED`, …); `field` names it.',
  401: 'No key, or a key that is not valid (`EVT_UNAUTHENTICATED`).',
  403: 'The key lacks the scope this route needs (`EVT_FORBIDDEN`).',
  404: 'Not found (`EVT_NOT_FOUND`).',
  408: 'Headers and body did not arrive in time (`EVT_REQUEST_TIMEOUT`).',
  413: 'The body is over `bodyBytesMax` on the wire or `bodyInflatedBytesMax` inflated (`EVT_BODY_TOO_LARGE`), or the batch has more than `batchEventsMax` events (`EVT_BATCH_TOO_LONG`).',
  415: 'Content-Type or Content-Encoding not supported (`EVT_UNSUPPORTED_MEDIA_TYPE`); `field` says which.',
  429: 'Refused for now, nothing of it applied (`EVT_MAILBOX_FULL`, `EVT_STORE_BACKLOG`, `EVT_WAL_BACKLOG`); retry after `Retry-After`.',
  431: 'Request headers too large (`EVT_HEADERS_TOO_LARGE`).',
  500: 'A bug or a broken configuration (`EVT_INTERNAL`); never retryable as is.',
  503: 'Not available now: draining, a worker down, a shard too slow, the log not writable (`EVT_DRAINING`, `EVT_WORKER_UNAVAILABLE`, `EVT_SHARD_TIMEOUT`, `EVT_WAL_WRITE`); retry after `Retry-After`.',
};

/** Error answers of a route, each the shared error body; 429 and 503 carry Retry-After. A string is a description of the route's own. */
function errorAnswers(...statuses: Array<number | [number, string]>): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const entry of statuses) {
    const [status, description] = typeof entry === 'number' ? [entry, ERROR_DESCRIPTIONS[entry] ?? 'An error.'] : entry;
    const headers = status === 429 || status === 503 ? { ...REQUEST_ID_HEADER, ...RETRY_AFTER_HEADER } : REQUEST_ID_HEADER;
    out[status] = Type.Ref(ErrorBodySchema, { description, headers });
  }
  return out;
}

function answer(schema: TSchema, description: string): TSchema {
  return { ...schema, description, headers: REQUEST_ID_HEADER };
}

// ---- POST /v1/events --------------------------------------------------------

const JSON_LIKE_TYPES = ['application/json', 'application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'];
const PROTOBUF_TYPES = ['application/x-protobuf', 'application/protobuf', 'application/vnd.google.protobuf'];
const INGEST_CONTENT_TYPES = [...JSON_LIKE_TYPES, ...PROTOBUF_TYPES];

const ProtobufBodySchema = Type.String({
  format: 'binary',
  description: 'An `eventide.v1.IngestRequest`, serialized: proto/eventide/v1/ingest.proto, field by field in docs/proto.md.',
});

/** The body by media type: the JSON model for JSON and msgpack, the proto message for protobuf. */
const INGEST_BODY = {
  content: Object.fromEntries<{ schema: TSchema }>([
    ...JSON_LIKE_TYPES.map((type): [string, { schema: TSchema }] => [type, { schema: BodySchema }]),
    ...PROTOBUF_TYPES.map((type): [string, { schema: TSchema }] => [type, { schema: ProtobufBodySchema }]),
  ]),
};

const IngestRejectedSchema = Type.Object(
  {
    error: ErrorBodySchema.properties.error,
    batchId: Type.Optional(Type.String()),
    counts: IngestAnswerSchema.properties.counts,
    receipts: Type.Array(ReceiptSchema, { description: 'Every receipt (all rejected), in index order.' }),
  },
  { description: 'Every event was rejected: `error` is the first rejection, the counts and receipts follow.' },
);

export const INGEST_ROUTE_SCHEMA: FastifySchema = {
  operationId: 'sendEvents',
  tags: ['ingest'],
  summary: 'Send one event or a batch',
  description:
    'The body is one event, an array of events, or `{ "events": [...], "batchId"? }`, as JSON, msgpack or protobuf ' +
    '(`eventide.v1.IngestRequest`, docs/proto.md), optionally gzipped. The edge does not parse it: the owner\'s shard ' +
    'validates every event and the answer has a receipt per non-accepted event (all of them with `receipts=all`). ' +
    'Scope `ingest`.',
  security: KEY_SECURITY,
  querystring: Type.Object({
    ack: Type.Optional(
      stringEnum(['applied', 'durable'], {
        description: '`applied`: validated and applied by the actor. `durable`: also in the write-ahead log on disk. Same as `x-eventide-ack`. Default: the `ackDefault` setting.',
      }),
    ),
    receipts: Type.Optional(
      stringEnum(['all', 'rejected'], { description: '`all` lists accepted receipts too. Same as `x-eventide-receipts`. Default `rejected`.' }),
    ),
  }),
  headers: Type.Object({
    'content-type': stringEnum(INGEST_CONTENT_TYPES, { description: 'The body format; others are 415.' }),
    'content-encoding': Type.Optional(stringEnum(['identity', 'gzip', 'x-gzip'], { description: 'Others are 415.' })),
    'x-eventide-ack': Type.Optional(stringEnum(['applied', 'durable'])),
    'x-eventide-receipts': Type.Optional(stringEnum(['all', 'rejected'])),
    'x-request-id': Type.Optional(Type.String({ maxLength: 128, pattern: '^[\\w.:-]+$', description: 'Echoed, and carried into the logs of the edge and the worker.' })),
  }),
  body: INGEST_BODY,
  response: {
    200: answer(IngestAnswerSchema, 'Something of the body was taken. `counts` add up to the batch; `receipts` lists the events not simply accepted.'),
    400: Type.Union([IngestRejectedSchema, Type.Ref(ErrorBodySchema)], {
      description:
        'Nothing was taken. Either every event was rejected (the first rejection, the counts and every receipt), or the ' +
        'request itself is wrong (the error alone: `EVT_BODY_MALFORMED`, `EVT_BATCH_EMPTY`, `EVT_REQUEST_MALFORMED`, ' +
        '`EVT_QUERY_INVALID` for `ack` or `receipts`, `EVT_BODY_LENGTH_MISMATCH`).',
      headers: REQUEST_ID_HEADER,
    }),
    ...errorAnswers(401, 403, 408, 413, 415, 429, 503),
  },
};

// ---- GET /v1/metrics -----------------------------------------------------------

const ValueStatsSchema = Type.Object({ count: Count, sum: Type.Number(), min: Type.Number(), max: Type.Number() });

/** A window as GET /v1/metrics and the ws stream show it (without its sketch). */
const WindowSchema = Type.Object({
  resolution: stringEnum(RESOLUTIONS),
  startMs: Type.Integer({ description: 'Window start, unix ms, aligned to the resolution (UTC).' }),
  endMs: Type.Integer({ description: 'Window end (exclusive), unix ms.' }),
  total: Type.Integer({ minimum: 0, description: 'Events counted in the window (late ones included).' }),
  late: Type.Integer({ minimum: 0, description: 'Of `total`, events that arrived after the window ended, within allowedLatenessMs.' }),
  tooLate: Type.Integer({ minimum: 0, description: 'Events that arrived during this window too late for their own; in no total.' }),
  byName: mapOf(Count, 'Events by name; beyond namesPerWindowMax names, `~other`.'),
  byCategory: mapOf(Count, 'Events by category.'),
  bySeverity: mapOf(Count, `Events by severity (${SEVERITIES.join(', ')}).`),
  values: mapOf(ValueStatsSchema, '`value` statistics by event name.'),
  uniques: Type.Integer({ minimum: 0, description: 'Unique user ids, a HyperLogLog estimate (exact up to 512).' }),
  open: Type.Boolean({ description: 'Still open: it may change.' }),
});

const MetricsResultSchema = Type.Object({
  owner: Type.String(),
  resolution: stringEnum(RESOLUTIONS),
  fromMs: UnixMs,
  toMs: UnixMs,
  windows: Type.Array(WindowSchema, { description: 'Windows with data in the range, oldest first.' }),
  summary: Type.Object(
    {
      total: Count,
      late: Count,
      tooLate: Count,
      uniques: Type.Integer({ minimum: 0, description: 'Over the whole range: the windows\' sketches merged.' }),
      byName: mapOf(Count, 'Events by name over the range.'),
    },
    { description: 'The range as a whole.' },
  ),
  truncated: Type.Boolean({ description: 'The range held more than queryWindowsMax windows and was cut.' }),
});

export function metricsQueryRouteSchema(limits: { nameCharsMax: number }): FastifySchema {
  return {
    operationId: 'queryMetrics',
    tags: ['read'],
    summary: 'Windows of the key owner over a time range',
    description: 'Stored windows, overlaid by closed windows not yet stored and by the open ones in memory. Scope `read`.',
    security: KEY_SECURITY,
    querystring: Type.Object({
      resolution: Type.Optional(stringEnum(RESOLUTIONS, { default: '1m' })),
      from: Type.Optional(Type.String({ description: 'Unix ms or an ISO 8601 date. Default: `to` minus one hour.', examples: ['1768478400000', '2026-01-15T12:00:00Z'] })),
      to: Type.Optional(Type.String({ description: 'Unix ms or an ISO 8601 date. Default: now. `from` after `to` is invalid (field `from`).' })),
      name: Type.Optional(
        Type.String({ minLength: 1, maxLength: limits.nameCharsMax, description: 'Keep one event name: `byName`, `values` and `total` are that name\'s.' }),
      ),
      owner: Type.Optional(Type.String({ description: 'The key\'s own owner, or omitted; any other owner is 403 `EVT_FORBIDDEN`.' })),
    }),
    response: {
      200: answer(MetricsResultSchema, 'The windows and a summary.'),
      ...errorAnswers(400, 401, 403, 503),
    },
  };
}

// ---- GET /v1/events/:id -----------------------------------------------------

const EventRecordSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  timestampMs: Type.Number({ description: 'Event time after clock-skew correction, unix ms.' }),
  clientTimestampMs: Type.Number({ description: 'The `timestamp` the client sent, unix ms.' }),
  receivedAtMs: Type.Number({ description: 'When the edge received the batch, unix ms.' }),
  userId: Type.Optional(Type.String()),
  category: Type.String(),
  severity: stringEnum(SEVERITIES),
  tags: Type.Array(Type.String()),
  properties: mapOf(Type.Union([Type.String(), Type.Number(), Type.Boolean()]), 'As sent.'),
  value: Type.Optional(Type.Number()),
});

const EventLocationSchema = Type.Object({
  state: stringEnum(['pending', 'stored'], { description: '`pending`: accepted, in memory, not yet written; `stored`: in the event store.' }),
  shard: Type.Integer({ minimum: 0 }),
  worker: Type.Integer({ minimum: 0 }),
  event: Type.Object({
    owner: Type.String(),
    shard: Type.Optional(Type.Integer({ minimum: 0 })),
    status: stringEnum(['accepted', 'late', 'too_late'], { description: 'Its receipt: `too_late` events are stored but not counted.' }),
    event: EventRecordSchema,
  }),
});

export function eventRouteSchema(limits: { idCharsMax: number }): FastifySchema {
  return {
    operationId: 'getEvent',
    tags: ['read'],
    summary: 'Where one event of the key owner went',
    description: 'Scope `read`. A diagnostic read: it asks the owner\'s worker, then the event store.',
    security: KEY_SECURITY,
    params: Type.Object({ id: Type.String({ minLength: 1, maxLength: limits.idCharsMax, description: 'The event id.' }) }),
    querystring: Type.Object({ owner: Type.Optional(Type.String({ description: 'The key\'s own owner, or omitted; any other owner is 403 `EVT_FORBIDDEN`.' })) }),
    response: {
      200: answer(EventLocationSchema, 'The event, its receipt and where it is.'),
      ...errorAnswers(400, 401, 403, 404, 503),
    },
  };
}

// ---- health and Prometheus -----------------------------------------------------

export const LIVENESS_ROUTE_SCHEMA: FastifySchema = {
  tags: ['operations'],
  summary: 'Liveness: the process answers',
  description: 'Asks no worker and no store, so a slow store never gets a healthy process restarted. No key. `/healthz` is the same.',
  security: NO_SECURITY,
  response: { 200: answer(Type.Object({ ok: Type.Literal(true) }), 'Alive.') },
};

const ReadinessSchema = Type.Object({
  ready: Type.Boolean(),
  workersUp: Count,
  workersTotal: Count,
  draining: Type.Boolean(),
  reasons: Type.Array(Type.String(), { description: 'Why the process is not ready.' }),
  degraded: Type.Array(Type.String(), { description: 'What works worse than it should without stopping ingest (snapshots failing).' }),
  snapshotAgeMsMax: Type.Optional(Type.Number({ description: 'Age of the oldest last-good snapshot among the workers, ms.' })),
});

export const READINESS_ROUTE_SCHEMA: FastifySchema = {
  operationId: 'readiness',
  tags: ['operations'],
  summary: 'Readiness: should this process get traffic',
  description: 'Every worker up, the event store taking writes, not draining. No key. docs/operations.md says how to probe it.',
  security: NO_SECURITY,
  response: {
    200: answer(ReadinessSchema, 'Ready.'),
    503: answer(ReadinessSchema, 'Not ready; `reasons` says why.'),
  },
};

export const PROMETHEUS_ROUTE_SCHEMA: FastifySchema = {
  operationId: 'prometheusMetrics',
  tags: ['operations'],
  summary: 'Prometheus metrics',
  description:
    'Text exposition format. Open unless `metricsToken` is set; on its own listener when `metricsPort` is set. ' +
    'Every metric is described in docs/operations.md.',
  // The empty requirement: open when no metricsToken is set.
  security: [{ metricsToken: [] }, {}] as Security,
  response: {
    200: {
      description: 'The metrics, in the Prometheus text format (version 0.0.4).',
      headers: REQUEST_ID_HEADER,
      content: { 'text/plain': { schema: Type.String() } },
    },
    ...errorAnswers([401, 'A `metricsToken` is set and the request does not carry it (`EVT_UNAUTHENTICATED`).']),
  },
};

// ---- ws ---------------------------------------------------------------------

export const STREAM_ROUTE_SCHEMA: FastifySchema = {
  operationId: 'stream',
  tags: ['live'],
  summary: 'Live metric deltas over WebSocket (upgrade)',
  description:
    'A WebSocket, not a request/response route. Authenticate with `Authorization: Bearer <key or token>`, or (browsers) ' +
    'a first message `{"type":"auth","key":"…"}` within wsAuthTimeoutMs; `?key=` also works but puts the key in URLs, ' +
    'and so in logs, and is best avoided. Then `{"type":"subscribe","resolution":"1m"}` (optionally with ' +
    '`"resume":{"epoch":"…","seq":41}`): the server sends a `snapshot`, then `delta` frames with contiguous `seq` ' +
    '(each with `oldestReceivedAtMs`, when the server received the oldest event it reports, unix ms); ' +
    'a resume from too far back gets `reset` and a fresh snapshot. Errors are `{"type":"error","code":"EVT_…"}` frames; ' +
    'a failed auth closes with 1008. The whole protocol: docs/http-api.md, "ws: /v1/stream". Scope `read`.',
  security: KEY_SECURITY,
  response: {
    101: { description: 'Switching Protocols: the connection is a WebSocket from here on.', type: 'null' },
    ...errorAnswers([400, 'The request is not a WebSocket upgrade (no `Upgrade: websocket`): `EVT_REQUEST_MALFORMED`, field `upgrade`.']),
  },
};

// ---- keys, owners, tokens, usage (routes of admin.ts, tokens.ts, limits-routes.ts) ----------

export interface PlainRouteDoc {
  operationId: string;
  tag: 'admin' | 'read';
  summary: string;
  description: string;
  /** The success status: 200, or 201 for what creates. */
  status: 200 | 201;
  /** Path parameters with a description each. */
  params?: Record<string, string>;
  errors: number[];
}

/**
 * A documented route whose answer shapes are described in docs/http-api.md
 * (key and owner views, tokens, usage): the document gives the operation, its
 * parameters, its statuses and the shared error body; the body is an object.
 * Documentation only, like the rest: the handlers check and write.
 */
export function plainRouteSchema(doc: PlainRouteDoc): FastifySchema {
  const schema: FastifySchema & Record<string, unknown> = {
    operationId: doc.operationId,
    tags: [doc.tag],
    summary: doc.summary,
    description: `${doc.description} Answer shapes: docs/http-api.md.`,
    security: [{ bearer: [] }, { apiKeyHeader: [] }],
    response: {
      [doc.status]: answer(Type.Object({}, { additionalProperties: true }), doc.status === 201 ? 'Created.' : 'The answer.'),
      ...errorAnswers(...doc.errors),
    },
  };
  if (doc.params !== undefined) {
    schema.params = Type.Object(Object.fromEntries(Object.entries(doc.params).map(([name, description]) => [name, Type.String({ description })])));
  }
  return schema;
}

/** Options that make a route documented only: no validation, no serializer of fastify's. */
export const DOCUMENTED_ONLY = { validatorCompiler: documentedRequest, serializerCompiler: documentedAnswers } as const;
