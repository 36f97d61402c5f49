/**
 * The HTTP transport: POST /v1/events with a JSON or protobuf body, gzip when
 * asked, and the answer mapped onto an Outcome. Two implementations of the
 * same contract: node:http(s) with a keep-alive agent (the default, faster on
 * this machine: bench/results/client.md) and the global fetch.
 *
 * Invariants:
 * - The body is built per attempt, because `sentAt` is the attempt's clock;
 *   the events' bytes are not re-encoded (event.ts).
 * - At most requestsInFlightMax sockets per client; the client never has more
 *   requests in flight than that.
 * - An answer is read up to ANSWER_BYTES_MAX; a request is abandoned after
 *   requestTimeoutMs (the outcome is a NetworkError, retried with the same ids).
 */
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { AnswerInvalidError, NetworkError, RequestFailedError, RequestRefusedError } from './errors.js';
import { encodeJsonBody, encodeProtobufBody } from './encode.js';
import type { PendingEvent } from './event.js';
import type { WireOptions } from './options.js';
import { RECEIPT_STATUSES, type BatchCounts, type WireReceipt } from './receipts.js';
import { ANSWER_BYTES_MAX, retryAfterMsOf, type ClientTransport, type Outcome } from './transport.js';

const gzip = promisify(gzipCallback);
/** gzip level: 1 is several times faster than the default 6 and loses little on repetitive JSON (bench/results/client.md). */
export const GZIP_LEVEL = 1;

const CONTENT_TYPE = { json: 'application/json', protobuf: 'application/x-protobuf' } as const;

/** Statuses that, without an eventide error body, come from something in between (a proxy, a load balancer) and may pass. */
const RETRYABLE_BARE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function countsOf(value: unknown): BatchCounts | undefined {
  if (!isRecord(value)) return undefined;
  const out = { accepted: value.accepted, duplicate: value.duplicate, late: value.late, tooLate: value.tooLate, rejected: value.rejected };
  for (const n of Object.values(out)) if (!Number.isSafeInteger(n) || (n as number) < 0) return undefined;
  return out as BatchCounts;
}

function receiptsOf(value: unknown): WireReceipt[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return undefined;
  const out: WireReceipt[] = [];
  for (const r of value as unknown[]) {
    if (!isRecord(r) || typeof r.index !== 'number' || !(RECEIPT_STATUSES as readonly unknown[]).includes(r.status)) return undefined;
    out.push({
      index: r.index,
      id: typeof r.id === 'string' ? r.id : '',
      status: r.status as WireReceipt['status'],
      code: typeof r.code === 'string' ? r.code : undefined,
      field: typeof r.field === 'string' ? r.field : undefined,
      message: typeof r.message === 'string' ? r.message : undefined,
    });
  }
  return out;
}

/** Maps one HTTP answer (status, Retry-After, body text) onto an Outcome. */
export function outcomeOfHttp(
  status: number,
  retryAfter: string | null | undefined,
  text: string,
  nowMs: number,
  retryAfterMs?: string | null,
): Outcome {
  // The server's exact hint (`retry-after-ms`) beats Retry-After's whole seconds.
  const exactMs = retryAfterMs === undefined || retryAfterMs === null || !/^\d{1,9}$/.test(retryAfterMs.trim()) ? undefined : Number(retryAfterMs.trim());
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (isRecord(parsed) && (status === 200 || status === 400) && parsed.counts !== undefined) {
    const counts = countsOf(parsed.counts);
    const receipts = receiptsOf(parsed.receipts);
    if (counts === undefined || receipts === undefined) {
      return { kind: 'failed', error: new AnswerInvalidError(`HTTP ${status}: the counts or receipts do not have the documented shape`, status) };
    }
    return { kind: 'answered', counts, receipts };
  }
  const error = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : undefined;
  if (error !== undefined && typeof error.code === 'string') {
    const message = typeof error.message === 'string' ? error.message : error.code;
    if (error.retryable === true) {
      const hintMs = exactMs ?? retryAfterMsOf(retryAfter, nowMs);
      return { kind: 'refused', error: new RequestRefusedError(error.code, message, status, hintMs), retryAfterMs: hintMs };
    }
    const field = typeof error.field === 'string' ? error.field : undefined;
    return { kind: 'failed', error: new RequestFailedError(error.code, message, status, field) };
  }
  if (RETRYABLE_BARE_STATUSES.has(status)) {
    const hintMs = retryAfterMsOf(retryAfter, nowMs);
    return { kind: 'refused', error: new NetworkError(`HTTP ${status} without an eventide answer (a proxy in between?)`), retryAfterMs: hintMs };
  }
  return { kind: 'failed', error: new AnswerInvalidError(`HTTP ${status}: the answer is not eventide's (${text.slice(0, 100)})`, status) };
}

