/**
 * The gRPC edge: the eventide.v1.Ingest service, standard health checking
 * and server reflection on one @grpc/grpc-js server. Like the HTTP edge it
 * authenticates, bounds and routes; it does not parse event bodies.
 *
 * Invariants:
 * - The Ingest service is registered with an identity request deserializer:
 *   the request message's bytes go to `router.ingest` as `format: 'protobuf'`
 *   unparsed, and the owning shard's worker decodes them. Responses are
 *   encoded with the generated IngestResponse encoder.
 * - Because the edge does not read the message, the ack level and the
 *   receipts mode come from call metadata (`x-eventide-ack: applied|durable`,
 *   `x-eventide-receipts: all|rejected`). The message's own `ack` and
 *   `receipts_all` are read by the worker (decode.ts) and combined there;
 *   `batch_id` is echoed by the worker through BatchReceipt.batchId.
 * - A unary call that fails ends with the mapped status (status.ts) and the
 *   trailers `x-eventide-code`, `x-eventide-field` and `retry-after-ms`.
 * - A stream is answered in request order, one IngestResponse per request
 *   message. A refused batch is answered (error_code, retry_after_ms) and the
 *   stream goes on. At most streamBatchesInFlightMax batches of one stream
 *   are with the router at once; at the limit the server stops reading the
 *   stream (HTTP/2 flow control then holds the client), and it also stops
 *   while the client is not reading its answers.
 * - Limits (limits-guard.ts): a unary call is one request; on a stream each
 *   batch is one request, and each batch checks its key again (through the
 *   key cache), so a key revoked while its stream is open is refused within
 *   the cache TTL. A refusal is RESOURCE_EXHAUSTED with `x-eventide-code`
 *   EVT_RATE_LIMITED / EVT_QUOTA_EXCEEDED and `retry-after-ms`, or on a stream
 *   the batch's error_code and retry_after_ms.
 * - A multi-owner ingest key names the owner in metadata `x-eventide-owner`.
 * - What a client sends is bounded before a handler runs, by an interceptor
 *   on every service: metadata over metadataBytesMax is refused
 *   (EVT_HEADERS_TOO_LARGE); a unary call's message must arrive within
 *   requestTimeoutMs (EVT_REQUEST_TIMEOUT). A stream that sends nothing for
 *   idleTimeoutMs while the server reads it, with no answer pending, is ended
 *   the same way; a connection without calls is closed after idleTimeoutMs.
 * - Every status a call ends with carries `x-eventide-code`, including the
 *   ones grpc-js raises itself (a message over bodyBytesMax, raw or
 *   decompressed; a compressed message that does not inflate; an unknown
 *   grpc-encoding): the interceptor maps them onto our codes.
 */
import { bindHost } from './listen-url.js';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  status as GrpcStatus,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceDefinition,
  type StatusObject,
} from '@grpc/grpc-js';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { defaults as configDefaults } from '../../config/defaults.js';
import type { AckLevel, BatchReceipt, ReceiptStatus as ReceiptStatusName } from '../actors/types.js';
import { IngestResponse, IngestService, ReceiptStatus, type Receipt as PbReceipt } from '../gen/eventide/v1/ingest.js';
import type { Router } from '../runtime/router.js';
import type { EventideError } from '../errors.js';
import { BatchEmptyError, BodyMalformedError } from '../actors/errors.js';
import {
  ForbiddenError,
  HeadersTooLargeError,
  NotFoundError,
  RequestBodyTooLargeError,
  RequestMalformedError,
  RequestTimeoutError,
  UnauthenticatedError,
  UnsupportedMediaTypeError,
} from './errors.js';
import type { LimitsGuard } from './limits-guard.js';
import { ingestOwnerOf, OWNER_HEADER } from './scope.js';
import { grpcStatusOf, publicErrorOf, type PublicError } from './status.js';

/** Full name of the service, as health checking and reflection know it. */
export const INGEST_SERVICE_NAME = 'eventide.v1.Ingest';

