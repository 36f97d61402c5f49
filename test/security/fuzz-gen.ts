/**
 * Seeded generators of malformed and hostile inputs for the fuzz
 * (fuzz.ts): case `i` of seed `s` is always the same bytes, whatever the
 * concurrency, so a failure names a case that can be replayed alone.
 *
 * Each generator starts from something valid (an event batch in one of the
 * three formats, a protocol message) and breaks it: bytes flipped, cut or
 * spliced, values swapped for hostile ones (prototype keys, deep nesting,
 * huge numbers, lone surrogates), headers and metadata that lie, bombs.
 */
import { gzipSync, deflateSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { Packr } from 'msgpackr';
import { forkSeed, mulberry32 } from '../../src/bench/prng.js';
import { IngestRequest, AckLevel } from '../../src/gen/eventide/v1/ingest.js';
import { Severity, type Event as PbEvent, type PropertyValue } from '../../src/gen/eventide/v1/event.js';
import { grpcFrame, httpRequest } from './wire.js';

export type Random = () => number;

/** Server limits the generators size their cases by (the fuzz server's settings). */
export interface FuzzLimits {
  bodyBytesMax: number;
  bodyInflatedBytesMax: number;
  batchEventsMax: number;
  httpHeaderBytesMax: number;
  grpcMetadataBytesMax: number;
  wsMessageBytesMax: number;
}

export interface HttpCase {
  wire: 'http';
  label: string;
  pieces: Buffer[];
  /** Half-close after the last piece. */
  end: boolean;
  /** Slow sender: wait this long between pieces, ms. */
  pieceDelayMs?: number;
  /** No bytes at all: the server owes no answer. */
  empty?: boolean;
}

export interface GrpcCase {
  wire: 'grpc';
  label: string;
  path: string;
  headers: Record<string, string>;
  frames: Buffer[];
  /** Stream messages (inputs counted), 1 for unary. */
  messages: number;
  end: boolean;
}

export interface WsCase {
  wire: 'ws';
  label: string;
  /** Key in the URL, header, first message or none. */
  auth: 'url' | 'header' | 'message' | 'none' | 'bad';
  /** Sent with the ws client, in order; a sentinel ping follows when the connection is still open. */
  messages: Array<string | Buffer>;
  /** Raw frames written after a hand-made handshake instead of using the ws client. */
  rawFrames?: Buffer[];
}

export type FuzzCase = HttpCase | GrpcCase | WsCase;

export function randomOf(random: Random): <T>(items: readonly T[]) => T {
  return <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
}

function int(random: Random, n: number): number {
  return Math.floor(random() * n);
}

function randomBytes(random: Random, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = int(random, 256);
  return out;
}

// ---------------------------------------------------------------- values

const NAMES = ['signup', 'click', 'purchase', 'page_view', 'a', 'x'.repeat(129), '', 'naïve', '🙂', '\u0000', 'constructor'];
const KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', 'k', 'color', 'a/b', '~0', '\u0000', 'k'.repeat(200)];
const STRINGS = ['', 'x', 'x'.repeat(2_000), '\ud800', '\udfff\ud800', '\u202e\u200b', '<script>', "'; DROP TABLE", '%00', '\\', '"', '\r\n', '💥'.repeat(50)];
const NUMBERS = [0, -0, 1, -1, 1.5, 2 ** 53 + 2, -(2 ** 63), 1e308, 5e-324, 1_700_000_000_000, Date.now() + 86_400_000 * 365];

function hostileValue(random: Random, depth = 0): unknown {
  const pick = randomOf(random);
  switch (int(random, depth > 2 ? 4 : 7)) {
    case 0:
      return pick(STRINGS);
    case 1:
      return pick(NUMBERS);
    case 2:
      return pick([true, false, null]);
    case 3:
      return pick(NAMES);
    case 4:
      return Array.from({ length: int(random, 4) }, () => hostileValue(random, depth + 1));
    case 5:
      return hostileObject(random, depth + 1);
    default:
      return Array.from({ length: int(random, 40) + 10 }, () => pick(STRINGS.slice(0, 2)));
  }
}

function hostileObject(random: Random, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const n = int(random, 5);
  for (let i = 0; i < n; i++) {
    // defineProperty so a "__proto__" key is an own key, as JSON.parse would make it.
    Object.defineProperty(out, randomOf(random)(KEYS), { value: hostileValue(random, depth), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** A valid event, or one with a field or two swapped for hostile values. */
export function fuzzEvent(random: Random, index: number, hostile: boolean): Record<string, unknown> {
  const pick = randomOf(random);
  const event: Record<string, unknown> = { id: `f-${index}-${int(random, 1e9)}`, name: pick(NAMES.slice(0, 5)) };
  if (random() < 0.5) event.userId = `u${int(random, 100)}`;
  if (random() < 0.3) event.tags = ['t1', 't2'].slice(0, int(random, 3));
  if (random() < 0.4) event.properties = { plan: 'pro', n: int(random, 10), ok: random() < 0.5 };
  if (random() < 0.3) event.value = random() * 100;
  if (random() < 0.2) event.severity = pick(['info', 'error', 'debug']);
  if (!hostile) return event;
  const fields = ['id', 'name', 'timestamp', 'sentAt', 'userId', 'category', 'severity', 'tags', 'properties', 'value', 'extra'];
  for (let n = int(random, 3) + 1; n > 0; n--) {
    const field = pick(fields);
    event[field] = field === 'properties' && random() < 0.6 ? hostileObject(random, 1) : hostileValue(random);
  }
  return event;
}

// ---------------------------------------------------------------- bodies

const packr = new Packr({ useRecords: false });
const packrExt = new Packr({ useRecords: true, moreTypes: true, useBigIntExtension: true, structuredClone: true });

function pbValue(v: unknown): PropertyValue {
  if (typeof v === 'string') return { kind: { $case: 'stringValue', value: v } };
  if (typeof v === 'number') return { kind: { $case: 'numberValue', value: v } };
  if (typeof v === 'boolean') return { kind: { $case: 'boolValue', value: v } };
  return { kind: undefined };
}

function toPb(e: Record<string, unknown>): PbEvent {
  const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v) ?? '');
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  // int64 fields: any safe integer, negative ones included; the encoder refuses the rest.
  const int64 = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined);
  return {
    id: str(e.id),
    name: str(e.name),
    timestampMs: int64(e.timestamp),
    sentAtMs: int64(e.sentAt),
    userId: typeof e.userId === 'string' ? e.userId : undefined,
    category: typeof e.category === 'string' ? e.category : undefined,
    // An enum number the schema does not know is fine on the wire; it must fit an int32.
    severity: typeof e.severity === 'number' && Number.isInteger(e.severity) && Math.abs(e.severity) < 2 ** 31 ? e.severity : Severity.SEVERITY_UNSPECIFIED,
    tags: Array.isArray(e.tags) ? e.tags.map(str) : [],
    properties: new Map(
      typeof e.properties === 'object' && e.properties !== null ? Object.entries(e.properties).map(([k, v]) => [k, pbValue(v)]) : [],
    ),
    value: num(e.value),
  };
}

export function protobufBody(events: Array<Record<string, unknown>>, random: Random): Buffer {
  const bytes = IngestRequest.encode({
    events: events.map(toPb),
    batchId: random() < 0.2 ? 'b'.repeat(int(random, 300)) : '',
    ack: randomOf(random)([AckLevel.ACK_LEVEL_UNSPECIFIED, AckLevel.ACK_LEVEL_APPLIED, 7 as AckLevel]),
    receiptsAll: random() < 0.3,
  }).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0xc1, 0xd4, 0xc7, 0xdd, 0x22, 0x5c, 0x5b, 0x7b, 0x5d, 0x7d, 0x2c, 0x0a, 0x0b, 0x0f];

/** One to four byte-level mutations. */
export function mutate(random: Random, input: Buffer): Buffer {
  let bytes = Buffer.from(input);
  for (let n = int(random, 4) + 1; n > 0; n--) {
    if (bytes.length === 0) return randomBytes(random, int(random, 16));
    const at = int(random, bytes.length);
    switch (int(random, 8)) {
      case 0:
        bytes[at] = bytes[at]! ^ (1 << int(random, 8));
        break;
      case 1:
        bytes[at] = randomOf(random)(INTERESTING);
        break;
      case 2:
        bytes = bytes.subarray(0, at);
        break;
      case 3:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + int(random, 32))]);
        break;
      case 4:
        bytes = Buffer.concat([bytes.subarray(0, at), randomBytes(random, int(random, 16) + 1), bytes.subarray(at)]);
        break;
      case 5: {
        const len = Math.min(int(random, 64) + 1, bytes.length - at);
        const slice = bytes.subarray(at, at + len);
        bytes = Buffer.concat([bytes.subarray(0, at), slice, slice, bytes.subarray(at)]);
        break;
      }
      case 6:
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.alloc(int(random, 8) + 1, randomOf(random)(INTERESTING)), bytes.subarray(at)]);
        break;
      default:
        bytes = bytes.subarray(int(random, Math.max(1, bytes.length)));
    }
  }
  return bytes;
}

