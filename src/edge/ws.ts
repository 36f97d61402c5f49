/**
 * The ws route `/v1/stream`: authentication, the client message protocol and
 * its limits. Window state and fan-out live in the hub (live.ts); this file
 * only turns messages into hub calls and errors into error frames.
 *
 * Invariants:
 * - A connection does nothing but authenticate until it has a principal with
 *   the `read` scope; a failed or missing credential is an error frame, then
 *   close 1008. A connection over wsClientsMax is closed with 1013.
 * - Messages of one connection are handled one at a time, in order (a queue of
 *   at most wsPendingMessagesMax; more are refused with EVT_WS_BUSY), so a
 *   subscribe that waits for a watch() is not overtaken by its unsubscribe.
 * - A bad message is answered with an error frame and the connection stays
 *   open; nothing a client sends can throw out of a handler.
 * - When a connection closes, every subscription it held is removed from the hub.
 * - Every WS_RECHECK_INTERVAL_MS (ws-recheck.ts) the credential of each open connection is
 *   checked again (a key through the key cache, a token against its expiry);
 *   a connection whose key was revoked or expired, or whose token expired, gets
 *   an error frame and close 1008. With the key cache TTL of 750 ms, an open
 *   stream ends within one second of its key's revocation.
 * - A connection may send `auth` again with a fresh credential of the same
 *   owner (a dashboard renewing its token); another owner's is EVT_FORBIDDEN.
 * - A connection is never silent for long: every wsIdleTimeoutMs / 2 the
 *   server pings it, and one that has sent nothing, not even the pong, since
 *   the previous ping is closed (EVT_WS_IDLE_TIMEOUT). That finds dead peers
 *   and peers that stall in the middle of a frame, since a pong cannot pass a
 *   frame in progress.
 * - A message is scanned (actors/scan.ts) before JSON.parse: protocol
 *   messages are small and flat, so depth and value count are bounded tight.
 */
import websocket from '@fastify/websocket';
import { defaults as configDefaults } from '../../config/defaults.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { RESOLUTIONS, type Resolution } from '../actors/types.js';
import type { EventideError } from '../errors.js';
import {
  ForbiddenError,
  UnauthenticatedError,
  RequestMalformedError,
  WsAlreadySubscribedError,
  WsAuthTimeoutError,
  WsBusyError,
  WsIdleTimeoutError,
  WsMessageInvalidError,
  WsMessageTooLargeError,
  WsMessageTypeUnknownError,
  WsNotSubscribedError,
  WsServerFullError,
  WsSubscriptionsMaxError,
} from './errors.js';
import { scanJson, type StructureLimits } from '../actors/scan.js';
import { authorize, keyFromHeaders, type Authenticate, type Principal } from './http.js';
import { startRecheck } from './ws-recheck.js';
import type { LiveHub, ResumePoint } from './live.js';
import { documentedAnswers, STREAM_ROUTE_SCHEMA } from './openapi-schemas.js';
import { errorBody } from './status.js';

export interface StreamConfig {
  /** Open ws connections per process; more are closed with 1013 (try again later). */
  wsClientsMax: number;
  /** Subscriptions per connection; more get EVT_WS_SUBSCRIPTIONS_MAX. */
  wsSubscriptionsMax: number;
  /** Bytes per client message; more get EVT_WS_MESSAGE_TOO_LARGE (over 4x this, ws closes with 1009). */
  wsMessageBytesMax: number;
  /** Time a connection without a credential has to send `{ type: 'auth' }`. */
  wsAuthTimeoutMs: number;
  /** Client messages queued on one connection while an earlier one is handled. */
  wsPendingMessagesMax: number;
  /** Silence (no message, no pong) after which a connection is closed; pings go out every half of it. */
  wsIdleTimeoutMs: number;
}

export const STREAM_DEFAULTS = Object.freeze({ wsAuthTimeoutMs: 5_000, wsPendingMessagesMax: 32, wsIdleTimeoutMs: configDefaults.wsIdleTimeoutMs });


/** Injected so tests fire the auth timeout themselves. */
export interface StreamTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface StreamRouteOptions {
  hub: LiveHub;
  authenticate: Authenticate;
  config: StreamConfig;
  timers?: StreamTimers;
}

