/**
 * Serving /metrics: a route on the main HTTP server, or (with `metricsPort`)
 * a listener of its own that also answers the health routes, so both can stay
 * on a port only the scraper and the probes reach. The optional bearer token
 * (`metricsToken`) guards /metrics only: load balancers and kubelets send no
 * credentials. docs/operations.md says why metrics are unauthenticated by
 * default.
 */
import { dialHost } from './listen-url.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Router } from '../runtime/router.js';
import { NotFoundError, UnauthenticatedError } from './errors.js';
import { liveness, readiness, type HealthAnswer } from './health.js';
import type { EdgeMetrics } from './metrics.js';
import { documentedAnswers, PROMETHEUS_ROUTE_SCHEMA } from './openapi-schemas.js';
import { errorBody, httpStatusOf } from './status.js';

/** Checks `Authorization: Bearer <token>` in constant time; an empty token means no check. */
export function metricsTokenMatches(token: string, authorization: string | undefined): boolean {
  if (token === '') return true;
  const given = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (given === undefined) return false;
  // Digests first, so the comparison neither leaks the length nor throws on a length mismatch.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/** GET /metrics on the main HTTP server (when the metrics have no listener of their own). */
export function registerMetricsRoute(app: FastifyInstance, metrics: EdgeMetrics, token: string): void {
  app.get('/metrics', { schema: PROMETHEUS_ROUTE_SCHEMA, serializerCompiler: documentedAnswers }, async (request, reply) => {
    if (!metricsTokenMatches(token, request.headers.authorization)) throw new UnauthenticatedError('/metrics needs the metrics token (Authorization: Bearer <metricsToken>)');
    const text = await metrics.scrape();
    return reply.header('content-type', metrics.contentType).send(text);
  });
}

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/** Bounds of the metrics listener's connections; a scraper needs little. */
const LISTENER_REQUEST_TIMEOUT_MS = 10_000;
const LISTENER_HEADERS_TIMEOUT_MS = 5_000;

/**
 * A listener of its own for /metrics and the health routes (`metricsPort`),
 * so they can stay on an internal port while the API is public. Plain
 * node:http: it reads no bodies and has four routes.
 */
export async function startMetricsListener(options: {
  host: string;
  port: number;
  /** Undefined when metricsEnabled is false: /metrics answers 404 and the health routes stay. */
  metrics: EdgeMetrics | undefined;
  token: string;
  router: Pick<Router, 'readiness'>;
  /** True once the server is closing (readiness turns 503). */
  closing: () => boolean;
}): Promise<MetricsListener> {
  const { metrics, token } = options;
  const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const sendHealth = (res: ServerResponse, answer: HealthAnswer<unknown>): void => sendJson(res, answer.status, answer.body);
  const sendError = (res: ServerResponse, err: unknown): void => {
    const body = errorBody(err);
    sendJson(res, httpStatusOf(body.error.code), body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // A scraper sends no body; one that does is not read, and its connection is not reused.
    if (req.method !== 'GET' && req.method !== 'HEAD') res.setHeader('connection', 'close');
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/livez':
      case '/healthz':
        return sendHealth(res, liveness());
      case '/readyz':
        return sendHealth(res, readiness(options.router, options.closing()));
      case '/metrics':
        if (metrics === undefined) return sendError(res, new NotFoundError('metrics are off (metricsEnabled is false)'));
        if (!metricsTokenMatches(token, req.headers.authorization)) {
          return sendError(res, new UnauthenticatedError('/metrics needs the metrics token (Authorization: Bearer <metricsToken>)'));
        }
        metrics.scrape().then(
          (text) => {
            res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) });
            res.end(text);
          },
          (err: unknown) => sendError(res, err),
        );
        return;
      default:
        return sendError(res, new NotFoundError(`no route ${req.method ?? 'GET'} ${path}`));
    }
  };
  const server: Server = createServer({ requestTimeout: LISTENER_REQUEST_TIMEOUT_MS, headersTimeout: LISTENER_HEADERS_TIMEOUT_MS }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${dialHost(options.host)}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
