/**
 * Receipts and final failures against a real server, over each transport:
 * every receipt status lands in its counter and non-accepted ones reach
 * onReceipts with the event; a request refused for good (401, 413) reaches
 * onError with the events it cost and is not retried; `durable` means the
 * event is in the store when the answer comes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createClient,
  RequestFailedError,
  type ClientDeliveryError,
  type ClientEvent,
  type ClientOptions,
  type ClientReceipt,
} from '../../src/client/index.js';
import { getJson, startTestServer } from '../helpers.js';
import { assertBalanced, serverTotals } from './helpers.js';

const TRANSPORTS: ReadonlyArray<[string, Partial<ClientOptions>]> = [
  ['HTTP', { transport: 'http' }],
  ['gRPC unary', { transport: 'grpc' }],
  ['gRPC stream', { transport: 'grpc', grpcMode: 'stream' }],
];

/** Stamped ahead so that a slow machine does not turn `accepted` into `late` (see test/integration/ingest.test.ts). */
const AHEAD_MS = 2_000;

for (const [label, transport] of TRANSPORTS) {
  void test(`${label}: each receipt status lands in its counter; the non-accepted reach onReceipts`, async (t) => {
    const server = await startTestServer(t);
    const receipts: ClientReceipt[] = [];
    const client = createClient({
      url: server.httpUrl,
      grpcTarget: server.grpcTarget,
      key: server.key,
      ...transport,
      onReceipts: (r) => receipts.push(...r),
    });
    const now = Date.now();
    const bad: ClientEvent = { name: '' };
    client.send([
      { id: 'ok-1', name: 'click', timestamp: now + AHEAD_MS },
      { id: 'ok-2', name: 'click', timestamp: now + AHEAD_MS },
      { id: 'ok-1', name: 'click', timestamp: now + AHEAD_MS },
      { id: 'late-1', name: 'click', timestamp: now - 2_500 },
      { id: 'old-1', name: 'click', timestamp: now - 60_000 },
      bad,
    ]);
    await client.close();
    const s = client.stats();
    assertBalanced(s);
    assert.deepEqual(
      { accepted: s.accepted, duplicate: s.duplicate, late: s.late, tooLate: s.tooLate, rejected: s.rejected },
      { accepted: 2, duplicate: 1, late: 1, tooLate: 1, rejected: 1 },
    );
    assert.equal(s.retried, 0, 'final receipts are not re-sent');
    const byStatus = Object.fromEntries(receipts.map((r) => [r.status, r]));
    assert.deepEqual(Object.keys(byStatus).sort(), ['duplicate', 'late', 'rejected', 'too_late']);
    assert.equal(byStatus.duplicate!.id, 'ok-1');
    assert.equal(byStatus.too_late!.id, 'old-1');
    assert.equal(byStatus.rejected!.event, bad, 'the application gets its own object back');
    assert.equal(byStatus.rejected!.code, 'EVT_FIELD_MISSING');
    assert.equal(byStatus.rejected!.field, 'name');
    assert.match(byStatus.rejected!.id, new RegExp(`^${client.clientId}\\.`), 'an assigned id');
    const totals = await serverTotals(server, server.key);
    assert.equal(totals.total, 3, 'accepted and late are counted');
    assert.equal(totals.tooLate, 1);
  });

  void test(`${label}: a key the server refuses is final: onError with the events, no retry`, async (t) => {
    const server = await startTestServer(t);
    const errors: ClientDeliveryError[] = [];
    const client = createClient({
      url: server.httpUrl,
      grpcTarget: server.grpcTarget,
      key: 'evt_not_a_key',
      ...transport,
      onError: (err) => errors.push(err),
    });
    client.send([{ name: 'a' }, { id: 'mine', name: 'b' }]);
    await client.close();
    const s = client.stats();
    assert.equal(s.requests, 1);
    assert.equal(s.dropped.failed, 2);
    assertBalanced(s);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof RequestFailedError);
    const err = errors[0] as RequestFailedError;
    assert.equal(err.code, 'EVT_UNAUTHENTICATED');
    assert.equal(err.status, transport.transport === 'grpc' ? 16 : 401);
    assert.deepEqual(
      err.events.map((e) => e.event.name),
      ['a', 'b'],
    );
    assert.equal(err.events[1]!.id, 'mine');
  });

  void test(`${label}: ack 'durable' answers once the events are in the write-ahead log`, async (t) => {
    // With the log on, a durable answer waits for the log's sync, not for the store's flush (a minute here):
    // the event is found at once, pending in the worker, and would be replayed after a crash.
    const server = await startTestServer(t, { flushIntervalMs: 60_000 });
    const client = createClient({ url: server.httpUrl, grpcTarget: server.grpcTarget, key: server.key, ...transport, ack: 'durable' });
    client.send({ id: 'kept', name: 'signup' });
    await client.close();
    assert.equal(client.stats().accepted + client.stats().late, 1);
    const { status, body } = await getJson(`${server.httpUrl}/v1/events/kept`, server.key);
    assert.equal(status, 200);
    assert.equal(body.state, 'pending');
  });

  void test(`${label}: without the log, ack 'durable' answers once the events are in the store`, async (t) => {
    // The durable answer waits for the worker's next flush tick (a second here).
    const server = await startTestServer(t, { walEnabled: false, flushIntervalMs: 1_000 });
    const client = createClient({ url: server.httpUrl, grpcTarget: server.grpcTarget, key: server.key, ...transport, ack: 'durable' });
    client.send({ id: 'kept', name: 'signup' });
    await client.close();
    const { status, body } = await getJson(`${server.httpUrl}/v1/events/kept`, server.key);
    assert.equal(status, 200);
    assert.equal(body.state, 'stored');
  });
}

