/**
 * Helpers of the operability tests: a real server whose log lines are
 * captured (startTestServer's logger is silent), a parser of Prometheus'
 * text exposition format, and a gRPC Send that also returns the answer's
 * metadata.
 */
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { startServer } from '../../src/server.js';
import { createLogger, silentLogger, type Logger, type LogLevel } from '../../src/log.js';
import { IngestClient, type IngestRequest, type IngestResponse } from '../../src/gen/eventide/v1/ingest.js';
import { Severity } from '../../src/gen/eventide/v1/event.js';
import { TEST_OVERRIDES, tempDir, type TestServer } from '../helpers.js';

export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A real pino logger (createLogger, as the server builds it) whose lines land in `lines`, parsed. */
export function captureLogger(level: LogLevel): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger({
    level,
    destination: {
      write(text: string) {
        for (const line of text.split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine);
      },
    },
  });
  return { log, lines };
}

/** startTestServer with a logger of the test's choice (and the level the server's settings say). */
export async function startOpsServer(
  t: TestContext,
  overrides: Record<string, unknown> = {},
  log: Logger = silentLogger,
): Promise<TestServer> {
  const dataDir = tempDir(t);
  const server = await startServer({ ...TEST_OVERRIDES, dataDir, devKey: false, ...overrides }, { log });
  const closeServer = server.close.bind(server);
  t.after(() => closeServer());
  const key = await server.createKey('acme');
  return Object.assign(server, { dataDir, key, close: closeServer });
}

// ---- Prometheus text format ------------------------------------------------------

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample line of an exposition, with its labels unescaped. Fails on a line it cannot read. */
export function parseExposition(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    assert.ok(match !== null, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, raw] of (match[2] ?? '').matchAll(LABEL)) {
      labels[name!] = raw!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const rawValue = match[3]!;
    // prom-client writes NaN as `Nan`; Prometheus reads it case-insensitively.
    const isNaNText = rawValue.toLowerCase() === 'nan';
    const value = rawValue === '+Inf' ? Number.POSITIVE_INFINITY : rawValue === '-Inf' ? Number.NEGATIVE_INFINITY : isNaNText ? Number.NaN : Number(rawValue);
    assert.ok(!Number.isNaN(value) || isNaNText, `not a number: ${line}`);
    out.push({ name: match[1]!, labels, value });
  }
  return out;
}

/** `name{a="1",b="2"}` with labels sorted: one string per series. */
export function seriesKey(series: Pick<Series, 'name' | 'labels'>): string {
  const labels = Object.keys(series.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(series.labels[k])}`)
    .join(',');
  return `${series.name}{${labels}}`;
}

export class Scrape {
  constructor(readonly series: Series[]) {}

  /** The sum of every series of `name` whose labels include `labels`. */
  sum(name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const s of this.series) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
    return total;
  }

  /** The one series of `name` with exactly these labels; fails when there is none. */
  get(name: string, labels: Record<string, string> = {}): number {
    const key = seriesKey({ name, labels });
    const found = this.series.find((s) => seriesKey(s) === key);
    assert.ok(found !== undefined, `no series ${key}`);
    return found.value;
  }

  has(name: string): boolean {
    return this.series.some((s) => s.name === name);
  }
}

export async function scrape(url: string, token?: string): Promise<Scrape> {
  const response = await fetch(`${url}/metrics`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return new Scrape(parseExposition(text));
}

// ---- gRPC ------------------------------------------------------------------------------

export function grpcClient(t: TestContext, server: { grpcTarget: string }): IngestClient {
  const client = new IngestClient(server.grpcTarget, credentials.createInsecure());
  t.after(() => client.close());
  return client;
}

export function grpcEvent(id: string, name: string, timestampMs: number): IngestRequest['events'][number] {
  return { id, name, timestampMs, userId: 'u1', severity: Severity.SEVERITY_INFO, tags: [], properties: new Map() };
}

/** A unary Send; resolves with the answer and the response metadata (headers), or rejects with the ServiceError. */
export function grpcSend(
  client: IngestClient,
  key: string,
  events: IngestRequest['events'],
  extra: Record<string, string> = {},
): Promise<{ response: IngestResponse; headers: Metadata }> {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${key}`);
  for (const [k, v] of Object.entries(extra)) metadata.set(k, v);
  return new Promise((resolve, reject) => {
    let headers = new Metadata();
    const call = client.send({ events, batchId: '', ack: 0, receiptsAll: false }, metadata, (err: ServiceError | null, response: IngestResponse) =>
      err === null ? resolve({ response, headers }) : reject(err),
    );
    call.on('metadata', (md: Metadata) => {
      headers = md;
    });
  });
}
