/**
 * The HTTP edge: authenticate, bound, route. It never parses an event body
 * (raw-body.ts hands the bytes on) and holds no window state; everything it
 * answers comes from the Router.
 *
 * Invariants:
 * - A request is authenticated in `onRequest`, before its body is read, so an
 *   anonymous client cannot make the server buffer bodyBytesMax bytes.
 * - Every error answer, including fastify's own and the HTTP parser's, has the
 *   shape `{ error: { code: 'EVT_*', message, field?, retryable } }` and the
 *   status from status.ts; 429 and 503 carry Retry-After.
 * - Every response carries `x-request-id` (the client's, when it sent a sane
 *   one, else a generated UUID).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { defaults as configDefaults } from '../../config/defaults.js';
import { RESOLUTIONS, RESOLUTION_MS, type AckLevel, type BatchReceipt, type Resolution } from '../actors/types.js';
import type { EventideError } from '../errors.js';
import type { Router } from '../runtime/router.js';
import {
  BodyLengthMismatchError,
  ForbiddenError,
  HeadersTooLargeError,
  NotFoundError,
  QueryInvalidError,
  RequestBodyTooLargeError,
  RequestMalformedError,
  RequestTimeoutError,
  ServerClosingError,
  UnauthenticatedError,
  UnsupportedMediaTypeError,
} from './errors.js';
import { liveness, readiness } from './health.js';
import { BatchSchema, EventSchema } from './ingest-schema.js';
import { registerOpenApi } from './openapi.js';
import {
  documentedAnswers,
  documentedRequest,
  eventRouteSchema,
  INGEST_ROUTE_SCHEMA,
  LIVENESS_ROUTE_SCHEMA,
  metricsQueryRouteSchema,
  READINESS_ROUTE_SCHEMA,
} from './openapi-schemas.js';
import { createRawBodyStats, registerRawBodyParsers, type RawBody, type RawBodyStats } from './raw-body.js';
import { errorBodyOf, httpStatusOf, publicErrorOf, retryAfterSecondsOf, type PublicError } from './status.js';
import { rateLimitHeaders } from './limits.js';
import type { LimitsGuard } from './limits-guard.js';
import { ingestOwnerOf, OWNER_HEADER, ownOwnerOf } from './scope.js';
import { httpsOptions, type TlsMaterial } from './tls.js';

export type Scope = 'ingest' | 'read' | 'admin';

/** Who a key (or token) belongs to and what it may do; src/auth/credentials.ts fills in the optional parts. */
export interface Principal {
  owner: string;
  scopes: string[];
  kind?: 'key' | 'token';
  /** The key counted against for limits (a token's minting key). */
  keyPrefix?: string;
  /** Other owners a multi-owner ingest key may name (`*`: any). */
  ingestOwners?: readonly string[];
  /** A token's expiry, unix ms. */
  expiresAtMs?: number;
}

/** Resolves a raw key to its principal, or undefined when no key matches. */
export type Authenticate = (key: string) => Promise<Principal | undefined>;

/** The limits the HTTP edge needs; a subset of the resolved configuration plus its own. */
export interface HttpConfig {
  /** Bytes on the wire per request body; more is 413 EVT_BODY_TOO_LARGE. */
  bodyBytesMax: number;
  /** Ack level when the request names none. */
  ackDefault: AckLevel;
  /** Longest event id accepted in GET /v1/events/:id (UTF-16 units). */
  idCharsMax: number;
  /** Longest `name` filter accepted in GET /v1/metrics. */
  nameCharsMax: number;
  /** Request line and headers must arrive within this; else 408. Bounds slow-loris headers (and the TLS handshake). */
  httpHeadersTimeoutMs: number;
  /** Whole request, headers and body, must arrive within this; else 408. Bounds slow-loris bodies. */
  httpRequestTimeoutMs: number;
  /** Request line plus headers, bytes; more is 431. */
  httpHeaderBytesMax: number;
  /** Open connections; more are closed on arrival and counted in RawBodyStats.connectionsDropped. */
  httpConnectionsMax: number;
  /** An idle socket is closed after this. */
  httpConnectionTimeoutMs: number;
  /** Keep-alive sockets idle for this long are closed. */
  httpKeepAliveTimeoutMs: number;
  /** Longest path parameter in bytes as sent (percent-encoded); longer is 404. */
  httpParamBytesMax: number;
  /** Longest x-request-id taken from a client; longer or odd ones are replaced by a UUID. */
  requestIdCharsMax: number;
  /** Set: HTTPS (and wss) with this certificate and key (tls.ts). */
  tls?: TlsMaterial | undefined;
}

