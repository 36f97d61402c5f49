/**
 * What other layers may use of the edge. Anything not listed here is internal.
 *
 * Wiring (the lead's start-up code):
 *   const app = createHttpServer({ router, authenticate, config, log });
 *   const hub = new LiveHub({ source: router.live, ...limits });
 *   registerStreamRoute(app, { hub, authenticate, config: streamLimits });
 *   app.register((scope, _o, done) => { registerDashboard(scope); done(); });   // routes go in plugins (openapi.ts)
 *   hub.start(); await app.listen(...);   // on shutdown: await app.close(); hub.close();
 */
export { createHttpServer, HTTP_DEFAULTS, keyFromHeaders, authorize } from './http.js';
export type { Authenticate, HttpConfig, HttpServerOptions, Principal, Scope } from './http.js';
export { registerStreamRoute, STREAM_DEFAULTS } from './ws.js';
export type { StreamConfig, StreamRouteOptions, StreamStats, StreamTimers } from './ws.js';
export { LiveHub, LIVE_DEFAULTS, channelName } from './live.js';
export type { LiveHubCounters, LiveHubOptions, LiveSubscriber, LiveWindow, ResumePoint } from './live.js';
export { createRawBodyStats, MEDIA_TYPES } from './raw-body.js';
export type { RawBody, RawBodyStats } from './raw-body.js';
export { ALL_CODES, errorBody, grpcStatusOf, httpStatusOf, isRetryable, publicErrorOf, retryAfterSecondsOf } from './status.js';
export type { ErrorBody, PublicError, StatusRow } from './status.js';
export { EdgeMetrics } from './metrics.js';
export type { EdgeMetricsOptions, EdgeSources, Protocol, RuntimeView } from './metrics.js';
export { metricsTokenMatches, registerMetricsRoute, startMetricsListener } from './metrics-http.js';
export type { MetricsListener } from './metrics-http.js';
export { liveness, readiness } from './health.js';
export type { HealthAnswer } from './health.js';
export * from './errors.js';
export { registerOpenApi, DOCS_PREFIX } from './openapi.js';
export { registerDashboard, DASHBOARD_PATH } from './dashboard/index.js';
