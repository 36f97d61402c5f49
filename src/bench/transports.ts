/**
 * The wire side of a sender: one batch of bytes out, one normalized answer
 * back, over HTTP (json, msgpack, protobuf bodies), gRPC unary or a gRPC
 * bidirectional stream. Nothing here knows the workload; sender.ts does.
 *
 * Invariants:
 * - The bytes handed to send() are not touched again by the caller until the
 *   answer arrives: Node may still be writing them.
 * - Every outcome is one of three: ack (counts + non-accepted receipts),
 *   refused (the server declined the whole batch: 429 / RESOURCE_EXHAUSTED /
 *   a stream error_code; nothing was applied), error (anything else).
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { IngestResponse } from '../gen/eventide/v1/ingest.js';
import type { BatchCounts, BodyFormat, ReceiptStatus } from '../actors/types.js';
import type { ReceiptLite } from './ledger.js';
import { Http1Connection, type Http1Error, type Http1Response } from './http1.js';

const gzip = promisify(gzipCb);

export const PROTOCOLS = ['http-json', 'http-msgpack', 'http-protobuf', 'grpc-unary', 'grpc-stream'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export function formatOf(protocol: Protocol): BodyFormat {
  if (protocol === 'http-json') return 'json';
  if (protocol === 'http-msgpack') return 'msgpack';
  return 'protobuf';
}

export type Answer =
  | { kind: 'ack'; counts: BatchCounts; receipts: ReceiptLite[] }
  | { kind: 'refused'; code: string; retryAfterMs: number }
  | { kind: 'error'; code: string; message: string };

export interface Transport {
  /** Sends one batch with the given key; resolves with the answer (never rejects). */
  send(bytes: Uint8Array, key: string): Promise<Answer>;
  close(): Promise<void>;
}

/** Per request; a stuck request becomes an error answer rather than hanging the run. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** gRPC stream per (connection, owner); past this many, the least recently used idle stream is ended. */
export const STREAMS_PER_CONNECTION_MAX = 64;

const CONTENT_TYPE: Record<BodyFormat, string> = {
  json: 'application/json',
  msgpack: 'application/msgpack',
  protobuf: 'application/x-protobuf',
};

interface JsonAnswer {
  counts?: BatchCounts;
  receipts?: Array<{ index: number; status: ReceiptStatus; code?: string }>;
  error?: { code?: string; message?: string };
}

function liteReceipts(rs: JsonAnswer['receipts']): ReceiptLite[] {
  if (rs === undefined) return [];
  return rs.map((r) => ({ index: r.index, status: r.status, code: r.code }));
}

/** HTTP over the harness's own HTTP/1.1 client (http1.ts): one keep-alive connection per transport. */
export function createHttpTransport(httpUrl: string, format: BodyFormat, gzipOn: boolean): Transport {
  const url = new URL('/v1/events', httpUrl);
  if (url.protocol !== 'http:') throw new Error(`the harness speaks plain HTTP/1.1: ${httpUrl} is not an http: URL`);
  const connection = new Http1Connection(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 80), REQUEST_TIMEOUT_MS);
  const headStart = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: ${CONTENT_TYPE[format]}\r\nAccept: application/json\r\n${
    gzipOn ? 'Content-Encoding: gzip\r\n' : ''
  }`;
  const send = async (bytes: Uint8Array, key: string): Promise<Answer> => {
    const body = gzipOn ? await gzip(bytes, { level: 1 }) : bytes;
    let res: Http1Response;
    try {
      res = await connection.request(`${headStart}Authorization: Bearer ${key}\r\nContent-Length: ${body.byteLength}\r\n\r\n`, body);
    } catch (err) {
      const e = err as Http1Error;
      return { kind: 'error', code: e.code ?? 'HTTP_REQUEST', message: e.message };
    }
    const status = res.status;
    let parsed: JsonAnswer;
    try {
      parsed = JSON.parse(res.body.toString('utf8')) as JsonAnswer;
    } catch {
      return { kind: 'error', code: `HTTP_${status}`, message: 'answer is not JSON' };
    }
    if ((status === 200 || status === 400) && parsed.counts !== undefined) {
      return { kind: 'ack', counts: parsed.counts, receipts: liteReceipts(parsed.receipts) };
    }
    if (status === 429 || status === 503) {
      const seconds = Number(res.headers['retry-after'] ?? '1');
      return { kind: 'refused', code: parsed.error?.code ?? `HTTP_${status}`, retryAfterMs: (Number.isFinite(seconds) ? seconds : 1) * 1000 };
    }
    return { kind: 'error', code: parsed.error?.code ?? `HTTP_${status}`, message: parsed.error?.message ?? '' };
  };
  return {
    send,
    close: () => {
      connection.close();
      return Promise.resolve();
    },
  };
}

const STATUS_OF: readonly ReceiptStatus[] = ['accepted', 'accepted', 'duplicate', 'late', 'too_late', 'rejected'];

function answerOfResponse(r: IngestResponse): Answer {
  if (r.errorCode !== '') return { kind: 'refused', code: r.errorCode, retryAfterMs: r.retryAfterMs };
  return {
    kind: 'ack',
    counts: { accepted: r.accepted, duplicate: r.duplicate, late: r.late, tooLate: r.tooLate, rejected: r.rejected },
    receipts: r.receipts.map((x) => ({ index: x.index, status: STATUS_OF[x.status] ?? 'rejected', code: x.code === '' ? undefined : x.code })),
  };
}

const identity = (b: Buffer): Buffer => b;
const decodeResponse = (b: Buffer): IngestResponse => IngestResponse.decode(b);

function grpcClient(target: string): grpc.Client {
  // A local subchannel pool gives each client its own HTTP/2 connection, so
  // `--connections` means connections and not streams on one socket.
  return new grpc.Client(target, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
}

function metadataFor(key: string, gzipOn: boolean): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${key}`);
  if (gzipOn) md.set('grpc-internal-encoding-request', 'gzip');
  return md;
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function createGrpcUnaryTransport(target: string, gzipOn: boolean): Transport {
  const client = grpcClient(target);
  const send = (bytes: Uint8Array, key: string): Promise<Answer> =>
    new Promise<Answer>((resolve) => {
      client.makeUnaryRequest<Buffer, IngestResponse>(
        '/eventide.v1.Ingest/Send',
        identity,
        decodeResponse,
        bufferOf(bytes),
        metadataFor(key, gzipOn),
        { deadline: Date.now() + REQUEST_TIMEOUT_MS },
        (err, res) => {
          if (err === null && res !== undefined) return resolve(answerOfResponse(res));
          const code = String(err?.metadata?.get('x-eventide-code')[0] ?? `GRPC_${err?.code ?? 'UNKNOWN'}`);
          if (err?.code === grpc.status.RESOURCE_EXHAUSTED || err?.code === grpc.status.UNAVAILABLE) {
            const retry = Number(err.metadata?.get('retry-after-ms')[0] ?? 100);
            return resolve({ kind: 'refused', code, retryAfterMs: Number.isFinite(retry) ? retry : 100 });
          }
          resolve({ kind: 'error', code, message: err?.details ?? 'no answer' });
        },
      );
    });
  return {
    send,
    close: () => {
      client.close();
      return Promise.resolve();
    },
  };
}