/** Defaults for the edge-only limits (the others come from config/defaults.ts). */
export const HTTP_DEFAULTS: Readonly<Omit<HttpConfig, 'bodyBytesMax' | 'idCharsMax' | 'nameCharsMax' | 'ackDefault' | 'tls'>> = Object.freeze({
  httpHeadersTimeoutMs: configDefaults.httpHeadersTimeoutMs,
  httpRequestTimeoutMs: configDefaults.httpRequestTimeoutMs,
  httpHeaderBytesMax: configDefaults.httpHeaderBytesMax,
  httpConnectionsMax: configDefaults.httpConnectionsMax,
  httpConnectionTimeoutMs: 60_000,
  httpKeepAliveTimeoutMs: 72_000,
  httpParamBytesMax: 512,
  requestIdCharsMax: 128,
});

export interface HttpServerOptions {
  router: Router;
  authenticate: Authenticate;
  config: HttpConfig;
  /** A pino-compatible logger, or false for none (tests). */
  log: FastifyBaseLogger | false;
  /** Unix ms; injected so tests decide what "now" is. */
  clock?: () => number;
  /** Limits met by the body parsers are counted here. */
  rawBodyStats?: RawBodyStats;
  /** Per-key rate limits and per-owner quotas; none when absent (tests). */
  limits?: LimitsGuard;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on routes that name a scope. */
    principal: Principal | null;
    /** The owner the request acts for: the principal's, or for an ingest the one it may name (x-eventide-owner). */
    actingOwner: string | null;
  }
  interface FastifyContextConfig {
    /** The scope a route requires; routes without one are public. */
    scope?: Scope;
  }
}

const REQUEST_ID_PATTERN = /^[\w.:-]+$/;

/**
 * fastify's own two lines per request at info would flood a busy log; the
 * edge writes one per request at debug instead (the onResponse hook below).
 * fastify's other lines (stream errors) stay.
 */
class EdgeLogController extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(): void {}
}
const ISO_DATE_PATTERN = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/** The API key of a request: `Authorization: Bearer <key>` first, then `x-api-key`. */
export function keyFromHeaders(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const match = /^bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.length > 0) return apiKey;
  return undefined;
}

/**
 * Authenticate a key and check one scope; throws the matching EventideError.
 * `authenticated` hears of a valid principal before its scope is checked (the
 * admin audit names who was refused).
 */
export async function authorize(
  authenticate: Authenticate,
  key: string | undefined,
  scope: Scope,
  authenticated?: (principal: Principal) => void,
): Promise<Principal> {
  if (key === undefined) throw new UnauthenticatedError();
  const principal = await authenticate(key);
  if (principal === undefined) throw new UnauthenticatedError('the API key is not valid');
  authenticated?.(principal);
  if (!principal.scopes.includes(scope)) throw new ForbiddenError(`the API key lacks the "${scope}" scope`, 'scope');
  return principal;
}

