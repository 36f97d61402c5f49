/**
 * The gRPC transport: eventide.v1.Ingest, unary Send per batch or batches on
 * one bidirectional Stream, with the same proto as the server
 * (src/gen/eventide/v1/). @grpc/grpc-js is imported on first use, so an
 * application that sends over HTTP never loads it.
 *
 * Invariants:
 * - The request is written by hand around the pre-encoded events
 *   (event.ts encodeProtobufBody) and handed to grpc-js as bytes; the answer
 *   is decoded with the generated IngestResponse codec.
 * - A unary refusal is retryable exactly when the server sent `retry-after-ms`
 *   (src/edge/grpc.ts sets it for retryable codes only); a stream refusal when
 *   its `retry_after_ms` is not 0.
 * - grpc-js reconnects on its own with a backoff; its bounds are set from
 *   retry.baseMs / retry.maxMs so that a server that comes back is reached
 *   within the client's own retry budget (grpc-js's default ceiling is 120 s).
 * - One stream at a time. Answers come in request order (the server's
 *   contract); each carries the batch id it answers, and a mismatch ends the
 *   stream (the pending batches are retried on a new one).
 */
import type * as Grpc from '@grpc/grpc-js';
import type { IngestResponse as IngestResponseType } from '../gen/eventide/v1/ingest.js';
import { AnswerInvalidError, NetworkError, RequestFailedError, RequestRefusedError } from './errors.js';
import { encodeProtobufBody } from './encode.js';
import type { PendingEvent } from './event.js';
import type { WireOptions } from './options.js';
import type { ReceiptStatus, WireReceipt } from './receipts.js';
import { ANSWER_BYTES_MAX, type ClientTransport, type Outcome } from './transport.js';

const SEND_PATH = '/eventide.v1.Ingest/Send';
const STREAM_PATH = '/eventide.v1.Ingest/Stream';
/** grpc-js's CompressionAlgorithms: 0 identity, 1 deflate, 2 gzip. */
const GZIP_ALGORITHM = 2;
/** ReceiptStatus enum numbers of ingest.proto, in order; 0 (unspecified) never comes from a server. */
const STATUS_OF: readonly ReceiptStatus[] = ['rejected', 'accepted', 'duplicate', 'late', 'too_late', 'rejected'];

type GrpcModule = typeof Grpc;
interface Loaded {
  grpc: GrpcModule;
  decode: (bytes: Buffer) => IngestResponseType;
}

function outcomeOfResponse(r: IngestResponseType): Outcome {
  return {
    kind: 'answered',
    counts: { accepted: r.accepted, duplicate: r.duplicate, late: r.late, tooLate: r.tooLate, rejected: r.rejected },
    receipts: r.receipts.map(
      (x): WireReceipt => ({
        index: x.index,
        id: x.id,
        status: STATUS_OF[x.status] ?? 'rejected',
        code: x.code === '' ? undefined : x.code,
        field: x.field === '' ? undefined : x.field,
        message: x.message === '' ? undefined : x.message,
      }),
    ),
  };
}

