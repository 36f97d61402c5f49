/**
 * The harness's HTTP/1.1 client (src/bench/http1.ts) against real servers on
 * free ports: node:http for the usual framings, raw TCP servers for what a
 * server may do to it (close mid-response, never answer, send garbage).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { BODY_BYTES_MAX, HEAD_BYTES_MAX, Http1Connection, Http1Error, frame, parseHead } from '../../src/bench/http1.js';
import { createHttpTransport } from '../../src/bench/transports.js';

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: net.Server): Promise<void> {
  (server as http.Server).closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function head(path: string, headers: Record<string, string | number>): string {
  return `POST ${path} HTTP/1.1\r\nHost: test\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

/** A raw server whose every connection is handed to `onConnection`; counts connections. */
function rawServer(onConnection: (socket: net.Socket, index: number) => void): net.Server & { connections: number } {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    onConnection(socket, server.connections++);
  }) as net.Server & { connections: number };
  server.connections = 0;
  return server;
}

/** Reads one request (head + Content-Length body) from a socket at a time, calling `answer` with it. */
function onRequests(socket: net.Socket, answer: (request: { head: string; body: Buffer }, n: number) => void): void {
  let data = Buffer.alloc(0);
  let n = 0;
  socket.on('data', (chunk: Buffer) => {
    data = Buffer.concat([data, chunk]);
    for (;;) {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const text = data.toString('latin1', 0, end);
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      const body = data.subarray(end + 4, end + 4 + length);
      data = data.subarray(end + 4 + length);
      answer({ head: text, body }, n++);
    }
  });
}

void test('requests go out as written and answers come back over one kept-alive connection (Content-Length and chunked)', async () => {
  const seen: Array<{ method?: string; url?: string; auth?: string; body: string }> = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    sockets.add(req.socket);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body: Buffer.concat(chunks).toString() });
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"a":');
        res.end('[1,2,3]}');
      } else {
        res.writeHead(201, { 'content-type': 'application/json', 'content-length': 9, 'x-two': 'b' });
        res.end('{"ok":22}');
      }
    });
  });
  const port = await listen(server);
  const c = new Http1Connection('127.0.0.1', port, 5_000);
  try {
    const body = Buffer.from('x'.repeat(200_000));
    const first = await c.request(head('/plain', { Authorization: 'Bearer k1', 'Content-Length': body.length }), body);
    assert.equal(first.status, 201);
    assert.equal(first.headers['x-two'], 'b');
    assert.equal(first.body.toString(), '{"ok":22}');
    const second = await c.request(head('/chunked', { 'Content-Length': 2 }), Buffer.from('hi'));
    assert.equal(second.status, 200);
    assert.equal(second.body.toString(), '{"a":[1,2,3]}');
    // Sends issued together go one at a time, in order.
    const answers = await Promise.all([1, 2, 3].map((i) => c.request(head(`/plain?${i}`, { 'Content-Length': 1 }), Buffer.from(String(i)))));
    assert.deepEqual(answers.map((a) => a.status), [201, 201, 201]);
    assert.deepEqual(seen.map((s) => s.url), ['/plain', '/chunked', '/plain?1', '/plain?2', '/plain?3']);
    assert.equal(seen[0]!.body.length, 200_000);
    assert.equal(seen[0]!.auth, 'Bearer k1');
    assert.equal(seen[1]!.body, 'hi');
    assert.equal(sockets.size, 1, 'one connection for all five');
  } finally {
    c.close();
    await closeServer(server);
  }
});

void test('a response the server closes is read to its end; `Connection: close` and a lost connection make the next request connect again', async () => {
  const server = rawServer((socket, index) => {
    onRequests(socket, (_request, n) => {
      if (index === 0) {
        // Framed by the end of the connection.
        socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
      } else if (index === 1 && n === 0) {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
      } else if (index === 2) {
        // Half a response, then the connection is gone.
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort');
        setTimeout(() => socket.destroy(), 20);
      } else {
        socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-N: 4\r\n\r\n');
      }
    });
  });
  const port = await listen(server);
  const c = new Http1Connection('127.0.0.1', port, 5_000);
  try {
    assert.equal((await c.request(head('/', { 'Content-Length': 0 }), Buffer.alloc(0))).body.toString(), 'until the end');
    assert.equal((await c.request(head('/', { 'Content-Length': 0 }), Buffer.alloc(0))).body.toString(), 'ok');
    await assert.rejects(c.request(head('/', { 'Content-Length': 0 }), Buffer.alloc(0)), (e: unknown) => e instanceof Http1Error && e.code === 'HTTP_CLOSED');
    const last = await c.request(head('/', { 'Content-Length': 0 }), Buffer.alloc(0));
    assert.equal(last.status, 204, 'the 100 Continue before it skipped');
    assert.equal(last.headers['x-n'], '4');
    assert.equal(server.connections, 4);
  } finally {
    c.close();
    await closeServer(server);
  }
});

