/**
 * The fuzz: generated malformed and hostile inputs (fuzz-gen.ts) sent over
 * HTTP, gRPC and ws to a real eventide process on loopback, while
 * well-behaved senders ingest at the same time. What it holds the server to:
 *
 * - the process never dies and no worker thread restarts;
 * - no answer is a 5xx / INTERNAL-like status, except a 503 / UNAVAILABLE
 *   refusal that carries its code (and, on HTTP, Retry-After);
 * - every answer carries a stable code of the status table: the HTTP error
 *   body's `error.code`, every receipt's code, gRPC's `x-eventide-code` and a
 *   stream answer's `error_code`, every ws error frame, and a ws close code
 *   from RFC 6455 when the connection is closed;
 * - no input waits for its answer past a bound (deadlineMs);
 * - every event the well-behaved senders had acknowledged is counted
 *   (GET /v1/metrics), and the process logs no error.
 *
 * The short run is test/security/fuzz.test.ts (in `npm test`); the full run
 * is `npm run fuzz` (bench/fuzz.ts), recorded in bench/results/fuzz.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { WebSocket } from 'ws';
import { ALL_CODES } from '../../src/edge/status.js';
import { IngestClient, IngestRequest, IngestResponse, AckLevel } from '../../src/gen/eventide/v1/ingest.js';
import { Severity } from '../../src/gen/eventide/v1/event.js';
import { fuzzCase, wsHandshake, type FuzzCase, type FuzzLimits, type FuzzMix, type GrpcCase, type HttpCase, type WsCase } from './fuzz-gen.js';
import { rawGrpc, rawHttp, type GrpcAnswer, type RawAnswer } from './wire.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const KNOWN_CODES: ReadonlySet<string> = new Set(ALL_CODES);
/** Close codes of RFC 6455 a server may end a connection with after bad input, plus ours (1008 auth/idle, 1013 full). */
const WS_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1002, 1007, 1008, 1009, 1013]);
const SERVER_START_TIMEOUT_MS = 60_000;

export interface FuzzTarget {
  host: string;
  httpPort: number;
  grpcPort: number;
  /** Key of the owner the fuzz writes to (never the well-behaved owner). */
  fuzzKey: string;
  /** Key of the well-behaved owner. */
  goodKey: string;
}

export interface FuzzOptions {
  seed: number;
  /** Stop taking new cases once this many inputs were sent (HTTP requests, gRPC messages, ws messages and frames). */
  inputs: number;
  mix: FuzzMix;
  limits: FuzzLimits;
  /** Every slowEvery-th case on HTTP is a slow sender (0: none). */
  slowEvery: number;
  /** Cases in flight at once. */
  concurrency: number;
  /** An input without its answer after this long is a hang. */
  deadlineMs: number;
  /** Well-behaved senders (half HTTP, half gRPC). */
  goodSenders: number;
  /** Events per well-behaved batch. */
  goodBatchEvents: number;
}

export interface Failure {
  index: number;
  label: string;
  detail: string;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  inputs: { http: number; grpc: number; ws: number; total: number };
  durationMs: number;
  /** `wire status code` → count, e.g. `http 400 EVT_BODY_MALFORMED`, `grpc OK`, `ws close 1009`. */
  outcomes: Record<string, number>;
  failures: Failure[];
  /** Longest wait for an answer per wire (slow senders included: they wait for the server's timeout). */
  slowestMs: { http: number; grpc: number; ws: number };
  good: GoodResult;
}

export interface GoodResult {
  batches: number;
  /** Distinct events acknowledged (applied). */
  events: number;
  /** Refusals (429 / 503 with a code) the senders retried. */
  retries: number;
  failures: string[];
}

// ---------------------------------------------------------------- judging

function count(report: FuzzReport, key: string): void {
  report.outcomes[key] = (report.outcomes[key] ?? 0) + 1;
}

