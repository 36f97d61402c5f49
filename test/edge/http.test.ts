import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { EventideError } from '../../src/errors.js';
import type { BatchReceipt, Resolution, WindowState } from '../../src/actors/types.js';
import type {
  EventLocation,
  IngestRequest,
  LiveSource,
  MetricsQuery,
  MetricsResult,
  OwnerDeltas,
  Readiness,
  Router,
} from '../../src/runtime/router.js';
import { createHttpServer, HTTP_DEFAULTS, keyFromHeaders, type Principal } from '../../src/edge/http.js';

const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
const BODY_BYTES_MAX = 2_048;

class BusyError extends EventideError {
  readonly code = 'EVT_MAILBOX_FULL';
  readonly retryable = true;
  constructor(readonly retryAfterMs: number) {
    super('mailbox of shard 7 is full');
  }
}

/** A real Router: records what it is asked and answers from what the test set. */
class RecordingRouter implements Router {
  ingests: IngestRequest[] = [];
  queries: MetricsQuery[] = [];
  lookups: Array<[string, string]> = [];
  nextReceipt: BatchReceipt = { single: false, counts: counts({ accepted: 2 }), receipts: [] };
  nextError: unknown = undefined;
  events = new Map<string, EventLocation>();
  readinessValue: Readiness = { ready: true, workersUp: 2, workersTotal: 2, draining: false, reasons: [], degraded: [] };
  readonly live: LiveSource = {
    watch: (_owner: string, _resolution: Resolution): Promise<WindowState[]> => Promise.resolve([]),
    unwatch: () => undefined,
    onDeltas: (_listener: (batch: OwnerDeltas[]) => void) => undefined,
  };

  ingest(request: IngestRequest): Promise<BatchReceipt> {
    this.ingests.push(request);
    // A plain object stands for an error that crossed a thread boundary and lost its class.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    if (this.nextError !== undefined) return Promise.reject(this.nextError);
    return Promise.resolve(this.nextReceipt);
  }
  queryMetrics(query: MetricsQuery): Promise<MetricsResult> {
    this.queries.push(query);
    return Promise.resolve({
      owner: query.owner,
      resolution: query.resolution,
      fromMs: query.fromMs,
      toMs: query.toMs,
      windows: [],
      summary: { total: 0, late: 0, tooLate: 0, uniques: 0, byName: {} },
      truncated: false,
    });
  }
  getEvent(owner: string, id: string): Promise<EventLocation | undefined> {
    this.lookups.push([owner, id]);
    return Promise.resolve(this.events.get(`${owner}/${id}`));
  }
  readiness(): Readiness {
    return this.readinessValue;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function counts(partial: Partial<BatchReceipt['counts']>): BatchReceipt['counts'] {
  return { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0, ...partial };
}

const KEYS: Record<string, Principal> = {
  'k-ingest': { owner: 'acme', scopes: ['ingest'] },
  'k-read': { owner: 'acme', scopes: ['read'] },
  'k-both': { owner: 'globex', scopes: ['ingest', 'read'] },
};

async function setup(t: TestContext): Promise<{ app: FastifyInstance; router: RecordingRouter; keysAsked: string[] }> {
  const router = new RecordingRouter();
  const keysAsked: string[] = [];
  const app = createHttpServer({
    router,
    authenticate: (key) => {
      keysAsked.push(key);
      return Promise.resolve(KEYS[key]);
    },
    config: { ...HTTP_DEFAULTS, ackDefault: 'applied', bodyBytesMax: BODY_BYTES_MAX, idCharsMax: 16, nameCharsMax: 8 },
    log: false,
    clock: () => NOW_MS,
  });
  t.after(() => app.close());
  await app.ready();
  return { app, router, keysAsked };
}

const JSON_HEADERS = { 'content-type': 'application/json', authorization: 'Bearer k-ingest' };

interface ErrorAnswer {
  error: { code: string; message: string; field?: string; retryable: boolean };
}

void test('keyFromHeaders: Bearer first, then x-api-key', () => {
  assert.equal(keyFromHeaders({ authorization: 'Bearer abc' }), 'abc');
  assert.equal(keyFromHeaders({ authorization: 'bearer   abc ' }), 'abc');
  assert.equal(keyFromHeaders({ authorization: 'Basic abc', 'x-api-key': 'def' }), 'def');
  assert.equal(keyFromHeaders({}), undefined);
});

void test('health routes answer without a key and every answer carries a request id', async (t) => {
  const { app } = await setup(t);
  for (const url of ['/healthz', '/livez']) {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  }
  const given = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'req-42' } });
  assert.equal(given.headers['x-request-id'], 'req-42');
  const odd = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'has spaces and <tags>' } });
  assert.notEqual(odd.headers['x-request-id'], 'has spaces and <tags>');
});

