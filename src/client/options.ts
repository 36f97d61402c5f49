/**
 * createClient's options: everything optional but the address and the key,
 * checked once here, filled in, frozen, and passed on explicitly. A bad option
 * throws ClientOptionError naming it (`retry.baseMs`), never a silent default.
 */
import type { BodyFormat, ClientEvent } from './event.js';
import type { ClientDeliveryError } from './errors.js';
import { ClientOptionError } from './errors.js';
import type { ClientReceipt } from './receipts.js';

export type Transport = 'http' | 'grpc';
export type AckLevel = 'applied' | 'durable';
/** What send() does when the buffer is full: refuse the new events, or drop the oldest unsent ones to make room. */
export type DropPolicy = 'reject' | 'drop-oldest';
export type HttpImpl = 'node' | 'fetch';
export type GrpcMode = 'unary' | 'stream';

export interface RetryOptions {
  /** Attempts per batch, the first included; then its events are dropped (EVT_CLIENT_RETRIES_EXHAUSTED). Default 10. */
  attemptsMax?: number;
  /** The first backoff's ceiling, ms; it doubles per attempt. Default 100. */
  baseMs?: number;
  /** The ceiling of any backoff, ms. Default 10,000. */
  maxMs?: number;
  /** A server's Retry-After longer than this is cut to it, ms. Default 60,000. */
  retryAfterMsMax?: number;
}

export interface ClientOptions<E extends ClientEvent = ClientEvent> {
  /** HTTP base URL of the server, e.g. `http://127.0.0.1:8080`. */
  url?: string;
  /** gRPC target, `host:port`. */
  grpcTarget?: string;
  /** An API key with the `ingest` scope. */
  key: string;
  /** Default: 'http' when `url` is given, else 'grpc'. */
  transport?: Transport;
  /** Ack level asked of the server. Default 'applied'. */
  ack?: AckLevel;
  /** HTTP body format; gRPC is always protobuf. Default 'json'. */
  format?: BodyFormat;
  /** HTTP client: node:http with a keep-alive agent, or the global fetch. Default 'node' (bench/results/client.md). */
  httpImpl?: HttpImpl;
  /** gRPC call: one unary Send per batch, or batches on one bidirectional Stream. Default 'unary'. */
  grpcMode?: GrpcMode;
  /** Events per request. Default 500; the server's batchEventsMax (5,000 by default) must not be smaller. */
  batchEventsMax?: number;
  /** Encoded bytes per request before gzip. Default 1 MiB; the server's bodyBytesMax (4 MiB) must not be smaller. */
  batchBytesMax?: number;
  /** A batch that is not full is sent this long after its first event was taken, ms. Default 100. */
  lingerMs?: number;
  /** Compress request bodies with gzip (HTTP: bodies of gzipBytesMin or more; gRPC: every message). Default false. */
  gzip?: boolean;
  /** Smaller HTTP bodies are sent as they are. Default 1,024. */
  gzipBytesMin?: number;
  /** Events held (queued, in flight and waiting to be retried). Default 100,000. */
  bufferEventsMax?: number;
  /** Encoded bytes held, the same events. Default 64 MiB. */
  bufferBytesMax?: number;
  /** Default 'reject': send() returns false and the new events are counted in dropped.overflow. */
  dropPolicy?: DropPolicy;
  /** Requests in flight at once. Default 4. */
  requestsInFlightMax?: number;
  /** A request without an answer after this is abandoned and retried, ms. Default 30,000. */
  requestTimeoutMs?: number;
  retry?: RetryOptions;
  /** Stamp `timestamp` with the clock of send() when an event has none. Default true. */
  stampTimestamp?: boolean;
  /** Events the client gave up on. Default: a process warning, once per code. */
  onError?: (error: ClientDeliveryError<E>) => void;
  /** Final receipts other than `accepted`, once per answered request (never empty). */
  onReceipts?: (receipts: ReadonlyArray<ClientReceipt<E>>) => void;
}

export interface ResolvedRetry {
  readonly attemptsMax: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly retryAfterMsMax: number;
}

