/**
 * Hostile HTTP clients against a real server: slow senders, oversize heads,
 * requests Node would answer on its own, bodies built to make a parser
 * allocate or recurse, and too many connections. Each gets a stable code,
 * and a well-behaved client is served and counted throughout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { Packr } from 'msgpackr';
import { getJson, postEvents, startTestServer, eventually } from '../helpers.js';
import { httpRequest, rawHttp, type RawAnswer } from './wire.js';

/** Generous: a hang is a failure, a slow machine is not. */
const DEADLINE_MS = 20_000;

function codeOf(answer: RawAnswer): string | undefined {
  try {
    return (JSON.parse(answer.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

void test('slow senders: headers past httpHeadersTimeoutMs and a body past httpRequestTimeoutMs get 408 EVT_REQUEST_TIMEOUT', async (t) => {
  const server = await startTestServer(t, { httpHeadersTimeoutMs: 300, httpRequestTimeoutMs: 600 });
  const port = portOf(server.httpUrl);

  // Half a request line, then nothing: the server must not wait forever.
  const headers = await rawHttp(port, ['POST /v1/ev'], { deadlineMs: DEADLINE_MS, end: false });
  assert.equal(headers.timedOut, false);
  assert.equal(headers.status, 408);
  assert.equal(codeOf(headers), 'EVT_REQUEST_TIMEOUT');

  // Complete headers, a Content-Length of 100 and 10 bytes, then silence (no half-close).
  const head = httpRequest('POST', '/v1/events', [
    ['host', 'x'],
    ['authorization', `Bearer ${server.key}`],
    ['content-type', 'application/json'],
    ['content-length', '100'],
  ]);
  const body = await rawHttp(port, [head, '{"name":"a'], { deadlineMs: DEADLINE_MS, end: false });
  assert.equal(body.timedOut, false);
  assert.equal(body.status, 408);
  assert.equal(codeOf(body), 'EVT_REQUEST_TIMEOUT');

  // One byte at a time, each within the headers timeout but all of it past the request timeout.
  const trickle = [...'POST /v1/events HTTP/1.1\r\nhost: x\r\n'].map((c) => c);
  const slow = await rawHttp(port, trickle, { deadlineMs: DEADLINE_MS, end: false, pieceDelayMs: 40 });
  assert.equal(slow.status, 408);
  assert.equal(codeOf(slow), 'EVT_REQUEST_TIMEOUT');

  const ok = await postEvents(server, server.key, JSON.stringify({ id: 'fine', name: 'ok' }));
  assert.equal(ok.status, 200);
});

void test('heads: headers or a URL over httpHeaderBytesMax get 431; no Host, an odd Expect and CONNECT get our error shape', async (t) => {
  const server = await startTestServer(t, { httpHeaderBytesMax: 4096 });
  const port = portOf(server.httpUrl);
  const send = (bytes: Buffer) => rawHttp(port, [bytes], { deadlineMs: DEADLINE_MS });

  const bigHeader = await send(httpRequest('GET', '/livez', [['host', 'x'], ['x-junk', 'a'.repeat(8192)]]));
  assert.equal(bigHeader.status, 431);
  assert.equal(codeOf(bigHeader), 'EVT_HEADERS_TOO_LARGE');
  const manyHeaders = await send(httpRequest('GET', '/livez', Array.from({ length: 400 }, (_, i): [string, string] => [`x-h${i}`, 'v'.repeat(16)])));
  assert.equal(manyHeaders.status, 431);
  const longUrl = await send(httpRequest('GET', `/v1/events/${'a'.repeat(8192)}`, [['host', 'x']]));
  assert.equal(longUrl.status, 431);
  assert.equal(codeOf(longUrl), 'EVT_HEADERS_TOO_LARGE');

  // HTTP/1.1 without Host: served like any other request (Node would answer a bare 400).
  const noHost = await send(httpRequest('POST', '/v1/events', [['content-type', 'application/json'], ['content-length', '2']], '{}'));
  assert.equal(noHost.status, 401);
  assert.equal(codeOf(noHost), 'EVT_UNAUTHENTICATED');
  // An expectation other than 100-continue is ignored (Node would answer a bare 417).
  const expect = await send(httpRequest('GET', '/livez', [['host', 'x'], ['expect', 'the-impossible']]));
  assert.equal(expect.status, 200);
  const connect = await send(httpRequest('CONNECT', 'example.com:443', [['host', 'example.com:443']]));
  assert.equal(connect.status, 400);
  assert.equal(codeOf(connect), 'EVT_REQUEST_MALFORMED');
  const garbage = await send(Buffer.from('\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http at all\r\n\r\n', 'latin1'));
  assert.equal(garbage.status, 400);
  assert.equal(codeOf(garbage), 'EVT_REQUEST_MALFORMED');
  const smuggle = await send(
    httpRequest('POST', '/v1/events', [['host', 'x'], ['content-length', '5'], ['transfer-encoding', 'chunked']], '0\r\n\r\n'),
  );
  assert.equal(smuggle.status, 400);
  assert.equal(codeOf(smuggle), 'EVT_REQUEST_MALFORMED');
});

void test('bodies built to make a parser allocate or recurse are refused before parsing, with stable codes', async (t) => {
  const server = await startTestServer(t);
  const msgpack = new Packr({ useRecords: false });
  const deep = '['.repeat(2 * 1024 * 1024) + ']'.repeat(2 * 1024 * 1024);
  const wide = `[{"name":"a","junk":[${'{},'.repeat(1_000_000)}{}]}]`;
  const cases: Array<{ what: string; body: string | Uint8Array; headers?: Record<string, string>; status: number; code: string }> = [
    { what: '4 MiB of nesting', body: deep.slice(0, 4 * 1024 * 1024 - 16), status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'a gzip bomb of nesting (16 MiB inflated)', body: gzipSync('['.repeat(16 * 1024 * 1024 - 1)), headers: { 'content-encoding': 'gzip' }, status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'a million empty objects in one event', body: gzipSync(wide), headers: { 'content-encoding': 'gzip' }, status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'five million empty events', body: gzipSync(`[${'{},'.repeat(5_000_000)}{}]`), headers: { 'content-encoding': 'gzip' }, status: 413, code: 'EVT_BATCH_TOO_LONG' },
    { what: 'one object with a million keys', body: gzipSync(`{"name":"a",${Array.from({ length: 1_000_000 }, (_, i) => `"k${i}":0`).join(',')}}`), headers: { 'content-encoding': 'gzip' }, status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'msgpack nesting', body: new Uint8Array(1024 * 1024).fill(0x91), headers: { 'content-type': 'application/msgpack' }, status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'a msgpack extension', body: new Packr({ useRecords: true }).pack([{ name: 'a' }]), headers: { 'content-type': 'application/msgpack' }, status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'a msgpack __proto__ key', body: new Uint8Array([0x91, 0x82, 0xa4, ...Buffer.from('name'), 0xa1, 0x61, 0xa9, ...Buffer.from('__proto__'), 0x80]), headers: { 'content-type': 'application/msgpack' }, status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'a msgpack array header of 4 billion', body: new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]), headers: { 'content-type': 'application/msgpack' }, status: 413, code: 'EVT_BATCH_TOO_LONG' },
    { what: 'protobuf groups nested past the decoder limit', body: new Uint8Array(200_000).fill(0x0b), headers: { 'content-type': 'application/x-protobuf' }, status: 400, code: 'EVT_BODY_MALFORMED' },
    { what: 'properties.constructor', body: JSON.stringify({ name: 'a', properties: { constructor: 1 } }), status: 400, code: 'EVT_FIELD_INVALID' },
    { what: 'properties.prototype in msgpack', body: msgpack.pack({ name: 'a', properties: { prototype: 'x' } }), headers: { 'content-type': 'application/msgpack' }, status: 400, code: 'EVT_FIELD_INVALID' },
  ];
  for (const c of cases) {
    const answer = await postEvents(server, server.key, c.body, c.headers ?? {});
    assert.equal(answer.status, c.status, `${c.what}: ${JSON.stringify(answer.body).slice(0, 300)}`);
    assert.equal((answer.body.error as { code?: string } | undefined)?.code, c.code, c.what);
  }
  // Deep nesting a little under bodyDepthMax still reads as a batch (its events are then rejected one by one).
  const fine = await postEvents(server, server.key, JSON.stringify([{ id: 'ok-1', name: 'ok' }, { name: 'x', junk: [[[[[[[[1]]]]]]]] }]));
  assert.equal(fine.status, 200, JSON.stringify(fine.body));
  const now = Date.now();
  const metrics = await getJson(`${server.httpUrl}/v1/metrics?resolution=1m&from=${now - 120_000}&to=${now + 60_000}`, server.key);
  assert.equal((metrics.body.summary as { total: number }).total, 2);
});

void test('connections past httpConnectionsMax are closed on arrival and counted; the rest are served', async (t) => {
  const server = await startTestServer(t, { httpConnectionsMax: 4 });
  const port = portOf(server.httpUrl);
  const idle: net.Socket[] = [];
  t.after(() => {
    for (const socket of idle) socket.destroy();
  });
  for (let i = 0; i < 4; i++) {
    const socket = net.connect({ port, host: '127.0.0.1' });
    await new Promise((resolve) => socket.once('connect', resolve));
    idle.push(socket);
  }
  const refused = await rawHttp(port, [httpRequest('GET', '/livez', [['host', 'x']])], { deadlineMs: DEADLINE_MS });
  assert.equal(refused.status, 0);
  assert.equal(refused.closed, true);
  for (const socket of idle.splice(0)) socket.destroy();
  await eventually(async () => (await rawHttp(port, [httpRequest('GET', '/livez', [['host', 'x']])], { deadlineMs: DEADLINE_MS })).status === 200);
  const metrics = await fetch(`${server.httpUrl}/metrics`);
  const text = await metrics.text();
  const dropped = /^eventide_http_connections_dropped_total (\d+)$/m.exec(text);
  assert.ok(dropped !== null && Number(dropped[1]) >= 1, text.slice(0, 200));
});
