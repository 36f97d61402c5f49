/**
 * The OpenAPI document at /docs/json: a valid OpenAPI 3.1 document, with
 * every route of the edge, whose schemas say what the server really does.
 *
 * - Structure: the parts of the OpenAPI 3.1 rules a generator can get wrong
 *   (response keys and descriptions, path parameters, unique operation ids,
 *   declared tags and security schemes, every $ref resolving), and every
 *   component schema compiles as JSON Schema 2020-12 (ajv, fastify's own
 *   validator).
 * - Coverage: every route the edge registers is in the document or is one of
 *   the few pages that are not API (Swagger UI itself, the dashboard).
 * - Truth: real answers of a real server, successes and errors, validate
 *   against the schema the document gives for their status; the request
 *   bounds the document states are the ones the handlers enforce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { createHttpServer, HTTP_DEFAULTS } from '../../src/edge/http.js';
import { LiveHub } from '../../src/edge/live.js';
import { registerStreamRoute, STREAM_DEFAULTS } from '../../src/edge/ws.js';
import { registerDashboard } from '../../src/edge/dashboard/index.js';
import type { Router } from '../../src/runtime/router.js';
import { RESOLUTIONS } from '../../src/actors/types.js';
import { postEvents, startTestServer, type TestServer } from '../helpers.js';

type Json = Record<string, unknown>;

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  tags: Array<{ name: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

interface Operation {
  operationId?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema: Json }>;
  responses: Record<string, { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema: Json }> }>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The API, as the README and docs/http-api.md list it. */
const API_ROUTES = [
  'post /v1/events',
  'get /v1/metrics',
  'get /v1/events/{id}',
  'get /livez',
  'get /healthz',
  'get /readyz',
  'get /metrics',
  'get /v1/stream',
];

/** Routes that are pages, not API; hidden from the document on purpose. */
const NOT_API = [/^\/docs(\/|$)/, /^\/$/, /^\/dashboard(\/|$)/];

async function documentOf(server: { httpUrl: string }): Promise<OpenApiDocument> {
  const response = await fetch(`${server.httpUrl}/docs/json`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  return (await response.json()) as OpenApiDocument;
}

function operations(doc: OpenApiDocument): Array<[string, Operation]> {
  const out: Array<[string, Operation]> = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) if (METHODS.includes(method)) out.push([`${method} ${path}`, operation]);
  }
  return out;
}

function pointerGet(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const raw of pointer.replace(/^#\/?/, '').split('/')) {
    if (raw === '') continue;
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

function refsIn(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) refsIn(item, out);
  else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push(value);
      else refsIn(value, out);
    }
  }
  return out;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Validates answers against the document's own schemas, resolving its $refs. */
function answerValidator(doc: OpenApiDocument) {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema(doc, 'openapi.json');
  return (key: string, status: number, body: unknown): void => {
    const [method, path] = key.split(' ') as [string, string];
    const response = doc.paths[path]?.[method]?.responses[String(status)];
    assert.ok(response !== undefined, `${key} does not document status ${status}`);
    assert.ok(response.content?.['application/json'] !== undefined, `${key} ${status} documents no JSON body`);
    const pointer = `openapi.json#/paths/${escapePointer(path)}/${method}/responses/${status}/content/application~1json/schema`;
    const validate = ajv.getSchema(pointer) ?? ajv.compile({ $ref: pointer });
    assert.ok(validate(body), `${key} ${status}: the answer does not match its schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`);
  };
}

