/**
 * Composition: one edge process = configuration, the key store, the shard
 * router with its worker threads, and the HTTP (+ ws) and gRPC servers.
 *
 * Start order: stores, workers, then listeners, so nothing is accepted
 * before a shard can take it. Close order is the reverse: stop accepting
 * (503 / UNAVAILABLE while draining), let in-flight work finish, then close
 * the workers (each flushes, snapshots and closes its store handles).
 */
import { dialHost } from './edge/listen-url.js';
import { mkdirSync } from 'node:fs';
import { loadConfig, type ResolvedConfig } from './config.js';
import { flagName } from './config.js';
import type { SettingName } from '../config/schema.js';
import { ensureDevKey, KeyVerifier, createKey, type CreateKeyInput } from './auth/keys.js';
import { resolveServerSecrets } from './auth/secret.js';
import { TokenVerifier } from './auth/tokens.js';
import { Credentials } from './auth/credentials.js';
import { OwnerDirectory } from './auth/owners.js';
import { openKeyStore } from './store/open.js';
import { MemoryLimits, type LimitsBackend } from './edge/limits.js';
import { LimitsGuard } from './edge/limits-guard.js';
import { registerAdminRoutes } from './edge/admin.js';
import { registerTokenRoute } from './edge/tokens.js';
import { registerUsageRoute } from './edge/limits-routes.js';
import { ShardRouter } from './runtime/shard-router.js';
import { createHttpServer, HTTP_DEFAULTS, type Principal } from './edge/http.js';
import { LiveHub, LIVE_DEFAULTS } from './edge/live.js';
import { registerStreamRoute, STREAM_DEFAULTS } from './edge/ws.js';
import { startGrpcServer } from './edge/grpc.js';
import { EdgeMetrics } from './edge/metrics.js';
import { registerMetricsRoute, startMetricsListener, type MetricsListener } from './edge/metrics-http.js';
import { createRawBodyStats } from './edge/raw-body.js';
import { registerDashboard } from './edge/dashboard/index.js';
import { createLogger, type Logger } from './log.js';
import { MAIN_HEAP_INITIAL_MB, mainHeapInitialGiven } from './runtime/supervisor.js';
import { grpcCredentials, loadTls } from './edge/tls.js';

export interface StartedServer {
  httpUrl: string;
  grpcTarget: string;
  wsUrl: string;
  /** Base URL of the metrics listener when metricsPort is set (its /metrics, /livez, /readyz); else undefined (they are on httpUrl). */
  metricsUrl: string | undefined;
  /** The development key created on a first start (printed once), if one was. */
  devKey: string | undefined;
  config: ResolvedConfig;
  router: ShardRouter;
  /** Creates a key for `owner` (scopes ingest and read unless given); returns the clear key (shown once). */
  createKey(owner: string, options?: Partial<Pick<CreateKeyInput, 'scopes' | 'expiresAtMs' | 'ingestOwners'>>): Promise<string>;
  /** Where the limit counters live, with their counters. */
  limits: LimitsBackend;
  /** Key and token verification, with their caches and counters. */
  credentials: Credentials;
  close(): Promise<void>;
}

export interface StartOptions {
  /** A resolved configuration (the CLI's); when absent, defaults plus `overrides`. */
  config?: ResolvedConfig;
  log?: Logger;
}

/** Defaults plus overrides, validated like flags (so a bad override names itself). */
export function configWith(overrides: Record<string, unknown> = {}): ResolvedConfig {
  const argv = Object.entries(overrides).flatMap(([name, value]) => [`--${flagName(name as SettingName)}`, String(value)]);
  return loadConfig({ argv, env: {}, cwd: process.cwd() });
}

/** While closing, idle keep-alive connections are closed this often. */
const CLOSE_IDLE_EVERY_MS = 50;