export interface StreamStats {
  /** Open connections right now. */
  clients: number;
  /** Connections closed with 1013 because wsClientsMax were open. */
  refusedFull: number;
  /** Connections closed with 1008: bad key, missing scope, or no auth in time. */
  authFailures: number;
  /** Error frames sent for bad messages (all codes). */
  errorsSent: number;
  /** Connections closed because their key was revoked or expired, or their token expired, while open. */
  credentialsEnded: number;
  /** Connections closed because they were silent for wsIdleTimeoutMs. */
  idleClosed: number;
  /** Connections ws closed for a protocol violation: a frame over 4x wsMessageBytesMax (1009), bad UTF-8 (1007), a bad frame (1002). */
  protocolErrors: number;
}

const realTimers: StreamTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

const EPOCH_CHARS_MAX = 64;
/**
 * The largest protocol message is a subscribe with a resume point: depth 2,
 * six values. Anything much bigger is not ours, and is refused before
 * JSON.parse spends time on it.
 */
const MESSAGE_STRUCTURE: StructureLimits = Object.freeze({ depthMax: 4, valuesMax: 64, eventsMax: -1 });
const CLOSE_POLICY = 1008;
const CLOSE_TRY_LATER = 1013;

function byteLengthOf(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, part) => sum + part.length, 0);
  return data.byteLength;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function resolutionOf(message: Record<string, unknown>): Resolution {
  const { resolution } = message;
  if (typeof resolution === 'string' && (RESOLUTIONS as readonly string[]).includes(resolution)) return resolution as Resolution;
  throw new WsMessageInvalidError(`resolution must be one of ${RESOLUTIONS.join(', ')}`, 'resolution');
}

function resumeOf(message: Record<string, unknown>): ResumePoint | undefined {
  const { resume } = message;
  if (resume === undefined || resume === null) return undefined;
  if (
    !isRecord(resume) ||
    typeof resume.epoch !== 'string' ||
    resume.epoch.length > EPOCH_CHARS_MAX ||
    typeof resume.seq !== 'number' ||
    !Number.isSafeInteger(resume.seq) ||
    resume.seq < 0
  ) {
    throw new WsMessageInvalidError('resume must be { epoch: string, seq: non-negative integer }', 'resume');
  }
  return { epoch: resume.epoch, seq: resume.seq };
}

/** One ws connection: its principal, its subscriptions, its message queue. */
class StreamConnection {
  principal: Principal | undefined;
  /** The key or token the principal came from, checked again while the connection is open. */
  credential: string | undefined;
  readonly subscriptions = new Set<Resolution>();
  closed = false;
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  #authTimer: unknown;
  #idleTimer: unknown;
  /** Something (a message or a pong) arrived since the last idle check. */
  #heard = true;

  constructor(
    readonly socket: WebSocket,
    readonly options: StreamRouteOptions,
    readonly stats: StreamStats,
    readonly timers: StreamTimers,
  ) {}

