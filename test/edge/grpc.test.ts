import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import {
  credentials,
  loadPackageDefinition,
  Metadata,
  status as GrpcStatus,
  type Client,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { loadSync } from '@grpc/proto-loader';
import { startGrpcServer, type GrpcLog, type GrpcServerHandle, type GrpcServerOptions } from '../../src/edge/grpc.js';
import { IngestClient, IngestRequest, IngestResponse, AckLevel, ReceiptStatus } from '../../src/gen/eventide/v1/ingest.js';
import { Severity } from '../../src/gen/eventide/v1/event.js';
import type { BatchReceipt } from '../../src/actors/types.js';
import type {
  EventLocation,
  IngestRequest as RouterIngestRequest,
  LiveSource,
  MetricsQuery,
  MetricsResult,
  Readiness,
  Router,
} from '../../src/runtime/router.js';
import { MailboxFullError } from '../../src/runtime/errors.js';
import { BodyMalformedError } from '../../src/actors/errors.js';

const NOW_MS = 1_700_000_000_000;
const KEYS: Record<string, { owner: string; scopes: string[] }> = {
  'evt_good': { owner: 'acme', scopes: ['ingest'] },
  'evt_readonly': { owner: 'acme', scopes: ['read'] },
};

/** A Router that records what it gets and answers through a handler the test sets. */
class RecordingRouter implements Router {
  readonly calls: RouterIngestRequest[] = [];
  pending = 0;
  pendingMax = 0;
  ready = true;
  handler: (request: RouterIngestRequest) => Promise<BatchReceipt> = () => Promise.resolve(receipt());
  #waiters: Array<{ n: number; resolve: () => void }> = [];

  ingest(request: RouterIngestRequest): Promise<BatchReceipt> {
    this.calls.push(request);
    this.pending++;
    this.pendingMax = Math.max(this.pendingMax, this.pending);
    const answer = this.handler(request);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.calls.length < w.n) return true;
      w.resolve();
      return false;
    });
    return answer.finally(() => this.pending--);
  }

  /** Resolves once `n` ingest calls have arrived. */
  callsReached(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  queryMetrics(_query: MetricsQuery): Promise<MetricsResult> {
    return Promise.reject(new Error('not used'));
  }
  getEvent(_owner: string, _id: string): Promise<EventLocation | undefined> {
    return Promise.resolve(undefined);
  }
  readonly live: LiveSource = {
    watch: () => Promise.resolve([]),
    unwatch: () => undefined,
    onDeltas: () => undefined,
  };
  readiness(): Readiness {
    return { ready: this.ready, workersUp: 1, workersTotal: 1, draining: false, reasons: [], degraded: [] };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function receipt(partial: Partial<BatchReceipt> = {}): BatchReceipt {
  return {
    single: false,
    counts: { accepted: 1, duplicate: 0, late: 0, tooLate: 0, rejected: 0 },
    receipts: [],
    ...partial,
  };
}

const silentLog: GrpcLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function start(
  t: TestContext,
  router: RecordingRouter,
  extra: Partial<GrpcServerOptions> = {},
): Promise<{ server: GrpcServerHandle; client: IngestClient; target: string }> {
  const server = await startGrpcServer({
    router,
    authenticate: (key) => Promise.resolve(KEYS[key]),
    host: '127.0.0.1',
    port: 0,
    defaults: { ack: 'applied' },
    log: silentLog,
    nowMs: () => NOW_MS,
    ...extra,
  });
  const target = `127.0.0.1:${server.port}`;
  const client = new IngestClient(target, credentials.createInsecure());
  t.after(async () => {
    client.close();
    await server.close();
  });
  return { server, client, target };
}

function auth(key = 'evt_good', extra: Record<string, string> = {}): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${key}`);
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

function request(name: string, batchId = ''): IngestRequest {
  return {
    events: [{ id: `${name}-1`, name, severity: Severity.SEVERITY_INFO, tags: ['t'], properties: new Map(), timestampMs: NOW_MS }],
    batchId,
    ack: AckLevel.ACK_LEVEL_UNSPECIFIED,
    receiptsAll: false,
  };
}

function sendCall(client: IngestClient, req: IngestRequest, md: Metadata): Promise<IngestResponse> {
  return new Promise((resolve, reject) => {
    client.send(req, md, (err, res) => (err === null ? resolve(res) : reject(err)));
  });
}

async function sendFails(client: IngestClient, md: Metadata): Promise<ServiceError> {
  try {
    await sendCall(client, request('x'), md);
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail('the call succeeded');
}

function trailer(err: ServiceError, key: string): string | undefined {
  const v = err.metadata.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

void test('Send without a key, with a wrong key, or without the ingest scope is refused', async (t) => {
  const router = new RecordingRouter();
  const { client } = await start(t, router);

  const none = await sendFails(client, new Metadata());
  assert.equal(none.code, GrpcStatus.UNAUTHENTICATED);
  assert.equal(trailer(none, 'x-eventide-code'), 'EVT_UNAUTHENTICATED');

  const wrong = await sendFails(client, auth('evt_nope'));
  assert.equal(wrong.code, GrpcStatus.UNAUTHENTICATED);

  const apiKey = new Metadata();
  apiKey.set('x-api-key', 'evt_readonly');
  const scope = await sendFails(client, apiKey);
  assert.equal(scope.code, GrpcStatus.PERMISSION_DENIED);
  assert.equal(trailer(scope, 'x-eventide-code'), 'EVT_FORBIDDEN');

  assert.equal(router.calls.length, 0);
});

void test('Send hands the request bytes to the router unparsed and maps the receipt', async (t) => {
  const router = new RecordingRouter();
  router.handler = () =>
    Promise.resolve(
      receipt({
        batchId: 'b-42',
        counts: { accepted: 1, duplicate: 1, late: 0, tooLate: 0, rejected: 1 },
        receipts: [
          { index: 1, id: 'd', status: 'duplicate' },
          { index: 2, id: '', status: 'rejected', code: 'EVT_FIELD_MISSING', field: 'name', message: 'name is required' },
        ],
      }),
    );
  const { client } = await start(t, router);
  const req = request('click', 'b-42');
  const res = await sendCall(client, req, auth('evt_good', { 'x-eventide-ack': 'durable', 'x-eventide-receipts': 'all' }));

  assert.equal(router.calls.length, 1);
  const call = router.calls[0]!;
  assert.deepEqual(Buffer.from(call.body), Buffer.from(IngestRequest.encode(req).finish()));
  assert.equal(call.owner, 'acme');
  assert.equal(call.format, 'protobuf');
  assert.equal(call.encoding, 'identity');
  assert.equal(call.ack, 'durable');
  assert.equal(call.receiptsAll, true);
  assert.equal(call.receivedAtMs, NOW_MS);
  assert.ok(call.requestId.length > 0);

  assert.deepEqual(res, {
    batchId: 'b-42',
    accepted: 1,
    duplicate: 1,
    late: 0,
    tooLate: 0,
    rejected: 1,
    receipts: [
      { index: 1, id: 'd', status: ReceiptStatus.RECEIPT_STATUS_DUPLICATE, code: '', field: '', message: '' },
      {
        index: 2,
        id: '',
        status: ReceiptStatus.RECEIPT_STATUS_REJECTED,
        code: 'EVT_FIELD_MISSING',
        field: 'name',
        message: 'name is required',
      },
    ],
    errorCode: '',
    retryAfterMs: 0,
  });
});

void test('Send uses the default ack and the client request id when metadata names them', async (t) => {
  const router = new RecordingRouter();
  const { client } = await start(t, router);
  await sendCall(client, request('a'), auth('evt_good', { 'x-request-id': 'client-req-1' }));
  assert.equal(router.calls[0]!.ack, 'applied');
  assert.equal(router.calls[0]!.receiptsAll, false);
  assert.equal(router.calls[0]!.requestId, 'client-req-1');

  const bad = await sendFails(client, auth('evt_good', { 'x-eventide-ack': 'maybe' }));
  assert.equal(bad.code, GrpcStatus.INVALID_ARGUMENT);
  assert.equal(trailer(bad, 'x-eventide-field'), 'x-eventide-ack');
});

void test('Send maps router errors to gRPC status with the EVT code, field and retry hint', async (t) => {
  const router = new RecordingRouter();
  const { client } = await start(t, router);

  router.handler = () => Promise.reject(new MailboxFullError(7, 64, 250));
  const full = await sendFails(client, auth());
  assert.equal(full.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.equal(trailer(full, 'x-eventide-code'), 'EVT_MAILBOX_FULL');
  assert.equal(trailer(full, 'retry-after-ms'), '250');

  router.handler = () => Promise.reject(new BodyMalformedError('protobuf: premature EOF', { field: 'events' }));
  const malformed = await sendFails(client, auth());
  assert.equal(malformed.code, GrpcStatus.INVALID_ARGUMENT);
  assert.equal(trailer(malformed, 'x-eventide-code'), 'EVT_BODY_MALFORMED');
  assert.equal(trailer(malformed, 'x-eventide-field'), 'events');
  assert.equal(trailer(malformed, 'retry-after-ms'), undefined);
  assert.match(malformed.details, /premature EOF/);

  router.handler = () => Promise.reject(new Error('secret path /etc/x'));
  const internal = await sendFails(client, auth());
  assert.equal(internal.code, GrpcStatus.INTERNAL);
  assert.equal(trailer(internal, 'x-eventide-code'), 'EVT_INTERNAL');
  assert.doesNotMatch(internal.details, /secret/);
});

/** Opens a Stream call and collects its answers. */
function openStream(client: IngestClient, md: Metadata): {
  call: ClientDuplexStream<IngestRequest, IngestResponse>;
  answers: IngestResponse[];
  done: Promise<void>;
} {
  const call = client.stream(md);
  const answers: IngestResponse[] = [];
  call.on('data', (r: IngestResponse) => answers.push(r));
  const done = new Promise<void>((resolve, reject) => {
    call.on('end', resolve);
    call.on('error', reject);
  });
  return { call, answers, done };
}

void test('Stream answers in request order even when the router answers out of order, and survives a refusal', async (t) => {
  const router = new RecordingRouter();
  const resolvers: Array<(r: BatchReceipt) => void> = [];
  const rejecters: Array<(e: unknown) => void> = [];
  router.handler = () =>
    new Promise<BatchReceipt>((resolve, reject) => {
      resolvers.push(resolve);
      rejecters.push(reject);
    });
  const { client } = await start(t, router);
  const { call, answers, done } = openStream(client, auth());
  for (const name of ['a', 'b', 'c']) call.write(request(name));
  call.end();
  await router.callsReached(3);

  // Answer the last first, refuse the middle one.
  resolvers[2]!(receipt({ batchId: 'third' }));
  rejecters[1]!(new MailboxFullError(3, 64, 400));
  resolvers[0]!(receipt({ batchId: 'first' }));
  await done;

  assert.deepEqual(
    answers.map((a) => [a.batchId, a.errorCode, a.retryAfterMs, a.accepted]),
    [
      ['first', '', 0, 1],
      ['', 'EVT_MAILBOX_FULL', 400, 0],
      ['third', '', 0, 1],
    ],
  );
  // Each batch of a stream has its own request id.
  assert.equal(new Set(router.calls.map((c) => c.requestId)).size, 3);
});

void test('Stream stops reading while streamBatchesInFlightMax batches are with the router', async (t) => {
  const IN_FLIGHT_MAX = 2;
  const BATCHES = 6;
  const router = new RecordingRouter();
  const held: Array<() => void> = [];
  let holding = true;
  router.handler = (req) => {
    if (req.requestId === 'barrier') return Promise.resolve(receipt());
    return new Promise<BatchReceipt>((resolve) => {
      if (holding) held.push(() => resolve(receipt()));
      else resolve(receipt());
    });
  };
  const { client, server } = await start(t, router, { streamBatchesInFlightMax: IN_FLIGHT_MAX });
  const { call, answers, done } = openStream(client, auth());
  const written = Array.from(
    { length: BATCHES },
    (_, i) => new Promise<void>((resolve) => call.write(request(`e${i}`), () => resolve())),
  );
  await Promise.all(written);
  await router.callsReached(IN_FLIGHT_MAX);
  // A unary call on the same connection is a barrier: its frames follow the
  // stream's on the wire, so once it has been routed the server has received
  // every batch of the stream, and routed only those it was willing to read.
  await sendCall(client, request('barrier'), auth('evt_good', { 'x-request-id': 'barrier' }));
  const streamCalls = router.calls.filter((c) => c.requestId !== 'barrier').length;
  assert.equal(streamCalls, IN_FLIGHT_MAX);
  assert.equal(server.stats.streamPauses, 1);

  holding = false;
  for (const release of held.splice(0)) release();
  call.end();
  await done;
  assert.equal(answers.length, BATCHES);
  assert.equal(router.calls.length, BATCHES + 1);
});

void test('Stream without a key ends with UNAUTHENTICATED and routes nothing', async (t) => {
  const router = new RecordingRouter();
  const { client } = await start(t, router);
  const { call, done } = openStream(client, new Metadata());
  call.write(request('a'));
  call.end();
  await assert.rejects(done, (err: ServiceError) => err.code === GrpcStatus.UNAUTHENTICATED);
  assert.equal(router.calls.length, 0);
});

const require = createRequire(import.meta.url);

interface GenericClientCtor {
  new (target: string, creds: ReturnType<typeof credentials.createInsecure>): Client & Record<string, unknown>;
}

function serviceClient(protoFile: string, includeDirs: string[], path: string[]): GenericClientCtor {
  const def = loadSync(protoFile, { includeDirs, keepCase: true, enums: String, defaults: true, oneofs: true });
  let node: unknown = loadPackageDefinition(def);
  for (const part of path) node = (node as Record<string, unknown>)[part];
  return node as GenericClientCtor;
}

void test('health checking answers SERVING for the server and the Ingest service, and stops with the server', async (t) => {
  const router = new RecordingRouter();
  const { target, server } = await start(t, router);
  const healthProto = (require('grpc-health-check') as { protoPath: string }).protoPath;
  const Health = serviceClient(healthProto, [], ['grpc', 'health', 'v1', 'Health']);
  const health = new Health(target, credentials.createInsecure());
  t.after(() => health.close());
  const check = (service: string): Promise<string> =>
    new Promise((resolve, reject) => {
      (health.Check as (req: object, cb: (err: Error | null, res: { status: string }) => void) => void).call(
        health,
        { service },
        (err, res) => (err === null ? resolve(res.status) : reject(err)),
      );
    });
  assert.equal(await check(''), 'SERVING');
  assert.equal(await check('eventide.v1.Ingest'), 'SERVING');
  await assert.rejects(check('no.such.Service'), (err: ServiceError) => err.code === GrpcStatus.NOT_FOUND);
  await server.close();
  await assert.rejects(check(''));
});

void test('health follows router readiness at start', async (t) => {
  const router = new RecordingRouter();
  router.ready = false;
  const { target } = await start(t, router);
  const healthProto = (require('grpc-health-check') as { protoPath: string }).protoPath;
  const Health = serviceClient(healthProto, [], ['grpc', 'health', 'v1', 'Health']);
  const health = new Health(target, credentials.createInsecure());
  t.after(() => health.close());
  const status = await new Promise<string>((resolve, reject) => {
    (health.Check as (req: object, cb: (err: Error | null, res: { status: string }) => void) => void).call(
      health,
      { service: '' },
      (err, res) => (err === null ? resolve(res.status) : reject(err)),
    );
  });
  assert.equal(status, 'NOT_SERVING');
});

void test('reflection lists the Ingest service and describes its file', async (t) => {
  const router = new RecordingRouter();
  const { target } = await start(t, router);
  const reflectionDir = new URL('../../../node_modules/@grpc/reflection/build/proto/', import.meta.url).pathname;
  const Reflection = serviceClient('grpc/reflection/v1/reflection.proto', [reflectionDir], [
    'grpc',
    'reflection',
    'v1',
    'ServerReflection',
  ]);
  const reflection = new Reflection(target, credentials.createInsecure());
  t.after(() => reflection.close());
  const call = (reflection.ServerReflectionInfo as () => ClientDuplexStream<object, Record<string, unknown>>).call(reflection);
  const answers: Array<Record<string, unknown>> = [];
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (r: Record<string, unknown>) => answers.push(r));
    call.on('end', resolve);
    call.on('error', reject);
  });
  call.write({ list_services: '' });
  call.write({ file_containing_symbol: 'eventide.v1.Ingest' });
  call.end();
  await done;

  const listed = answers[0]!.list_services_response as { service: Array<{ name: string }> };
  assert.ok(listed.service.some((s) => s.name === 'eventide.v1.Ingest'), JSON.stringify(listed));
  const files = answers[1]!.file_descriptor_response as { file_descriptor_proto: Buffer[] } | undefined;
  assert.ok(files !== undefined && files.file_descriptor_proto.length >= 1, JSON.stringify(answers[1]));
  // The descriptors are buf's, file by file, and a map's entry message has the name protobuf-go insists on
  // (`PropertiesEntry`); proto-loader's `Properties` broke grpcurl (fullstorydev/grpcurl#519).
  const decoded = files.file_descriptor_proto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
  const names = decoded.flatMap((file) => file.messageType.map((m) => m.name));
  for (const name of ['IngestRequest', 'IngestResponse', 'Receipt', 'Event', 'PropertyValue']) assert.ok(names.includes(name), name);
  const event = decoded.flatMap((file) => file.messageType).find((m) => m.name === 'Event')!;
  assert.deepEqual(event.nestedType.map((n) => n.name), ['PropertiesEntry']);
  assert.equal(event.field.find((f) => f.name === 'properties')?.typeName, '.eventide.v1.Event.PropertiesEntry');
});