void test('HTTP: a body over the server bodyBytesMax is final (413 EVT_BODY_TOO_LARGE), the rest goes on', async (t) => {
  const server = await startTestServer(t, { bodyBytesMax: 4096 });
  const errors: ClientDeliveryError[] = [];
  const client = createClient({ url: server.httpUrl, key: server.key, batchBytesMax: 64 * 1024, lingerMs: 3_600_000, onError: (err) => errors.push(err) });
  client.send(Array.from({ length: 40 }, (_, i) => ({ id: `big-${i}`, name: 'n', properties: { text: 'x'.repeat(200) } })));
  await client.flush();
  client.send({ id: 'small', name: 'n' });
  await client.close();
  const s = client.stats();
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, 'EVT_BODY_TOO_LARGE');
  assert.equal((errors[0] as RequestFailedError).status, 413);
  assert.equal(s.dropped.failed, 40);
  assert.equal(s.accepted + s.late, 1);
  assert.equal(s.retried, 0);
  assertBalanced(s);
  assert.equal((await serverTotals(server, server.key)).total, 1);
});

void test('gRPC: a message over the server limit is final (EVT_BODY_TOO_LARGE)', async (t) => {
  const server = await startTestServer(t);
  const errors: ClientDeliveryError[] = [];
  const client = createClient({
    grpcTarget: server.grpcTarget,
    key: server.key,
    batchBytesMax: 16 * 1024 * 1024,
    lingerMs: 3_600_000,
    onError: (err) => errors.push(err),
  });
  // About 5 MiB: over the gRPC server's 4 MiB receive limit.
  const text = 'y'.repeat(1_000);
  client.send(Array.from({ length: 350 }, (_, i) => ({ name: 'n', properties: Object.fromEntries(Array.from({ length: 15 }, (_, k) => [`p${k}`, `${i}${text}`])) })));
  await client.close();
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, 'EVT_BODY_TOO_LARGE');
  assert.equal(client.stats().dropped.failed, 350);
  assert.equal(client.stats().retried, 0);
});