export interface ResolvedOptions<E extends ClientEvent = ClientEvent> {
  readonly transport: Transport;
  /** `<url>/v1/events` for HTTP; empty for gRPC. */
  readonly eventsUrl: string;
  readonly grpcTarget: string;
  readonly key: string;
  readonly ack: AckLevel;
  readonly format: BodyFormat;
  readonly httpImpl: HttpImpl;
  readonly grpcMode: GrpcMode;
  readonly batchEventsMax: number;
  readonly batchBytesMax: number;
  readonly lingerMs: number;
  readonly gzip: boolean;
  readonly gzipBytesMin: number;
  readonly bufferEventsMax: number;
  readonly bufferBytesMax: number;
  readonly dropPolicy: DropPolicy;
  readonly requestsInFlightMax: number;
  readonly requestTimeoutMs: number;
  readonly retry: ResolvedRetry;
  readonly stampTimestamp: boolean;
  readonly onError: ((error: ClientDeliveryError<E>) => void) | undefined;
  readonly onReceipts: ((receipts: ReadonlyArray<ClientReceipt<E>>) => void) | undefined;
}

/** What a transport needs: the resolved options without the application's callbacks. */
export type WireOptions = Omit<ResolvedOptions, 'onError' | 'onReceipts'>;

export const CLIENT_DEFAULTS = Object.freeze({
  ack: 'applied',
  format: 'json',
  httpImpl: 'node',
  grpcMode: 'unary',
  batchEventsMax: 500,
  batchBytesMax: 1024 * 1024,
  lingerMs: 100,
  gzip: false,
  gzipBytesMin: 1024,
  bufferEventsMax: 100_000,
  bufferBytesMax: 64 * 1024 * 1024,
  dropPolicy: 'reject',
  requestsInFlightMax: 4,
  requestTimeoutMs: 30_000,
  retry: Object.freeze({ attemptsMax: 10, baseMs: 100, maxMs: 10_000, retryAfterMsMax: 60_000 }),
  stampTimestamp: true,
});

/** Bounds of the numeric options, inclusive. */
const BOUNDS = {
  batchEventsMax: [1, 1_000_000],
  batchBytesMax: [1024, 1024 ** 3],
  lingerMs: [0, 3_600_000],
  gzipBytesMin: [0, 1024 ** 3],
  bufferEventsMax: [1, 100_000_000],
  bufferBytesMax: [1024, 64 * 1024 ** 3],
  requestsInFlightMax: [1, 1_024],
  requestTimeoutMs: [1, 3_600_000],
  'retry.attemptsMax': [1, 1_000_000],
  'retry.baseMs': [1, 3_600_000],
  'retry.maxMs': [1, 3_600_000],
  'retry.retryAfterMsMax': [0, 86_400_000],
} as const satisfies Record<string, readonly [number, number]>;

function int(value: unknown, field: keyof typeof BOUNDS, fallback: number): number {
  if (value === undefined) return fallback;
  const [min, max] = BOUNDS[field];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ClientOptionError(`${field} must be an integer ${min}..${max}`, field);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ClientOptionError(`${field} must be one of ${allowed.join(', ')}`, field);
  }
  return value as T;
}

function bool(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ClientOptionError(`${field} must be a boolean`, field);
  return value;
}

function callback<T>(value: unknown, field: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new ClientOptionError(`${field} must be a function`, field);
  return value as T;
}

