/**
 * Batching against a real server, over each transport: by events, by bytes
 * and by time; gzip seen from outside (bytes through a TCP relay); flush()
 * and close() deliver what is buffered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type ClientEvent, type ClientOptions } from '../../src/client/index.js';
import type { ClientRequest } from 'node:http';
import diagnostics from 'node:diagnostics_channel';
import { encodeEvent, ENVELOPE_BYTES_MAX, FRAMING_BYTES } from '../../src/client/encode.js';
import { eventually, startTestServer } from '../helpers.js';
import { assertBalanced, portOf, serverTotals, startCountingProxy } from './helpers.js';

/** Long enough that no batch in these tests leaves by time unless the test says so. */
const NEVER_MS = 3_600_000;

const TRANSPORTS: ReadonlyArray<[string, Partial<ClientOptions>]> = [
  ['HTTP JSON', { transport: 'http' }],
  ['HTTP protobuf (fetch)', { transport: 'http', format: 'protobuf', httpImpl: 'fetch' }],
  ['gRPC unary', { transport: 'grpc' }],
  ['gRPC stream', { transport: 'grpc', grpcMode: 'stream' }],
];

function clicks(count: number, prefix = 'c'): ClientEvent[] {
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${String(i).padStart(6, '0')}`, name: 'click', userId: `u${i % 5}` }));
}

function counted(s: { accepted: number; late: number }): number {
  return s.accepted + s.late;
}

for (const [label, transport] of TRANSPORTS) {
  void test(`${label}: full batches leave at batchEventsMax; the rest waits for its time or close()`, async (t) => {
    const server = await startTestServer(t);
    const client = createClient({ url: server.httpUrl, grpcTarget: server.grpcTarget, key: server.key, ...transport, batchEventsMax: 50, lingerMs: NEVER_MS });
    assert.equal(client.send(clicks(120)), true);
    await eventually(() => counted(client.stats()) === 100);
    let s = client.stats();
    assert.equal(s.requests, 2);
    assert.equal(s.buffered, 20, 'the partial batch waits');
    await client.close();
    s = client.stats();
    assert.equal(s.requests, 3);
    assert.equal(counted(s), 120);
    assert.equal(s.buffered, 0);
    assertBalanced(s);
    assert.equal((await serverTotals(server, server.key)).total, 120);
  });

  void test(`${label}: a batch is cut before batchBytesMax`, async (t) => {
    const server = await startTestServer(t);
    const batchBytesMax = 4096;
    const events = clicks(60).map((e) => ({ ...e, properties: { note: 'x'.repeat(200) } }));
    const format = transport.transport === 'grpc' || transport.format === 'protobuf' ? 'protobuf' : 'json';
    const eventBytes = encodeEvent(events[0]!, 0, events[0]!.id!, undefined, format, 0).bytes + FRAMING_BYTES[format];
    const perBatch = Math.floor((batchBytesMax - ENVELOPE_BYTES_MAX) / eventBytes);
    // What node:http really sends, seen from Node's own diagnostics channel.
    const bodyBytes: number[] = [];
    const onRequest = (message: unknown): void => {
      bodyBytes.push(Number((message as { request: ClientRequest }).request.getHeader('content-length')));
    };
    diagnostics.subscribe('http.client.request.start', onRequest);
    t.after(() => diagnostics.unsubscribe('http.client.request.start', onRequest));
    const client = createClient({ url: server.httpUrl, grpcTarget: server.grpcTarget, key: server.key, ...transport, batchBytesMax, lingerMs: NEVER_MS, stampTimestamp: false });
    client.send(events);
    await client.close();
    const s = client.stats();
    assert.ok(perBatch > 1 && perBatch < 60);
    assert.equal(s.requests, Math.ceil(60 / perBatch), `${perBatch} events of ${eventBytes} bytes per batch`);
    assert.equal(counted(s), 60);
    if (transport.transport === 'http' && transport.httpImpl !== 'fetch') {
      assert.equal(bodyBytes.length, s.requests);
      for (const n of bodyBytes) assert.ok(n > batchBytesMax / 2 || n === bodyBytes.at(-1), `${n}`);
      for (const n of bodyBytes) assert.ok(n <= batchBytesMax, `a body of ${n} bytes, over batchBytesMax`);
    }
  });

  void test(`${label}: a batch that is not full leaves lingerMs after its first event, without flush()`, async (t) => {
    const server = await startTestServer(t);
    const client = createClient({ url: server.httpUrl, grpcTarget: server.grpcTarget, key: server.key, ...transport, batchEventsMax: 1_000, lingerMs: 20 });
    t.after(() => client.close());
    client.send(clicks(7));
    client.send(clicks(3, 'd'));
    await eventually(() => counted(client.stats()) === 10);
    assert.equal(client.stats().requests, 1, 'the sends of one turn went as one batch');
    assert.equal((await serverTotals(server, server.key)).total, 10);
  });

  void test(`${label}: flush() resolves once everything sent before it is answered`, async (t) => {
    const server = await startTestServer(t);
    const client = createClient({ url: server.httpUrl, grpcTarget: server.grpcTarget, key: server.key, ...transport, lingerMs: NEVER_MS });
    t.after(() => client.close());
    client.send(clicks(30));
    await client.flush();
    assert.equal(counted(client.stats()), 30);
    assert.equal(client.stats().buffered, 0);
    // Nothing buffered: flush() resolves at once, and the client goes on taking events.
    await client.flush();
    client.send(clicks(5, 'again'));
    await client.flush();
    assert.equal(counted(client.stats()), 35);
    assert.equal((await serverTotals(server, server.key)).total, 35);
  });
}

for (const [label, transport] of [TRANSPORTS[0]!, TRANSPORTS[2]!, TRANSPORTS[3]!]) {
  void test(`${label}: gzip shrinks what goes on the wire, and the server counts the same`, async (t) => {
    const server = await startTestServer(t);
    const grpc = transport.transport === 'grpc';
    const proxy = await startCountingProxy(t, grpc ? portOf(server.grpcTarget) : portOf(server.httpUrl));
    const target = grpc ? { grpcTarget: `127.0.0.1:${proxy.port}` } : { url: `http://127.0.0.1:${proxy.port}` };
    const events = (prefix: string) => clicks(400, prefix).map((e) => ({ ...e, category: 'checkout', properties: { page: '/cart/summary', plan: 'team' } }));

    const plain = createClient({ ...target, key: server.key, ...transport, lingerMs: NEVER_MS });
    plain.send(events('plain'));
    await plain.close();
    const plainBytes = proxy.upstreamBytes;

    const zipped = createClient({ ...target, key: server.key, ...transport, lingerMs: NEVER_MS, gzip: true });
    zipped.send(events('zipped'));
    await zipped.close();
    const zippedBytes = proxy.upstreamBytes - plainBytes;

    assert.equal(counted(plain.stats()), 400);
    assert.equal(counted(zipped.stats()), 400);
    assert.ok(zippedBytes * 3 < plainBytes, `gzip: ${zippedBytes} bytes, plain: ${plainBytes}`);
    assert.equal((await serverTotals(server, server.key)).total, 800);
  });
}
