/**
 * A server that refuses for a while, for real: stopped (503 EVT_DRAINING while
 * it drains, then connection refused) and started again on the same ports and
 * data directory while the client keeps sending; and a server whose mailboxes
 * hold one batch, under more concurrent batches than that (429 /
 * RESOURCE_EXHAUSTED EVT_MAILBOX_FULL). In every case the client ends with
 * each event counted exactly once by the server, because a resend carries the
 * same ids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type ClientOptions, type ClientStats } from '../../src/client/index.js';
import { eventually, startTestServer, tempDir } from '../helpers.js';
import { assertBalanced, portOf, serverTotals } from './helpers.js';

const EVENTS_PER_PHASE = 300;
/** A retry budget no outage in these tests exhausts: what is measured is that nothing is lost, not how fast it comes back. */
const PATIENT = { attemptsMax: 100_000, baseMs: 20, maxMs: 250 } as const;

const TRANSPORTS: ReadonlyArray<[string, Partial<ClientOptions>]> = [
  ['HTTP', { transport: 'http' }],
  ['gRPC unary', { transport: 'grpc', grpcMode: 'unary' }],
  ['gRPC stream', { transport: 'grpc', grpcMode: 'stream' }],
];

function events(prefix: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({ name: i % 2 === 0 ? 'click' : 'view', userId: `u${i % 7}`, properties: { phase: prefix } }));
}

function counted(s: ClientStats): number {
  return s.accepted + s.late;
}

for (const [label, transport] of TRANSPORTS) {
  void test(`${label}: a server stopped and started again while the client sends; every event is counted once`, async (t) => {
    const dataDir = tempDir(t);
    // Events stamped before the outage arrive after it; a day of lateness keeps them counted (too_late would be stored, not counted).
    const overrides = { allowedLatenessMs: 86_400_000 };
    const first = await startTestServer(t, overrides, dataDir);
    const errors: unknown[] = [];
    const client = createClient({
      url: first.httpUrl,
      grpcTarget: first.grpcTarget,
      key: first.key,
      ...transport,
      batchEventsMax: 25,
      lingerMs: 5,
      retry: PATIENT,
      onError: (err) => errors.push(err),
    });

    assert.equal(client.send(events('before', EVENTS_PER_PHASE)), true);
    // Stop while those batches are in flight or queued: some meet the drain (503), the rest a closed port.
    await first.close();
    assert.equal(client.send(events('during', EVENTS_PER_PHASE)), true);
    await eventually(() => client.stats().refusals >= 3, 60_000);
    assert.ok(client.stats().buffered > 0, 'events wait while the server is down');

    const second = await startTestServer(t, { ...overrides, httpPort: portOf(first.httpUrl), grpcPort: portOf(first.grpcTarget) }, dataDir);
    assert.equal(client.send(events('after', EVENTS_PER_PHASE)), true);
    await client.close();

    const s = client.stats();
    assert.deepEqual(errors, []);
    assertBalanced(s);
    assert.equal(s.enqueued, 3 * EVENTS_PER_PHASE);
    assert.equal(s.buffered, 0);
    assert.equal(s.rejected + s.tooLate, 0);
    assert.deepEqual(s.dropped, { overflow: 0, evicted: 0, closed: 0, failed: 0, retriesExhausted: 0 });
    assert.ok(s.retried > 0 && s.refusals > 0, JSON.stringify(s));
    // A batch applied by the first server whose answer was lost comes back `duplicate`, never counted twice.
    assert.equal(counted(s) + s.duplicate, 3 * EVENTS_PER_PHASE);
    const totals = await serverTotals(second, first.key);
    assert.equal(totals.total, 3 * EVENTS_PER_PHASE, `the server counted each event once: ${JSON.stringify({ totals, s })}`);
  });
}

const PRESSURE_ROUNDS_MAX = 20;
const PRESSURE_EVENTS = 100;

for (const [label, transport] of TRANSPORTS) {
  void test(`${label}: mailboxes of one batch under eight concurrent requests refuse (429); the resends count once`, async (t) => {
    // Refused batches wait whole seconds on HTTP (Retry-After); a day of lateness keeps them counted.
    const server = await startTestServer(t, { mailboxBatchesMax: 1, workerBatchesMax: 1, allowedLatenessMs: 86_400_000 });
    const codes = new Set<string>();
    const client = createClient({
      url: server.httpUrl,
      grpcTarget: server.grpcTarget,
      key: server.key,
      ...transport,
      batchEventsMax: 10,
      requestsInFlightMax: 8,
      retry: PATIENT,
      onError: (err) => codes.add(err.code),
    });
    // Rounds until the server has refused at least once; each round is a burst of concurrent batches to one shard.
    let rounds = 0;
    while (client.stats().refusals === 0 && rounds < PRESSURE_ROUNDS_MAX) {
      client.send(events(`r${rounds}`, PRESSURE_EVENTS));
      await client.flush();
      rounds++;
    }
    await client.close();
    const s = client.stats();
    assert.ok(s.refusals > 0, `no refusal in ${rounds} rounds of ${PRESSURE_EVENTS} events: ${JSON.stringify(s)}`);
    assert.deepEqual([...codes], []);
    assertBalanced(s);
    assert.equal(s.retried > 0, true);
    assert.equal(counted(s) + s.duplicate, rounds * PRESSURE_EVENTS);
    assert.equal((await serverTotals(server, server.key)).total, rounds * PRESSURE_EVENTS);
  });
}