/** Bombs and structures built to make a parser allocate, compressed so they are cheap to send. Built once per process. */
let bombs: Buffer[] | undefined;
function bombsFor(limits: FuzzLimits): Buffer[] {
  bombs ??= [
    gzipSync(Buffer.alloc(limits.bodyInflatedBytesMax * 4, 0x20)),
    gzipSync('['.repeat(limits.bodyInflatedBytesMax - 1)),
    gzipSync(`[{"name":"a","junk":[${'{},'.repeat(Math.floor(limits.bodyInflatedBytesMax / 3) - 10)}{}]}]`),
    gzipSync(`[${'{"name":"a"},'.repeat(limits.batchEventsMax + 1)}{"name":"a"}]`),
    gzipSync(packr.pack(Array.from({ length: limits.batchEventsMax + 1 }, () => ({ name: 'a' })))),
  ];
  return bombs;
}

interface Body {
  bytes: Buffer;
  contentType: string;
  label: string;
}

function body(random: Random, limits: FuzzLimits): Body {
  const pick = randomOf(random);
  const count = random() < 0.1 ? limits.batchEventsMax + int(random, 3) : int(random, 6) + 1;
  const hostile = random() < 0.7;
  const events = Array.from({ length: count }, (_, i) => fuzzEvent(random, i, hostile && random() < 0.5));
  const shape = int(random, 3);
  const value: unknown = shape === 0 ? events[0] : shape === 1 ? events : { events, batchId: random() < 0.5 ? 'b1' : hostileValue(random) };
  switch (int(random, 10)) {
    case 0:
    case 1:
    case 2: {
      let text = JSON.stringify(value) ?? 'null';
      // Text-level hostility JSON.stringify cannot produce.
      switch (int(random, 8)) {
        case 0:
          text = text.replace('{', `{"__proto__":${JSON.stringify(hostileValue(random))},`);
          break;
        case 1:
          text = `${'['.repeat(int(random, 40) + 10)}${text}${']'.repeat(int(random, 40))}`;
          break;
        case 2:
          text = text.replace(/\d+/, '1e999');
          break;
        case 3:
          text = `\ufeff${text}`;
          break;
        case 4:
          text = text.replace('"name"', '"name":"dup","name"');
          break;
        default:
          break;
      }
      return { bytes: Buffer.from(text), contentType: 'application/json', label: 'json' };
    }
    case 3:
    case 4:
      return { bytes: Buffer.from(packr.pack(value)), contentType: pick(['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack']), label: 'msgpack' };
    case 5:
      return { bytes: Buffer.from(packrExt.pack(events.map((e) => ({ ...e, at: new Date(0), set: new Set([1]) })))), contentType: 'application/msgpack', label: 'msgpack-ext' };
    case 6:
    case 7:
      return { bytes: protobufBody(events, random), contentType: pick(['application/x-protobuf', 'application/protobuf']), label: 'protobuf' };
    case 8:
      return { bytes: randomBytes(random, int(random, 256)), contentType: pick(['application/json', 'application/msgpack', 'application/x-protobuf']), label: 'random-bytes' };
    default:
      return { bytes: pick(bombsFor(limits)), contentType: pick(['application/json', 'application/msgpack']), label: 'bomb' };
  }
}