function receiptCodesOk(receipts: unknown): string | undefined {
  if (!Array.isArray(receipts)) return 'receipts is not an array';
  for (const r of receipts as Array<{ status?: string; code?: string }>) {
    if (r.status === 'rejected' && (r.code === undefined || !KNOWN_CODES.has(r.code))) return `receipt code ${String(r.code)}`;
  }
  return undefined;
}

/** Why an HTTP answer breaks the rules, or undefined. Counts the outcome. */
function judgeHttp(c: HttpCase, a: RawAnswer, report: FuzzReport): string | undefined {
  if (a.timedOut) return `no answer within the deadline (${a.status === 0 ? 'nothing' : a.status})`;
  if (a.status === 0) {
    if (c.empty) {
      count(report, 'http closed (no request)');
      return undefined;
    }
    return `closed without an answer after ${a.body.length} bytes`;
  }
  if (a.status < 100) return `not an HTTP answer: ${JSON.stringify(a.body.slice(0, 80))}`;
  let parsed: { error?: { code?: string }; receipts?: unknown } | undefined;
  try {
    parsed = a.body === '' ? undefined : (JSON.parse(a.body) as typeof parsed);
  } catch {
    parsed = undefined;
  }
  const code = parsed?.error?.code;
  count(report, `http ${a.status}${code === undefined ? '' : ` ${code}`}`);
  if (a.status >= 500 && a.status !== 503) return `status ${a.status} (${String(code)})`;
  if (a.status >= 400) {
    if (code === undefined) return `status ${a.status} without an error code: ${a.body.slice(0, 120)}`;
    if (!KNOWN_CODES.has(code)) return `unknown code ${code}`;
    if (a.status === 503 && a.headers['retry-after'] === undefined) return `503 ${code} without Retry-After`;
  }
  if (parsed?.receipts !== undefined) return receiptCodesOk(parsed.receipts);
  return undefined;
}

const SERVER_FAULTS: ReadonlySet<number> = new Set([GrpcStatus.INTERNAL, GrpcStatus.UNKNOWN, GrpcStatus.DATA_LOSS]);

function judgeGrpc(c: GrpcCase, a: GrpcAnswer, report: FuzzReport): string | undefined {
  if (a.timedOut) return 'no status within the deadline';
  if (a.grpcStatus === -1) {
    count(report, `grpc reset ${String(a.rstCode)}`);
    return `no grpc-status (HTTP ${a.httpStatus}, RST_STREAM ${String(a.rstCode)})`;
  }
  const name = GrpcStatus[a.grpcStatus] ?? String(a.grpcStatus);
  count(report, `grpc ${name}${a.code === undefined ? '' : ` ${a.code}`}`);
  if (SERVER_FAULTS.has(a.grpcStatus)) return `status ${name} (${String(a.code)})`;
  if (a.grpcStatus !== (GrpcStatus.OK as number)) {
    if (a.code === undefined) return `status ${name} without x-eventide-code`;
    if (!KNOWN_CODES.has(a.code)) return `unknown code ${a.code}`;
  }
  // Answers: length-prefixed IngestResponse messages (health answers are skipped).
  if (c.path.endsWith('/Send') || c.path.endsWith('/Stream')) {
    for (let pos = 0; pos + 5 <= a.data.length; ) {
      const length = a.data.readUInt32BE(pos + 1);
      const message = a.data.subarray(pos + 5, pos + 5 + length);
      pos += 5 + length;
      let response: IngestResponse;
      try {
        response = IngestResponse.decode(message);
      } catch {
        return 'an answer that is not an IngestResponse';
      }
      if (response.errorCode !== '') {
        count(report, `grpc stream-answer ${response.errorCode}`);
        if (!KNOWN_CODES.has(response.errorCode)) return `unknown stream error_code ${response.errorCode}`;
      }
      for (const r of response.receipts) if (r.code !== '' && !KNOWN_CODES.has(r.code)) return `receipt code ${r.code}`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- ws

interface WsOutcome {
  frames: Array<Record<string, unknown>>;
  closeCode: number | undefined;
  sentinelSeen: boolean;
  timedOut: boolean;
  error: string | undefined;
}

function sentinelOf(index: number): string {
  return `fuzz-sentinel-${index}`;
}

function isSentinel(frame: Record<string, unknown>, sentinel: string): boolean {
  return frame.type === 'error' && typeof frame.message === 'string' && frame.message.includes(sentinel);
}

function runWsClient(target: FuzzTarget, c: WsCase, index: number, deadlineMs: number): Promise<WsOutcome> {
  return new Promise((resolve) => {
    const base = `ws://${target.host}:${target.httpPort}/v1/stream`;
    const url = c.auth === 'url' ? `${base}?key=${target.fuzzKey}` : c.auth === 'bad' ? `${base}?key=evt_bad` : base;
    const ws = new WebSocket(url, c.auth === 'header' ? { headers: { authorization: `Bearer ${target.fuzzKey}` } } : {});
    const out: WsOutcome = { frames: [], closeCode: undefined, sentinelSeen: false, timedOut: false, error: undefined };
    const sentinel = sentinelOf(index);
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners('close');
      ws.on('error', () => {});
      ws.terminate();
      resolve(out);
    };
    const timer = setTimeout(() => {
      out.timedOut = true;
      finish();
    }, deadlineMs);
    ws.on('message', (data: Buffer) => {
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(data.toString()) as Record<string, unknown>;
      } catch {
        frame = { type: 'not-json' };
      }
      if (isSentinel(frame, sentinel)) {
        out.sentinelSeen = true;
        finish();
        return;
      }
      out.frames.push(frame);
    });
    ws.on('close', (code: number) => {
      out.closeCode = code;
      finish();
    });
    ws.on('error', (err: Error) => {
      out.error = err.message;
    });
    ws.on('open', () => {
      if (c.auth === 'message') ws.send(JSON.stringify({ type: 'auth', key: target.fuzzKey }));
      for (const message of c.messages) {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(message);
      }
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: sentinel }));
    });
  });
}

