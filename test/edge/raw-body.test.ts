import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { EventideError } from '../../src/errors.js';
import {
  collectBody,
  createRawBodyStats,
  encodingOf,
  formatOfContentType,
  registerRawBodyParsers,
  type RawBody,
  type RawBodyStats,
} from '../../src/edge/raw-body.js';

const BODY_BYTES_MAX = 1_000;

interface Echo {
  length: number;
  byteOffset: number;
  arrayBufferBytes: number;
  format: string;
  encoding: string;
  text: string;
}

async function buildApp(t: TestContext, stats: RawBodyStats): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.setErrorHandler((err, _request, reply) => {
    const code = err instanceof EventideError ? err.code : String((err as { code?: unknown }).code);
    return reply.code(400).send({ code });
  });
  await app.register((scope, _options, done) => {
    registerRawBodyParsers(scope, { bodyBytesMax: BODY_BYTES_MAX, stats });
    scope.post('/in', (request, reply) => {
      const body = request.body as RawBody;
      const echo: Echo = {
        length: body.bytes.length,
        byteOffset: body.bytes.byteOffset,
        arrayBufferBytes: body.bytes.buffer.byteLength,
        format: body.format,
        encoding: body.encoding,
        text: body.bytes.toString('latin1'),
      };
      return reply.send(echo);
    });
    done();
  });
  // A sibling route outside the ingest context keeps fastify's JSON parser.
  app.post('/parsed', (request, reply) => reply.send({ parsed: request.body }));
  t.after(() => app.close());
  await app.ready();
  return app;
}

void test('formatOfContentType: known media types, parameters ignored, octet-stream refused', () => {
  assert.equal(formatOfContentType('application/json'), 'json');
  assert.equal(formatOfContentType('Application/JSON; charset=utf-8'), 'json');
  assert.equal(formatOfContentType('application/msgpack'), 'msgpack');
  assert.equal(formatOfContentType('application/x-msgpack'), 'msgpack');
  assert.equal(formatOfContentType('application/vnd.msgpack'), 'msgpack');
  assert.equal(formatOfContentType('application/x-protobuf'), 'protobuf');
  assert.equal(formatOfContentType('application/protobuf'), 'protobuf');
  assert.equal(formatOfContentType('application/octet-stream'), undefined);
  assert.equal(formatOfContentType('text/plain'), undefined);
  assert.equal(formatOfContentType('constructor'), undefined);
  assert.equal(formatOfContentType(undefined), undefined);
});

void test('encodingOf: identity and gzip pass, anything else is 415 on content-encoding', () => {
  assert.equal(encodingOf({}), 'identity');
  assert.equal(encodingOf({ 'content-encoding': 'identity' }), 'identity');
  assert.equal(encodingOf({ 'content-encoding': 'GZIP' }), 'gzip');
  assert.equal(encodingOf({ 'content-encoding': 'x-gzip' }), 'gzip');
  for (const value of ['br', 'deflate', 'gzip, gzip']) {
    assert.throws(
      () => encodingOf({ 'content-encoding': value }),
      (err: EventideError) => err.code === 'EVT_UNSUPPORTED_MEDIA_TYPE' && err.field === 'content-encoding',
    );
  }
});

void test('a small body arrives as one buffer that owns its whole ArrayBuffer (transferable)', async (t) => {
  const stats = createRawBodyStats();
  const app = await buildApp(t, stats);
  const res = await app.inject({ method: 'POST', url: '/in', headers: { 'content-type': 'application/json' }, payload: '{"name":"a"}' });
  assert.equal(res.statusCode, 200);
  const echo = res.json<Echo>();
  assert.deepEqual(echo, { length: 12, byteOffset: 0, arrayBufferBytes: 12, format: 'json', encoding: 'identity', text: '{"name":"a"}' });
});