// ---------------------------------------------------------------- HTTP

const CONTENT_TYPES = [
  'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;;', 'text/plain', 'application/octet-stream',
  'multipart/form-data; boundary=x', '', 'application/x-www-form-urlencoded', 'application/json, application/msgpack', '\u00ff',
];
const ENCODINGS = ['gzip', 'x-gzip', 'identity', 'deflate', 'br', 'gzip, gzip', 'GZIP', '', 'compress'];
const METHODS = ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'POST', 'FOO', 'get', 'PROPFIND'];

/** Printable junk for headers (no CR/LF: the case is about values, not splitting). */
function headerJunk(random: Random, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += String.fromCharCode(0x20 + int(random, 0x5f));
  return out;
}

/** Every byte percent-encoded (encodeURIComponent refuses lone surrogates; Buffer turns them into U+FFFD). */
function percent(text: string): string {
  return [...Buffer.from(text)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

function junkPath(random: Random): string {
  const pick = randomOf(random);
  return pick([
    '/', '/v1', '/v1/events/', `/v1/events/${percent(pick(STRINGS))}`, `/v1/events/${'a'.repeat(600)}`,
    '/v1/events/%ZZ', '/v1/events/..%2f..%2fetc%2fpasswd', '/v1/metrics?resolution=1y', '/v1/metrics?from=abc&to=-1',
    `/v1/metrics?from=${Number.MAX_SAFE_INTEGER}&to=0`, '/v1/metrics?name=&resolution=1s', `/v1/metrics?${'a=1&'.repeat(500)}`,
    '/v1/metrics?__proto__[x]=1&constructor[prototype][y]=2', '/readyz?x', '/metrics', '/docs', '//v1//events',
    '/v1/stream', '/v1/admin/keys', `/${'%'.repeat(20)}`, '/v1/events?ack=sometimes', '/v1/events?receipts=most',
    '*', 'http://example.com/v1/events', '/v1/events#frag', '/\u0000',
  ]);
}

export function httpCase(random: Random, limits: FuzzLimits, fuzzKey: string): HttpCase {
  const pick = randomOf(random);
  const kind = int(random, 100);
  if (kind === 0) return { wire: 'http', label: 'empty', pieces: [], end: true, empty: true };
  if (kind < 4) {
    // Raw junk where a request should be.
    const junk = pick([randomBytes(random, int(random, 200) + 1), Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'latin1')]);
    return { wire: 'http', label: 'junk', pieces: [junk], end: true };
  }
  const b = body(random, limits);
  let bytes = b.bytes;
  const headers: Array<[string, string]> = [['host', '127.0.0.1']];
  const auth = int(random, 10);
  if (auth < 7) headers.push(['authorization', `Bearer ${fuzzKey}`]);
  else if (auth === 7) headers.push(['authorization', pick(['Bearer', 'Bearer ', `Basic ${fuzzKey}`, `Bearer ${fuzzKey}x`, `bearer\t${fuzzKey}`, `Bearer ${'A'.repeat(3000)}`])]);
  else if (auth === 8) headers.push(['x-api-key', pick([fuzzKey, 'evt_', ''])]);
  let contentType = random() < 0.85 ? b.contentType : pick(CONTENT_TYPES);
  if (random() < 0.05) contentType = contentType.toUpperCase();
  if (random() < 0.95) headers.push(['content-type', contentType]);
  let label = `http ${b.label}`;
  if (b.label === 'bomb' || random() < 0.1) {
    if (b.label !== 'bomb') bytes = pick([gzipSync(bytes), deflateSync(bytes), mutate(random, gzipSync(bytes))]);
    headers.push(['content-encoding', b.label === 'bomb' ? 'gzip' : pick(ENCODINGS)]);
    label += '+enc';
  }
  if (random() < 0.35) {
    bytes = mutate(random, bytes);
    label += ' mutated';
  }
  if (random() < 0.2) headers.push(['x-eventide-ack', pick(['durable', 'applied', 'never', '', 'DURABLE'])]);
  if (random() < 0.2) headers.push(['x-eventide-receipts', pick(['all', 'rejected', 'some', ''])]);
  if (random() < 0.1) headers.push(['x-request-id', pick(['r-1', 'x'.repeat(500), '../../', '\u00e9', ''])]);
  if (random() < 0.1) {
    for (let n = int(random, 20) + 1; n > 0; n--) headers.push([`x-${headerJunk(random, 5).replace(/[^a-z]/gi, 'z')}`, headerJunk(random, int(random, 200))]);
  }
  if (random() < 0.03) headers.push(['x-big', 'a'.repeat(limits.httpHeaderBytesMax + int(random, 4096))]);

  let method = 'POST';
  let path = '/v1/events';
  if (random() < 0.15) {
    method = pick(METHODS);
    path = junkPath(random);
    label = `http ${method} route`;
  } else if (random() < 0.05) {
    path = pick(['/v1/events?ack=durable', '/v1/events?receipts=all', '/v1/events?ack=x&ack=y']);
  }

  // How the body is framed: honest, lying, chunked, or cut off.
  const framing = int(random, 20);
  let pieces: Buffer[];
  const end = true;
  if (framing === 0) {
    headers.push(['content-length', String(bytes.length + int(random, 100) + 1)]);
    label += ' short-body';
    pieces = [httpRequest(method, path, headers, bytes)];
  } else if (framing === 1) {
    headers.push(['content-length', String(Math.max(0, bytes.length - int(random, 10) - 1))]);
    label += ' long-body';
    pieces = [httpRequest(method, path, headers, bytes)];
  } else if (framing === 2) {
    headers.push(['transfer-encoding', 'chunked']);
    const chunked = Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n0\r\n\r\n')]);
    pieces = [httpRequest(method, path, headers, random() < 0.5 ? chunked : mutate(random, chunked))];
    label += ' chunked';
  } else if (framing === 3) {
    headers.push(['content-length', String(bytes.length)], ['content-length', String(bytes.length + 1)]);
    pieces = [httpRequest(method, path, headers, bytes)];
    label += ' dup-length';
  } else if (framing === 4) {
    headers.push(['content-length', `${bytes.length}`], ['transfer-encoding', pick(['chunked', 'gzip, chunked', 'identity'])]);
    pieces = [httpRequest(method, path, headers, bytes)];
    label += ' cl+te';
  } else if (framing === 5) {
    headers.push(['content-length', pick(['-1', '1e3', '0x10', ' 12', '99999999999999999999', 'abc'])]);
    pieces = [httpRequest(method, path, headers, bytes)];
    label += ' bad-length';
  } else if (framing === 6 && limits.bodyBytesMax > 0) {
    // Declared over the limit, body never sent in full.
    headers.push(['content-length', String(limits.bodyBytesMax + 1 + int(random, 1e6))]);
    pieces = [httpRequest(method, path, headers, bytes.subarray(0, 100))];
    label += ' over-limit';
  } else {
    headers.push(['content-length', String(bytes.length)]);
    pieces = [httpRequest(method, path, headers, bytes)];
  }
  if (random() < 0.03) {
    // A request line or header broken at the byte level.
    pieces = [mutate(random, pieces[0]!.subarray(0, Math.min(pieces[0]!.length, 400))), pieces[0]!.subarray(Math.min(pieces[0]!.length, 400))];
    label += ' broken-head';
  }
  // A mutation can cut everything away, or leave only line breaks (which HTTP
  // ignores before a request line): no request, no answer owed.
  if (pieces.every((piece) => piece.every((b) => b === 0x0d || b === 0x0a))) return { wire: 'http', label: `${label} (empty)`, pieces, end, empty: true };
  return { wire: 'http', label, pieces, end };
}

/** A slow sender: a request trickled out in pieces, never finished (no half-close). */
export function slowHttpCase(random: Random, fuzzKey: string): HttpCase {
  const head = httpRequest('POST', '/v1/events', [
    ['host', 'x'],
    ['authorization', `Bearer ${fuzzKey}`],
    ['content-type', 'application/json'],
    ['content-length', '1000'],
  ]);
  const headersOnly = random() < 0.5;
  const text = headersOnly ? head.subarray(0, head.length - 10) : Buffer.concat([head, Buffer.from('[{"name":"slow"')]);
  const pieces: Buffer[] = [];
  for (let i = 0; i < text.length; i += 16) pieces.push(text.subarray(i, i + 16));
  return { wire: 'http', label: headersOnly ? 'http slow-headers' : 'http slow-body', pieces, end: false, pieceDelayMs: 50 + int(random, 100) };
}

// ---------------------------------------------------------------- gRPC

const SEND = '/eventide.v1.Ingest/Send';
const STREAM = '/eventide.v1.Ingest/Stream';
const HEALTH = '/grpc.health.v1.Health/Check';

export function grpcCase(random: Random, limits: FuzzLimits, fuzzKey: string): GrpcCase {
  const pick = randomOf(random);
  const headers: Record<string, string> = {};
  const auth = int(random, 10);
  if (auth < 8) headers.authorization = `Bearer ${fuzzKey}`;
  else if (auth === 8) headers.authorization = pick(['Bearer', `Bearer ${fuzzKey}z`, 'Basic x', '']);
  if (random() < 0.2) headers['x-eventide-ack'] = pick(['durable', 'applied', 'nope', '']);
  if (random() < 0.2) headers['x-eventide-receipts'] = pick(['all', 'rejected', 'none']);
  if (random() < 0.1) headers['x-request-id'] = pick(['g-1', 'y'.repeat(300), '../x']);
  if (random() < 0.1) headers['grpc-timeout'] = pick(['1S', '100m', '99999999H', 'abc', '1n', '0S']);
  if (random() < 0.05) headers['x-junk-bin'] = randomBytes(random, int(random, 200)).toString('base64');
  if (random() < 0.04) headers['x-big'] = 'b'.repeat(limits.grpcMetadataBytesMax + int(random, 8192));
  let label = 'grpc';
  let compressed = false;
  if (random() < 0.12) {
    headers['grpc-encoding'] = pick(['gzip', 'deflate', 'identity', 'br', 'snappy', '']);
    compressed = random() < 0.8;
    label += ` enc:${headers['grpc-encoding']}`;
  }
  const path = int(random, 20) === 0 ? HEALTH : random() < 0.3 ? STREAM : SEND;
  label += path === STREAM ? ' stream' : path === HEALTH ? ' health' : ' send';
  const messages = path === STREAM ? int(random, 5) + 1 : 1;
  const frames: Buffer[] = [];
  for (let m = 0; m < messages; m++) {
    const count = random() < 0.05 ? limits.batchEventsMax + 1 : int(random, 5) + 1;
    let bytes: Buffer = path === HEALTH ? Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]) : protobufBody(Array.from({ length: count }, (_, i) => fuzzEvent(random, i, random() < 0.5)), random);
    const mode = int(random, 12);
    if (mode < 4) {
      bytes = mutate(random, bytes);
      label += ' mutated';
    } else if (mode === 4) {
      bytes = Buffer.concat([bytes, randomBytes(random, 8)]);
    } else if (mode === 5) {
      bytes = Buffer.alloc(int(random, 4000) + 1, pick([0x0b, 0x0a, 0x08, 0xff]));
      label += ' pattern';
    } else if (mode === 6) {
      bytes = Buffer.alloc(limits.bodyBytesMax + 1 + int(random, 1000));
      label += ' oversize';
    }
    let frame: Buffer;
    if (compressed) {
      const encoded = headers['grpc-encoding'] === 'deflate' ? deflateSync(bytes) : gzipSync(bytes);
      frame = grpcFrame(random() < 0.2 ? mutate(random, encoded) : encoded, true);
    } else {
      frame = grpcFrame(bytes, random() < 0.03);
    }
    if (random() < 0.04) {
      // A length prefix that lies.
      frame.writeUInt32BE(pick([0, 1, frame.length, frame.length + 100, 0x7fffffff, 0xffffffff]) >>> 0, 1);
      label += ' lying-length';
    }
    frames.push(frame);
  }
  if (path === SEND && random() < 0.03) {
    // Two messages on a unary call, or none.
    if (random() < 0.5) frames.push(frames[0]!);
    else frames.length = 0;
    label += ' unary-count';
  }
  return { wire: 'grpc', label, path, headers, frames, messages: Math.max(1, frames.length), end: true };
}