const CREDENTIAL_PARAM = /([?&](?:key|token|api_key)=)[^&#]*/gi;

/** What the request log shows of a request: fastify's fields, with credentials in the query replaced. */
export function requestLogValue(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }): Record<string, unknown> {
  return {
    method: req.method,
    url: req.url?.replace(CREDENTIAL_PARAM, '$1[redacted]'),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** Map fastify's and Node's own errors onto our codes, by status first and code second. */
function edgeErrorOf(err: unknown, bodyBytesMax: number): unknown {
  if (typeof err !== 'object' || err === null) return err;
  const { code, statusCode } = err as Partial<FastifyError>;
  if (typeof code !== 'string' || !code.startsWith('FST_')) return err;
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return new BodyLengthMismatchError('the body length differs from its Content-Length');
  switch (statusCode) {
    case 404:
      return new NotFoundError('no such route');
    case 408:
      return new RequestTimeoutError();
    case 413:
      return new RequestBodyTooLargeError(bodyBytesMax);
    case 415:
      return new UnsupportedMediaTypeError('the Content-Type is not supported', 'content-type');
    case 431:
      return new HeadersTooLargeError();
    default:
      if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
        return new RequestMalformedError((err as FastifyError).message, { cause: err });
      }
      return err;
  }
}

/**
 * Error answers are written with JSON.stringify, never with a route's
 * compiled response serializer: a 400 of one shape must not fail to
 * serialize against the documented 400 of another (openapi-schemas.ts).
 */
const writeError = (body: unknown): string => JSON.stringify(body);

/** One answer for every error: status from the table, Retry-After where it applies. */
function sendPublicError(reply: FastifyReply, pub: PublicError, original: unknown): FastifyReply {
  const status = httpStatusOf(pub.code);
  if (status >= 500 && !pub.retryable) reply.log.error({ err: original }, 'request failed');
  if (status === 429 || status === 503) {
    const seconds = retryAfterSecondsOf(pub);
    if (seconds !== undefined) {
      reply.header('retry-after', String(seconds));
      // Retry-After has whole seconds only; clients that can use the server's exact estimate read this.
      if (pub.retryAfterMs !== undefined) reply.header('retry-after-ms', String(Math.ceil(pub.retryAfterMs)));
    }
  }
  // The rest of such a body is never read; closing is cheaper than draining it.
  if (pub.code === 'EVT_BODY_TOO_LARGE' || pub.code === 'EVT_BODY_LENGTH_MISMATCH') reply.header('connection', 'close');
  return reply.code(status).serializer(writeError).send(errorBodyOf(pub));
}

/** The HTTP parser's errors never reach fastify's handlers; answer them in the same shape. */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let edgeErr: EventideError;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') edgeErr = new RequestTimeoutError();
  else if (err.code === 'HPE_HEADER_OVERFLOW') edgeErr = new HeadersTooLargeError();
  // The peer half-closed before the body reached its Content-Length.
  else if (err.code === 'HPE_INVALID_EOF_STATE') edgeErr = new BodyLengthMismatchError('the connection ended before the body reached its Content-Length');
  else edgeErr = new RequestMalformedError();
  answerOnSocket(socket, edgeErr);
}

/** An error answer written straight to a socket the HTTP parser has given up on, then the socket closed. */
function answerOnSocket(socket: Duplex, edgeErr: EventideError): void {
  const status = httpStatusOf(edgeErr.code);
  const body = JSON.stringify(errorBodyOf(publicErrorOf(edgeErr)));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\n` +
        `Connection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * What Node would otherwise answer without our error shape, or not at all:
 * connections past httpConnectionsMax (closed on arrival, counted), CONNECT
 * (no listener: Node destroys the socket), an Expect other than
 * 100-continue (Node's bare 417; RFC 9110 lets a server ignore it instead),
 * and a client that half-closes after its request (Node would end the
 * socket at once and drop the answer; with half-open allowed the answer goes
 * out, then the socket ends).
 */
function bindServerLimits(app: FastifyInstance, config: HttpConfig, stats: RawBodyStats): void {
  const server = app.server as typeof app.server & { httpAllowHalfOpen: boolean };
  server.maxConnections = config.httpConnectionsMax;
  server.httpAllowHalfOpen = true;
  server.on('drop', () => {
    stats.connectionsDropped++;
  });
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    answerOnSocket(socket, new RequestMalformedError('CONNECT is not supported', { field: 'method' }));
  });
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    server.emit('request', request, response);
  });
}

function parseTimeParam(value: string | undefined, field: string, fallbackMs: number): number {
  if (value === undefined || value === '') return fallbackMs;
  // Date.parse alone takes "-5" or "March 7" too; insist on an ISO 8601 date first.
  const ms = /^\d{1,16}$/.test(value) ? Number(value) : ISO_DATE_PATTERN.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new QueryInvalidError(`${field} must be unix milliseconds or an ISO 8601 date`, field);
  }
  return ms;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], field: string): T | undefined {
  if (value === undefined || value === '') return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new QueryInvalidError(`${field} must be one of ${allowed.join(', ')}`, field);
}

function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const ACK_LEVELS: readonly AckLevel[] = ['applied', 'durable'];
const RECEIPT_MODES = ['all', 'rejected'] as const;

type Query = Record<string, string | undefined>;

/** The answer to an ingest: 200 unless nothing of the body was taken, then 400 with the first rejection. */
function sendReceipt(reply: FastifyReply, receipt: BatchReceipt): FastifyReply {
  const { batchId, counts, receipts } = receipt;
  const body: Record<string, unknown> = batchId === undefined ? { counts, receipts } : { batchId, counts, receipts };
  const total = counts.accepted + counts.duplicate + counts.late + counts.tooLate + counts.rejected;
  const first = receipts.find((r) => r.status === 'rejected');
  if (total > 0 && counts.rejected === total && first !== undefined) {
    const message =
      receipt.single || total === 1
        ? (first.message ?? 'the event was rejected')
        : `all ${total} events were rejected; the first, at index ${first.index}: ${first.message ?? first.code ?? 'rejected'}`;
    const error: Record<string, unknown> = { code: first.code ?? 'EVT_FIELD_INVALID', message, retryable: false };
    if (first.field !== undefined) error.field = first.field;
    return reply.code(400).serializer(writeError).send({ error, ...body });
  }
  return reply.code(200).send(body);
}