/** Server frames on a raw ws connection: opcode and payload (server frames are never masked). */
function parseServerFrames(buf: Buffer): Array<{ opcode: number; payload: Buffer }> {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let pos = 0;
  while (pos + 2 <= buf.length) {
    const opcode = buf[pos]! & 0x0f;
    let length = buf[pos + 1]! & 0x7f;
    let head = 2;
    if (length === 126) {
      if (pos + 4 > buf.length) break;
      length = buf.readUInt16BE(pos + 2);
      head = 4;
    } else if (length === 127) {
      if (pos + 10 > buf.length) break;
      length = Number(buf.readBigUInt64BE(pos + 2));
      head = 10;
    }
    if (pos + head + length > buf.length) break;
    frames.push({ opcode, payload: buf.subarray(pos + head, pos + head + length) });
    pos += head + length;
  }
  return frames;
}

function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  const header = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const mask = Buffer.from([1, 2, 3, 4]);
  for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, payload]);
}

function runWsRaw(target: FuzzTarget, c: WsCase, index: number, deadlineMs: number): Promise<WsOutcome> {
  return new Promise((resolve) => {
    const out: WsOutcome = { frames: [], closeCode: undefined, sentinelSeen: false, timedOut: false, error: undefined };
    const sentinel = sentinelOf(index);
    const { request, accept } = wsHandshake('/v1/stream', target.fuzzKey);
    const socket = net.connect({ host: target.host, port: target.httpPort });
    let buf = Buffer.alloc(0);
    let upgraded = false;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(() => {
      out.timedOut = true;
      finish();
    }, deadlineMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101') || !head.includes(accept)) {
          out.error = `handshake: ${head.split('\r\n')[0] ?? ''}`;
          finish();
          return;
        }
        upgraded = true;
        buf = buf.subarray(end + 4);
        for (const f of c.rawFrames ?? []) socket.write(f);
        socket.write(maskedText(JSON.stringify({ type: sentinel })));
      }
      for (const f of parseServerFrames(buf)) {
        if (f.opcode === 0x8) {
          out.closeCode = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
          finish();
          return;
        }
        if (f.opcode === 0x1) {
          let frame: Record<string, unknown>;
          try {
            frame = JSON.parse(f.payload.toString()) as Record<string, unknown>;
          } catch {
            frame = { type: 'not-json' };
          }
          if (isSentinel(frame, sentinel)) {
            out.sentinelSeen = true;
            finish();
            return;
          }
          out.frames.push(frame);
        }
      }
    });
    socket.on('error', (err) => {
      out.error = err.message;
    });
    socket.on('close', () => {
      if (out.closeCode === undefined && !out.sentinelSeen) out.closeCode = 1006;
      finish();
    });
  });
}