void test('/docs/json is an OpenAPI 3.1 document whose structure holds', async (t) => {
  const server = await startTestServer(t);
  const doc = await documentOf(server);

  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.equal(doc.info.title, 'eventide');
  assert.equal(doc.info.version, PACKAGE_VERSION);

  const declaredTags = new Set(doc.tags.map((tag) => tag.name));
  const operationIds = new Set<string>();
  for (const [key, operation] of operations(doc)) {
    const path = key.split(' ')[1]!;
    assert.ok(path.startsWith('/'), key);
    const codes = Object.keys(operation.responses);
    assert.ok(codes.length > 0, `${key}: no responses`);
    for (const code of codes) {
      assert.match(code, /^([1-5]\d\d|[1-5]XX|default)$/, `${key}: response key ${code}`);
      const response = operation.responses[code]!;
      assert.equal(typeof response.description, 'string', `${key} ${code}: a response needs a description`);
      for (const [type, media] of Object.entries(response.content ?? {})) assert.ok(typeof media.schema === 'object', `${key} ${code} ${type}: schema`);
    }
    // Every {name} in the path is a required path parameter, and only those.
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    const declared = (operation.parameters ?? []).filter((p) => p.in === 'path');
    assert.deepEqual(declared.map((p) => p.name).sort(), templated, `${key}: path parameters`);
    for (const p of declared) assert.equal(p.required, true, `${key}: path parameter ${p.name} must be required`);
    for (const p of operation.parameters ?? []) assert.ok(['query', 'header', 'path', 'cookie'].includes(p.in), `${key}: parameter ${p.name} in ${p.in}`);
    assert.ok(operation.operationId !== undefined, `${key}: operationId`);
    assert.ok(!operationIds.has(operation.operationId), `${key}: operationId ${operation.operationId} used twice`);
    operationIds.add(operation.operationId);
    for (const tag of operation.tags ?? []) assert.ok(declaredTags.has(tag), `${key}: tag ${tag} is not declared`);
    assert.ok(Array.isArray(operation.security), `${key}: says what security it needs (an empty list for none)`);
    for (const requirement of operation.security) {
      for (const scheme of Object.keys(requirement)) assert.ok(Object.hasOwn(doc.components.securitySchemes, scheme), `${key}: security scheme ${scheme}`);
    }
  }

  const refs = refsIn(doc);
  assert.ok(refs.length > 10, 'the document refers to shared schemas');
  for (const ref of new Set(refs)) {
    assert.ok(ref.startsWith('#/'), `${ref}: only local references`);
    assert.notEqual(pointerGet(doc, ref), undefined, `${ref} does not resolve`);
  }

  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  ajv.addSchema(doc, 'openapi.json');
  for (const name of Object.keys(doc.components.schemas)) {
    assert.doesNotThrow(() => ajv.compile({ $ref: `openapi.json#/components/schemas/${escapePointer(name)}` }), `component ${name} is valid JSON Schema`);
  }
  assert.ok(doc.components.schemas.ErrorBody !== undefined, 'the error body is one shared component');
});

void test('every route of the edge is in the document, with its answers, the error body and its security', async (t) => {
  const server = await startTestServer(t);
  const doc = await documentOf(server);
  const documented = new Map(operations(doc));
  assert.deepEqual(API_ROUTES.filter((key) => !documented.has(key)), [], 'API routes missing from the document');

  const keyed = ['post /v1/events', 'get /v1/metrics', 'get /v1/events/{id}', 'get /v1/stream'];
  for (const key of keyed) {
    const operation = documented.get(key)!;
    assert.deepEqual(operation.security, [{ bearer: [] }, { apiKeyHeader: [] }], `${key}: Bearer (or x-api-key)`);
  }
  for (const key of ['get /livez', 'get /healthz', 'get /readyz']) assert.deepEqual(documented.get(key)!.security, [], `${key}: no key`);
  for (const key of ['post /v1/events', 'get /v1/metrics', 'get /v1/events/{id}']) {
    const responses = documented.get(key)!.responses;
    for (const status of ['401', '403', '503']) {
      assert.deepEqual(responses[status]?.content?.['application/json']?.schema, { $ref: '#/components/schemas/ErrorBody' }, `${key} ${status}`);
    }
    assert.ok(responses['503']!.headers?.['retry-after'] !== undefined, `${key}: 503 documents Retry-After`);
    assert.ok(responses['200']!.headers?.['x-request-id'] !== undefined, `${key}: 200 documents x-request-id`);
  }
  assert.ok(documented.get('post /v1/events')!.responses['429']!.headers?.['retry-after'] !== undefined);
  assert.ok(documented.get('get /metrics')!.responses['200']!.content?.['text/plain'] !== undefined, 'Prometheus text');
  assert.match(JSON.stringify(documented.get('get /v1/stream')), /resume/, 'the ws protocol is described in text');
  const ingestTypes = Object.keys((documented.get('post /v1/events') as unknown as { requestBody: { content: Json } }).requestBody.content);
  assert.deepEqual(ingestTypes.sort(), [
    'application/json', 'application/msgpack', 'application/protobuf', 'application/vnd.google.protobuf',
    'application/vnd.msgpack', 'application/x-msgpack', 'application/x-protobuf',
  ]);
});

