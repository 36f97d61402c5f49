/**
 * Raw clients for hostile-input tests and the fuzz: bytes exactly as given,
 * on a socket of their own, with an answer parsed just enough to judge it.
 * fetch, grpc-js and ws would each refuse to send most of these inputs.
 */
import net from 'node:net';
import tls from 'node:tls';
import http2 from 'node:http2';

export interface RawAnswer {
  /** HTTP status, or 0 when the server closed without answering. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (after the answer, or instead of one). */
  closed: boolean;
  /** Nothing came within the deadline. */
  timedOut: boolean;
}

export interface RawOptions {
  host?: string;
  /** Half-close after the last byte, so a short body ends instead of waiting for more. Default true. */
  end?: boolean;
  /** Give up (timedOut) after this, ms. */
  deadlineMs: number;
  /** Wait this long between pieces, ms (slow senders). */
  pieceDelayMs?: number;
  /** TLS: the CA to trust (the test's self-signed certificate). */
  ca?: Buffer;
}

/** Parses one HTTP/1.1 answer from the bytes received so far, or undefined while it is incomplete. */
function parseAnswer(buf: Buffer, closed: boolean): Omit<RawAnswer, 'closed' | 'timedOut'> | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (match === null) return { status: -1, headers: {}, body: buf.toString('latin1') };
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(match[1]);
  const rest = buf.subarray(headEnd + 4);
  // An informational answer (100 Continue) is followed by the real one.
  if (status >= 100 && status < 200 && status !== 101) {
    const next = parseAnswer(rest, closed);
    return next;
  }
  if (status === 101 || status === 204 || status === 304) return { status, headers, body: '' };
  const length = headers['content-length'];
  if (length !== undefined) {
    const n = Number(length);
    if (rest.length < n) return undefined;
    return { status, headers, body: rest.subarray(0, n).toString('utf8') };
  }
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    let pos = 0;
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', pos);
      if (lineEnd === -1) return undefined;
      const size = parseInt(rest.subarray(pos, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) return { status, headers, body: Buffer.concat(parts).toString('utf8') };
      if (size === 0) return { status, headers, body: Buffer.concat(parts).toString('utf8') };
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      pos = lineEnd + 2 + size + 2;
    }
  }
  return closed ? { status, headers, body: rest.toString('utf8') } : undefined;
}

/**
 * Sends `pieces` (joined, or one after another with pieceDelayMs between)
 * and resolves with the first answer, or with status 0 when the server
 * closes without one, or timedOut at the deadline. Never rejects.
 */
export function rawHttp(port: number, pieces: Array<Buffer | string>, options: RawOptions): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const host = options.host ?? '127.0.0.1';
    const socket: net.Socket =
      options.ca === undefined ? net.connect({ port, host }) : tls.connect({ port, host, ca: options.ca, servername: 'localhost' });
    const chunks: Buffer[] = [];
    let settled = false;
    let closed = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (answer: RawAnswer): void => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const check = (): void => {
      const parsed = parseAnswer(Buffer.concat(chunks), closed);
      if (parsed !== undefined) finish({ ...parsed, closed, timedOut: false });
      else if (closed) finish({ status: 0, headers: {}, body: Buffer.concat(chunks).toString('latin1'), closed: true, timedOut: false });
    };
    timers.push(setTimeout(() => finish({ status: 0, headers: {}, body: Buffer.concat(chunks).toString('latin1'), closed, timedOut: true }), options.deadlineMs));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      check();
    });
    socket.on('error', () => {
      closed = true;
      check();
    });
    socket.on('close', () => {
      closed = true;
      check();
    });
    const write = (i: number): void => {
      if (settled || socket.destroyed) return;
      if (i >= pieces.length) {
        if (options.end !== false) socket.end();
        return;
      }
      socket.write(pieces[i]!);
      if (options.pieceDelayMs === undefined) write(i + 1);
      else timers.push(setTimeout(() => write(i + 1), options.pieceDelayMs));
    };
    socket.once(options.ca === undefined ? 'connect' : 'secureConnect', () => write(0));
  });
}

