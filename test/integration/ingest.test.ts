/**
 * End to end over real sockets: events sent over HTTP in every body format
 * (and gzip) and over gRPC (Send and Stream) are counted exactly, with the
 * right receipts, and GET /v1/metrics agrees.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { credentials, Metadata } from '@grpc/grpc-js';
import { pack } from 'msgpackr';
import { IngestClient, IngestRequest, type IngestResponse } from '../../src/gen/eventide/v1/ingest.js';
import { Severity } from '../../src/gen/eventide/v1/event.js';
import { getJson, postEvents, startTestServer } from '../helpers.js';

/**
 * Events stamped this far ahead of now are `accepted`, not `late`, however slow
 * the machine: `late` means "arrived after its 1-s window ended", and an event
 * stamped `now` can cross that boundary before a loaded worker applies it.
 */
const AHEAD_MS = 2_000;

/** Within this many standard errors of HLL precision 12 (1.04 / 64). */
const HLL_TOLERANCE = 3 * (1.04 / 64);

function events(prefix: string, count: number, nowMs: number, users = 10) {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i}`,
    name: i % 3 === 0 ? 'signup' : 'click',
    timestamp: nowMs + AHEAD_MS,
    userId: `user-${i % users}`,
    category: 'web',
    severity: 'info',
    value: i,
  }));
}

async function metrics(server: { httpUrl: string }, key: string, name?: string) {
  const now = Date.now();
  const query = `resolution=1h&from=${now - 2 * 3_600_000}&to=${now + 3_600_000}${name === undefined ? '' : `&name=${name}`}`;
  const { status, body } = await getJson(`${server.httpUrl}/v1/metrics?${query}`, key);
  assert.equal(status, 200, JSON.stringify(body));
  return body as { summary: { total: number; late: number; tooLate: number; uniques: number; byName: Record<string, number> } };
}

test('HTTP JSON, msgpack, protobuf and gzip bodies are all counted exactly', async (t) => {
  const server = await startTestServer(t);
  const now = Date.now();

  const json = await postEvents(server, server.key, JSON.stringify({ events: events('json', 30, now) }));
  assert.equal(json.status, 200, JSON.stringify(json.body));
  assert.deepEqual(json.body.counts, { accepted: 30, duplicate: 0, late: 0, tooLate: 0, rejected: 0 });

  const msgpack = await postEvents(server, server.key, pack({ events: events('mp', 20, now) }), {
    'content-type': 'application/msgpack',
  });
  assert.equal(msgpack.status, 200, JSON.stringify(msgpack.body));
  assert.equal((msgpack.body.counts as { accepted: number }).accepted, 20);

  const proto = IngestRequest.encode({
    events: events('pb', 10, now).map((e) => ({
      id: e.id,
      name: e.name,
      timestampMs: e.timestamp,
      userId: e.userId,
      category: e.category,
      severity: Severity.SEVERITY_INFO,
      tags: [],
      properties: new Map(),
      value: e.value,
    })),
    batchId: 'b-1',
    ack: 0,
    receiptsAll: false,
  }).finish();
  const protobuf = await postEvents(server, server.key, proto, { 'content-type': 'application/x-protobuf' });
  assert.equal(protobuf.status, 200, JSON.stringify(protobuf.body));
  assert.equal((protobuf.body.counts as { accepted: number }).accepted, 10);
  assert.equal(protobuf.body.batchId, 'b-1');

  const gz = gzipSync(Buffer.from(JSON.stringify(events('gz', 5, now))));
  const gzip = await postEvents(server, server.key, gz, { 'content-encoding': 'gzip' });
  assert.equal(gzip.status, 200, JSON.stringify(gzip.body));
  assert.equal((gzip.body.counts as { accepted: number }).accepted, 5);

  const single = await postEvents(server, server.key, JSON.stringify({ id: 'one', name: 'signup', timestamp: now + AHEAD_MS, userId: 'solo' }));
  assert.equal(single.status, 200);

  const { summary } = await metrics(server, server.key);
  assert.equal(summary.total, 66);
  // signup: every third of each prefix (30 -> 10, 20 -> 7, 10 -> 4, 5 -> 2) plus the single one.
  assert.deepEqual(summary.byName, { signup: 24, click: 42 });
  const distinctUsers = 11;
  assert.ok(Math.abs(summary.uniques - distinctUsers) <= Math.max(1, distinctUsers * HLL_TOLERANCE), `uniques ${summary.uniques}`);

  const filtered = await metrics(server, server.key, 'signup');
  assert.equal(filtered.summary.total, 24);
});

test('receipts say duplicate, late, too_late and rejected, and only accepted events are counted', async (t) => {
  const server = await startTestServer(t, { allowedLatenessMs: 5_000 });
  const now = Date.now();
  const batch = [
    { id: 'a', name: 'ok', timestamp: now + AHEAD_MS, userId: 'u1' },
    { id: 'a', name: 'ok', timestamp: now + AHEAD_MS, userId: 'u1' },
    { id: 'late', name: 'ok', timestamp: now - 2_500 },
    { id: 'too-late', name: 'ok', timestamp: now - 120_000 },
    { id: 'bad', name: 42 },
    { id: 'future', name: 'ok', timestamp: now + 3_600_000 },
    { id: 'long', name: 'x'.repeat(500) },
  ];
  const answer = await postEvents(server, server.key, JSON.stringify({ events: batch }));
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.counts, { accepted: 1, duplicate: 1, late: 1, tooLate: 1, rejected: 3 });
  const receipts = answer.body.receipts as Array<{ index: number; status: string; code?: string; field?: string }>;
  const byIndex = new Map(receipts.map((r) => [r.index, r]));
  assert.equal(byIndex.get(1)?.status, 'duplicate');
  assert.equal(byIndex.get(2)?.status, 'late');
  assert.equal(byIndex.get(3)?.status, 'too_late');
  assert.deepEqual([byIndex.get(4)?.status, byIndex.get(4)?.code, byIndex.get(4)?.field], ['rejected', 'EVT_FIELD_TYPE', 'name']);
  assert.equal(byIndex.get(5)?.code, 'EVT_TIMESTAMP_FUTURE');
  assert.deepEqual([byIndex.get(6)?.code, byIndex.get(6)?.field], ['EVT_FIELD_TOO_LONG', 'name']);
  assert.equal(byIndex.has(0), false, 'accepted receipts are listed only with receipts=all');

  const all = await postEvents(server, server.key, JSON.stringify([{ id: 'b', name: 'ok', timestamp: now + AHEAD_MS }]), {}, '?receipts=all');
  assert.deepEqual((all.body.receipts as Array<{ status: string }>).map((r) => r.status), ['accepted']);

  const { summary } = await metrics(server, server.key);
  assert.equal(summary.total, 3, 'accepted + late + the receipts=all one; duplicate, too-late and rejected are not counted');
  assert.equal(summary.late, 1);
  assert.equal(summary.tooLate, 1);

  // Where did the too-late event go? It is stored, not counted.
  const where = await getJson(`${server.httpUrl}/v1/events/too-late`, server.key);
  assert.equal(where.status, 200, JSON.stringify(where.body));
  assert.equal((where.body as { event?: { status?: string } }).event?.status, 'too_late');
  const missing = await getJson(`${server.httpUrl}/v1/events/never-sent`, server.key);
  assert.equal(missing.status, 404);
});

function grpcClient(server: { grpcTarget: string }, t: { after(fn: () => void): void }): IngestClient {
  const client = new IngestClient(server.grpcTarget, credentials.createInsecure());
  t.after(() => client.close());
  return client;
}

function grpcEvents(prefix: string, count: number, nowMs: number) {
  return events(prefix, count, nowMs).map((e) => ({
    id: e.id,
    name: e.name,
    timestampMs: e.timestamp,
    userId: e.userId,
    severity: Severity.SEVERITY_INFO,
    tags: [],
    properties: new Map(),
  }));
}

test('gRPC Send and Stream are counted exactly and answer per batch in order', async (t) => {
  const server = await startTestServer(t);
  const client = grpcClient(server, t);
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${server.key}`);
  const now = Date.now();

  const sent = await new Promise<IngestResponse>((resolve, reject) => {
    client.send({ events: grpcEvents('send', 40, now), batchId: 'u1', ack: 0, receiptsAll: false }, metadata, (err, res) =>
      err === null ? resolve(res) : reject(err),
    );
  });
  assert.equal(sent.accepted, 40);
  assert.equal(sent.batchId, 'u1');

  const stream = client.stream(metadata);
  const answers: IngestResponse[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (res: IngestResponse) => answers.push(res));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (let b = 0; b < 5; b++) {
    stream.write({ events: grpcEvents(`stream-${b}`, 20, now), batchId: `s${b}`, ack: 0, receiptsAll: false });
  }
  stream.end();
  await done;
  assert.deepEqual(answers.map((a) => a.batchId), ['s0', 's1', 's2', 's3', 's4']);
  assert.equal(answers.reduce((sum, a) => sum + a.accepted, 0), 100);

  const { summary } = await metrics(server, server.key);
  assert.equal(summary.total, 140);
});

test('gRPC without a valid key is UNAUTHENTICATED', async (t) => {
  const server = await startTestServer(t);
  const client = grpcClient(server, t);
  const metadata = new Metadata();
  metadata.set('authorization', 'Bearer evt_nope_nope');
  const err = await new Promise<{ code?: number }>((resolve) => {
    client.send({ events: grpcEvents('x', 1, Date.now()), batchId: '', ack: 0, receiptsAll: false }, metadata, (e) => resolve(e ?? {}));
  });
  assert.equal(err.code, 16);
});