function eventsUrlOf(url: unknown): string {
  if (typeof url !== 'string') throw new ClientOptionError('url must be a string such as http://127.0.0.1:8080', 'url');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ClientOptionError(`url "${url.slice(0, 200)}" is not a URL`, 'url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ClientOptionError('url must start with http:// or https://', 'url');
  }
  if (parsed.search !== '' || parsed.hash !== '') throw new ClientOptionError('url must not have a query or a fragment', 'url');
  // A base with a path prefix (behind a proxy) keeps it: http://host/eventide -> http://host/eventide/v1/events.
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}/v1/events`;
}

const KNOWN = new Set([
  'url', 'grpcTarget', 'key', 'transport', 'ack', 'format', 'httpImpl', 'grpcMode', 'batchEventsMax', 'batchBytesMax',
  'lingerMs', 'gzip', 'gzipBytesMin', 'bufferEventsMax', 'bufferBytesMax', 'dropPolicy', 'requestsInFlightMax',
  'requestTimeoutMs', 'retry', 'stampTimestamp', 'onError', 'onReceipts',
]);
const KNOWN_RETRY = new Set(['attemptsMax', 'baseMs', 'maxMs', 'retryAfterMsMax']);

export function resolveOptions<E extends ClientEvent>(input: ClientOptions<E>): ResolvedOptions<E> {
  if (typeof input !== 'object' || input === null) throw new ClientOptionError('options must be an object', 'options');
  // A misspelt option would otherwise be a silent default.
  for (const name of Object.keys(input)) {
    if (!KNOWN.has(name)) throw new ClientOptionError(`unknown option "${name}"`, name);
  }
  const o = input as ClientOptions<E> & Record<string, unknown>;
  if (typeof o.key !== 'string' || !/^\S+$/.test(o.key)) throw new ClientOptionError('key must be a non-empty string without spaces', 'key');
  const transport = oneOf(o.transport, ['http', 'grpc'], 'transport', o.url === undefined && o.grpcTarget !== undefined ? 'grpc' : 'http');
  let eventsUrl = '';
  let grpcTarget = '';
  if (transport === 'http') {
    if (o.url === undefined) throw new ClientOptionError('url is required for the http transport', 'url');
    eventsUrl = eventsUrlOf(o.url);
  } else {
    if (typeof o.grpcTarget !== 'string' || !/^\S+:\d+$/.test(o.grpcTarget)) {
      throw new ClientOptionError('grpcTarget must be host:port for the grpc transport', 'grpcTarget');
    }
    grpcTarget = o.grpcTarget;
  }
  const r: unknown = o.retry ?? {};
  if (typeof r !== 'object' || r === null) throw new ClientOptionError('retry must be an object', 'retry');
  for (const name of Object.keys(r)) {
    if (!KNOWN_RETRY.has(name)) throw new ClientOptionError(`unknown option "retry.${name}"`, `retry.${name}`);
  }
  const ro = r as RetryOptions;
  const d = CLIENT_DEFAULTS;
  const retry: ResolvedRetry = Object.freeze({
    attemptsMax: int(ro.attemptsMax, 'retry.attemptsMax', d.retry.attemptsMax),
    baseMs: int(ro.baseMs, 'retry.baseMs', d.retry.baseMs),
    maxMs: int(ro.maxMs, 'retry.maxMs', d.retry.maxMs),
    retryAfterMsMax: int(ro.retryAfterMsMax, 'retry.retryAfterMsMax', d.retry.retryAfterMsMax),
  });
  if (retry.maxMs < retry.baseMs) throw new ClientOptionError('retry.maxMs must not be smaller than retry.baseMs', 'retry.maxMs');
  const format = oneOf(o.format, ['json', 'protobuf'], 'format', d.format);
  if (transport === 'grpc' && format !== 'protobuf' && o.format !== undefined) {
    throw new ClientOptionError('gRPC bodies are protobuf; leave format out', 'format');
  }
  const resolved: ResolvedOptions<E> = {
    transport,
    eventsUrl,
    grpcTarget,
    key: o.key,
    ack: oneOf(o.ack, ['applied', 'durable'], 'ack', d.ack),
    format: transport === 'grpc' ? 'protobuf' : format,
    httpImpl: oneOf(o.httpImpl, ['node', 'fetch'], 'httpImpl', d.httpImpl),
    grpcMode: oneOf(o.grpcMode, ['unary', 'stream'], 'grpcMode', d.grpcMode),
    batchEventsMax: int(o.batchEventsMax, 'batchEventsMax', d.batchEventsMax),
    batchBytesMax: int(o.batchBytesMax, 'batchBytesMax', d.batchBytesMax),
    lingerMs: int(o.lingerMs, 'lingerMs', d.lingerMs),
    gzip: bool(o.gzip, 'gzip', d.gzip),
    gzipBytesMin: int(o.gzipBytesMin, 'gzipBytesMin', d.gzipBytesMin),
    bufferEventsMax: int(o.bufferEventsMax, 'bufferEventsMax', d.bufferEventsMax),
    bufferBytesMax: int(o.bufferBytesMax, 'bufferBytesMax', d.bufferBytesMax),
    dropPolicy: oneOf(o.dropPolicy, ['reject', 'drop-oldest'], 'dropPolicy', d.dropPolicy),
    requestsInFlightMax: int(o.requestsInFlightMax, 'requestsInFlightMax', d.requestsInFlightMax),
    requestTimeoutMs: int(o.requestTimeoutMs, 'requestTimeoutMs', d.requestTimeoutMs),
    retry,
    stampTimestamp: bool(o.stampTimestamp, 'stampTimestamp', d.stampTimestamp),
    onError: callback(o.onError, 'onError'),
    onReceipts: callback(o.onReceipts, 'onReceipts'),
  };
  return Object.freeze(resolved);
}
