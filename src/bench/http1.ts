/**
 * One keep-alive HTTP/1.1 connection for the harness's senders: a request
 * head and body written together, the response read by a small parser.
 *
 * Why not node:http: the harness runs on the box it measures, and its cost
 * is taken from the server's. With node:http's client (ClientRequest, the
 * agent's socket pool, streams for both directions) the generator took about
 * 15 % of the machine's CPU at saturation, much of it in that machinery
 * (perf of the bench process); this client does what a sender needs and no
 * more. Measured (harness in its own process against one server build, three
 * pairs alternated): 0.49-0.51 µs of generator CPU per event against
 * 0.71-0.76 with node:http (0.68x), and 452-461K events/s against 415-437K
 * (bench/RESULTS.md).
 *
 * What it handles: one request at a time per connection (a send waits for
 * the one before it); responses framed by Content-Length or chunked
 * transfer coding, or closed by the server (`Connection: close`, or no
 * framing at all); a connection lost or reset while a request is in flight
 * (the answer is an error, the next send connects again); a response that
 * does not come within `timeoutMs` (the connection is dropped). It does not
 * handle 1xx informational responses other than by skipping them, TLS, or
 * pipelining.
 *
 * Limits: a response head of at most HEAD_BYTES_MAX bytes and a body of at
 * most BODY_BYTES_MAX (a harness reply is a few KB): past them the
 * connection is dropped and the request answered with an error.
 */
import net from 'node:net';

/** Longest response head read (status line and headers). */
export const HEAD_BYTES_MAX = 64 * 1024;
/** Longest response body read. */
export const BODY_BYTES_MAX = 64 * 1024 * 1024;

export interface Http1Response {
  status: number;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: Buffer;
}

export class Http1Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');

interface Pending {
  resolve(response: Http1Response): void;
  reject(error: Http1Error): void;
  timer: NodeJS.Timeout;
}

export class Http1Connection {
  #socket: net.Socket | null = null;
  #pending: Pending | null = null;
  /** Bytes received and not yet consumed by the parser. */
  #received: Buffer[] = [];
  #receivedBytes = 0;
  /** The response being read: its head, once parsed. */
  #head: { status: number; headers: Record<string, string> } | null = null;
  /** Sends wait here in order: one request at a time. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly host: string,
    readonly port: number,
    readonly timeoutMs: number,
  ) {}

  /** Writes `head` (a full request head, ending in an empty line) and `body`; resolves with the response, rejects with Http1Error. */
  request(head: string, body: Uint8Array): Promise<Http1Response> {
    const run = (): Promise<Http1Response> => this.#request(head, body);
    const result = this.#tail.then(run, run);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = null;
  }

  #request(head: string, body: Uint8Array): Promise<Http1Response> {
    return new Promise<Http1Response>((resolve, reject) => {
      const socket = this.#socket ?? this.#connect();
      const timer = setTimeout(() => this.#fail(new Http1Error('HTTP_TIMEOUT', `no response within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.#pending = { resolve, reject, timer };
      this.#received = [];
      this.#receivedBytes = 0;
      this.#head = null;
      socket.cork();
      socket.write(head, 'latin1');
      if (body.byteLength > 0) socket.write(body);
      socket.uncork();
    });
  }

  #connect(): net.Socket {
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    // Events of a socket this connection has let go of (closed after a response) concern no request.
    socket.on('data', (chunk: Buffer) => {
      if (this.#socket === socket) this.#onData(chunk);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.#socket === socket) this.#fail(new Http1Error(err.code ?? 'HTTP_SOCKET', err.message));
      else socket.destroy();
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#onClose();
    });
    this.#socket = socket;
    return socket;
  }

  #onData(chunk: Buffer): void {
    if (this.#pending === null) return; // Nothing asked: a stray byte from a server we are done with.
    this.#received.push(chunk);
    this.#receivedBytes += chunk.length;
    this.#parse(false);
  }