function networkOutcome(err: unknown): Outcome {
  const message = err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}` : String(err);
  return { kind: 'refused', error: new NetworkError(message, { cause: err }), retryAfterMs: 0 };
}

interface Prepared {
  body: Uint8Array;
  headers: Record<string, string>;
}

async function prepare(o: WireOptions, events: readonly PendingEvent[], requestId: string): Promise<Prepared> {
  const raw = o.format === 'json' ? encodeJsonBody(events, Date.now()) : encodeProtobufBody(events, Date.now(), undefined, undefined);
  const headers: Record<string, string> = {
    authorization: `Bearer ${o.key}`,
    'content-type': CONTENT_TYPE[o.format],
    accept: 'application/json',
    'x-eventide-ack': o.ack,
    'x-request-id': requestId,
  };
  if (o.gzip && raw.byteLength >= o.gzipBytesMin) {
    headers['content-encoding'] = 'gzip';
    return { body: await gzip(raw, { level: GZIP_LEVEL }), headers };
  }
  return { body: raw, headers };
}

/** node:http (or node:https) with one keep-alive agent per client. */
export function createNodeHttpTransport(o: WireOptions): ClientTransport {
  const url = new URL(o.eventsUrl);
  const secure = url.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: o.requestsInFlightMax })
    : new http.Agent({ keepAlive: true, maxSockets: o.requestsInFlightMax });
  const request = secure ? https.request : http.request;

  const send = async (events: readonly PendingEvent[], requestId: string): Promise<Outcome> => {
    const { body, headers } = await prepare(o, events, requestId);
    headers['content-length'] = String(body.byteLength);
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const finish = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const req = request(url, { method: 'POST', agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > ANSWER_BYTES_MAX) {
            finish({ kind: 'failed', error: new AnswerInvalidError(`the answer is over ${ANSWER_BYTES_MAX} bytes`, res.statusCode ?? 0) });
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const retryAfter = res.headers['retry-after'];
          const exact = res.headers['retry-after-ms'];
          finish(outcomeOfHttp(res.statusCode ?? 0, retryAfter, Buffer.concat(chunks).toString('utf8'), Date.now(), typeof exact === 'string' ? exact : undefined));
        });
        res.on('error', (err) => finish(networkOutcome(err)));
        res.on('close', () => finish(networkOutcome(new Error('the connection closed before the answer ended'))));
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${o.requestTimeoutMs} ms (requestTimeoutMs)`)), o.requestTimeoutMs);
      req.on('error', (err) => finish(networkOutcome(err)));
      req.end(body);
    });
  };
  return {
    send,
    close: () => {
      agent.destroy();
      return Promise.resolve();
    },
  };
}

/** The global fetch (undici inside Node, no package). Its sockets belong to the global dispatcher; close() has nothing to release. */
export function createFetchTransport(o: WireOptions): ClientTransport {
  const send = async (events: readonly PendingEvent[], requestId: string): Promise<Outcome> => {
    const { body, headers } = await prepare(o, events, requestId);
    try {
      const res = await fetch(o.eventsUrl, { method: 'POST', headers, body, signal: AbortSignal.timeout(o.requestTimeoutMs) });
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > ANSWER_BYTES_MAX) {
        await res.body?.cancel();
        return { kind: 'failed', error: new AnswerInvalidError(`the answer is over ${ANSWER_BYTES_MAX} bytes`, res.status) };
      }
      const text = await res.text();
      return outcomeOfHttp(res.status, res.headers.get('retry-after'), text, Date.now(), res.headers.get('retry-after-ms'));
    } catch (err) {
      return networkOutcome(err);
    }
  };
  return { send, close: () => Promise.resolve() };
}

export function createHttpTransport(o: WireOptions): ClientTransport {
  return o.httpImpl === 'fetch' ? createFetchTransport(o) : createNodeHttpTransport(o);
}