void test('POST /v1/events refuses a missing, unknown or under-scoped key before reading the body', async (t) => {
  const { app, router } = await setup(t);
  const cases: Array<[Record<string, string>, number, string]> = [
    [{}, 401, 'EVT_UNAUTHENTICATED'],
    [{ authorization: 'Bearer nope' }, 401, 'EVT_UNAUTHENTICATED'],
    [{ 'x-api-key': 'k-read' }, 403, 'EVT_FORBIDDEN'],
  ];
  for (const [headers, status, code] of cases) {
    const res = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', ...headers }, payload: '{}' });
    assert.equal(res.statusCode, status);
    assert.equal(res.json<ErrorAnswer>().error.code, code);
  }
  assert.equal(router.ingests.length, 0);
});

void test('POST /v1/events routes the raw bytes with owner, format, ack and request id', async (t) => {
  const { app, router } = await setup(t);
  router.nextReceipt = { batchId: 'b-1', single: false, counts: counts({ accepted: 2 }), receipts: [] };
  const payload = '{"events":[{"name":"a"},{"name":"b"}]}';
  const res = await app.inject({ method: 'POST', url: '/v1/events', headers: { ...JSON_HEADERS, 'x-request-id': 'r-1' }, payload });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { batchId: 'b-1', counts: counts({ accepted: 2 }), receipts: [] });
  assert.equal(res.headers['x-request-id'], 'r-1');
  const [request] = router.ingests;
  assert.ok(request);
  assert.equal(Buffer.from(request.body).toString(), payload);
  assert.deepEqual(
    { owner: request.owner, format: request.format, encoding: request.encoding, ack: request.ack, all: request.receiptsAll, at: request.receivedAtMs, id: request.requestId },
    { owner: 'acme', format: 'json', encoding: 'identity', ack: 'applied', all: false, at: NOW_MS, id: 'r-1' },
  );
});

void test('ack and receipts come from headers or the query; bad values are EVT_QUERY_INVALID', async (t) => {
  const { app, router } = await setup(t);
  await app.inject({ method: 'POST', url: '/v1/events?ack=durable&receipts=all', headers: JSON_HEADERS, payload: '{}' });
  await app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { ...JSON_HEADERS, 'content-type': 'application/msgpack', 'content-encoding': 'gzip', 'x-eventide-ack': 'durable', 'x-eventide-receipts': 'all' },
    payload: Buffer.from([1, 2, 3]),
  });
  assert.deepEqual(
    router.ingests.map((r) => [r.ack, r.receiptsAll, r.format, r.encoding]),
    [
      ['durable', true, 'json', 'identity'],
      ['durable', true, 'msgpack', 'gzip'],
    ],
  );
  const bad = await app.inject({ method: 'POST', url: '/v1/events?ack=eventually', headers: JSON_HEADERS, payload: '{}' });
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(bad.json<ErrorAnswer>().error.code, 'EVT_QUERY_INVALID');
  assert.deepEqual(bad.json<ErrorAnswer>().error.field, 'ack');
  assert.equal(router.ingests.length, 2);
});

void test('a rejected single event is 400 with its code and field', async (t) => {
  const { app, router } = await setup(t);
  router.nextReceipt = {
    single: true,
    counts: counts({ rejected: 1 }),
    receipts: [{ index: 0, id: 'e1', status: 'rejected', code: 'EVT_FIELD_MISSING', field: 'name', message: 'name is required' }],
  };
  const res = await app.inject({ method: 'POST', url: '/v1/events', headers: JSON_HEADERS, payload: '{"id":"e1"}' });
  assert.equal(res.statusCode, 400);
  const body = res.json<ErrorAnswer & { receipts: unknown[] }>();
  assert.deepEqual(body.error, { code: 'EVT_FIELD_MISSING', message: 'name is required', field: 'name', retryable: false });
  assert.equal(body.receipts.length, 1);
});

