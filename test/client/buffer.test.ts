/**
 * The bounded buffer and its drop policies, the closed client, and a server
 * that never answers (a port nothing listens on) until retry.attemptsMax:
 * every drop is counted by reason and, where events were taken, reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, RetriesExhaustedError, type ClientDeliveryError, type ClientOptions } from '../../src/client/index.js';
import { eventually, getJson, startTestServer, tempDir } from '../helpers.js';
import { assertBalanced, closedPort, serverTotals } from './helpers.js';

const NEVER_MS = 3_600_000;

function named(prefix: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, name: 'n' }));
}

void test("dropPolicy 'reject': send() returns false at bufferEventsMax and counts the refused events", async (t) => {
  const server = await startTestServer(t);
  const client = createClient({ url: server.httpUrl, key: server.key, bufferEventsMax: 10, lingerMs: NEVER_MS });
  assert.equal(client.send(named('a', 10)), true);
  assert.equal(client.send(named('b', 5)), false);
  assert.equal(client.send({ name: 'c' }), false);
  let s = client.stats();
  assert.equal(s.enqueued, 10);
  assert.equal(s.buffered, 10);
  assert.equal(s.dropped.overflow, 6);
  await client.close();
  s = client.stats();
  assert.equal(s.accepted + s.late, 10);
  assertBalanced(s);
  assert.equal((await getJson(`${server.httpUrl}/v1/events/a9`, server.key)).status, 200);
  assert.equal((await getJson(`${server.httpUrl}/v1/events/b0`, server.key)).status, 404);
});

void test("dropPolicy 'drop-oldest': the oldest unsent events make room and are counted as evicted", async (t) => {
  const server = await startTestServer(t);
  const client = createClient({ url: server.httpUrl, key: server.key, bufferEventsMax: 10, lingerMs: NEVER_MS, dropPolicy: 'drop-oldest' });
  assert.equal(client.send(named('a', 10)), true);
  assert.equal(client.send(named('b', 4)), true);
  let s = client.stats();
  assert.equal(s.dropped.evicted, 4);
  assert.equal(s.buffered, 10);
  await client.close();
  s = client.stats();
  assert.equal(s.accepted + s.late, 10);
  assertBalanced(s);
  assert.equal((await getJson(`${server.httpUrl}/v1/events/a3`, server.key)).status, 404, 'evicted');
  assert.equal((await getJson(`${server.httpUrl}/v1/events/a4`, server.key)).status, 200);
  assert.equal((await getJson(`${server.httpUrl}/v1/events/b3`, server.key)).status, 200);
});

void test('bufferBytesMax bounds the encoded bytes held', async (t) => {
  const server = await startTestServer(t);
  const client = createClient({ url: server.httpUrl, key: server.key, bufferBytesMax: 2048, lingerMs: NEVER_MS });
  const big = (i: number) => ({ id: `big${i}`, name: 'n', properties: { text: 'z'.repeat(400) } });
  let taken = 0;
  for (let i = 0; i < 10; i++) if (client.send(big(i))) taken++;
  const s = client.stats();
  assert.ok(taken >= 4 && taken <= 5, `${taken} events of about 430 bytes in 2048`);
  assert.ok(s.bufferedBytes <= 2048);
  assert.equal(s.dropped.overflow, 10 - taken);
  await client.close();
  assert.equal((await serverTotals(server, server.key)).total, taken);
});

void test('events wait within the bound while nothing listens, and are delivered once a server comes up there', async (t) => {
  // A key made by a first run of the server on this data directory; the next run knows it.
  const dataDir = tempDir(t);
  const first = await startTestServer(t, {}, dataDir);
  const key = first.key;
  await first.close();
  const port = await closedPort();
  const client = createClient({
    url: `http://127.0.0.1:${port}`,
    key,
    bufferEventsMax: 50,
    lingerMs: 1,
    retry: { attemptsMax: 100_000, baseMs: 10, maxMs: 100 },
  });
  assert.equal(client.send(named('w', 50)), true);
  assert.equal(client.send(named('x', 1)), false);
  await eventually(() => client.stats().refusals >= 3);
  assert.equal(client.stats().buffered, 50);
  const server = await startTestServer(t, { httpPort: port }, dataDir);
  await client.close();
  const s = client.stats();
  assert.equal(s.accepted + s.late, 50, JSON.stringify(s));
  assert.equal(s.dropped.overflow, 1);
  assertBalanced(s);
  assert.equal((await serverTotals(server, key)).total, 50);
});

const NO_SERVER: ReadonlyArray<[string, (port: number) => Partial<ClientOptions>]> = [
  ['HTTP', (port) => ({ url: `http://127.0.0.1:${port}` })],
  ['gRPC unary', (port) => ({ grpcTarget: `127.0.0.1:${port}` })],
  ['gRPC stream', (port) => ({ grpcTarget: `127.0.0.1:${port}`, grpcMode: 'stream' })],
];

for (const [label, target] of NO_SERVER) {
  void test(`${label}: nothing answers; after retry.attemptsMax the events are dropped and reported`, async () => {
    const errors: ClientDeliveryError[] = [];
    const client = createClient({
      ...target(await closedPort()),
      key: 'k',
      batchEventsMax: 10,
      retry: { attemptsMax: 3, baseMs: 1, maxMs: 5 },
      onError: (err) => errors.push(err),
    });
    client.send(named('r', 25));
    await client.close();
    const s = client.stats();
    assert.equal(s.dropped.retriesExhausted, 25);
    assert.equal(s.requests, 3 * 3, 'three batches, three attempts each');
    assert.equal(s.retried, 25 * 2);
    assertBalanced(s);
    assert.equal(errors.length, 3);
    for (const err of errors) {
      assert.ok(err instanceof RetriesExhaustedError);
      assert.equal(err.attempts, 3);
      assert.equal(err.lastCode, 'EVT_CLIENT_NETWORK');
    }
    assert.deepEqual(
      errors.flatMap((e) => e.events.map((x) => x.id)).sort(),
      named('r', 25).map((e) => e.id).sort(),
    );
  });
}

void test('a closed client takes nothing and counts it; close() is idempotent', async () => {
  const client = createClient({ url: `http://127.0.0.1:${await closedPort()}`, key: 'k' });
  await client.close();
  assert.equal(client.send(named('late', 3)), false);
  assert.equal(client.stats().dropped.closed, 3);
  assert.equal(client.stats().enqueued, 0);
  await client.close();
});

void test('without onError a drop is a process warning, once per code', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w);
  };
  process.on('warning', onWarning);
  try {
    const client = createClient({ url: `http://127.0.0.1:${await closedPort()}`, key: 'k', batchEventsMax: 1, retry: { attemptsMax: 1 } });
    client.send(named('w', 3));
    await client.close();
    assert.equal(client.stats().dropped.retriesExhausted, 3);
    await eventually(() => warnings.length >= 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(warnings.filter((w) => (w as Error & { code?: string }).code === 'EVT_CLIENT_RETRIES_EXHAUSTED').length, 1);
  } finally {
    process.off('warning', onWarning);
  }
});