function firstString(md: Grpc.Metadata | undefined, key: string): string | undefined {
  const v = md?.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

/** Maps a failed call onto an Outcome. */
export function outcomeOfGrpcError(grpc: GrpcModule, err: Grpc.ServiceError): Outcome {
  const code = firstString(err.metadata, 'x-eventide-code');
  if (code !== undefined) {
    const retryAfter = firstString(err.metadata, 'retry-after-ms');
    if (retryAfter !== undefined) {
      const hintMs = Number(retryAfter);
      const ms = Number.isFinite(hintMs) && hintMs >= 0 ? hintMs : 0;
      return { kind: 'refused', error: new RequestRefusedError(code, err.details, err.code, ms), retryAfterMs: ms };
    }
    return { kind: 'failed', error: new RequestFailedError(code, err.details, err.code, firstString(err.metadata, 'x-eventide-field')) };
  }
  const s = grpc.status;
  switch (err.code) {
    case s.UNAVAILABLE:
    case s.DEADLINE_EXCEEDED:
    case s.CANCELLED:
    case s.INTERNAL:
    case s.UNKNOWN:
      return { kind: 'refused', error: new NetworkError(`${s[err.code]}: ${err.details}`, { cause: err }), retryAfterMs: 0 };
    case s.RESOURCE_EXHAUSTED:
      // Without an eventide code this is grpc-js's message size limit, the server's bodyBytesMax.
      return { kind: 'failed', error: new RequestFailedError('EVT_BODY_TOO_LARGE', err.details, err.code, 'body') };
    default:
      return { kind: 'failed', error: new AnswerInvalidError(`${s[err.code]}: ${err.details}`, err.code) };
  }
}

/** One stream answer onto an Outcome (a refused batch is answered with error_code). */
function outcomeOfStreamAnswer(r: IngestResponseType): Outcome {
  if (r.errorCode === '') return outcomeOfResponse(r);
  if (r.retryAfterMs > 0) {
    return {
      kind: 'refused',
      error: new RequestRefusedError(r.errorCode, `the server refused the batch (${r.errorCode})`, 0, r.retryAfterMs),
      retryAfterMs: r.retryAfterMs,
    };
  }
  return { kind: 'failed', error: new RequestFailedError(r.errorCode, `the server refused the batch (${r.errorCode})`, 0, undefined) };
}

interface StreamCall {
  call: Grpc.ClientDuplexStream<Buffer, IngestResponseType>;
  pending: Array<{ batchId: string; resolve: (o: Outcome) => void }>;
  dead: boolean;
}

export function createGrpcTransport(o: WireOptions): ClientTransport {
  let loaded: Promise<Loaded> | undefined;
  let client: Grpc.Client | undefined;
  let stream: StreamCall | undefined;

  const load = (): Promise<Loaded> =>
    (loaded ??= (async () => {
      const [grpc, gen] = await Promise.all([import('@grpc/grpc-js'), import('../gen/eventide/v1/ingest.js')]);
      client = new grpc.Client(o.grpcTarget, grpc.credentials.createInsecure(), {
        // Each client its own connection: a client's close() must not cut another's calls.
        'grpc.use_local_subchannel_pool': 1,
        'grpc.max_receive_message_length': ANSWER_BYTES_MAX,
        'grpc.initial_reconnect_backoff_ms': o.retry.baseMs,
        'grpc.max_reconnect_backoff_ms': o.retry.maxMs,
        // Channel-wide: grpc-js ignores grpc-core's per-call `grpc-internal-encoding-request` metadata.
        ...(o.gzip ? { 'grpc.default_compression_algorithm': GZIP_ALGORITHM } : {}),
      });
      return { grpc, decode: (bytes: Buffer) => gen.IngestResponse.decode(bytes) };
    })());

  const metadataOf = (grpc: GrpcModule, requestId: string | undefined): Grpc.Metadata => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${o.key}`);
    md.set('x-eventide-ack', o.ack);
    if (requestId !== undefined) md.set('x-request-id', requestId);
    return md;
  };

  const identity = (b: Buffer): Buffer => b;

  const sendUnary = ({ grpc, decode }: Loaded, body: Buffer, requestId: string): Promise<Outcome> =>
    new Promise<Outcome>((resolve) => {
      client!.makeUnaryRequest<Buffer, IngestResponseType>(
        SEND_PATH,
        identity,
        decode,
        body,
        metadataOf(grpc, requestId),
        { deadline: Date.now() + o.requestTimeoutMs },
        (err, res) => {
          if (err === null && res !== undefined) resolve(outcomeOfResponse(res));
          else if (err !== null) resolve(outcomeOfGrpcError(grpc, err));
          else resolve({ kind: 'failed', error: new AnswerInvalidError('the call ended without an answer or an error', 0) });
        },
      );
    });

  const failStream = (s: StreamCall, outcome: () => Outcome): void => {
    s.dead = true;
    if (stream === s) stream = undefined;
    for (const p of s.pending.splice(0)) p.resolve(outcome());
  };

  const openStream = ({ grpc, decode }: Loaded): StreamCall => {
    // The stream's own deadline would end a long-lived stream; each batch's wait is bounded by the client's timer instead.
    const call = client!.makeBidiStreamRequest<Buffer, IngestResponseType>(STREAM_PATH, identity, decode, metadataOf(grpc, undefined));
    const s: StreamCall = { call, pending: [], dead: false };
    call.on('data', (r: IngestResponseType) => {
      const head = s.pending.shift();
      // A batch refused before it was decoded (EVT_MAILBOX_FULL, EVT_DRAINING) is answered without its id.
      const matches = head !== undefined && (r.batchId === head.batchId || (r.errorCode !== '' && r.batchId === ''));
      if (!matches) {
        head?.resolve({ kind: 'refused', error: new NetworkError('a stream answer does not match its batch; the stream is restarted'), retryAfterMs: 0 });
        call.cancel();
        return;
      }
      head.resolve(outcomeOfStreamAnswer(r));
    });
    call.on('error', (err: Grpc.ServiceError) => failStream(s, () => outcomeOfGrpcError(grpc, err)));
    call.on('end', () => failStream(s, () => ({ kind: 'refused', error: new NetworkError('the server ended the stream'), retryAfterMs: 0 })));
    return s;
  };

  const sendStream = (l: Loaded, body: Buffer, batchId: string): Promise<Outcome> =>
    new Promise<Outcome>((resolve) => {
      if (stream === undefined || stream.dead) stream = openStream(l);
      const s = stream;
      let settled = false;
      const timer = setTimeout(() => {
        // Answers are in order: one that never comes stalls every later one, so the stream goes.
        failStream(s, () => ({ kind: 'refused', error: new NetworkError(`no answer within ${o.requestTimeoutMs} ms (requestTimeoutMs)`), retryAfterMs: 0 }));
        s.call.cancel();
      }, o.requestTimeoutMs);
      s.pending.push({
        batchId,
        resolve: (outcome) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(outcome);
        },
      });
      s.call.write(body);
    });

  return {
    async send(events: readonly PendingEvent[], requestId: string): Promise<Outcome> {
      let l: Loaded;
      try {
        l = await load();
      } catch (err) {
        return { kind: 'failed', error: new AnswerInvalidError(`@grpc/grpc-js could not be loaded: ${String(err)}`, 0) };
      }
      if (o.grpcMode === 'stream') return sendStream(l, encodeProtobufBody(events, Date.now(), requestId, o.ack), requestId);
      return sendUnary(l, encodeProtobufBody(events, Date.now(), undefined, o.ack), requestId);
    },
    close(): Promise<void> {
      if (stream !== undefined) {
        const s = stream;
        stream = undefined;
        s.dead = true;
        s.call.end();
      }
      client?.close();
      return Promise.resolve();
    },
  };
}