function judgeWs(c: WsCase, o: WsOutcome, report: FuzzReport): string | undefined {
  for (const frame of o.frames) {
    if (frame.type === 'error') {
      const code = frame.code as string | undefined;
      count(report, `ws error ${String(code)}`);
      if (code === undefined || !KNOWN_CODES.has(code)) return `error frame with code ${String(code)}`;
    } else if (frame.type === 'snapshot' || frame.type === 'delta' || frame.type === 'pong' || frame.type === 'reset') {
      count(report, `ws ${frame.type}`);
    } else {
      return `a frame of type ${String(frame.type)}`;
    }
  }
  if (o.timedOut) return `no sentinel answer and no close within the deadline (${o.frames.length} frames)`;
  if (o.sentinelSeen) {
    count(report, 'ws open');
    return undefined;
  }
  if (o.error !== undefined && o.closeCode === undefined) return `connection failed: ${o.error}`;
  count(report, `ws close ${String(o.closeCode)}`);
  if (o.closeCode === undefined || !WS_CLOSE_CODES.has(o.closeCode)) return `closed with ${String(o.closeCode)} (${o.error ?? 'no error'})`;
  // Our own closes come with an error frame saying why; RFC closes (1002, 1007, 1009) say it in the code.
  if ((o.closeCode === 1008 || o.closeCode === 1013) && !o.frames.some((f) => f.type === 'error')) return `close ${o.closeCode} without an error frame`;
  void c;
  return undefined;
}

// ---------------------------------------------------------------- well-behaved senders

/** Ingests distinct events for the good owner, resending a refused batch (same ids) until it is applied. */
class GoodSenders {
  readonly result: GoodResult = { batches: 0, events: 0, retries: 0, failures: [] };
  #running = true;
  #loops: Array<Promise<void>> = [];
  readonly #grpc: IngestClient;

  constructor(
    readonly target: FuzzTarget,
    readonly senders: number,
    readonly batchEvents: number,
  ) {
    this.#grpc = new IngestClient(`${target.host}:${target.grpcPort}`, credentials.createInsecure());
  }

  start(): void {
    for (let s = 0; s < this.senders; s++) this.#loops.push(this.#loop(s));
  }