void test('no answer within the timeout, an oversized head and a malformed one are errors with a code; the connection recovers', async () => {
  const server = rawServer((socket, index) => {
    onRequests(socket, () => {
      if (index === 0) return; // never answers
      if (index === 1) socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(HEAD_BYTES_MAX)}`);
      else if (index === 2) socket.write('SMTP ready\r\n\r\n');
      else if (index === 3) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
      else if (index === 4) socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BODY_BYTES_MAX + 1}\r\n\r\nstart of a body past the bound`);
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes');
    });
  });
  const port = await listen(server);
  const c = new Http1Connection('127.0.0.1', port, 300);
  const ask = (): Promise<unknown> => c.request(head('/', { 'Content-Length': 0 }), Buffer.alloc(0));
  const failsWith = (code: string) => (e: unknown) => e instanceof Http1Error && e.code === code;
  try {
    await assert.rejects(ask(), failsWith('HTTP_TIMEOUT'));
    await assert.rejects(ask(), failsWith('HTTP_HEAD_TOO_LARGE'));
    await assert.rejects(ask(), failsWith('HTTP_MALFORMED'));
    await assert.rejects(ask(), failsWith('HTTP_MALFORMED'));
    await assert.rejects(ask(), failsWith('HTTP_MALFORMED'), 'a declared length past BODY_BYTES_MAX, refused at once');
    assert.equal(((await ask()) as { body: Buffer }).body.toString(), 'yes');
  } finally {
    c.close();
    await closeServer(server);
  }
});

void test('a refused connection is an error answer, not a crash', async () => {
  const server = net.createServer();
  const port = await listen(server);
  await closeServer(server);
  const c = new Http1Connection('127.0.0.1', port, 1_000);
  await assert.rejects(c.request(head('/', { 'Content-Length': 0 }), Buffer.alloc(0)), (e: unknown) => e instanceof Http1Error && e.code === 'ECONNREFUSED');
  c.close();
});

void test('framing and head parsing: lengths, chunk extensions and trailers, what is not HTTP', () => {
  const h = (headers: Record<string, string>, status = 200) => ({ status, headers });
  assert.deepEqual(frame(h({ 'content-length': '3' }), Buffer.from('abcdef'), false), { body: Buffer.from('abc'), rest: 3, close: false });
  assert.equal(frame(h({ 'content-length': '10' }), Buffer.from('abc'), false), 'incomplete');
  assert.equal(frame(h({ 'content-length': '10' }), Buffer.from('abc'), true), 'incomplete', 'the connection closed early: HTTP_CLOSED');
  assert.equal(frame(h({ 'content-length': '-1' }), Buffer.from(''), false), 'malformed');
  assert.equal(frame(h({ 'content-length': String(BODY_BYTES_MAX + 1) }), Buffer.from(''), false), 'malformed');
  assert.equal(frame(h({ 'transfer-encoding': 'gzip' }), Buffer.from(''), false), 'malformed');
  const chunked = Buffer.from('4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT');
  assert.deepEqual(frame(h({ 'transfer-encoding': 'chunked', connection: 'close' }), chunked, false), { body: Buffer.from('Wikipedia'), rest: 4, close: true });
  for (let cut = 0; cut < chunked.length - 4; cut++) assert.equal(frame(h({ 'transfer-encoding': 'chunked' }), chunked.subarray(0, cut), false), 'incomplete', `cut at ${cut}`);
  assert.equal(frame(h({ 'transfer-encoding': 'chunked' }), Buffer.from('4\r\nWikiXX'), false), 'malformed');
  assert.deepEqual(frame(h({}, 204), Buffer.from(''), false), { body: Buffer.alloc(0), rest: 0, close: false });
  const parsed = parseHead('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nretry-after: 3');
  assert.equal(parsed?.status, 429);
  assert.deepEqual({ ...parsed?.headers }, { 'retry-after': '3' });
  assert.equal(parseHead('HTTP/2 200'), undefined);
  assert.equal(parseHead('HTTP/1.1 200 OK\r\nno colon here'), undefined);
});

void test('the HTTP transport maps answers: an ack, a refusal with Retry-After, an error with its code, a lost server', async () => {
  let mode = 'ack';
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (mode === 'ack') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ counts: { accepted: 2, duplicate: 1, late: 0, tooLate: 0, rejected: 0 }, receipts: [{ index: 1, id: 'x', status: 'duplicate' }] }));
      } else if (mode === 'refuse') {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '2' });
        res.end(JSON.stringify({ error: { code: 'EVT_OVERLOADED', message: 'busy' } }));
      } else {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'EVT_AUTH', message: 'no key' } }));
      }
    });
  });
  const port = await listen(server);
  const transport = createHttpTransport(`http://127.0.0.1:${port}`, 'json', false);
  try {
    assert.deepEqual(await transport.send(Buffer.from('{}'), 'k'), {
      kind: 'ack',
      counts: { accepted: 2, duplicate: 1, late: 0, tooLate: 0, rejected: 0 },
      receipts: [{ index: 1, status: 'duplicate', code: undefined }],
    });
    mode = 'refuse';
    assert.deepEqual(await transport.send(Buffer.from('{}'), 'k'), { kind: 'refused', code: 'EVT_OVERLOADED', retryAfterMs: 2_000 });
    mode = 'error';
    assert.deepEqual(await transport.send(Buffer.from('{}'), 'k'), { kind: 'error', code: 'EVT_AUTH', message: 'no key' });
  } finally {
    await closeServer(server);
  }
  const lost = await transport.send(Buffer.from('{}'), 'k');
  assert.equal(lost.kind, 'error');
  await transport.close();
  assert.throws(() => createHttpTransport('https://127.0.0.1:1', 'json', false), /plain HTTP/);
});