/** A request as raw bytes: request line, headers (in order, as given) and body. */
export function httpRequest(method: string, path: string, headers: Array<[string, string]>, body: Buffer | string = ''): Buffer {
  const head = `${method} ${path} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}

export interface GrpcAnswer {
  /** grpc-status from the trailers (or headers, for a trailers-only answer); -1 when none came. */
  grpcStatus: number;
  /** x-eventide-code from the trailers, when present. */
  code: string | undefined;
  /** HTTP/2 status of the response headers (200 for gRPC), 0 when none. */
  httpStatus: number;
  /** Response messages' bytes (length-prefixed gRPC frames, concatenated). */
  data: Buffer;
  /** The stream was reset, with this HTTP/2 error code, instead of ending with a status. */
  rstCode: number | undefined;
  timedOut: boolean;
}

/** A gRPC length-prefixed message: flag byte, u32 length, bytes. */
export function grpcFrame(message: Uint8Array, compressed = false, declaredLength = message.length): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(declaredLength >>> 0, 1);
  Buffer.from(message.buffer, message.byteOffset, message.byteLength).copy(out, 5);
  return out;
}

/**
 * One gRPC call over a raw HTTP/2 session: the headers given (plus the
 * pseudo-headers and content-type unless overridden), then `data` written
 * as is, then end (unless `end` is false). Resolves with whatever status the
 * server ends the call with. The session is the caller's, so many calls can
 * share one connection. `deadlineMs` is a silence bound: it restarts with
 * every byte the server sends, so a stream that keeps answering a long run
 * of messages is not mistaken for a hung one.
 */
export function rawGrpc(
  session: http2.ClientHttp2Session,
  path: string,
  headers: Record<string, string | string[]>,
  data: Buffer[],
  options: { deadlineMs: number; end?: boolean },
): Promise<GrpcAnswer> {
  return new Promise((resolve) => {
    const answer: GrpcAnswer = { grpcStatus: -1, code: undefined, httpStatus: 0, data: Buffer.alloc(0), rstCode: undefined, timedOut: false };
    const parts: Buffer[] = [];
    let settled = false;
    let ended = false;
    let stream: http2.ClientHttp2Stream;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      answer.data = Buffer.concat(parts);
      // A call the server has ended is closed by ending our side too; only an
      // unfinished one is reset (resets are what rapid-reset defences count).
      if (!stream.destroyed) {
        if (!ended) stream.close(http2.constants.NGHTTP2_CANCEL);
        else if (!stream.writableEnded) stream.end();
      }
      resolve(answer);
    };
    const expire = (): void => {
      answer.timedOut = true;
      finish();
    };
    let timer = setTimeout(expire, options.deadlineMs);
    const heard = (): void => {
      clearTimeout(timer);
      if (!settled) timer = setTimeout(expire, options.deadlineMs);
    };
    const take = (h: http2.IncomingHttpHeaders): void => {
      heard();
      const status = h['grpc-status'];
      if (status !== undefined) answer.grpcStatus = Number(status);
      const code = h['x-eventide-code'];
      if (typeof code === 'string') answer.code = code;
    };
    try {
      stream = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
    } catch {
      answer.rstCode = -1;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
      return;
    }
    stream.on('response', (h) => {
      answer.httpStatus = Number(h[':status'] ?? 0);
      take(h);
    });
    stream.on('trailers', (h: http2.IncomingHttpHeaders) => take(h));
    stream.on('data', (chunk: Buffer) => {
      heard();
      parts.push(chunk);
    });
    stream.on('end', () => {
      ended = true;
      finish();
    });
    stream.on('close', () => {
      if (answer.grpcStatus === -1 && stream.rstCode !== undefined && stream.rstCode !== 0) answer.rstCode = stream.rstCode;
      finish();
    });
    stream.on('error', () => {
      if (stream.rstCode !== undefined) answer.rstCode = stream.rstCode;
      finish();
    });
    for (const chunk of data) stream.write(chunk);
    if (options.end !== false) stream.end();
  });
}