void test('a route added to the edge without documentation fails this test: every registered route is documented or a page', async (t) => {
  // The edge as server.ts composes it, with every route recorded as it is added.
  const source = { watch: () => Promise.resolve([]), unwatch: () => undefined, onDeltas: () => undefined };
  const router = { live: source, readiness: () => ({ ready: true, workersUp: 1, workersTotal: 1, draining: false, reasons: [], degraded: [] }) } as unknown as Router;
  const app: FastifyInstance = createHttpServer({
    router,
    authenticate: () => Promise.resolve(undefined),
    config: { ...HTTP_DEFAULTS, ackDefault: 'applied', bodyBytesMax: 1024, idCharsMax: 128, nameCharsMax: 128 },
    log: false,
  });
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    routes.push(route);
  });
  const hub = new LiveHub({ source, deltaTickMs: 250, deltaHistoryFramesMax: 8, wsBufferedBytesMax: 1 << 20, liveChannelsMax: 10, liveUnwatchGraceMs: 1_000, allowedLatenessMs: 5_000 });
  registerStreamRoute(app, { hub, authenticate: () => Promise.resolve(undefined), config: { ...STREAM_DEFAULTS, wsClientsMax: 1, wsSubscriptionsMax: 1, wsMessageBytesMax: 1024 } });
  void app.register((scope, _options, done) => {
    registerDashboard(scope);
    done();
  });
  t.after(() => app.close());
  await app.ready();
  const doc = app.swagger() as unknown as OpenApiDocument;
  const documented = new Set(operations(doc).map(([key]) => key));

  const seen = routes.filter((route) => route.method !== 'HEAD').map((route) => `${String(route.method).toLowerCase()} ${route.url.replace(/:(\w+)/g, '{$1}')}`);
  assert.ok(seen.includes('post /v1/events') && seen.includes('get /v1/stream'), 'the recording sees the routes');
  const undocumented = seen.filter((key) => !documented.has(key) && !NOT_API.some((pattern) => pattern.test(key.split(' ')[1]!)));
  assert.deepEqual(undocumented, [], 'routes that are neither documented nor a page');
});