  /** A key in the URL or headers authenticates at once; otherwise the client has wsAuthTimeoutMs to send one. */
  start(key: string | undefined): void {
    this.#armIdle();
    if (key !== undefined) {
      this.#enqueue(() => this.#authenticate(key));
      return;
    }
    this.#authTimer = this.timers.setTimeout(() => {
      this.#authTimer = undefined;
      if (this.principal === undefined && !this.closed) this.#refuse(new WsAuthTimeoutError(this.options.config.wsAuthTimeoutMs));
    }, this.options.config.wsAuthTimeoutMs);
  }

  /** Any frame from the client proves it alive: a message, or a pong. */
  onHeard(): void {
    this.#heard = true;
  }

  #armIdle(): void {
    const periodMs = Math.max(1, Math.floor(this.options.config.wsIdleTimeoutMs / 2));
    this.#idleTimer = this.timers.setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.closed) return;
      if (!this.#heard) {
        this.stats.idleClosed++;
        this.sendError(new WsIdleTimeoutError(this.options.config.wsIdleTimeoutMs));
        this.closed = true;
        this.socket.close(CLOSE_POLICY, 'EVT_WS_IDLE_TIMEOUT');
        // A peer this silent will not answer the close frame either; do not wait ws's 30 s for it.
        this.timers.setTimeout(() => this.socket.terminate(), periodMs);
        return;
      }
      this.#heard = false;
      this.socket.ping();
      this.#armIdle();
    }, periodMs);
  }

  onMessage(data: RawData): void {
    this.#heard = true;
    const { config } = this.options;
    if (byteLengthOf(data) > config.wsMessageBytesMax) {
      this.sendError(new WsMessageTooLargeError(config.wsMessageBytesMax));
      return;
    }
    if (this.#queued >= config.wsPendingMessagesMax) {
      this.sendError(new WsBusyError(config.wsPendingMessagesMax));
      return;
    }
    this.#enqueue(() => this.#handle(data));
  }

  onClose(): void {
    this.closed = true;
    if (this.#authTimer !== undefined) this.timers.clearTimeout(this.#authTimer);
    if (this.#idleTimer !== undefined) this.timers.clearTimeout(this.#idleTimer);
    const owner = this.principal?.owner;
    if (owner !== undefined) for (const resolution of this.subscriptions) this.options.hub.unsubscribe(this.socket, owner, resolution);
    this.subscriptions.clear();
  }

  sendError(err: unknown): void {
    const { error } = errorBody(err);
    const frame: Record<string, unknown> = { type: 'error', code: error.code, message: error.message };
    if (error.field !== undefined) frame.field = error.field;
    this.stats.errorsSent++;
    this.#send(frame);
  }

  #send(frame: Record<string, unknown>): void {
    if (!this.closed) this.socket.send(JSON.stringify(frame));
  }

  #enqueue(task: () => Promise<void>): void {
    this.#queued++;
    this.#queue = this.#queue
      .then(task)
      .catch((err: unknown) => this.sendError(err))
      .finally(() => {
        this.#queued--;
      });
  }

  /** An auth failure ends the connection: the client must fix its key, not retry on this socket. */
  refuse(err: EventideError): void {
    this.#refuse(err);
  }

  #refuse(err: EventideError): void {
    this.stats.authFailures++;
    this.sendError(err);
    this.closed = true;
    this.socket.close(CLOSE_POLICY, err.code);
  }

  async #authenticate(key: string): Promise<void> {
    if (this.#authTimer !== undefined) this.timers.clearTimeout(this.#authTimer);
    this.#authTimer = undefined;
    try {
      this.principal = await authorize(this.options.authenticate, key, 'read');
      this.credential = key;
    } catch (err) {
      this.#refuse(err as EventideError);
    }
  }

  /** A fresh credential on an open connection: it must be valid, with `read`, for the same owner. */
  async #reauthenticate(key: string, current: Principal): Promise<void> {
    const principal = await authorize(this.options.authenticate, key, 'read');
    if (principal.owner !== current.owner) throw new ForbiddenError('a connection stays with the owner it was opened for', 'key');
    this.principal = principal;
    this.credential = key;
  }

  async #handle(data: RawData): Promise<void> {
    if (this.closed) return;
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const fault = scanJson(bytes, MESSAGE_STRUCTURE);
    if (fault !== undefined) {
      throw new WsMessageInvalidError(`the message nests deeper than ${MESSAGE_STRUCTURE.depthMax} levels or holds more than ${MESSAGE_STRUCTURE.valuesMax} values`);
    }
    let message: unknown;
    try {
      message = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new WsMessageInvalidError('the message is not JSON');
    }
    if (!isRecord(message)) throw new WsMessageInvalidError('the message must be a JSON object');
    const { type } = message;
    if (typeof type !== 'string') throw new WsMessageInvalidError('type must be a string', 'type');

    if (this.principal === undefined) {
      if (type !== 'auth') {
        this.#refuse(new UnauthenticatedError('authenticate first: { "type": "auth", "key": "..." }'));
        return;
      }
      if (typeof message.key !== 'string' || message.key.length === 0) {
        this.#refuse(new UnauthenticatedError('auth needs a key'));
        return;
      }
      await this.#authenticate(message.key);
      return;
    }

    switch (type) {
      case 'ping':
        this.#send({ type: 'pong' });
        return;
      case 'subscribe':
        await this.#subscribe(message, this.principal);
        return;
      case 'unsubscribe': {
        const resolution = resolutionOf(message);
        if (!this.subscriptions.delete(resolution)) throw new WsNotSubscribedError(resolution);
        this.options.hub.unsubscribe(this.socket, this.principal.owner, resolution);
        return;
      }
      case 'auth':
        if (typeof message.key !== 'string' || message.key.length === 0) throw new WsMessageInvalidError('auth needs a key', 'key');
        await this.#reauthenticate(message.key, this.principal);
        return;
      default:
        throw new WsMessageTypeUnknownError(type);
    }
  }

  async #subscribe(message: Record<string, unknown>, principal: Principal): Promise<void> {
    const resolution = resolutionOf(message);
    const resume = resumeOf(message);
    if (message.owner !== undefined && message.owner !== principal.owner) {
      throw new ForbiddenError('a key may only subscribe to its own owner', 'owner');
    }
    if (this.subscriptions.has(resolution)) throw new WsAlreadySubscribedError(resolution);
    if (this.subscriptions.size >= this.options.config.wsSubscriptionsMax) {
      throw new WsSubscriptionsMaxError(this.options.config.wsSubscriptionsMax);
    }
    // Reserve the slot before waiting, so the limit holds while watch() runs.
    this.subscriptions.add(resolution);
    try {
      await this.options.hub.subscribe(this.socket, principal.owner, resolution, resume);
    } catch (err) {
      this.subscriptions.delete(resolution);
      throw err;
    }
    // The socket may have closed while the watch was in flight; onClose already ran.
    if (this.closed) this.options.hub.unsubscribe(this.socket, principal.owner, resolution);
  }
}