// ---------------------------------------------------------------- ws

export function wsCase(random: Random, limits: FuzzLimits): WsCase {
  const pick = randomOf(random);
  const auth = pick(['url', 'url', 'url', 'header', 'message', 'none', 'bad'] as const);
  const count = int(random, 6) + 1;
  const messages: Array<string | Buffer> = [];
  for (let i = 0; i < count; i++) {
    const base: Record<string, unknown> = pick([
      { type: 'subscribe', resolution: pick(['1s', '1m', '1h', '1d', '1y', '', 5]) },
      { type: 'subscribe', resolution: '1m', resume: { epoch: pick(['e', 'x'.repeat(100), 5]), seq: pick([0, -1, 1.5, 2 ** 60, '3']) } },
      { type: 'subscribe', resolution: '1s', owner: pick(['other', 'fuzz', { $ne: 1 }, null]) },
      { type: 'unsubscribe', resolution: pick(['1s', '1m', 'x']) },
      { type: 'ping' },
      { type: 'auth', key: pick(['evt_nope', '', 5]) },
      { type: pick(['', 'PING', 'subscribe ', 'toString', '__proto__', 5, null]) },
      {},
    ]);
    const text = JSON.stringify(base);
    switch (int(random, 10)) {
      case 0:
        messages.push(mutate(random, Buffer.from(text)).toString('latin1'));
        break;
      case 1:
        messages.push(`${'['.repeat(int(random, 5000) + 5)}${text}`);
        break;
      case 2:
        messages.push('x'.repeat(limits.wsMessageBytesMax + 1 + int(random, limits.wsMessageBytesMax * 5)));
        break;
      case 3:
        messages.push(Buffer.from(text));
        break;
      case 4:
        messages.push(text.replace('{', '{"__proto__":{"type":"ping"},'));
        break;
      case 5:
        messages.push(randomBytes(random, int(random, 64)));
        break;
      default:
        messages.push(text);
    }
  }
  const wsCase: WsCase = { wire: 'ws', label: `ws ${auth}`, auth, messages };
  if (random() < 0.15) {
    wsCase.rawFrames = rawFrames(random);
    wsCase.label = 'ws raw-frames';
  }
  return wsCase;
}