  async stop(): Promise<GoodResult> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.#grpc.close();
    return this.result;
  }

  async #loop(sender: number): Promise<void> {
    for (let batch = 0; this.#running; batch++) {
      const ids = Array.from({ length: this.batchEvents }, (_, i) => `good-${sender}-${batch}-${i}`);
      for (let attempt = 0; ; attempt++) {
        const outcome = sender % 2 === 0 ? await this.#http(ids) : await this.#grpcSend(ids);
        if (outcome === 'ok') break;
        if (outcome === 'failed' || attempt > 200) {
          this.result.failures.push(`sender ${sender} batch ${batch}: ${outcome === 'failed' ? 'failed' : 'too many refusals'}`);
          return;
        }
        this.result.retries++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 20 * (attempt + 1))));
      }
      this.result.batches++;
      this.result.events += ids.length;
    }
  }

  async #http(ids: string[]): Promise<'ok' | 'refused' | 'failed'> {
    try {
      const response = await fetch(`http://${this.target.host}:${this.target.httpPort}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.target.goodKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events: ids.map((id) => ({ id, name: 'good', userId: id.slice(0, 12) })) }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await response.json()) as { counts?: { accepted: number; duplicate: number; late: number }; error?: { code?: string } };
      // `late` is counted too (its 1-s window had closed, within allowedLatenessMs); `too_late` would not be, and fails here.
      if (response.status === 200 && body.counts !== undefined && body.counts.accepted + body.counts.duplicate + body.counts.late === ids.length) return 'ok';
      if ((response.status === 429 || response.status === 503) && body.error?.code !== undefined) return 'refused';
      this.result.failures.push(`HTTP ${response.status} ${JSON.stringify(body).slice(0, 200)}`);
      return 'failed';
    } catch (err) {
      this.result.failures.push(`HTTP request failed: ${(err as Error).message}`);
      return 'failed';
    }
  }

  #grpcSend(ids: string[]): Promise<'ok' | 'refused' | 'failed'> {
    const request: IngestRequest = {
      events: ids.map((id) => ({ id, name: 'good', userId: id.slice(0, 12), severity: Severity.SEVERITY_UNSPECIFIED, tags: [], properties: new Map() })),
      batchId: '',
      ack: AckLevel.ACK_LEVEL_UNSPECIFIED,
      receiptsAll: false,
    };
    const md = new Metadata();
    md.set('authorization', `Bearer ${this.target.goodKey}`);
    return new Promise((resolve) => {
      this.#grpc.send(request, md, { deadline: Date.now() + 30_000 }, (err: ServiceError | null, res?: IngestResponse) => {
        if (err === null && res !== undefined && res.accepted + res.duplicate + res.late === ids.length) resolve('ok');
        else if (err !== null && (err.code === GrpcStatus.RESOURCE_EXHAUSTED || err.code === GrpcStatus.UNAVAILABLE) && err.metadata.get('x-eventide-code').length > 0) resolve('refused');
        else {
          this.result.failures.push(`gRPC ${err === null ? JSON.stringify(res) : `${GrpcStatus[err.code]} ${err.details}`}`);
          resolve('failed');
        }
      });
    });
  }
}

// ---------------------------------------------------------------- the run

/** Inputs a case sends: one HTTP request, each gRPC message, each ws message or raw frame. */
export function inputsOf(c: FuzzCase): number {
  if (c.wire === 'http') return 1;
  if (c.wire === 'grpc') return c.messages;
  return c.messages.length + (c.rawFrames?.length ?? 0);
}

/** Sends one case and judges its answer; returns why it broke the rules, or undefined. Outcomes are counted into `report`. */
export async function runCase(
  target: FuzzTarget,
  c: FuzzCase,
  index: number,
  deadlineMs: number,
  report: FuzzReport,
): Promise<string | undefined> {
  if (c.wire === 'http') {
    const answer = await rawHttp(target.httpPort, c.pieces, {
      host: target.host,
      end: c.end,
      deadlineMs,
      ...(c.pieceDelayMs === undefined ? {} : { pieceDelayMs: c.pieceDelayMs }),
    });
    return judgeHttp(c, answer, report);
  }
  if (c.wire === 'grpc') {
    // A connection per case. HTTP/2 stacks count a client's abuse per
    // connection (data sent after the server ended the call, resets) and at a
    // threshold refuse its streams (ENHANCE_YOUR_CALM); shared connections
    // would make one case's abuse another case's failure.
    const session = http2.connect(`http://${target.host}:${target.grpcPort}`);
    session.on('goaway', (errorCode: number) => {
      if (errorCode !== 0) count(report, `grpc session goaway ${errorCode}`);
    });
    session.on('error', () => {});
    try {
      return judgeGrpc(c, await rawGrpc(session, c.path, c.headers, c.frames, { deadlineMs, end: c.end }), report);
    } finally {
      session.close();
    }
  }
  const outcome = c.rawFrames === undefined ? await runWsClient(target, c, index, deadlineMs) : await runWsRaw(target, c, index, deadlineMs);
  return judgeWs(c, outcome, report);
}