/**
 * Build the HTTP server (not listening). Routes: POST /v1/events,
 * GET /v1/metrics, GET /v1/events/:id, GET /healthz, /livez, /readyz.
 * The ws route is added separately (ws.ts: registerStreamRoute).
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const { router, authenticate, config } = options;
  const clock = options.clock ?? Date.now;
  const rawBodyStats = options.rawBodyStats ?? createRawBodyStats();
  let closing = false;
  const sendError = (reply: FastifyReply, err: unknown): FastifyReply =>
    sendPublicError(reply, publicErrorOf(edgeErrorOf(err, config.bodyBytesMax)), err);

  // Node's own bounds on what a client sends before fastify sees a request.
  // Node checks the two timeouts on a timer; a tenth of the shorter one keeps
  // the cut within 10 % of the setting (Node's default interval is 30 s).
  const serverOptions = {
    headersTimeout: config.httpHeadersTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    maxHeaderSize: config.httpHeaderBytesMax,
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(config.httpHeadersTimeoutMs / 10))),
    // Nothing here routes on Host; without this Node answers a request that lacks one with a bare 400 of its own.
    requireHostHeader: false,
  };
  const app = Fastify({
    // A ws client may carry its key or token in the URL (?key=); the request log never shows it.
    ...(options.log === false ? { logger: false } : { loggerInstance: options.log.child({}, { serializers: { req: requestLogValue } }) }),
    ...(config.tls === undefined ? { http: serverOptions } : { https: { ...httpsOptions(config.tls, config.httpHeadersTimeoutMs), ...serverOptions } }),
    bodyLimit: config.bodyBytesMax,
    requestTimeout: config.httpRequestTimeoutMs,
    connectionTimeout: config.httpConnectionTimeoutMs,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    routerOptions: { maxParamLength: config.httpParamBytesMax },
    return503OnClosing: false,
    logController: new EdgeLogController({ requestIdLogLabel: 'requestId' }),
    genReqId: (req: IncomingMessage) => {
      const given = headerOf(req.headers, 'x-request-id');
      return given !== undefined && given.length <= config.requestIdCharsMax && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    },
    clientErrorHandler,
    frameworkErrors: (error, _request, reply) => {
      sendError(reply, error);
    },
  }) as unknown as FastifyInstance;

  bindServerLimits(app, config, rawBodyStats);
  app.decorateRequest('principal', null);
  app.decorateRequest('actingOwner', null);
  app.setErrorHandler((err, _request, reply) => {
    if ((err as FastifyError).validation !== undefined) {
      const v = err as FastifyError;
      const field = v.validation?.[0]?.instancePath.replace(/^\//, '') || 'query';
      return sendError(reply, new QueryInvalidError(v.message, field));
    }
    return sendError(reply, err);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new NotFoundError(`no route ${request.method} ${request.url.split('?')[0]}`)));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const scope = request.routeOptions.config.scope;
    if (scope === undefined) return;
    if (closing) throw new ServerClosingError();
    const principal = await authorize(authenticate, keyFromHeaders(request.headers), scope, (found) => {
      request.principal = found;
    });
    const owner = scope === 'ingest' ? ingestOwnerOf(principal, headerOf(request.headers, OWNER_HEADER)) : principal.owner;
    request.actingOwner = owner;
    if (options.limits !== undefined) {
      const admission = await options.limits.admit(principal, owner, scope === 'ingest');
      void reply.headers(rateLimitHeaders(admission.states));
      if (admission.refusal !== undefined) throw admission.refusal;
    }
  });
  const logRequests = options.log !== false && (options.log as { isLevelEnabled?(level: string): boolean }).isLevelEnabled?.('debug') === true;
  if (logRequests) {
    app.addHook('onResponse', (request, reply, done) => {
      // The path only: a query string may hold an API key (`/v1/stream?key=...`).
      const path = request.url.split('?', 1)[0];
      const fields: Record<string, unknown> = { method: request.method, path, statusCode: reply.statusCode, durationMs: reply.elapsedTime };
      if (request.principal !== null) fields.owner = request.principal.owner;
      request.log.debug(fields, 'request');
      done();
    });
  }
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });

  // The OpenAPI document learns routes as they are added; every route below
  // is added in a plugin, so after this one has loaded (openapi.ts).
  registerOpenApi(app);
  const documented = { validatorCompiler: documentedRequest, serializerCompiler: documentedAnswers };

  void app.register((api, _options, done) => {
    // Liveness answers while the process answers at all: no dependency is asked (health.ts).
    const live = (_request: unknown, reply: FastifyReply) => {
      const answer = liveness();
      return reply.code(answer.status).send(answer.body);
    };
    api.get('/livez', { schema: { ...LIVENESS_ROUTE_SCHEMA, operationId: 'livez' }, ...documented }, live);
    api.get('/healthz', { schema: { ...LIVENESS_ROUTE_SCHEMA, operationId: 'healthz' }, ...documented }, live);
    api.get('/readyz', { schema: READINESS_ROUTE_SCHEMA, ...documented }, (_request, reply) => {
      const answer = readiness(router, closing);
      return reply.code(answer.status).send(answer.body);
    });
    done();
  });

  // The ingest route lives in its own encapsulation context so its raw-body
  // parsers do not replace the JSON parser of other routes (admin, future ones).
  void app.register((ingest, _options, done) => {
    registerRawBodyParsers(ingest, { bodyBytesMax: config.bodyBytesMax, stats: rawBodyStats });
    ingest.addSchema(EventSchema);
    ingest.addSchema(BatchSchema);
    const typed = ingest.withTypeProvider<TypeBoxTypeProvider>();
    // The worker validates the body and the handler the rest; the answers are serialized from their schemas.
    typed.post('/v1/events', { config: { scope: 'ingest' }, schema: INGEST_ROUTE_SCHEMA, validatorCompiler: documentedRequest }, async (request, reply) => {
      const principal = request.principal!;
      const owner = request.actingOwner!;
      const query = request.query as Query;
      const raw = request.body as RawBody | undefined;
      // An empty body cannot hold an event; saying so here saves a trip to a worker.
      if (raw === undefined || raw.bytes.length === 0) throw new RequestMalformedError('the request has no body', { field: 'body' });
      const ack = oneOf(headerOf(request.headers, 'x-eventide-ack') ?? query.ack, ACK_LEVELS, 'ack') ?? config.ackDefault;
      const receiptsMode = oneOf(headerOf(request.headers, 'x-eventide-receipts') ?? query.receipts, RECEIPT_MODES, 'receipts');
      const receipt = await router.ingest({
        owner,
        body: raw.bytes,
        format: raw.format,
        encoding: raw.encoding,
        ack,
        receiptsAll: receiptsMode === 'all',
        receivedAtMs: clock(),
        requestId: request.id,
      });
      options.limits?.settle(principal, owner, receipt);
      return sendReceipt(reply, receipt);
    });
    done();
  });

  void app.register((api, _options, done) => {
    api.get('/v1/metrics', { config: { scope: 'read' }, schema: metricsQueryRouteSchema(config), ...documented }, async (request) => {
      const principal = request.principal!;
      const query = request.query as Query;
      const owner = ownOwnerOf(principal, query.owner);
      const nowMs = clock();
      const resolution: Resolution = oneOf(query.resolution, RESOLUTIONS, 'resolution') ?? '1m';
      const toMs = parseTimeParam(query.to, 'to', nowMs);
      const fromMs = parseTimeParam(query.from, 'from', toMs - 3_600_000);
      if (fromMs > toMs) throw new QueryInvalidError('from must not be after to', 'from');
      if (fromMs + RESOLUTION_MS[resolution] < fromMs) throw new QueryInvalidError('from is out of range', 'from');
      const name = query.name;
      if (name !== undefined && (name.length === 0 || name.length > config.nameCharsMax)) {
        throw new QueryInvalidError(`name must have 1 to ${config.nameCharsMax} characters`, 'name');
      }
      return router.queryMetrics(
        name === undefined ? { owner, resolution, fromMs, toMs } : { owner, resolution, fromMs, toMs, name },
      );
    });

    api.get('/v1/events/:id', { config: { scope: 'read' }, schema: eventRouteSchema(config), ...documented }, async (request) => {
      const principal = request.principal!;
      const owner = ownOwnerOf(principal, (request.query as Query).owner);
      const { id } = request.params as { id: string };
      if (id.length === 0 || id.length > config.idCharsMax) {
        throw new QueryInvalidError(`id must have 1 to ${config.idCharsMax} characters`, 'id');
      }
      const location = await router.getEvent(owner, id);
      if (location === undefined) throw new NotFoundError(`no event with id ${id}`, 'id');
      return location;
    });
    done();
  });

  return app;
}
