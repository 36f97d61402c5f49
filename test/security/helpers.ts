/**
 * Helpers for the security tests: real servers with a known server secret,
 * keys of several owners and scopes, a ws client that waits on events, a gRPC
 * client, and a logger that keeps what it is given (the audit lines).
 */
import type { TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { startServer, type StartedServer } from '../../src/server.js';
import type { Logger } from '../../src/log.js';
import { IngestClient, IngestRequest, IngestResponse, AckLevel } from '../../src/gen/eventide/v1/ingest.js';
import { Severity } from '../../src/gen/eventide/v1/event.js';
import { tempDir, TEST_OVERRIDES } from '../helpers.js';

/** A fixed server secret, so tests can mint tokens the server accepts (or craft expired ones). */
export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123';

export interface SecureServer extends StartedServer {
  dataDir: string;
}

export async function startSecureServer(
  t: TestContext,
  overrides: Record<string, unknown> = {},
  options: { log?: Logger; dataDir?: string } = {},
): Promise<SecureServer> {
  const dataDir = options.dataDir ?? tempDir(t);
  const server = await startServer({ ...TEST_OVERRIDES, dataDir, devKey: false, keySecret: TEST_SECRET, ...overrides }, { log: options.log ?? capturingLogger().logger });
  t.after(() => server.close());
  return Object.assign(server, { dataDir });
}

/** A pino-shaped logger that keeps every line, children included. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown> & { level: string; msg?: string }> } {
  const lines: Array<Record<string, unknown> & { level: string; msg?: string }> = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const at =
      (level: string) =>
      (obj: object, msg?: string): void => {
        lines.push({ ...bindings, ...(obj as Record<string, unknown>), level, ...(msg === undefined ? {} : { msg }) });
      };
    return {
      fatal: at('fatal'),
      error: at('error'),
      warn: at('warn'),
      info: at('info'),
      debug: at('debug'),
      trace: at('trace'),
      isLevelEnabled: () => true,
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return { logger: make({}), lines };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: { code: string; field?: string; message: string; retryable: boolean } };
}

/** One HTTP request with a credential; the JSON answer. */
export async function call(
  server: { httpUrl: string },
  method: string,
  path: string,
  credential: string | undefined,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${server.httpUrl}${path}`, {
    method,
    headers: {
      ...(credential === undefined ? {} : { authorization: `Bearer ${credential}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Answer['body'] };
}

export function events(prefix: string, count: number, name = 'click'): { events: Array<Record<string, unknown>> } {
  const now = Date.now();
  return { events: Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, name, userId: `u${i % 7}`, timestamp: now })) };
}

export type Frame = Record<string, unknown> & { type: string; code?: string };

/** A ws client whose frames are awaited one by one; waiting is on events, never on a clock. */
export class WsClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<number>;
  readonly #waiters: Array<{ match: (frame: Frame) => boolean; resolve: (frame: Frame) => void }> = [];

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.frames.push(frame);
      for (let i = 0; i < this.#waiters.length; i++) {
        if (this.#waiters[i]!.match(frame)) {
          this.#waiters.splice(i, 1)[0]!.resolve(frame);
          break;
        }
      }
    });
    this.ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.ws.on('close', (code: number) => resolve(code)));
  }

  opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  send(message: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(message));
  }

  /** The first frame (already received or still to come) that matches. */
  next(match: (frame: Frame) => boolean): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen !== undefined) {
      this.frames.splice(this.frames.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  close(): void {
    this.ws.close();
  }
}

export function grpcClient(t: TestContext, target: string): IngestClient {
  const client = new IngestClient(target, credentials.createInsecure());
  t.after(() => client.close());
  return client;
}

export function grpcRequest(prefix: string, count: number): IngestRequest {
  // Stamped ahead, so the events are `accepted` (never `late`, which an event stamped now becomes when its
  // one-second window ends before the worker applies it) however slow the machine.
  const now = Date.now() + 2_000;
  return {
    events: Array.from({ length: count }, (_, i) => ({
      id: `${prefix}-${i}`,
      name: 'grpc',
      severity: Severity.SEVERITY_INFO,
      tags: [],
      properties: new Map(),
      timestampMs: now,
    })),
    batchId: '',
    ack: AckLevel.ACK_LEVEL_UNSPECIFIED,
    receiptsAll: false,
  };
}

export function grpcMetadata(credential: string, extra: Record<string, string> = {}): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${credential}`);
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

/** A unary Send: the answer, or the error with its trailers. */
export function grpcSend(client: IngestClient, request: IngestRequest, md: Metadata): Promise<{ response?: IngestResponse; error?: ServiceError }> {
  return new Promise((resolve) => {
    client.send(request, md, (error, response) => resolve(error === null ? { response } : { error }));
  });
}

export function trailer(error: ServiceError | undefined, key: string): string | undefined {
  const value = error?.metadata?.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}