/** A client frame: FIN and opcode, masked (or not), with a length field that may lie. */
function frame(random: Random, opcode: number, payload: Buffer, opts: { fin?: boolean; rsv?: number; masked?: boolean; lengthLie?: number } = {}): Buffer {
  const first = ((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode;
  const length = opts.lengthLie ?? payload.length;
  const masked = opts.masked ?? true;
  let header: Buffer;
  if (length < 126) header = Buffer.from([first, (masked ? 0x80 : 0) | length]);
  else if (length < 65536) header = Buffer.from([first, (masked ? 0x80 : 0) | 126, length >> 8, length & 0xff]);
  else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = (masked ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  if (!masked) return Buffer.concat([header, payload]);
  const mask = randomBytes(random, 4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, body]);
}

function rawFrames(random: Random): Buffer[] {
  const pick = randomOf(random);
  const ping = Buffer.from('{"type":"ping"}');
  return [
    pick([
      frame(random, 0x1, ping, { masked: false }),
      frame(random, 0x1, Buffer.from([0xc3, 0x28, 0xff])),
      frame(random, pick([0x3, 0x4, 0x5, 0xb, 0xf]), ping),
      frame(random, 0x1, ping, { rsv: int(random, 7) + 1 }),
      frame(random, 0x9, Buffer.alloc(200)),
      frame(random, 0x8, Buffer.from([0x03, 0xe7])),
      frame(random, 0x8, Buffer.from([0x0f])),
      frame(random, 0x9, ping, { fin: false }),
      frame(random, 0x1, ping, { lengthLie: 2 ** 40 }),
      frame(random, 0x0, ping),
      Buffer.concat([frame(random, 0x1, ping.subarray(0, 5), { fin: false }), frame(random, 0x1, ping.subarray(5))]),
      randomBytes(random, int(random, 64) + 1),
      frame(random, 0x2, randomBytes(random, int(random, 100))),
    ]),
  ];
}

/** The handshake request of a raw ws connection, with its key and the accept value to expect. */
export function wsHandshake(path: string, key: string | undefined): { request: Buffer; accept: string } {
  const nonce = createHash('sha256').update(path).digest().subarray(0, 16).toString('base64');
  const accept = createHash('sha1').update(`${nonce}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  const headers: Array<[string, string]> = [
    ['host', '127.0.0.1'],
    ['upgrade', 'websocket'],
    ['connection', 'Upgrade'],
    ['sec-websocket-key', nonce],
    ['sec-websocket-version', '13'],
  ];
  if (key !== undefined) headers.push(['authorization', `Bearer ${key}`]);
  return { request: httpRequest('GET', path, headers), accept };
}

// ---------------------------------------------------------------- the plan

export interface FuzzMix {
  http: number;
  grpc: number;
  ws: number;
}

/**
 * Case `index` of `seed`: the wire is chosen by the mix, then the case by
 * the generator, each from the same forked stream. `slowEvery`: every
 * slowEvery-th HTTP case is a slow sender instead.
 */
export function fuzzCase(seed: number, index: number, mix: FuzzMix, limits: FuzzLimits, fuzzKey: string, slowEvery: number): FuzzCase {
  const random = mulberry32(forkSeed(seed, index));
  const roll = random() * (mix.http + mix.grpc + mix.ws);
  if (roll < mix.http) {
    if (slowEvery > 0 && index % slowEvery === slowEvery - 1) return slowHttpCase(random, fuzzKey);
    return httpCase(random, limits, fuzzKey);
  }
  if (roll < mix.http + mix.grpc) return grpcCase(random, limits, fuzzKey);
  return wsCase(random, limits);
}
