/**
 * /metrics against a real server: known traffic moves the counters by exactly
 * its amounts, label sets do not grow with owners, mailbox refusals are
 * counted per worker, and the settings (token, own port, off) do what the
 * docs say.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { configWith } from '../../src/server.js';
import { eventually, getJson, postEvents } from '../helpers.js';
import { grpcClient, grpcEvent, grpcSend, scrape, seriesKey, startOpsServer, type Scrape } from './helpers.js';

/** Events stamped this far ahead are `accepted`, never `late`, however slow the machine. */
const AHEAD_MS = 2_000;

function body(events: Array<Record<string, unknown>>): string {
  const timestamp = Date.now() + AHEAD_MS;
  return JSON.stringify({ events: events.map((e) => ({ timestamp, ...e })) });
}

/** How much `name{labels}` (summed over other labels) grew between two scrapes. */
function grew(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return after.sum(name, labels) - before.sum(name, labels);
}

/** A histogram's buckets are cumulative, end at +Inf with its count, and the count matches. */
function assertHistogram(s: Scrape, name: string, labels: Record<string, string>, count: number): void {
  const buckets = s.series
    .filter((x) => x.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    .map((x) => ({ le: x.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(x.labels.le), value: x.value }))
    .sort((a, b) => a.le - b.le);
  assert.ok(buckets.length > 1, `${name} has buckets`);
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${name}: cumulative buckets`);
  assert.equal(buckets.at(-1)!.le, Number.POSITIVE_INFINITY);
  assert.equal(buckets.at(-1)!.value, count);
  assert.equal(s.get(`${name}_count`, labels), count);
}

void test('after known traffic the counters moved by exactly its amounts', async (t) => {
  const server = await startOpsServer(t);
  const client = grpcClient(t, server);
  const before = await scrape(server.httpUrl);

  // HTTP: 3 accepted + 1 rejected; then 1 duplicate + 1 accepted; then one accepted with ack=durable.
  const a = await postEvents(server, server.key, body([{ id: 'a1', name: 'click' }, { id: 'a2', name: 'click' }, { id: 'a3', name: 'view' }, { id: 'a4', name: '' }]));
  assert.equal(a.status, 200, JSON.stringify(a.body));
  const b = await postEvents(server, server.key, body([{ id: 'a1', name: 'click' }, { id: 'b1', name: 'view' }]));
  assert.deepEqual(b.body.counts, { accepted: 1, duplicate: 1, late: 0, tooLate: 0, rejected: 0 });
  const durable = await postEvents(server, server.key, body([{ id: 'd1', name: 'buy' }]), {}, '?ack=durable');
  assert.equal(durable.status, 200, JSON.stringify(durable.body));
  // A body the worker cannot decode: one refused batch, no events.
  const malformed = await postEvents(server, server.key, '{"events": [');
  assert.equal(malformed.status, 400);
  // Refused before the router: not an ingest batch at all.
  assert.equal((await postEvents(server, 'evt_nope_nope', body([{ name: 'x' }]))).status, 401);
  // gRPC: 2 accepted.
  const sent = await grpcSend(client, server.key, [grpcEvent('g1', 'click', Date.now() + AHEAD_MS), grpcEvent('g2', 'click', Date.now() + AHEAD_MS)]);
  assert.equal(sent.response.accepted, 2);

  const after = await scrape(server.httpUrl);
  const events = (protocol: string, outcome: string) => grew(before, after, 'eventide_events_total', { protocol, outcome });
  assert.equal(events('http', 'accepted'), 5);
  assert.equal(events('http', 'duplicate'), 1);
  assert.equal(events('http', 'rejected'), 1);
  assert.equal(events('http', 'late'), 0);
  assert.equal(events('http', 'too_late'), 0);
  assert.equal(events('grpc', 'accepted'), 2);
  assert.equal(events('grpc', 'rejected'), 0);

  const batches = (protocol: string, result: string) => grew(before, after, 'eventide_ingest_batches_total', { protocol, result });
  assert.equal(batches('http', 'ok'), 3);
  assert.equal(batches('http', 'EVT_BODY_MALFORMED'), 1);
  assert.equal(batches('grpc', 'ok'), 1);
  assert.equal(grew(before, after, 'eventide_ingest_batches_total'), 5, 'no other batch was counted (the 401 never reached the router)');

  const ingestCount = (protocol: string, ack: string) => grew(before, after, 'eventide_ingest_duration_seconds_count', { protocol, ack });
  assert.equal(ingestCount('http', 'applied'), 3);
  assert.equal(ingestCount('http', 'durable'), 1);
  assert.equal(ingestCount('grpc', 'applied'), 1);
  assertHistogram(after, 'eventide_ingest_duration_seconds', { protocol: 'http', ack: 'applied' }, after.get('eventide_ingest_duration_seconds_count', { protocol: 'http', ack: 'applied' }));

  const requests = (code: string) => grew(before, after, 'eventide_http_request_duration_seconds_count', { method: 'POST', route: '/v1/events', code });
  assert.equal(requests('200'), 3);
  assert.equal(requests('400'), 1);
  assert.equal(requests('401'), 1);
  assertHistogram(after, 'eventide_http_request_duration_seconds', { method: 'POST', route: '/v1/events', code: '200' }, after.get('eventide_http_request_duration_seconds_count', { method: 'POST', route: '/v1/events', code: '200' }));

  // The workers' own figures arrive with their stats (once a second): 3 + 2 + 1 valid records over HTTP, 2 over gRPC.
  let late: Scrape | undefined;
  await eventually(async () => {
    late = await scrape(server.httpUrl);
    return grew(before, late, 'eventide_worker_events_applied_total') === 8 && late.sum('eventide_flush_pending_events') === 0;
  });
  assert.equal(late!.get('eventide_workers'), 2);
  assert.equal(late!.sum('eventide_worker_up'), 2);
  assert.equal(late!.sum('eventide_worker_owners'), 1, 'one owner, resident in one worker');
  // The durable batch was committed before its answer, so at least one event write was timed and none failed.
  assert.ok(late!.get('eventide_store_operation_duration_seconds_count', { store: 'events', backend: 'lmdb', operation: 'write_events' }) >= 1);
  assert.equal(late!.sum('eventide_store_operation_failures_total'), 0);
  assert.equal(late!.get('eventide_ready'), 1);
  // prom-client's defaults are there too: heap, RSS, event-loop lag.
  for (const name of ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds']) assert.ok(late!.has(name), name);
  assert.ok(late!.sum('eventide_worker_heap_used_bytes') > 0);
  // Committed heap holds the used heap and the free space of its pages.
  assert.ok(late!.sum('eventide_worker_heap_total_bytes') >= late!.sum('eventide_worker_heap_used_bytes'));
});

void test('many owners add no series: no label carries an owner', async (t) => {
  const server = await startOpsServer(t);
  const ownerSeries = (s: Scrape) => new Set(s.series.filter((x) => x.name.startsWith('eventide_')).map(seriesKey));
  // Warm up every kind of request the test makes, so their (bounded) label sets exist already.
  assert.equal((await postEvents(server, server.key, body([{ name: 'click' }]))).status, 200);
  assert.equal((await getJson(`${server.httpUrl}/v1/metrics?resolution=1m`, server.key)).status, 200);
  await eventually(async () => (await scrape(server.httpUrl)).series.filter((x) => x.name === 'eventide_worker_owners').length === 2);
  await scrape(server.httpUrl);
  const warm = ownerSeries(await scrape(server.httpUrl));

  const OWNERS = 40;
  const owners = Array.from({ length: OWNERS }, (_, i) => `tenant-${i}-${'x'.repeat(i % 7)}`);
  for (const owner of owners) {
    const key = await server.createKey(owner);
    assert.equal((await postEvents(server, key, body([{ name: 'click', userId: owner }]))).status, 200);
    assert.equal((await getJson(`${server.httpUrl}/v1/metrics?resolution=1m`, key)).status, 200);
  }
  let after: Scrape | undefined;
  await eventually(async () => {
    after = await scrape(server.httpUrl);
    return after.sum('eventide_worker_owners') === OWNERS + 1;
  });
  assert.deepEqual([...ownerSeries(after!)].sort(), [...warm].sort(), 'the same eventide_ series before and after 40 more owners');
  const values = new Set(after!.series.flatMap((x) => Object.values(x.labels)));
  for (const owner of owners) assert.ok(!values.has(owner), `owner ${owner} appears as a label value`);
  assert.equal(after!.sum('eventide_events_total', { outcome: 'accepted' }), OWNERS + 1);
});

void test('a full mailbox is counted on its worker: depth, refusal, refused batch', async (t) => {
  // One batch in flight per shard. Without the write-ahead log a durable batch holds its slot until the
  // flush that covers it, and no flush comes by itself (60 s) until flushBatchEventsMax (10) events are pending.
  const server = await startOpsServer(t, { walEnabled: false, mailboxBatchesMax: 1, flushIntervalMs: 60_000, flushBatchEventsMax: 10, requestTimeoutMs: 30_000 });
  const { shardMap } = server.router;
  const shard = shardMap.shardOf('acme');
  const worker = shardMap.workerOf(shard);
  // Another owner on the same worker but another shard, to push the flush along at the end.
  let other = '';
  for (let i = 0; other === ''; i++) {
    const candidate = `other-${i}`;
    const s = shardMap.shardOf(candidate);
    if (s !== shard && shardMap.workerOf(s) === worker) other = candidate;
  }
  const otherKey = await server.createKey(other);
  const before = await scrape(server.httpUrl);

  const held = postEvents(server, server.key, body([{ id: 'held', name: 'click' }]), {}, '?ack=durable');
  await eventually(async () => (await scrape(server.httpUrl)).get('eventide_mailbox_depth_batches', { worker: String(worker) }) === 1);
  const during = await scrape(server.httpUrl);
  assert.equal(during.get('eventide_mailbox_shard_depth_max_batches', { worker: String(worker) }), 1);
  assert.equal(during.get('eventide_mailbox_limit_batches', { scope: 'shard' }), 1);

  const refused = await postEvents(server, server.key, body([{ id: 'refused', name: 'click' }]));
  assert.equal(refused.status, 429);
  assert.equal((refused.body.error as { code: string }).code, 'EVT_MAILBOX_FULL');

  // Ten events for the other owner reach flushBatchEventsMax: the flush commits the held batch too.
  const push = await postEvents(server, otherKey, body(Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, name: 'view' }))));
  assert.equal(push.status, 200);
  assert.equal((await held).status, 200);

  const after = await scrape(server.httpUrl);
  assert.equal(grew(before, after, 'eventide_mailbox_refusals_total', { worker: String(worker) }), 1);
  assert.equal(grew(before, after, 'eventide_mailbox_refusals_total'), 1, 'no refusal on the other worker');
  assert.equal(grew(before, after, 'eventide_ingest_batches_total', { protocol: 'http', result: 'EVT_MAILBOX_FULL' }), 1);
  assert.equal(grew(before, after, 'eventide_ingest_batches_total', { protocol: 'http', result: 'ok' }), 2);
  assert.equal(after.sum('eventide_mailbox_depth_batches'), 0);
});

void test('metricsToken guards /metrics (not health); metricsPort moves it to its own listener; metricsEnabled false removes it', async (t) => {
  const token = 'scrape-token-0123456789';
  const guarded = await startOpsServer(t, { metricsToken: token });
  const anonymous = await fetch(`${guarded.httpUrl}/metrics`);
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'EVT_UNAUTHENTICATED');
  const wrong = await fetch(`${guarded.httpUrl}/metrics`, { headers: { authorization: 'Bearer scrape-token-0123456788' } });
  assert.equal(wrong.status, 401);
  assert.equal((await scrape(guarded.httpUrl, token)).get('eventide_ready'), 1);
  assert.equal((await fetch(`${guarded.httpUrl}/readyz`)).status, 200);

  const separate = await startOpsServer(t, { metricsPort: 0 });
  assert.ok(separate.metricsUrl !== undefined && separate.metricsUrl !== separate.httpUrl);
  assert.equal((await postEvents(separate, separate.key, body([{ name: 'click' }]))).status, 200);
  const own = await scrape(separate.metricsUrl);
  assert.equal(own.get('eventide_events_total', { protocol: 'http', outcome: 'accepted' }), 1);
  const onApi = await fetch(`${separate.httpUrl}/metrics`);
  assert.equal(onApi.status, 404);
  assert.equal(((await onApi.json()) as { error: { code: string } }).error.code, 'EVT_NOT_FOUND');
  for (const path of ['/livez', '/healthz', '/readyz']) assert.equal((await fetch(`${separate.metricsUrl}${path}`)).status, 200, path);
  assert.equal((await fetch(`${separate.metricsUrl}/nope`)).status, 404);

  const off = await startOpsServer(t, { metricsEnabled: false });
  assert.equal(off.metricsUrl, undefined);
  assert.equal((await fetch(`${off.httpUrl}/metrics`)).status, 404);
  assert.equal((await postEvents(off, off.key, body([{ name: 'click' }]))).status, 200);

  assert.throws(() => configWith({ metricsToken: 'short' }), /--metrics-token=\(hidden\): must be empty or 16\.\.1024/);
});

void test('eventide_decode_one_pass_total counts JSON bodies read in one pass and those left to the scan and JSON.parse', async (t) => {
  const server = await startOpsServer(t);
  const onePass = (s: Scrape, outcome: string) => s.sum('eventide_decode_one_pass_total', { format: 'json', outcome });
  const before = await scrape(server.httpUrl);
  // A batch: read in one pass. One event on its own: given up on (decoded the old way, and accepted all the same).
  assert.equal((await postEvents(server, server.key, body([{ id: 'o1', name: 'click' }, { id: 'o2', name: 'view' }]))).status, 200);
  const single = await postEvents(server, server.key, JSON.stringify({ id: 'o3', name: 'click', timestamp: Date.now() + AHEAD_MS }));
  assert.equal(single.status, 200, JSON.stringify(single.body));
  await eventually(async () => {
    const after = await scrape(server.httpUrl);
    return onePass(after, 'read') - onePass(before, 'read') >= 1 && onePass(after, 'gave_up') - onePass(before, 'gave_up') >= 1;
  });
  const after = await scrape(server.httpUrl);
  assert.equal(onePass(after, 'read') - onePass(before, 'read'), 1);
  assert.equal(onePass(after, 'gave_up') - onePass(before, 'gave_up'), 1);
  assert.equal(after.sum('eventide_decode_one_pass_total', { format: 'msgpack' }) - before.sum('eventide_decode_one_pass_total', { format: 'msgpack' }), 0);
});

void test('eventide_decode_columnar_total counts msgpack batches the columnar path took and gave up on', async (t) => {
  const server = await startOpsServer(t);
  const packr = new Packr({ useRecords: false });
  const columnar = (s: Scrape, outcome: string) => s.sum('eventide_decode_columnar_total', { format: 'msgpack', outcome });
  const post = async (value: unknown) => {
    const res = await postEvents(server, server.key, packr.pack(value), { 'content-type': 'application/msgpack' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  };
  const before = await scrape(server.httpUrl);
  // The first batch loads the owner (the record path); the next one finds it in memory: columns. One without an id: given up.
  await post({ events: [{ id: 'c1', name: 'click' }] });
  await post({ events: [{ id: 'c2', name: 'click' }, { id: 'c3', name: 'view', properties: { plan: 'pro' } }] });
  await post([{ name: 'click' }]);
  await eventually(async () => {
    const after = await scrape(server.httpUrl);
    return columnar(after, 'read') - columnar(before, 'read') >= 1 && columnar(after, 'gave_up') - columnar(before, 'gave_up') >= 1;
  });
  const after = await scrape(server.httpUrl);
  assert.equal(columnar(after, 'read') - columnar(before, 'read'), 1);
  assert.equal(columnar(after, 'gave_up') - columnar(before, 'gave_up'), 1);
  assert.equal(after.sum('eventide_decode_columnar_total', { format: 'protobuf' }) - before.sum('eventide_decode_columnar_total', { format: 'protobuf' }), 0);
});

void test('eventide_wal_records_total counts batches logged as packed buckets and as bodies; eventide_wal_appended_bytes_total their bytes', async (t) => {
  const server = await startOpsServer(t);
  const records = (s: Scrape, kind: string) => s.sum('eventide_wal_records_total', { kind });
  const before = await scrape(server.httpUrl);
  // 100 stored events: the store packs them on the hot path and the log keeps those bytes. Two: the body.
  const big = Array.from({ length: 100 }, (_, i) => ({ id: `w${i}`, name: 'click', userId: `u${i}`, properties: { path: `/p/${i}` } }));
  assert.equal((await postEvents(server, server.key, body(big))).status, 200);
  assert.equal((await postEvents(server, server.key, body([{ id: 's1', name: 'click' }, { id: 's2', name: 'view' }]))).status, 200);
  await eventually(async () => {
    const after = await scrape(server.httpUrl);
    return records(after, 'buckets') - records(before, 'buckets') >= 1 && records(after, 'body') - records(before, 'body') >= 1;
  });
  const after = await scrape(server.httpUrl);
  assert.equal(records(after, 'buckets') - records(before, 'buckets'), 1);
  assert.equal(records(after, 'body') - records(before, 'body'), 1);
  const bytes = after.sum('eventide_wal_appended_bytes_total') - before.sum('eventide_wal_appended_bytes_total');
  const bigBody = Buffer.byteLength(body(big));
  assert.ok(bytes > 0 && bytes < bigBody, `the log took ${bytes} bytes for a ${bigBody}-byte batch and a small one`);
});