interface StreamState {
  call: grpc.ClientDuplexStream<Buffer, IngestResponse>;
  pending: Array<(a: Answer) => void>;
  lastUseMs: number;
  dead: boolean;
}

/** One HTTP/2 connection; one bidi stream per owner key on it, answers matched to batches in order. */
export function createGrpcStreamTransport(target: string, gzipOn: boolean): Transport {
  const client = grpcClient(target);
  const streams = new Map<string, StreamState>();
  const fail = (s: StreamState, code: string, message: string): void => {
    s.dead = true;
    for (const cb of s.pending.splice(0)) cb({ kind: 'error', code, message });
  };
  const open = (key: string): StreamState => {
    const call = client.makeBidiStreamRequest<Buffer, IngestResponse>('/eventide.v1.Ingest/Stream', identity, decodeResponse, metadataFor(key, gzipOn));
    const s: StreamState = { call, pending: [], lastUseMs: 0, dead: false };
    call.on('data', (r: IngestResponse) => s.pending.shift()?.(answerOfResponse(r)));
    call.on('error', (err: grpc.ServiceError) => {
      streams.delete(key);
      fail(s, `GRPC_${err.code}`, err.details);
    });
    call.on('end', () => {
      streams.delete(key);
      fail(s, 'GRPC_STREAM_ENDED', 'the server ended the stream');
    });
    if (streams.size >= STREAMS_PER_CONNECTION_MAX) {
      let oldest: [string, StreamState] | undefined;
      for (const e of streams) if (e[1].pending.length === 0 && (oldest === undefined || e[1].lastUseMs < oldest[1].lastUseMs)) oldest = e;
      if (oldest !== undefined) {
        streams.delete(oldest[0]);
        oldest[1].call.end();
      }
    }
    streams.set(key, s);
    return s;
  };
  const send = (bytes: Uint8Array, key: string): Promise<Answer> =>
    new Promise<Answer>((resolve) => {
      let s = streams.get(key);
      if (s === undefined || s.dead) s = open(key);
      s.lastUseMs = performance.now();
      s.pending.push(resolve);
      s.call.write(bufferOf(bytes));
    });
  return {
    send,
    close: () => {
      for (const s of streams.values()) s.call.end();
      streams.clear();
      client.close();
      return Promise.resolve();
    },
  };
}

export function createTransport(protocol: Protocol, target: { httpUrl: string; grpcTarget: string }, gzipOn: boolean): Transport {
  if (protocol === 'grpc-unary') return createGrpcUnaryTransport(target.grpcTarget, gzipOn);
  if (protocol === 'grpc-stream') return createGrpcStreamTransport(target.grpcTarget, gzipOn);
  return createHttpTransport(target.httpUrl, formatOf(protocol), gzipOn);
}