/** An empty report, to count into. */
export function emptyReport(seed: number): FuzzReport {
  return {
    seed,
    cases: 0,
    inputs: { http: 0, grpc: 0, ws: 0, total: 0 },
    durationMs: 0,
    outcomes: {},
    failures: [],
    slowestMs: { http: 0, grpc: 0, ws: 0 },
    good: { batches: 0, events: 0, retries: 0, failures: [] },
  };
}

/** Sends cases until `inputs` inputs went out; well-behaved senders run alongside. */
export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const report = emptyReport(options.seed);
  const started = performance.now();
  const good = new GoodSenders(target, options.goodSenders, options.goodBatchEvents);
  good.start();

  let next = 0;
  const worker = async (): Promise<void> => {
    while (report.inputs.total < options.inputs) {
      const index = next++;
      const c = fuzzCase(options.seed, index, options.mix, options.limits, target.fuzzKey, options.slowEvery);
      const inputs = inputsOf(c);
      report.inputs[c.wire] += inputs;
      report.inputs.total += inputs;
      const t0 = performance.now();
      const failure = await runCase(target, c, index, options.deadlineMs, report);
      const ms = performance.now() - t0;
      if (ms > report.slowestMs[c.wire]) report.slowestMs[c.wire] = ms;
      report.cases++;
      if (failure !== undefined) report.failures.push({ index, label: c.label, detail: failure });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  report.good = await good.stop();
  report.durationMs = performance.now() - started;
  return report;
}

// ---------------------------------------------------------------- a real server

export interface FuzzServer {
  target: FuzzTarget;
  child: ChildProcess;
  /** Lines the process wrote to stdout (JSON log lines and the banner). */
  lines: string[];
  /** Resolves with the exit code once the process exits. */
  exited: Promise<number | null>;
  /** What the process wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node dist/src/cli.js start` on free ports in `dataDir`, after
 * creating a key for the fuzz owner and one for the good owner with the CLI.
 */
export async function spawnFuzzServer(dataDir: string, flags: string[]): Promise<FuzzServer> {
  const common = ['--data-dir', dataDir];
  const keyOf = (owner: string) =>
    execFileSync(process.execPath, [CLI, 'keys', 'create', '--owner', owner, ...common], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const fuzzKey = keyOf('fuzz');
  const goodKey = keyOf('good');
  const child = spawn(process.execPath, [CLI, 'start', '--http-port', '0', '--grpc-port', '0', '--no-dev-key', ...common, ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stderr: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const ready = new Promise<FuzzTarget>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within ${SERVER_START_TIMEOUT_MS} ms: ${stderr.join('')}`)), SERVER_START_TIMEOUT_MS);
    void exited.then((code) => reject(new Error(`the server exited with ${String(code)} before it was ready: ${stderr.join('')}`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const listening = /listening: HTTP https?:\/\/([^:]+):(\d+).*gRPC \S+:(\d+)/.exec(line);
      if (listening !== null) {
        clearTimeout(timer);
        resolve({ host: listening[1]!, httpPort: Number(listening[2]), grpcPort: Number(listening[3]), fuzzKey, goodKey });
      }
    });
  });
  const target = await ready;
  return {
    target,
    child,
    lines,
    exited,
    stderr: () => stderr.join(''),
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** What the server says about itself after a run: worker restarts (from /metrics), error-level log lines, RSS. */
export async function serverHealth(server: FuzzServer): Promise<{ alive: boolean; workerRestarts: number; errorLines: string[]; rssBytes: number }> {
  const { host, httpPort } = server.target;
  const text = await (await fetch(`http://${host}:${httpPort}/metrics`)).text();
  let workerRestarts = 0;
  for (const match of text.matchAll(/^eventide_worker_restarts_total\{[^}]*\} (\d+)$/gm)) workerRestarts += Number(match[1]);
  const rss = /^process_resident_memory_bytes (\d+)/m.exec(text);
  const errorLines = server.lines.filter((line) => /"level":(50|60)\b/.test(line));
  return { alive: server.child.exitCode === null, workerRestarts, errorLines, rssBytes: rss === null ? 0 : Number(rss[1]) };
}

/** The good owner's counted total, from GET /v1/metrics over the run. */
export async function countedEvents(target: FuzzTarget, fromMs: number): Promise<number> {
  const url = `http://${target.host}:${target.httpPort}/v1/metrics?resolution=1m&from=${fromMs - 120_000}&to=${Date.now() + 120_000}`;
  const response = await fetch(url, { headers: { authorization: `Bearer ${target.goodKey}` } });
  const body = (await response.json()) as { summary?: { total?: number } };
  return body.summary?.total ?? -1;
}

/** The settings the fuzz server runs with: small limits, so every bound bites often, and short timeouts, so slow senders finish. */
export const FUZZ_LIMITS: FuzzLimits = {
  bodyBytesMax: 64 * 1024,
  bodyInflatedBytesMax: 256 * 1024,
  batchEventsMax: 100,
  httpHeaderBytesMax: 8 * 1024,
  grpcMetadataBytesMax: 4 * 1024,
  wsMessageBytesMax: 4 * 1024,
};

export function fuzzServerFlags(limits: FuzzLimits): string[] {
  return [
    '--workers', '2',
    '--shard-count', '64',
    '--log-level', 'warn',
    '--body-bytes-max', String(limits.bodyBytesMax),
    '--body-inflated-bytes-max', String(limits.bodyInflatedBytesMax),
    '--batch-events-max', String(limits.batchEventsMax),
    '--http-header-bytes-max', String(limits.httpHeaderBytesMax),
    '--grpc-metadata-bytes-max', String(limits.grpcMetadataBytesMax),
    '--ws-message-bytes-max', String(limits.wsMessageBytesMax),
    '--http-headers-timeout-ms', '1000',
    '--http-request-timeout-ms', '2000',
    '--grpc-request-timeout-ms', '1000',
    '--grpc-idle-timeout-ms', '5000',
    '--ws-idle-timeout-ms', '5000',
  ];
}

/** The report as markdown: totals, then the outcome distribution, then failures (first 50). */
export function reportMarkdown(report: FuzzReport, extra: Record<string, string>): string {
  const lines: string[] = [];
  lines.push(`| | |`, `|---|---|`);
  lines.push(`| seed | ${report.seed} |`);
  lines.push(`| inputs | ${report.inputs.total.toLocaleString('en-US')} (HTTP ${report.inputs.http.toLocaleString('en-US')}, gRPC ${report.inputs.grpc.toLocaleString('en-US')}, ws ${report.inputs.ws.toLocaleString('en-US')}) in ${report.cases.toLocaleString('en-US')} cases |`);
  lines.push(`| time | ${(report.durationMs / 1000).toFixed(1)} s (${Math.round(report.inputs.total / (report.durationMs / 1000)).toLocaleString('en-US')} inputs/s) |`);
  lines.push(`| slowest answer | HTTP ${report.slowestMs.http.toFixed(0)} ms, gRPC ${report.slowestMs.grpc.toFixed(0)} ms, ws ${report.slowestMs.ws.toFixed(0)} ms |`);
  lines.push(`| well-behaved | ${report.good.events.toLocaleString('en-US')} events in ${report.good.batches.toLocaleString('en-US')} batches acknowledged, ${report.good.retries} refusals retried |`);
  for (const [k, v] of Object.entries(extra)) lines.push(`| ${k} | ${v} |`);
  lines.push(`| failures | ${report.failures.length} |`);
  lines.push('', '| outcome | count |', '|---|---:|');
  for (const [k, v] of Object.entries(report.outcomes).sort((a, b) => b[1] - a[1])) lines.push(`| \`${k}\` | ${v.toLocaleString('en-US')} |`);
  if (report.failures.length > 0) {
    lines.push('', 'Failures (first 50):', '');
    for (const f of report.failures.slice(0, 50)) lines.push(`- case ${f.index} (${f.label}): ${f.detail}`);
  }
  return lines.join('\n');
}
