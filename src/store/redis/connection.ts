/**
 * One ioredis connection, configured so that a Redis that is down, stopped or
 * unreachable makes calls fail fast instead of hang or queue without bound.
 *
 * Invariants:
 * - Nothing waits for Redis longer than `connectTimeoutMs` (the first connect)
 *   or `commandTimeoutMs` (a command or a whole MULTI): a stopped server (one
 *   that keeps the socket open but never answers) is bounded by the latter.
 * - Nothing is queued while the connection is down: the offline queue is off
 *   and a command cut off by a lost connection is not re-sent on reconnect, so
 *   the caller, which owns the data, decides what to retry. The only wait
 *   allowed is the very first, lazy connect, shared by every caller meanwhile.
 * - The connection re-establishes itself in the background (exponential
 *   backoff up to `reconnectDelayMsMax`) for the life of the store; callers
 *   never reopen anything.
 */
import { Redis } from 'ioredis';

export interface RedisConnectionOptions {
  url: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Delay between reconnect attempts starts at 50 ms and doubles up to this. */
  reconnectDelayMsMax: number;
  /** Name shown by CLIENT LIST, so an operator can tell eventide's connections apart. */
  connectionName: string;
}

const RECONNECT_DELAY_MS_MIN = 50;

/** Thrown (as a cause) when a call finds the connection down; the store wraps it in its own typed error. */
export class RedisUnavailable extends Error {
  constructor(readonly status: string) {
    super(`redis is unavailable (connection ${status})`);
    this.name = 'RedisUnavailable';
  }
}

/**
 * ioredis words a lost connection several ways depending on when the loss is
 * noticed ("Connection is closed.", "Stream isn't writeable and
 * enableOfflineQueue options is false"); say it one way, keeping its words.
 */
export function describeRedisError(cause: unknown): string {
  if (cause instanceof RedisUnavailable) return cause.message;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (/Connection is closed|Stream isn't writeable/i.test(message)) return `redis is unavailable (${message})`;
  return message;
}

export class RedisConnection {
  readonly client: Redis;
  /** Connection-level failures reported by ioredis (refused, reset, timed out), counted. */
  connectionErrors = 0;
  lastConnectionError: string | undefined;
  #firstConnect: Promise<void> | undefined;
  #firstConnectDone = false;

  constructor(options: RedisConnectionOptions) {
    this.client = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectionName: options.connectionName,
      retryStrategy: (times: number) => Math.min(options.reconnectDelayMsMax, RECONNECT_DELAY_MS_MIN * 2 ** Math.min(times - 1, 16)),
    });
    // Without a listener ioredis prints every reconnect failure to the console.
    // They are counted here instead; the store reports them through stats().
    this.client.on('error', (error: Error) => {
      this.connectionErrors++;
      this.lastConnectionError = error.message;
    });
  }

  get status(): string {
    return this.client.status;
  }

  /**
   * Ready and its socket still writable. ioredis reports 'ready' until it
   * handles the socket's close event, a moment after the server is gone; the
   * socket knows first.
   */
  get usable(): boolean {
    const client = this.client;
    return client.status === 'ready' && (client.stream as { writable?: boolean } | undefined)?.writable === true;
  }

  /**
   * The client, once it can take a command now. The first call connects
   * (lazily) and every call meanwhile shares that wait; after that a
   * connection that is not ready fails at once with RedisUnavailable.
   */
  async ready(): Promise<Redis> {
    const client = this.client;
    if (this.usable) return client;
    if (!this.#firstConnectDone && client.status !== 'ready') {
      this.#firstConnect ??= client.connect().finally(() => {
        this.#firstConnectDone = true;
      });
      await this.#firstConnect;
      return client;
    }
    throw new RedisUnavailable(client.status === 'ready' ? 'lost' : client.status);
  }

  /**
   * Resolves once the connection is ready: at once if it is, else on ioredis's
   * next 'ready' event (a reconnect). Starts the lazy first connect if nothing
   * has yet. For readiness probes and tests; calls never wait on it.
   */
  whenReady(): Promise<void> {
    const client = this.client;
    if (this.usable) return Promise.resolve();
    const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
    if (!this.#firstConnectDone) this.ready().catch(() => undefined);
    return ready;
  }

  /** Ends the connection: QUIT when it is up (replies already sent still arrive), then stop reconnecting. */
  async close(): Promise<void> {
    const client = this.client;
    if (client.status === 'ready') {
      try {
        await client.quit();
      } catch {
        // The server went away meanwhile; disconnect below still releases the socket.
      }
    }
    client.disconnect(false);
  }
}