void test('msgpack and protobuf bodies keep their bytes and format; gzip is passed through', async (t) => {
  const app = await buildApp(t, createRawBodyStats());
  const bytes = Buffer.from([0x81, 0xa4, 0x6e, 0x61, 0x6d, 0x65, 0x00, 0xff]);
  for (const [type, format] of [
    ['application/x-msgpack', 'msgpack'],
    ['application/x-protobuf', 'protobuf'],
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/in', headers: { 'content-type': type, 'content-encoding': 'gzip' }, payload: bytes });
    const echo = res.json<Echo>();
    assert.equal(echo.format, format);
    assert.equal(echo.encoding, 'gzip');
    assert.equal(echo.text, bytes.toString('latin1'));
  }
});

void test('a declared Content-Length over bodyBytesMax is 413 before any byte is read', async (t) => {
  const stats = createRawBodyStats();
  const app = await buildApp(t, stats);
  const res = await app.inject({ method: 'POST', url: '/in', headers: { 'content-type': 'application/json' }, payload: 'x'.repeat(BODY_BYTES_MAX + 1) });
  assert.equal(res.json<{ code: string }>().code, 'EVT_BODY_TOO_LARGE');
  assert.equal(stats.tooLarge, 1);
  const exact = await app.inject({ method: 'POST', url: '/in', headers: { 'content-type': 'application/json' }, payload: 'x'.repeat(BODY_BYTES_MAX) });
  assert.equal(exact.json<Echo>().length, BODY_BYTES_MAX);
});

void test('a body longer or shorter than its Content-Length is EVT_BODY_LENGTH_MISMATCH', async (t) => {
  const stats = createRawBodyStats();
  const app = await buildApp(t, stats);
  const shorter = await app.inject({ method: 'POST', url: '/in', headers: { 'content-type': 'application/json', 'content-length': '10' }, payload: 'hello' });
  assert.equal(shorter.json<{ code: string }>().code, 'EVT_BODY_LENGTH_MISMATCH');
  const longer = await app.inject({ method: 'POST', url: '/in', headers: { 'content-type': 'application/json', 'content-length': '5' }, payload: 'hello world' });
  assert.equal(longer.json<{ code: string }>().code, 'EVT_BODY_LENGTH_MISMATCH');
  assert.equal(stats.lengthMismatch, 2);
});

void test('unknown or missing content types are 415; other routes keep their JSON parser', async (t) => {
  const stats = createRawBodyStats();
  const app = await buildApp(t, stats);
  for (const headers of [{ 'content-type': 'application/octet-stream' }, { 'content-type': 'text/plain' }, {}]) {
    const res = await app.inject({ method: 'POST', url: '/in', headers, payload: 'hello' });
    assert.equal(res.json<{ code: string }>().code, 'EVT_UNSUPPORTED_MEDIA_TYPE');
  }
  assert.equal(stats.unsupportedMediaType, 3);
  const br = await app.inject({ method: 'POST', url: '/in', headers: { 'content-type': 'application/json', 'content-encoding': 'br' }, payload: '{}' });
  assert.equal(br.json<{ code: string }>().code, 'EVT_UNSUPPORTED_MEDIA_TYPE');
  const parsed = await app.inject({ method: 'POST', url: '/parsed', payload: { a: 1 } });
  assert.deepEqual(parsed.json(), { parsed: { a: 1 } });
});

/** Send raw bytes on a real socket and collect everything until the server closes or answers. */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let out = '';
    socket.on('data', (chunk: Buffer) => {
      out += chunk.toString('latin1');
      // One full response is enough; a kept-alive socket would otherwise stay open.
      if (/\r\n\r\n/.test(out) && out.includes('}')) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
}

void test('a chunked body over a real socket: concatenated unpooled, and refused once it passes the limit', async (t) => {
  const stats = createRawBodyStats();
  const app = await buildApp(t, stats);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const head = 'POST /in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
  const ok = await exchange(port, `${head}5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`);
  const echo = JSON.parse(ok.slice(ok.indexOf('{'))) as Echo;
  assert.deepEqual([echo.text, echo.byteOffset, echo.arrayBufferBytes], ['hello world', 0, 11]);

  const chunk = 'y'.repeat(600);
  const tooLarge = await exchange(port, `${head}258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`);
  assert.match(tooLarge, /EVT_BODY_TOO_LARGE/);
  assert.equal(stats.tooLarge, 1);
});

void test('collectBody: a stream that errors or closes mid-body fails once, never hangs', () => {
  const results: Array<string | number> = [];
  const record = (err: Error | null, bytes?: Buffer): void => {
    results.push(err === null ? bytes!.length : (err as EventideError).code);
  };
  const errored = new PassThrough();
  collectBody(errored, 10, 100, record);
  errored.write(Buffer.from('abc'));
  errored.destroy(new Error('aborted'));

  const closed = new PassThrough();
  collectBody(closed, undefined, 100, record);
  closed.write(Buffer.from('abc'));
  closed.destroy();

  const fine = new PassThrough();
  collectBody(fine, undefined, 100, record);
  fine.end(Buffer.from('abcdef'));

  return new Promise<void>((resolve) => {
    setImmediate(() => {
      assert.deepEqual(results.sort(), [6, 'EVT_BODY_LENGTH_MISMATCH', 'EVT_BODY_LENGTH_MISMATCH'].sort());
      resolve();
    });
  });
});