  #onClose(): void {
    this.#socket = null;
    // A response framed by the end of the connection is complete now; anything else in flight failed.
    if (this.#pending !== null) this.#parse(true);
    if (this.#pending !== null) this.#fail(new Http1Error('HTTP_CLOSED', 'the connection closed before the response was complete'));
  }

  /** Reads what it can of the response; `ended`: the server closed the connection. */
  #parse(ended: boolean): void {
    // A body of known length still short: wait for the rest without joining the chunks each time (the
    // pass that read the head checked the length against BODY_BYTES_MAX through frame()).
    const lengthText = this.#head?.headers['content-length'];
    const length = lengthText === undefined || this.#head!.headers['transfer-encoding'] !== undefined ? Number.NaN : Number(lengthText);
    if (!ended && this.#receivedBytes < length) return;
    let data = this.#received.length === 1 ? this.#received[0]! : Buffer.concat(this.#received, this.#receivedBytes);
    this.#received = [data];
    for (;;) {
      if (this.#head === null) {
        const end = data.indexOf(CRLF_CRLF);
        if (end < 0) {
          if (data.length > HEAD_BYTES_MAX) this.#fail(new Http1Error('HTTP_HEAD_TOO_LARGE', `response head over ${HEAD_BYTES_MAX} bytes`));
          return;
        }
        const head = parseHead(data.toString('latin1', 0, end));
        if (head === undefined) {
          this.#fail(new Http1Error('HTTP_MALFORMED', 'response head is not HTTP/1.x'));
          return;
        }
        data = data.subarray(end + 4);
        this.#received = [data];
        this.#receivedBytes = data.length;
        if (head.status >= 100 && head.status < 200) continue; // 100 Continue and friends: the real head follows.
        this.#head = head;
      }
      const framed = frame(this.#head, data, ended);
      if (framed === 'malformed') {
        this.#fail(new Http1Error('HTTP_MALFORMED', 'response body framing is malformed'));
        return;
      }
      if (framed === 'incomplete') {
        if (data.length > BODY_BYTES_MAX) this.#fail(new Http1Error('HTTP_BODY_TOO_LARGE', `response body over ${BODY_BYTES_MAX} bytes`));
        return;
      }
      const pending = this.#pending!;
      const head = this.#head;
      this.#pending = null;
      this.#head = null;
      this.#received = [];
      this.#receivedBytes = 0;
      clearTimeout(pending.timer);
      // Bytes past the response (none from a well-behaved server) and a `close` mean the socket is not reused.
      if (framed.rest > 0 || framed.close) this.close();
      pending.resolve({ status: head.status, headers: head.headers, body: framed.body });
      return;
    }
  }

  #fail(error: Http1Error): void {
    this.close();
    const pending = this.#pending;
    if (pending === null) return;
    this.#pending = null;
    this.#head = null;
    this.#received = [];
    this.#receivedBytes = 0;
    clearTimeout(pending.timer);
    pending.reject(error);
  }
}

/** Status and headers of a response head (without its blank line); undefined when it is not HTTP/1.x. */
export function parseHead(text: string): { status: number; headers: Record<string, string> } | undefined {
  const lines = text.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]!);
  if (match === null) return undefined;
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(match[1]), headers };
}

/**
 * The body of a response whose head is `head`, from `data` (the bytes after
 * the head): complete, with how many bytes follow it and whether the
 * connection closes after it; 'incomplete'; or 'malformed'.
 */
export function frame(
  head: { status: number; headers: Record<string, string> },
  data: Buffer,
  ended: boolean,
): { body: Buffer; rest: number; close: boolean } | 'incomplete' | 'malformed' {
  const close = (head.headers.connection ?? '').toLowerCase() === 'close';
  // No body by definition.
  if (head.status === 204 || head.status === 304) return { body: Buffer.alloc(0), rest: data.length, close };
  const coding = head.headers['transfer-encoding'];
  if (coding !== undefined) {
    if (coding.toLowerCase() !== 'chunked') return 'malformed';
    return unchunk(data, close);
  }
  const lengthText = head.headers['content-length'];
  if (lengthText !== undefined) {
    if (!/^\d{1,15}$/.test(lengthText)) return 'malformed';
    const length = Number(lengthText);
    if (length > BODY_BYTES_MAX) return 'malformed';
    // Short at the end of the connection: the caller reports the connection closed early.
    if (data.length < length) return 'incomplete';
    return { body: data.subarray(0, length), rest: data.length - length, close };
  }
  // Neither: the body runs to the end of the connection.
  return ended ? { body: data, rest: 0, close: true } : 'incomplete';
}

/** A chunked body: chunks of `size-in-hex[;ext]\r\n data \r\n`, a last chunk of size 0, optional trailers, a blank line. */
function unchunk(data: Buffer, close: boolean): { body: Buffer; rest: number; close: boolean } | 'incomplete' | 'malformed' {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at, 'latin1');
    if (lineEnd < 0) return data.length - at > 1024 ? 'malformed' : 'incomplete';
    const sizeText = data.toString('latin1', at, lineEnd).split(';', 1)[0]!.trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) return 'malformed';
    const size = parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) {
      // Trailers (ignored) up to a blank line.
      for (;;) {
        const end = data.indexOf('\r\n', at, 'latin1');
        if (end < 0) return 'incomplete';
        const blank = end === at;
        at = end + 2;
        if (blank) return { body: parts.length === 1 ? parts[0]! : Buffer.concat(parts), rest: data.length - at, close };
      }
    }
    if (data.length < at + size + 2) return 'incomplete';
    if (data[at + size] !== 0x0d || data[at + size + 1] !== 0x0a) return 'malformed';
    parts.push(data.subarray(at, at + size));
    at += size + 2;
  }
}