/**
 * Register @fastify/websocket and the `/v1/stream` route on `app` (before
 * `ready()`). Returns live counters for /metrics.
 */
export function registerStreamRoute(app: FastifyInstance, options: StreamRouteOptions): StreamStats {
  const stats: StreamStats = { clients: 0, refusedFull: 0, authFailures: 0, errorsSent: 0, credentialsEnded: 0, idleClosed: 0, protocolErrors: 0 };
  const timers = options.timers ?? realTimers;
  const { config } = options;
  const connections = new Set<StreamConnection>();
  const recheck = startRecheck(connections, options.authenticate, stats);
  app.addHook('onClose', (_instance, done) => {
    clearInterval(recheck);
    done();
  });

  // Messages up to 4x the limit get a polite error frame; beyond that ws
  // closes the connection with 1009 rather than buffer them. Registered on
  // `app` itself so `app.websocketServer` is there for shutdown and metrics;
  // the route is added in a later plugin so the websocket onRoute hook sees it.
  void app.register(websocket, {
    options: { maxPayload: config.wsMessageBytesMax * 4 },
    // A client's protocol violation (a frame over maxPayload, bad UTF-8, a bad
    // opcode) is the client's fault: ws has already answered it with a close
    // frame carrying the RFC 6455 code (1009, 1007, 1002). The default handler
    // would log it at error level and terminate the socket, losing that frame.
    errorHandler: (error: Error, socket: WebSocket, request: FastifyRequest) => {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (code.startsWith('WS_ERR_') || code === 'ECONNRESET' || code === 'EPIPE') {
        if (code.startsWith('WS_ERR_')) stats.protocolErrors++;
        request.log.debug({ err: error }, 'ws client error');
        return;
      }
      request.log.error({ err: error }, 'ws connection failed');
      socket.terminate();
    },
  });
  void app.register((scope, _options, done) => {
    // A plain GET (no Upgrade) is answered in our error shape, not @fastify/websocket's empty 404.
    const notUpgraded = (): never => {
      throw new RequestMalformedError('/v1/stream takes WebSocket connections only: send a GET with Upgrade: websocket', { field: 'upgrade' });
    };
    const onConnection = (socket: WebSocket, request: FastifyRequest): void => {
      if (stats.clients >= config.wsClientsMax) {
        stats.refusedFull++;
        const { error } = errorBody(new WsServerFullError(config.wsClientsMax));
        socket.send(JSON.stringify({ type: 'error', code: error.code, message: error.message }));
        socket.close(CLOSE_TRY_LATER, error.code);
        return;
      }
      stats.clients++;
      const connection = new StreamConnection(socket, options, stats, timers);
      connections.add(connection);
      socket.on('message', (data: RawData) => connection.onMessage(data));
      socket.on('pong', () => connection.onHeard());
      socket.on('close', () => {
        stats.clients--;
        connections.delete(connection);
        connection.onClose();
      });
      socket.on('error', () => {
        // 'close' follows; the hub is cleaned up there.
      });
      const query = request.query as Record<string, string | undefined>;
      const key = query.key !== undefined && query.key.length > 0 ? query.key : keyFromHeaders(request.headers);
      connection.start(key);
    };
    // With `wsHandler` (not `websocket: true`) @fastify/websocket leaves the schema visible to the OpenAPI document.
    scope.route({
      method: 'GET',
      url: '/v1/stream',
      schema: STREAM_ROUTE_SCHEMA,
      serializerCompiler: documentedAnswers,
      handler: notUpgraded,
      wsHandler: onConnection,
    });
    done();
  });
  return stats;
}