export async function startServer(overrides: Record<string, unknown> = {}, options: StartOptions = {}): Promise<StartedServer> {
  const config = options.config ?? configWith(overrides);
  const log = options.log ?? createLogger({ level: config.logLevel });
  mkdirSync(config.dataDir, { recursive: true });
  if (!mainHeapInitialGiven()) {
    log.info(
      { flag: `--initial-old-space-size=${MAIN_HEAP_INITIAL_MB}` },
      'node was started without the flag npm start passes: at high load the main thread collects its heap more often (docs/operations.md)',
    );
  }

  // Read before anything starts, so a bad certificate stops the process at once.
  const tls = loadTls(config);
  const keyStore = await openKeyStore(config);
  const secret = await resolveServerSecrets(config);
  const verifier = new KeyVerifier(keyStore, secret);
  const credentials = new Credentials(verifier, new TokenVerifier(secret));
  const authenticate = (key: string): Promise<Principal | undefined> => credentials.authenticate(key);
  const owners = new OwnerDirectory(keyStore, { defaultEventsPerDayMax: config.ownerEventsPerDayMax });
  const limitSettings = {
    keyRequestsPerSec: config.keyRequestsPerSec,
    keyRequestsBurst: config.keyRequestsBurst,
    keyEventsPerSec: config.keyEventsPerSec,
    keyEventsBurst: config.keyEventsBurst,
    limitsEntriesMax: config.limitsEntriesMax,
  };
  let limitsBackend: LimitsBackend;
  if (config.limitsStore === 'redis' && config.redisUrl !== undefined) {
    const { RedisLimits } = await import('./edge/limits-redis.js');
    limitsBackend = new RedisLimits({ url: config.redisUrl, ...limitSettings });
  } else {
    limitsBackend = new MemoryLimits(limitSettings);
  }
  const limits = new LimitsGuard(limitsBackend, owners);

  const router = new ShardRouter({
    shardCount: config.shardCount,
    workerCount: config.workers,
    mailboxBatchesMax: config.mailboxBatchesMax,
    workerBatchesMax: config.workerBatchesMax,
    requestTimeoutMs: config.requestTimeoutMs,
    workerRestartDelayMs: config.workerRestartDelayMs,
    config: { ...config },
    log: log.child({ component: 'runtime' }),
  });
  await router.start();
  // Metrics off: nothing is wrapped or counted, the ingest path is the bare router.
  const metrics = config.metricsEnabled
    ? new EdgeMetrics({
        runtime: router,
        eventStore: config.eventStore,
        snapshotStore: config.snapshotStore,
        mailboxBatchesMax: config.mailboxBatchesMax,
        workerBatchesMax: config.workerBatchesMax,
      })
    : undefined;
  const rawBodyStats = createRawBodyStats();

  const devKey = config.devKey ? await ensureDevKey(keyStore, secret, Date.now()) : undefined;

  const http = createHttpServer({
    router: metrics?.instrumentRouter(router, 'http') ?? router,
    authenticate,
    config: {
      ...HTTP_DEFAULTS,
      ackDefault: config.ackDefault,
      bodyBytesMax: config.bodyBytesMax,
      idCharsMax: config.idCharsMax,
      nameCharsMax: config.nameCharsMax,
      httpHeadersTimeoutMs: config.httpHeadersTimeoutMs,
      httpRequestTimeoutMs: config.httpRequestTimeoutMs,
      httpHeaderBytesMax: config.httpHeaderBytesMax,
      httpConnectionsMax: config.httpConnectionsMax,
      tls,
    },
    log: config.logLevel === 'silent' ? false : (log as never),
    rawBodyStats,
    limits,
  });
  if (metrics !== undefined) {
    metrics.instrumentHttp(http);
    // In a plugin, so the OpenAPI document (registered first, in createHttpServer) sees the route.
    if (config.metricsPort === undefined) {
      void http.register((scope, _options, done) => {
        registerMetricsRoute(scope, metrics, config.metricsToken);
        done();
      });
    }
  }
  registerAdminRoutes(http, {
    store: keyStore,
    secrets: secret,
    verifier,
    owners,
    limits,
    keyRotateOverlapMs: config.keyRotateOverlapMs,
    audit: log.child({ component: 'audit' }),
  });
  registerTokenRoute(http, { secrets: secret, tokenTtlMsMax: config.tokenTtlMsMax });
  registerUsageRoute(http, limits);
  void http.register((scope, _options, done) => {
    registerDashboard(scope);
    done();
  });
  const hub = new LiveHub({
    source: router.live,
    deltaTickMs: config.deltaTickMs,
    deltaHistoryFramesMax: config.deltaHistoryFramesMax,
    wsBufferedBytesMax: config.wsBufferedBytesMax,
    allowedLatenessMs: config.allowedLatenessMs,
    ...LIVE_DEFAULTS,
  });
  const streamStats = registerStreamRoute(http, {
    hub,
    authenticate,
    config: {
      ...STREAM_DEFAULTS,
      wsClientsMax: config.wsClientsMax,
      wsSubscriptionsMax: config.wsSubscriptionsMax,
      wsMessageBytesMax: config.wsMessageBytesMax,
      wsIdleTimeoutMs: config.wsIdleTimeoutMs,
    },
  });
  hub.start();
  await http.listen({ host: config.host, port: config.httpPort });
  const httpAddress = http.server.address();
  const httpPort = typeof httpAddress === 'object' && httpAddress !== null ? httpAddress.port : config.httpPort;

  const grpc = await startGrpcServer({
    router: metrics?.instrumentRouter(router, 'grpc') ?? router,
    authenticate,
    host: config.host,
    port: config.grpcPort,
    defaults: { ack: config.ackDefault },
    log: log.child({ component: 'grpc' }),
    limits,
    bodyBytesMax: config.bodyBytesMax,
    requestTimeoutMs: config.grpcRequestTimeoutMs,
    idleTimeoutMs: config.grpcIdleTimeoutMs,
    metadataBytesMax: config.grpcMetadataBytesMax,
    concurrentStreamsMax: config.grpcConcurrentStreamsMax,
    // The handshake is bounded like the headers of an HTTP request.
    credentials: grpcCredentials(tls, config.httpHeadersTimeoutMs),
  });
  metrics?.attach({ hub, stream: streamStats, grpc: grpc.stats, rawBody: rawBodyStats });

  let closing: Promise<void> | undefined;
  let metricsListener: MetricsListener | undefined;
  if (config.metricsPort !== undefined) {
    metricsListener = await startMetricsListener({
      host: config.host,
      port: config.metricsPort,
      metrics,
      token: config.metricsToken,
      router,
      closing: () => closing !== undefined,
    });
  }

  return {
    httpUrl: `${tls === undefined ? 'http' : 'https'}://${dialHost(config.host)}:${httpPort}`,
    grpcTarget: `${dialHost(config.host)}:${grpc.port}`,
    wsUrl: `${tls === undefined ? 'ws' : 'wss'}://${dialHost(config.host)}:${httpPort}/v1/stream`,
    metricsUrl: metricsListener?.url,
    devKey,
    config,
    router,
    limits: limitsBackend,
    credentials,
    async createKey(owner, options = {}) {
      const created = await createKey(keyStore, secret, { scopes: ['ingest', 'read'], ...options, owner, nowMs: Date.now() });
      return created.key;
    },
    close() {
      closing ??= (async () => {
        router.drain();
        // Connections busy when the close began become idle keep-alive sockets
        // once their answer is out; the HTTP close would wait for them until
        // their keep-alive timeout. Close each as soon as it is idle.
        const closeIdle = setInterval(() => http.server.closeIdleConnections(), CLOSE_IDLE_EVERY_MS);
        await Promise.allSettled([http.close(), grpc.close(), metricsListener?.close()]);
        clearInterval(closeIdle);
        hub.close();
        await router.close();
        await verifier.settled();
        await limitsBackend.close();
        await keyStore.close();
      })();
      return closing;
    },
  };
}
