/**
 * Structured logs against a real server, captured from the logger the server
 * writes with: a request id (the client's when sane, else minted) is echoed
 * in the answer and names the lines of the edge and of the worker that
 * handled the batch, over HTTP and gRPC; one line per request or batch,
 * never per event; nothing per request at info.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, postEvents } from '../helpers.js';
import { captureLogger, grpcClient, grpcEvent, grpcSend, startOpsServer, type LogLine } from './helpers.js';

const AHEAD_MS = 2_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function withId(lines: LogLine[], requestId: string): LogLine[] {
  return lines.filter((line) => line.requestId === requestId);
}

void test('HTTP: the request id is echoed and names the edge line and the worker line of its batch', async (t) => {
  const { log, lines } = captureLogger('debug');
  const server = await startOpsServer(t, { logLevel: 'debug' }, log);

  // A body only the worker can find fault with (the edge never parses bodies).
  const malformed = await postEvents(server, server.key, '{"events": [', { 'x-request-id': 'ops-req-1' });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.headers.get('x-request-id'), 'ops-req-1');
  await eventually(() => withId(lines, 'ops-req-1').length === 2);
  const [edge, worker] = [withId(lines, 'ops-req-1').find((l) => l.msg === 'request'), withId(lines, 'ops-req-1').find((l) => l.msg === 'batch refused')];
  assert.ok(edge !== undefined && worker !== undefined, JSON.stringify(withId(lines, 'ops-req-1')));
  assert.equal(edge.level, 'debug');
  assert.equal(edge.statusCode, 400);
  assert.equal(edge.owner, 'acme');
  assert.equal(worker.level, 'debug');
  assert.equal(worker.code, 'EVT_BODY_MALFORMED');
  assert.equal(worker.owner, 'acme');
  assert.equal(worker.worker, server.router.shardMap.workerOf(server.router.shardMap.shardOf('acme')), 'the line names the worker that handled the batch');

  // 50 rejected events are one line, not 50.
  const events = Array.from({ length: 50 }, () => ({ name: '' }));
  const rejected = await postEvents(server, server.key, JSON.stringify({ events }), { 'x-request-id': 'ops-req-2' });
  assert.equal(rejected.status, 400);
  await eventually(() => withId(lines, 'ops-req-2').length === 2);
  const batch = withId(lines, 'ops-req-2').find((l) => l.msg === 'batch rejected');
  assert.ok(batch !== undefined);
  assert.equal(batch.rejected, 50);
  assert.equal(batch.firstCode, 'EVT_FIELD_MISSING');
  assert.equal(batch.firstField, 'name');

  // An id that is not sane (spaces, markup, too long) is replaced by a minted one, which is used everywhere.
  for (const insane of ['has spaces <b>', 'x'.repeat(129)]) {
    const answer = await postEvents(server, server.key, '{"events": [', { 'x-request-id': insane });
    const minted = answer.headers.get('x-request-id') ?? '';
    assert.match(minted, UUID);
    await eventually(() => withId(lines, minted).some((l) => l.msg === 'batch refused'));
    assert.equal(lines.filter((l) => l.requestId === insane).length, 0);
  }

  // A key in a query string (ws clients may authenticate so) never reaches the log.
  assert.equal((await fetch(`${server.httpUrl}/livez?key=${server.key}`, { headers: { 'x-request-id': 'ops-req-q' } })).status, 200);
  await eventually(() => withId(lines, 'ops-req-q').length === 1);
  assert.equal(withId(lines, 'ops-req-q')[0]!.path, '/livez');
  assert.ok(!JSON.stringify(lines).includes(server.key), 'an API key was logged');

  // A good batch at debug: the edge's line only (the worker's per-batch line is at trace).
  const good = await postEvents(server, server.key, JSON.stringify({ name: 'click', timestamp: Date.now() + AHEAD_MS }), { 'x-request-id': 'ops-req-3' });
  assert.equal(good.status, 200);
  await eventually(() => withId(lines, 'ops-req-3').length === 1);
  assert.equal(withId(lines, 'ops-req-3')[0]!.msg, 'request');
});

void test('gRPC: metadata x-request-id is echoed and names the worker line of its batch', async (t) => {
  const { log, lines } = captureLogger('trace');
  const server = await startOpsServer(t, { logLevel: 'trace' }, log);
  const client = grpcClient(t, server);
  const now = Date.now() + AHEAD_MS;
  const sent = await grpcSend(client, server.key, [grpcEvent('g1', 'click', now), grpcEvent('g2', '', now)], { 'x-request-id': 'ops-grpc-1' });
  assert.equal(sent.response.accepted, 1);
  assert.equal(sent.response.rejected, 1);
  assert.deepEqual(sent.headers.get('x-request-id'), ['ops-grpc-1']);
  await eventually(() => withId(lines, 'ops-grpc-1').length === 3);
  const byMsg = new Map(withId(lines, 'ops-grpc-1').map((l) => [l.msg, l]));
  assert.equal(byMsg.get('events rejected')?.rejected, 1);
  assert.equal(byMsg.get('events rejected')?.events, 2);
  assert.equal(byMsg.get('batch applied')?.level, 'trace');
  assert.equal(byMsg.get('grpc request')?.code, 'OK');
  assert.equal(typeof byMsg.get('events rejected')?.worker, 'number');
});

void test('at info, requests and batches write no lines', async (t) => {
  const { log, lines } = captureLogger('info');
  const server = await startOpsServer(t, { logLevel: 'info' }, log);
  const client = grpcClient(t, server);
  for (let i = 0; i < 5; i++) {
    assert.equal((await postEvents(server, server.key, '{"events": [', { 'x-request-id': `quiet-${i}` })).status, 400);
    assert.equal((await postEvents(server, server.key, JSON.stringify({ name: '' }), { 'x-request-id': `quiet-r${i}` })).status, 400);
  }
  await grpcSend(client, server.key, [grpcEvent('q', '', Date.now())], { 'x-request-id': 'quiet-g' });
  // The startup line proves the capture works at this level.
  assert.ok(lines.some((l) => l.msg === 'grpc server listening' && l.level === 'info'));
  // Worker lines travel on the port the replies take, in order: once the answer to a later batch of
  // the same owner (so the same worker) is in, a line about any earlier batch would be in too.
  assert.equal((await postEvents(server, server.key, JSON.stringify({ name: 'x', timestamp: Date.now() + AHEAD_MS }))).status, 200);
  assert.deepEqual(lines.filter((l) => typeof l.requestId === 'string'), []);
});