void test('real answers match the documented schemas, errors included', async (t) => {
  const server: TestServer = await startTestServer(t);
  const check = answerValidator(await documentOf(server));
  const auth = { authorization: `Bearer ${server.key}` };
  const get = async (path: string, headers: Record<string, string> = auth) => {
    const response = await fetch(`${server.httpUrl}${path}`, { headers });
    assert.ok(response.headers.get('x-request-id'), `${path}: x-request-id`);
    return { status: response.status, body: await response.json() };
  };

  let answer = await postEvents(server, server.key, JSON.stringify({ events: [{ id: 'a1', name: 'signup', userId: 'u1', value: 2, tags: ['t'], properties: { plan: 'pro', seats: 3, trial: false } }] }));
  check('post /v1/events', answer.status, answer.body);
  answer = await postEvents(server, server.key, JSON.stringify({ batchId: 'b1', events: [{ id: 'a1', name: 'signup' }, { id: 'a2', name: 'click' }] }), {}, '?receipts=all');
  check('post /v1/events', answer.status, answer.body);
  assert.equal((answer.body.receipts as unknown[]).length, 2);
  answer = await postEvents(server, server.key, JSON.stringify({ name: '' }));
  assert.equal(answer.status, 400);
  check('post /v1/events', 400, answer.body);
  answer = await postEvents(server, server.key, JSON.stringify({ name: 'x' }), {}, '?ack=sometimes');
  assert.equal(answer.status, 400);
  check('post /v1/events', 400, answer.body);
  answer = await postEvents(server, undefined, JSON.stringify({ name: 'x' }));
  check('post /v1/events', 401, answer.body);
  answer = await postEvents(server, server.key, 'x', { 'content-type': 'text/plain' });
  check('post /v1/events', 415, answer.body);

  let read = await get('/v1/metrics?resolution=1m');
  check('get /v1/metrics', read.status, read.body);
  assert.ok(((read.body as { windows: unknown[] }).windows).length > 0, 'a window with data was checked');
  read = await get('/v1/metrics?resolution=2m');
  check('get /v1/metrics', 400, read.body);
  read = await get('/v1/metrics', {});
  check('get /v1/metrics', 401, read.body);

  read = await get('/v1/events/a1');
  assert.equal(read.status, 200);
  check('get /v1/events/{id}', 200, read.body);
  read = await get('/v1/events/nope');
  check('get /v1/events/{id}', 404, read.body);

  for (const path of ['/livez', '/healthz', '/readyz']) {
    read = await get(path, {});
    check(`get ${path}`, read.status, read.body);
  }
  // The check can fail: a body that is not the contract does not pass.
  assert.throws(() => check('get /v1/metrics', 200, { owner: 'acme', windows: 'none' }), /does not match its schema/);
  assert.throws(() => check('get /v1/events/{id}', 401, { error: { code: 'unauthenticated', message: 'no', retryable: false } }), /does not match/);
  assert.throws(() => check('get /livez', 503, { ok: false }), /does not document status 503/);

  const metrics = await fetch(`${server.httpUrl}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  const plain = await fetch(`${server.httpUrl}/v1/stream`);
  assert.equal(plain.status, 400, 'documented: a GET that is not an upgrade');
  const plainBody = (await plain.json()) as { error: { code: string; field: string } };
  check('get /v1/stream', 400, plainBody);
  assert.equal(plainBody.error.code, 'EVT_REQUEST_MALFORMED');
  assert.equal(plainBody.error.field, 'upgrade');
});

void test('the request bounds the document states are the ones the handlers enforce', async (t) => {
  const server = await startTestServer(t);
  const doc = await documentOf(server);
  const auth = { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' };
  const param = (key: string, name: string) => {
    const [method, path] = key.split(' ') as [string, string];
    const found = doc.paths[path]![method]!.parameters!.find((p) => p.name === name);
    assert.ok(found !== undefined, `${key} documents ${name}`);
    return found.schema as { enum?: string[]; maxLength?: number };
  };
  const fieldOf = async (response: Response) => ((await response.json()) as { error: { code: string; field?: string } }).error;

  assert.deepEqual(param('get /v1/metrics', 'resolution').enum, [...RESOLUTIONS]);
  for (const value of [...RESOLUTIONS]) assert.equal((await fetch(`${server.httpUrl}/v1/metrics?resolution=${value}`, { headers: auth })).status, 200, value);
  assert.deepEqual(await fieldOf(await fetch(`${server.httpUrl}/v1/metrics?resolution=5m`, { headers: auth })), {
    code: 'EVT_QUERY_INVALID', field: 'resolution', message: 'resolution must be one of 1s, 1m, 1h, 1d', retryable: false,
  });

  const nameMax = param('get /v1/metrics', 'name').maxLength!;
  assert.equal(nameMax, server.config.nameCharsMax);
  assert.equal((await fetch(`${server.httpUrl}/v1/metrics?name=${'n'.repeat(nameMax)}`, { headers: auth })).status, 200);
  const tooLong = await fieldOf(await fetch(`${server.httpUrl}/v1/metrics?name=${'n'.repeat(nameMax + 1)}`, { headers: auth }));
  assert.deepEqual([tooLong.code, tooLong.field], ['EVT_QUERY_INVALID', 'name']);

  const idMax = param('get /v1/events/{id}', 'id').maxLength!;
  assert.equal(idMax, server.config.idCharsMax);
  assert.equal((await fetch(`${server.httpUrl}/v1/events/${'i'.repeat(idMax)}`, { headers: auth })).status, 404);
  const idTooLong = await fieldOf(await fetch(`${server.httpUrl}/v1/events/${'i'.repeat(idMax + 1)}`, { headers: auth }));
  assert.deepEqual([idTooLong.code, idTooLong.field], ['EVT_QUERY_INVALID', 'id']);

  for (const name of ['ack', 'receipts']) {
    for (const value of param('post /v1/events', name).enum!) {
      assert.equal((await fetch(`${server.httpUrl}/v1/events?${name}=${value}`, { method: 'POST', headers: auth, body: '{"name":"x"}' })).status, 200, `${name}=${value}`);
    }
    const refused = await fieldOf(await fetch(`${server.httpUrl}/v1/events?${name}=sometimes`, { method: 'POST', headers: auth, body: '{"name":"x"}' }));
    assert.deepEqual([refused.code, refused.field], ['EVT_QUERY_INVALID', name]);
  }
});

void test('/docs serves Swagger UI from this server, pointed at /docs/json', async (t) => {
  const server = await startTestServer(t);
  const root = await fetch(`${server.httpUrl}/docs`);
  assert.equal(root.status, 200);
  const html = await root.text();
  assert.match(html, /swagger-ui/i);
  const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((url) => !url.startsWith('#'));
  assert.ok(assets.length >= 3, 'the page loads its scripts and styles');
  for (const asset of assets) {
    assert.ok(!/^(https?:)?\/\//.test(asset), `${asset}: from this server only`);
    const response = await fetch(new URL(asset, `${server.httpUrl}/docs/`));
    assert.equal(response.status, 200, asset);
    await response.arrayBuffer();
  }
  const initializer = await (await fetch(`${server.httpUrl}/docs/static/swagger-initializer.js`)).text();
  assert.match(initializer, /json/);
  const csp = root.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'self'/);
  assert.doesNotMatch(csp, /upgrade-insecure-requests|https:|swagger\.io/, 'no upgrade to https, no other origin');
  const yaml = await fetch(`${server.httpUrl}/docs/yaml`);
  assert.equal(yaml.status, 200);
  assert.match(await yaml.text(), /^openapi: 3\.1\./m);
});