/** Minimal structured logger; pino and fastify's logger fit. */
export interface GrpcLog {
  /** One line per unary call and per stream, when given and enabled. */
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What authenticate answers; src/auth/credentials.ts Principal fits. */
export interface GrpcPrincipal {
  owner: string;
  scopes: string[];
  keyPrefix?: string;
  ingestOwners?: readonly string[];
}

export interface GrpcServerOptions {
  router: Router;
  authenticate: (key: string) => Promise<GrpcPrincipal | undefined>;
  /** Per-key rate limits and per-owner quotas; none when absent (tests). */
  limits?: LimitsGuard;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Ack level when the call's metadata names none. */
  defaults: { ack: AckLevel };
  log: GrpcLog;
  /** Batches of one stream with the router at once; at the limit the stream is not read. Default 8. */
  streamBatchesInFlightMax?: number;
  /** Largest request message, bytes; grpc-js refuses bigger ones with RESOURCE_EXHAUSTED. Default bodyBytesMax. */
  bodyBytesMax?: number;
  /** Health status follows router.readiness() at this period, ms. Default 1000. */
  healthIntervalMs?: number;
  /** Time after close() starts in which open calls may finish before they are cut, ms. Default 5000. */
  shutdownGraceMs?: number;
  /** The clock for receivedAtMs. Default Date.now. */
  nowMs?: () => number;
  /** A unary call's message must arrive within this, ms. Default grpcRequestTimeoutMs. */
  requestTimeoutMs?: number;
  /** A connection without calls, or a read stream without messages, is closed after this, ms. Default grpcIdleTimeoutMs. */
  idleTimeoutMs?: number;
  /** Metadata bytes of one call (keys and values). Default grpcMetadataBytesMax. */
  metadataBytesMax?: number;
  /** Concurrent calls per connection. Default grpcConcurrentStreamsMax. */
  concurrentStreamsMax?: number;
  /** TLS credentials (tls.ts grpcCredentials). Default insecure. */
  credentials?: ServerCredentials;
}

export interface GrpcStats {
  /** Unary Send calls and stream batches handed to the router. */
  batchesRouted: number;
  /** Batches answered with a refusal or error (unary failures and stream error_code answers). */
  batchesRefused: number;
  /** Times a stream stopped being read because streamBatchesInFlightMax was reached or its client stopped reading. */
  streamPauses: number;
  streamsOpen: number;
  /** Calls refused before their handler ran (metadata too large, message too slow) or ended idle, and grpc-js's own refusals. */
  callsRefused: number;
}

export interface GrpcServerHandle {
  port: number;
  readonly stats: Readonly<GrpcStats>;
  close(): Promise<void>;
}

/** What a call ends with: a status, its details and trailers. */
type CallStatus = Parameters<ServerInterceptingCallInterface['sendStatus']>[0];

const STREAM_BATCHES_IN_FLIGHT_MAX = 8;
const HEALTH_INTERVAL_MS = 1_000;
const SHUTDOWN_GRACE_MS = 5_000;
/** A keepalive ping unanswered for this long closes the connection (grpc-js's own default). */
const KEEPALIVE_TIMEOUT_MS = 20_000;
/** A client's x-request-id is kept when it is this short and plain; else one is generated. */
const REQUEST_ID_CHARS_MAX = 128;
const REQUEST_ID_PATTERN = /^[\w.:-]+$/;

const RECEIPT_STATUS: Readonly<Record<ReceiptStatusName, ReceiptStatus>> = Object.freeze({
  accepted: ReceiptStatus.RECEIPT_STATUS_ACCEPTED,
  duplicate: ReceiptStatus.RECEIPT_STATUS_DUPLICATE,
  late: ReceiptStatus.RECEIPT_STATUS_LATE,
  too_late: ReceiptStatus.RECEIPT_STATUS_TOO_LATE,
  rejected: ReceiptStatus.RECEIPT_STATUS_REJECTED,
});

/** The proto directory ships with the package; from dist/src/edge it is three levels up, from src/edge two. */
/**
 * What reflection serves: descriptors compiled by buf (`npm run proto` writes
 * proto/eventide.binpb and proto/grpc-health-v1.binpb), not proto-loader's.
 * proto-loader (protobufjs) names a map's entry message `Properties` instead of
 * `PropertiesEntry`, which grpcurl and other protobuf-go clients refuse
 * ("invalid map: incorrect implicit map entry name"; fullstorydev/grpcurl#519).
 */
function reflectionDescriptors(): PackageDefinition {
  const files = ['eventide.binpb', 'grpc-health-v1.binpb'].flatMap((name) =>
    fromBinary(FileDescriptorSetSchema, readFileSync(`${protoDir()}${name}`)).file.map((file) =>
      Buffer.from(toBinary(FileDescriptorProtoSchema, file)),
    ),
  );
  // ReflectionService reads only `fileDescriptorProtos` of each entry.
  return { descriptors: { format: '', type: {}, fileDescriptorProtos: files } } as unknown as PackageDefinition;
}

function protoDir(): string {
  for (const rel of ['../../../proto/', '../../proto/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}eventide/v1/ingest.proto`)) return dir;
  }
  throw new Error('proto/eventide/v1/ingest.proto not found next to the package');
}

/** The Ingest service with raw bytes in and encoded IngestResponse out. */
const RAW_INGEST_SERVICE: ServiceDefinition = {
  Send: {
    ...IngestService.send,
    requestDeserialize: (bytes: Buffer): Buffer => bytes,
    responseSerialize: (value: IngestResponse): Buffer => Buffer.from(IngestResponse.encode(value).finish()),
  },
  Stream: {
    ...IngestService.stream,
    requestDeserialize: (bytes: Buffer): Buffer => bytes,
    responseSerialize: (value: IngestResponse): Buffer => Buffer.from(IngestResponse.encode(value).finish()),
  },
};

/** Keys plus values of a call's metadata, as sent. */
function metadataBytes(md: Metadata): number {
  let bytes = 0;
  for (const [key, values] of Object.entries(md.toJSON())) {
    for (const value of values) bytes += key.length + value.length;
  }
  return bytes;
}

/**
 * grpc-js ends some calls itself, before any handler, without our trailers,
 * and so do the health and reflection services. Each such status is a
 * statement about the client's request; name it with our code. The details
 * are matched only to choose between codes of the same status.
 */
function ownErrorOf(status: CallStatus, bodyBytesMax: number): EventideError | undefined {
  const details = status.details ?? '';
  switch (status.code) {
    case GrpcStatus.RESOURCE_EXHAUSTED:
      // A message over max_receive_message_length, on the wire or once decompressed.
      return new RequestBodyTooLargeError(bodyBytesMax);
    case GrpcStatus.UNIMPLEMENTED:
      return new UnsupportedMediaTypeError(details || 'the grpc-encoding is not supported', 'content-encoding');
    case GrpcStatus.INTERNAL:
      return /decompress/i.test(details) ? new BodyMalformedError('the compressed message does not inflate') : new RequestMalformedError(details || 'the request could not be read');
    case GrpcStatus.INVALID_ARGUMENT:
      return new RequestMalformedError(details || 'the request could not be read');
    case GrpcStatus.NOT_FOUND:
      return new NotFoundError(details || 'not found');
    case GrpcStatus.DEADLINE_EXCEEDED:
      // The client's own grpc-timeout ran out.
      return new RequestTimeoutError(`the call's deadline (grpc-timeout) passed${details === '' ? '' : `: ${details}`}`);
    default:
      return undefined;
  }
}

function firstString(md: Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

function keyOf(md: Metadata): string | undefined {
  const auth = firstString(md, 'authorization');
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1];
  }
  return firstString(md, 'x-api-key');
}

interface CallSettings {
  key: string;
  principal: GrpcPrincipal;
  owner: string;
  ack: AckLevel;
  receiptsAll: boolean;
  requestId: string;
}

export function toIngestResponse(receipt: BatchReceipt): IngestResponse {
  const receipts: PbReceipt[] = new Array<PbReceipt>(receipt.receipts.length);
  for (let i = 0; i < receipt.receipts.length; i++) {
    const r = receipt.receipts[i]!;
    receipts[i] = {
      index: r.index,
      id: r.id,
      status: RECEIPT_STATUS[r.status],
      code: r.code ?? '',
      field: r.field ?? '',
      message: r.message ?? '',
    };
  }
  const c = receipt.counts;
  return {
    batchId: receipt.batchId ?? '',
    accepted: c.accepted,
    duplicate: c.duplicate,
    late: c.late,
    tooLate: c.tooLate,
    rejected: c.rejected,
    receipts,
    errorCode: '',
    retryAfterMs: 0,
  };
}

function retryAfterMsOf(pub: PublicError): number {
  if (!pub.retryable) return 0;
  return Math.max(1, Math.ceil(pub.retryAfterMs ?? 1_000));
}

function statusOf(pub: PublicError): StatusObject {
  const metadata = new Metadata();
  metadata.set('x-eventide-code', pub.code);
  if (pub.field !== undefined) metadata.set('x-eventide-field', pub.field);
  if (pub.retryable) metadata.set('retry-after-ms', String(retryAfterMsOf(pub)));
  return { code: grpcStatusOf(pub.code), details: pub.message, metadata };
}

/** Starts the gRPC server; resolves once it listens. */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServerHandle> {
  const { router, authenticate, log } = options;
  const inFlightMax = options.streamBatchesInFlightMax ?? STREAM_BATCHES_IN_FLIGHT_MAX;
  if (!Number.isInteger(inFlightMax) || inFlightMax < 1) throw new RangeError('streamBatchesInFlightMax must be an integer >= 1');
  const nowMs = options.nowMs ?? Date.now;
  const stats: GrpcStats = { batchesRouted: 0, batchesRefused: 0, streamPauses: 0, streamsOpen: 0, callsRefused: 0 };
  const bodyBytesMax = options.bodyBytesMax ?? configDefaults.bodyBytesMax;
  const requestTimeoutMs = options.requestTimeoutMs ?? configDefaults.grpcRequestTimeoutMs;
  const idleTimeoutMs = options.idleTimeoutMs ?? configDefaults.grpcIdleTimeoutMs;
  const metadataBytesMax = options.metadataBytesMax ?? configDefaults.grpcMetadataBytesMax;

  /** Bounds every call of every service before its handler runs (see the invariants above). */
  const limits: ServerInterceptor = (method, call: ServerInterceptingCallInterface) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    // Replacing the methods on the call itself also catches grpc-js's own
    // this.sendStatus(...) calls (message too large, decompression failed).
    // Once a call has its status nothing more is written to it: grpc-js can
    // end a stream on its own while the handler still has answers to write,
    // and a write after that end leaves the HTTP/2 stream errored, its
    // trailers never sent and the client waiting until its deadline.
    let ended = false;
    const sendMessage = call.sendMessage.bind(call);
    call.sendMessage = (message: unknown, callback: () => void): void => {
      if (ended) callback();
      else sendMessage(message, callback);
    };
    const sendStatus = call.sendStatus.bind(call);
    call.sendStatus = (status: CallStatus): void => {
      stop();
      if (ended) return;
      ended = true;
      if (status.code === GrpcStatus.OK || status.metadata?.get('x-eventide-code').length) {
        sendStatus(status);
        return;
      }
      const own = ownErrorOf(status, bodyBytesMax);
      if (own !== undefined) stats.callsRefused++;
      sendStatus(own === undefined ? status : statusOf(publicErrorOf(own)));
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const bytes = metadataBytes(metadata);
            if (bytes > metadataBytesMax) {
              stats.callsRefused++;
              call.sendStatus(statusOf(publicErrorOf(new HeadersTooLargeError(`the call's metadata has ${bytes} bytes, more than ${metadataBytesMax} (grpcMetadataBytesMax)`, 'metadata'))));
              return;
            }
            if (!method.requestStream) {
              timer = setTimeout(() => {
                stats.callsRefused++;
                call.sendStatus(statusOf(publicErrorOf(new RequestTimeoutError(`the request message did not arrive within ${requestTimeoutMs} ms (grpcRequestTimeoutMs)`))));
              }, requestTimeoutMs);
              timer.unref();
            }
            nextMetadata(metadata);
          },
          onReceiveMessage: (message, nextMessage) => {
            stop();
            nextMessage(message);
          },
          onCancel: stop,
        }),
    });
  };

  const server = new Server({
    'grpc.max_receive_message_length': bodyBytesMax,
    'grpc.max_connection_idle_ms': idleTimeoutMs,
    // Pings find dead peers of long calls; the idle timers above find live ones that send nothing.
    'grpc.keepalive_time_ms': idleTimeoutMs,
    'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
    'grpc.max_concurrent_streams': options.concurrentStreamsMax ?? configDefaults.grpcConcurrentStreamsMax,
    interceptors: [limits],
  });

  async function principalOf(key: string): Promise<GrpcPrincipal> {
    const principal = await authenticate(key);
    if (principal === undefined) throw new UnauthenticatedError('the API key is not valid');
    if (!principal.scopes.includes('ingest')) throw new ForbiddenError('the API key lacks the "ingest" scope', 'scope');
    return principal;
  }

  /** Admits one request (a unary call, or one batch of a stream) against the limits; throws the refusal. */
  async function admit(s: CallSettings): Promise<void> {
    if (options.limits === undefined) return;
    const admission = await options.limits.admit(s.principal, s.owner, true);
    if (admission.refusal !== undefined) throw admission.refusal;
  }

  /** Authenticates a call and reads its settings from metadata; rejects with an EventideError. */
  async function settle(md: Metadata): Promise<CallSettings> {
    const key = keyOf(md);
    if (key === undefined) throw new UnauthenticatedError();
    const principal = await principalOf(key);
    const owner = ingestOwnerOf(principal, firstString(md, OWNER_HEADER));
    let ack = options.defaults.ack;
    const ackText = firstString(md, 'x-eventide-ack');
    if (ackText !== undefined) {
      if (ackText !== 'applied' && ackText !== 'durable') {
        throw new RequestMalformedError('x-eventide-ack must be "applied" or "durable"', { field: 'x-eventide-ack' });
      }
      ack = ackText;
    }
    const receiptsText = firstString(md, 'x-eventide-receipts');
    if (receiptsText !== undefined && receiptsText !== 'all' && receiptsText !== 'rejected') {
      throw new RequestMalformedError('x-eventide-receipts must be "all" or "rejected"', { field: 'x-eventide-receipts' });
    }
    const given = firstString(md, 'x-request-id');
    const requestId =
      given !== undefined && given.length <= REQUEST_ID_CHARS_MAX && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    return { key, principal, owner, ack, receiptsAll: receiptsText === 'all', requestId };
  }

  async function route(body: Buffer, s: CallSettings, requestId: string): Promise<BatchReceipt> {
    // An empty message is an empty IngestRequest: answered here, not worth a
    // trip to a worker (a stream could otherwise ask for one per 5 bytes).
    if (body.length === 0) throw new BatchEmptyError();
    stats.batchesRouted++;
    const receipt = await router.ingest({
      owner: s.owner,
      body,
      format: 'protobuf',
      encoding: 'identity',
      ack: s.ack,
      receiptsAll: s.receiptsAll,
      receivedAtMs: nowMs(),
      requestId,
    });
    options.limits?.settle(s.principal, s.owner, receipt);
    return receipt;
  }

  function publicOf(err: unknown): PublicError {
    const pub = publicErrorOf(err);
    if (pub.code === 'EVT_INTERNAL') log.error({ err }, 'grpc ingest failed');
    return pub;
  }

  function send(call: ServerUnaryCall<Buffer, IngestResponse>, callback: sendUnaryData<IngestResponse>): void {
    const startedMs = performance.now();
    let requestId: string | undefined;
    settle(call.metadata)
      .then(async (s) => {
        requestId = s.requestId;
        await admit(s);
        const md = new Metadata();
        md.set('x-request-id', s.requestId);
        call.sendMetadata(md);
        return route(call.request, s, s.requestId);
      })
      .then(
        (receipt) => {
          callback(null, toIngestResponse(receipt));
          log.debug?.({ requestId, method: 'Send', code: 'OK', durationMs: performance.now() - startedMs }, 'grpc request');
        },
        (err: unknown) => {
          stats.batchesRefused++;
          const pub = publicOf(err);
          callback(statusOf(pub));
          log.debug?.({ requestId, method: 'Send', code: pub.code, durationMs: performance.now() - startedMs }, 'grpc request');
        },
      );
  }

  function stream(call: ServerDuplexStream<Buffer, IngestResponse>): void {
    const startedMs = performance.now();
    let requestId: string | undefined;
    stats.streamsOpen++;
    call.once('close', () => {
      stats.streamsOpen--;
      log.debug?.({ requestId, method: 'Stream', durationMs: performance.now() - startedMs }, 'grpc stream closed');
    });
    // Hold the stream until the caller is known: nothing is read, so an
    // anonymous client cannot make the server buffer batches.
    call.pause();
    settle(call.metadata).then(
      (s) => {
        requestId = s.requestId;
        const md = new Metadata();
        md.set('x-request-id', s.requestId);
        call.sendMetadata(md);
        serveStream(call, s);
      },
      (err: unknown) => {
        call.emit('error', statusOf(publicOf(err)));
      },
    );
  }

  function serveStream(call: ServerDuplexStream<Buffer, IngestResponse>, s: CallSettings): void {
    /** Answers in request order; a slot is filled when its batch is answered, written when all before it are. */
    const slots: Array<{ response: IngestResponse | undefined }> = [];
    let sequence = 0;
    let ended = false;
    let gone = false;
    let writeBlocked = false;
    /** Settles when the previous batch's admission has; keeps batches in arrival order. */
    let gate: Promise<unknown> = Promise.resolve();
    // Runs only while the client is the one to act: the stream is read and no answer is pending.
    let idleTimer: NodeJS.Timeout | undefined;
    let idled = false;

    const armIdle = (): void => {
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      idleTimer = undefined;
      if (ended || gone || call.isPaused() || slots.length > 0) return;
      idleTimer = setTimeout(() => {
        idleTimer = undefined;
        stats.callsRefused++;
        gone = true;
        idled = true;
        call.emit('error', statusOf(publicErrorOf(new RequestTimeoutError(`no message for ${idleTimeoutMs} ms (grpcIdleTimeoutMs)`))));
      }, idleTimeoutMs);
      idleTimer.unref();
    };
    const pauseIfNeeded = (): void => {
      if (!call.isPaused() && (slots.length >= inFlightMax || writeBlocked)) {
        call.pause();
        stats.streamPauses++;
      }
      armIdle();
    };
    const resumeIfAllowed = (): void => {
      if (!ended && !gone && call.isPaused() && slots.length < inFlightMax && !writeBlocked) call.resume();
      armIdle();
    };
    const flush = (): void => {
      while (slots.length > 0) {
        const response = slots[0]!.response;
        if (response === undefined) break;
        slots.shift();
        if (!gone && !call.write(response)) writeBlocked = true;
      }
      if (ended && slots.length === 0 && !gone) call.end();
      else if (writeBlocked) pauseIfNeeded();
      else resumeIfAllowed();
    };

    call.on('data', (body: Buffer) => {
      const slot: { response: IngestResponse | undefined } = { response: undefined };
      slots.push(slot);
      pauseIfNeeded();
      const requestId = `${s.requestId}-${sequence++}`;
      // Each batch checks its key again (cached): a key revoked mid-stream
      // stops being taken. The checks run one after another, so batches reach
      // the router in the order they arrived, as they did without them.
      const admitted = gate.then(() => principalOf(s.key)).then((principal) => admit({ ...s, principal }));
      gate = admitted.catch(() => undefined);
      admitted
        .then(() => route(body, s, requestId))
        .then(
        (receipt) => {
          slot.response = toIngestResponse(receipt);
          flush();
        },
        (err: unknown) => {
          stats.batchesRefused++;
          const pub = publicOf(err);
          slot.response = {
            batchId: '',
            accepted: 0,
            duplicate: 0,
            late: 0,
            tooLate: 0,
            rejected: 0,
            receipts: [],
            errorCode: pub.code,
            retryAfterMs: retryAfterMsOf(pub),
          };
          flush();
        },
      );
    });
    call.on('drain', () => {
      writeBlocked = false;
      resumeIfAllowed();
    });
    call.on('end', () => {
      ended = true;
      flush();
    });
    call.on('cancelled', () => {
      gone = true;
      armIdle();
    });
    call.on('error', (err: unknown) => {
      gone = true;
      armIdle();
      if (!idled) log.warn({ err }, 'grpc ingest stream failed');
    });
    call.once('close', armIdle);
    call.resume();
    armIdle();
  }

  server.addService(RAW_INGEST_SERVICE, { Send: send, Stream: stream });

  const health = new HealthImplementation({ '': 'NOT_SERVING', [INGEST_SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);
  const syncHealth = (): void => {
    const status: ServingStatus = router.readiness().ready ? 'SERVING' : 'NOT_SERVING';
    health.setStatus('', status);
    health.setStatus(INGEST_SERVICE_NAME, status);
  };
  syncHealth();
  const healthTimer = setInterval(syncHealth, options.healthIntervalMs ?? HEALTH_INTERVAL_MS);
  healthTimer.unref();

  new ReflectionService(reflectionDescriptors()).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${bindHost(options.host)}:${options.port}`, options.credentials ?? ServerCredentials.createInsecure(), (err, bound) => {
      if (err !== null) reject(err);
      else resolve(bound);
    });
  });
  log.info({ host: options.host, port }, 'grpc server listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    stats,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(healthTimer);
        health.setStatus('', 'NOT_SERVING');
        health.setStatus(INGEST_SERVICE_NAME, 'NOT_SERVING');
        const force = setTimeout(() => server.forceShutdown(), options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