void test('a batch is 400 only when every event was rejected; partly rejected is 200', async (t) => {
  const { app, router } = await setup(t);
  const rejected = [
    { index: 0, id: 'a', status: 'rejected' as const, code: 'EVT_FIELD_TYPE', field: 'value', message: 'value must be a number' },
    { index: 1, id: 'b', status: 'rejected' as const, code: 'EVT_FIELD_MISSING', field: 'name', message: 'name is required' },
  ];
  router.nextReceipt = { single: false, counts: counts({ rejected: 2 }), receipts: rejected };
  const all = await app.inject({ method: 'POST', url: '/v1/events', headers: JSON_HEADERS, payload: '{}' });
  assert.equal(all.statusCode, 400);
  const body = all.json<ErrorAnswer & { receipts: unknown[]; counts: unknown }>();
  assert.equal(body.error.code, 'EVT_FIELD_TYPE');
  assert.deepEqual(body.receipts, rejected);

  router.nextReceipt = { single: false, counts: counts({ accepted: 1, rejected: 1 }), receipts: [rejected[1]!] };
  const part = await app.inject({ method: 'POST', url: '/v1/events', headers: JSON_HEADERS, payload: '{}' });
  assert.equal(part.statusCode, 200);
});

void test('router refusals map through the status table with Retry-After; foreign errors leak nothing', async (t) => {
  const { app, router } = await setup(t);
  router.nextError = new BusyError(2_500);
  const busy = await app.inject({ method: 'POST', url: '/v1/events', headers: JSON_HEADERS, payload: '{}' });
  assert.equal(busy.statusCode, 429);
  assert.equal(busy.headers['retry-after'], '3');
  assert.deepEqual(busy.json(), { error: { code: 'EVT_MAILBOX_FULL', message: 'mailbox of shard 7 is full', retryable: true } });

  router.nextError = { code: 'EVT_WORKER_UNAVAILABLE', message: 'worker 1 is unavailable', retryable: true };
  const down = await app.inject({ method: 'POST', url: '/v1/events', headers: JSON_HEADERS, payload: '{}' });
  assert.equal(down.statusCode, 503);
  assert.equal(down.headers['retry-after'], '1');

  router.nextError = new Error('ECONNREFUSED 10.0.0.3:27017 password=hunter2');
  const boom = await app.inject({ method: 'POST', url: '/v1/events', headers: JSON_HEADERS, payload: '{}' });
  assert.equal(boom.statusCode, 500);
  assert.deepEqual(boom.json(), { error: { code: 'EVT_INTERNAL', message: 'internal error', retryable: false } });
  assert.equal(boom.headers['retry-after'], undefined);
});

void test('body limits and media types answer in the EVT_ shape', async (t) => {
  const { app, router } = await setup(t);
  const big = await app.inject({ method: 'POST', url: '/v1/events', headers: JSON_HEADERS, payload: 'x'.repeat(BODY_BYTES_MAX + 1) });
  assert.equal(big.statusCode, 413);
  assert.equal(big.json<ErrorAnswer>().error.code, 'EVT_BODY_TOO_LARGE');
  assert.equal(big.headers.connection, 'close');
  const odd = await app.inject({ method: 'POST', url: '/v1/events', headers: { ...JSON_HEADERS, 'content-type': 'text/csv' }, payload: 'a,b' });
  assert.equal(odd.statusCode, 415);
  assert.equal(odd.json<ErrorAnswer>().error.field, 'content-type');
  const empty = await app.inject({ method: 'POST', url: '/v1/events', headers: JSON_HEADERS, payload: '' });
  assert.equal(empty.statusCode, 400);
  assert.equal(empty.json<ErrorAnswer>().error.code, 'EVT_REQUEST_MALFORMED');
  const lying = await app.inject({ method: 'POST', url: '/v1/events', headers: { ...JSON_HEADERS, 'content-length': '50' }, payload: '{}' });
  assert.equal(lying.statusCode, 400);
  assert.equal(lying.json<ErrorAnswer>().error.code, 'EVT_BODY_LENGTH_MISMATCH');
  assert.equal(router.ingests.length, 0);
});

void test('GET /v1/metrics: defaults to the last hour at 1m, takes ms or ISO, validates each field', async (t) => {
  const { app, router } = await setup(t);
  const headers = { authorization: 'Bearer k-read' };
  const res = await app.inject({ url: '/v1/metrics', headers });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(router.queries[0], { owner: 'acme', resolution: '1m', fromMs: NOW_MS - 3_600_000, toMs: NOW_MS });
  await app.inject({ url: '/v1/metrics?resolution=1h&from=2026-01-01T00:00:00Z&to=1767312000000&name=click', headers });
  assert.deepEqual(router.queries[1], { owner: 'acme', resolution: '1h', fromMs: Date.UTC(2026, 0, 1), toMs: 1767312000000, name: 'click' });

  const bad: Array<[string, string]> = [
    ['resolution=5m', 'resolution'],
    ['from=yesterday', 'from'],
    ['to=-5', 'to'],
    ['from=2000&to=1000', 'from'],
    ['name=waytoolongname', 'name'],
  ];
  for (const [query, field] of bad) {
    const answer = await app.inject({ url: `/v1/metrics?${query}`, headers });
    assert.equal(answer.statusCode, 400, query);
    assert.deepEqual([answer.json<ErrorAnswer>().error.code, answer.json<ErrorAnswer>().error.field], ['EVT_QUERY_INVALID', field], query);
  }
  const ingestOnly = await app.inject({ url: '/v1/metrics', headers: { authorization: 'Bearer k-ingest' } });
  assert.equal(ingestOnly.statusCode, 403);
  assert.equal(router.queries.length, 2);
});

void test('GET /v1/events/:id looks up within the key owner; 404 EVT_NOT_FOUND when absent', async (t) => {
  const { app, router } = await setup(t);
  const location: EventLocation = {
    state: 'pending',
    shard: 3,
    worker: 1,
    event: {
      owner: 'globex',
      shard: 3,
      status: 'accepted',
      event: {
        id: 'e1', name: 'click', timestampMs: NOW_MS, clientTimestampMs: NOW_MS, receivedAtMs: NOW_MS, userId: undefined,
        category: 'default', severity: 'info', tags: [], properties: {}, value: undefined,
      },
    },
  };
  router.events.set('globex/e1', location);
  const headers = { authorization: 'Bearer k-both' };
  const found = await app.inject({ url: '/v1/events/e1', headers });
  assert.equal(found.statusCode, 200);
  assert.equal(found.json<EventLocation>().shard, 3);
  const missing = await app.inject({ url: '/v1/events/e2', headers });
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(missing.json<ErrorAnswer>().error, { code: 'EVT_NOT_FOUND', message: 'no event with id e2', field: 'id', retryable: false });
  const long = await app.inject({ url: `/v1/events/${'x'.repeat(17)}`, headers });
  assert.equal(long.json<ErrorAnswer>().error.field, 'id');
  assert.deepEqual(router.lookups, [['globex', 'e1'], ['globex', 'e2']]);
});

void test('readyz follows router.readiness(); unknown routes and bad URLs are EVT_ errors too', async (t) => {
  const { app, router } = await setup(t);
  assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
  router.readinessValue = { ready: false, workersUp: 1, workersTotal: 2, draining: false, reasons: ['worker 1 is restarting'], degraded: [] };
  const notReady = await app.inject({ url: '/readyz' });
  assert.equal(notReady.statusCode, 503);
  assert.deepEqual(notReady.json<{ reasons: string[] }>().reasons, ['worker 1 is restarting']);
  const nowhere = await app.inject({ url: '/v2/nothing' });
  assert.equal(nowhere.statusCode, 404);
  assert.equal(nowhere.json<ErrorAnswer>().error.code, 'EVT_NOT_FOUND');
  const badUrl = await app.inject({ url: '/v1/events/%E0%A4%A', headers: { authorization: 'Bearer k-read' } });
  assert.equal(badUrl.statusCode, 400);
  assert.equal(badUrl.json<ErrorAnswer>().error.code, 'EVT_REQUEST_MALFORMED');
});

/** Write raw bytes to the listening server and read until it closes the socket. */
function exchange(port: number, request: string, halfClose: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(request);
      if (halfClose) socket.end();
    });
    let out = '';
    socket.on('data', (chunk: Buffer) => {
      out += chunk.toString('latin1');
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
}

void test('over a real socket: malformed headers and a body cut short answer EVT_ codes and close', async (t) => {
  const { app, router } = await setup(t);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const malformed = await exchange(port, 'POST /v1/events HTTP/1.1\r\nHost x\r\n\r\n', false);
  assert.match(malformed, /^HTTP\/1\.1 400 /);
  assert.match(malformed, /"code":"EVT_REQUEST_MALFORMED"/);
  const cut = await exchange(
    port,
    'POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k-ingest\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":',
    true,
  );
  assert.match(cut, /^HTTP\/1\.1 400 /);
  assert.match(cut, /"code":"EVT_BODY_LENGTH_MISMATCH"/);
  assert.equal(router.ingests.length, 0);
});
