/**
 * Isolation: a key or token reads and writes only its own owner. Every route,
 * the ws subscribe path and gRPC are tried with another owner's key and with
 * another owner's token, against one real server holding data of both
 * owners; each attempt is refused with its code (or, where a route takes the
 * owner from the credential alone, answers for the credential's owner only).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, type StartedServer } from '../../src/server.js';
import { mintToken } from '../../src/auth/tokens.js';
import { IngestClient } from '../../src/gen/eventide/v1/ingest.js';
import { credentials } from '@grpc/grpc-js';
import { TEST_OVERRIDES, eventually } from '../helpers.js';
import {
  call,
  capturingLogger,
  events,
  grpcMetadata,
  grpcRequest,
  grpcSend,
  TEST_SECRET,
  trailer,
  WsClient,
  type Answer,
} from './helpers.js';

let server: StartedServer;
let dataDir: string;
let grpc: IngestClient;
const keys = { acme: '', beta: '', betaRead: '', admin: '', hub: '' };
const tokens = { acme: '', beta: '' };

before(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'eventide-isolation-'));
  server = await startServer({ ...TEST_OVERRIDES, dataDir, devKey: false, keySecret: TEST_SECRET }, { log: capturingLogger().logger });
  keys.acme = await server.createKey('acme');
  keys.beta = await server.createKey('beta');
  keys.betaRead = await server.createKey('beta', { scopes: ['read'] });
  keys.admin = await server.createKey('ops', { scopes: ['admin'] });
  keys.hub = await server.createKey('hub', { scopes: ['ingest', 'read'], ingestOwners: ['acme'] });
  for (const owner of ['acme', 'beta'] as const) {
    const minted = await call(server, 'POST', '/v1/tokens', keys[owner], {});
    assert.equal(minted.status, 201);
    tokens[owner] = minted.body.token as string;
  }
  assert.equal((await call(server, 'POST', '/v1/events', keys.acme, events('acme-secret', 5))).status, 200);
  await eventually(async () => (await call(server, 'GET', '/v1/events/acme-secret-0', keys.acme)).status === 200);
  grpc = new IngestClient(server.grpcTarget, credentials.createInsecure());
});

after(async () => {
  grpc.close();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function refused(answer: Answer, status: number, code: string, field?: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.error?.code, code);
  if (field !== undefined) assert.equal(answer.body.error?.field, field);
}

/** Both kinds of credential of owner beta. */
const foreign = (): Array<[string, string]> => [
  ['beta key', keys.beta],
  ['beta token', tokens.beta],
];

void describe('HTTP routes with another owner\'s credentials', () => {
  void test('POST /v1/events naming owner acme with a beta key is 403 (x-eventide-owner); a token cannot ingest at all', async () => {
    refused(await call(server, 'POST', '/v1/events', keys.beta, events('x', 1), { 'x-eventide-owner': 'acme' }), 403, 'EVT_FORBIDDEN', 'x-eventide-owner');
    refused(await call(server, 'POST', '/v1/events', tokens.beta, events('x', 1), { 'x-eventide-owner': 'acme' }), 403, 'EVT_FORBIDDEN', 'scope');
    refused(await call(server, 'POST', '/v1/events', tokens.acme, events('x', 1)), 403, 'EVT_FORBIDDEN', 'scope');
    refused(await call(server, 'POST', '/v1/events', keys.beta, events('x', 1), { 'x-eventide-owner': 'not an owner' }), 400, 'EVT_REQUEST_MALFORMED', 'x-eventide-owner');
  });

  void test('GET /v1/metrics naming acme is 403; without a name it answers beta\'s windows, never acme\'s', async () => {
    for (const [label, credential] of foreign()) {
      refused(await call(server, 'GET', '/v1/metrics?resolution=1h&owner=acme', credential), 403, 'EVT_FORBIDDEN', 'owner');
      const own = await call(server, 'GET', '/v1/metrics?resolution=1h', credential);
      assert.equal(own.status, 200, label);
      assert.equal(own.body.owner, 'beta', label);
      assert.equal((own.body.summary as { total: number }).total, 0, `${label}: acme's 5 events are not beta's`);
    }
    const acme = await call(server, 'GET', '/v1/metrics?resolution=1h', tokens.acme);
    assert.equal((acme.body.summary as { total: number }).total, 5, 'the owner\'s own token reads them');
  });

  void test('GET /v1/events/:id of an acme event is 404 for beta (its existence is not told), 403 when naming acme', async () => {
    for (const [, credential] of foreign()) {
      refused(await call(server, 'GET', '/v1/events/acme-secret-0', credential), 404, 'EVT_NOT_FOUND', 'id');
      refused(await call(server, 'GET', '/v1/events/acme-secret-0?owner=acme', credential), 403, 'EVT_FORBIDDEN', 'owner');
    }
    assert.equal((await call(server, 'GET', '/v1/events/acme-secret-0', tokens.acme)).status, 200);
  });

  void test('GET /v1/usage naming acme is 403', async () => {
    for (const [, credential] of foreign()) refused(await call(server, 'GET', '/v1/usage?owner=acme', credential), 403, 'EVT_FORBIDDEN', 'owner');
    const own = await call(server, 'GET', '/v1/usage', tokens.acme);
    assert.equal(own.body.owner, 'acme');
    assert.equal(own.body.events, 5);
  });

  void test('POST /v1/tokens for acme with a beta key is 403; a token cannot mint a token; an ingest-only key cannot either', async () => {
    refused(await call(server, 'POST', '/v1/tokens', keys.beta, { owner: 'acme' }), 403, 'EVT_FORBIDDEN', 'owner');
    refused(await call(server, 'POST', '/v1/tokens', tokens.beta, {}), 403, 'EVT_FORBIDDEN', 'authorization');
    refused(await call(server, 'POST', '/v1/tokens', tokens.acme, {}), 403, 'EVT_FORBIDDEN', 'authorization');
    const ingestOnly = await server.createKey('beta', { scopes: ['ingest'] });
    refused(await call(server, 'POST', '/v1/tokens', ingestOnly, {}), 403, 'EVT_FORBIDDEN', 'scope');
  });

  void test('every admin route is 403 with a tenant\'s key or token, and 401 without a credential', async () => {
    const prefix = keys.acme.slice(0, 12);
    const routes: Array<[string, string, unknown]> = [
      ['POST', '/v1/admin/keys', { owner: 'acme' }],
      ['GET', '/v1/admin/keys?owner=acme', undefined],
      ['GET', `/v1/admin/keys/${prefix}`, undefined],
      ['POST', `/v1/admin/keys/${prefix}/revoke`, undefined],
      ['POST', `/v1/admin/keys/${prefix}/rotate`, {}],
      ['POST', '/v1/admin/owners', { owner: 'acme', eventsPerDayMax: 1 }],
      ['GET', '/v1/admin/owners', undefined],
      ['GET', '/v1/admin/owners/acme', undefined],
    ];
    for (const [method, url, body] of routes) {
      for (const [label, credential] of [...foreign(), ['acme key', keys.acme], ['acme token', tokens.acme]] as Array<[string, string]>) {
        const answer = await call(server, method, url, credential, body);
        assert.equal(answer.status, 403, `${method} ${url} with ${label}`);
        assert.equal(answer.body.error?.code, 'EVT_FORBIDDEN');
      }
      refused(await call(server, method, url, undefined, body), 401, 'EVT_UNAUTHENTICATED');
    }
    // Nothing of the above happened: acme's key still works and has not been rotated.
    assert.equal((await call(server, 'GET', `/v1/admin/keys/${prefix}`, keys.admin)).body.state, 'active');
  });

  void test('an admin key administers, but reads no owner\'s data', async () => {
    refused(await call(server, 'GET', '/v1/metrics?owner=acme', keys.admin), 403, 'EVT_FORBIDDEN', 'scope');
    refused(await call(server, 'GET', '/v1/events/acme-secret-0', keys.admin), 403, 'EVT_FORBIDDEN', 'scope');
    refused(await call(server, 'POST', '/v1/events', keys.admin, events('x', 1), { 'x-eventide-owner': 'acme' }), 403, 'EVT_FORBIDDEN', 'scope');
  });

  void test('a token altered to name another owner is refused (401), and so is a token signed with another secret', async () => {
    const [signed, signature] = tokens.beta.split('.') as [string, string];
    const payload = JSON.parse(Buffer.from(signed.slice(5), 'base64url').toString()) as Record<string, unknown>;
    const altered = `evtt_${Buffer.from(JSON.stringify({ ...payload, o: 'acme' })).toString('base64url')}.${signature}`;
    refused(await call(server, 'GET', '/v1/metrics', altered), 401, 'EVT_UNAUTHENTICATED');
    const foreignSecret = mintToken(Buffer.from('another-secret-another-secret-another'), {
      owner: 'acme',
      keyPrefix: keys.acme.slice(0, 12),
      issuedAtMs: Date.now(),
      expiresAtMs: Date.now() + 60_000,
    });
    refused(await call(server, 'GET', '/v1/metrics', foreignSecret), 401, 'EVT_UNAUTHENTICATED');
  });

  void test('a multi-owner ingest key writes for the owners it names and no other; it reads only its own', async () => {
    const written = await call(server, 'POST', '/v1/events', keys.hub, events('hub-for-acme', 2), { 'x-eventide-owner': 'acme' });
    assert.equal(written.status, 200);
    await eventually(async () => (await call(server, 'GET', '/v1/events/hub-for-acme-0', keys.acme)).status === 200);
    refused(await call(server, 'POST', '/v1/events', keys.hub, events('hub-for-beta', 1), { 'x-eventide-owner': 'beta' }), 403, 'EVT_FORBIDDEN', 'x-eventide-owner');
    refused(await call(server, 'GET', '/v1/events/hub-for-acme-0', keys.hub), 404, 'EVT_NOT_FOUND');
    refused(await call(server, 'GET', '/v1/metrics?owner=acme', keys.hub), 403, 'EVT_FORBIDDEN', 'owner');
  });
});

void describe('ws /v1/stream with another owner\'s credentials', () => {
  for (const [label, pick] of [
    ['beta key', () => keys.beta],
    ['beta token', () => tokens.beta],
  ] as Array<[string, () => string]>) {
    void test(`subscribing to acme with a ${label} is EVT_FORBIDDEN; its own subscription shows none of acme's events`, async (t) => {
      const client = new WsClient(`${server.wsUrl}?key=${pick()}`);
      t.after(() => client.close());
      await client.opened();
      client.send({ type: 'subscribe', resolution: '1h', owner: 'acme' });
      const error = await client.next((f) => f.type === 'error');
      assert.equal(error.code, 'EVT_FORBIDDEN');
      assert.equal(error.field, 'owner');
      client.send({ type: 'subscribe', resolution: '1h' });
      const snapshot = await client.next((f) => f.type === 'snapshot');
      assert.equal(snapshot.channel, 'beta/1h');
      assert.deepEqual(snapshot.windows, [], 'acme\'s windows are not in beta\'s snapshot');
    });
  }

  void test('an auth message with a foreign credential on an open connection is refused; the connection keeps its owner', async (t) => {
    const client = new WsClient(`${server.wsUrl}?key=${tokens.beta}`);
    t.after(() => client.close());
    await client.opened();
    client.send({ type: 'auth', key: tokens.acme });
    const error = await client.next((f) => f.type === 'error');
    assert.equal(error.code, 'EVT_FORBIDDEN');
    client.send({ type: 'subscribe', resolution: '1h' });
    assert.equal((await client.next((f) => f.type === 'snapshot')).channel, 'beta/1h');
  });

  void test('a key without the read scope cannot open a stream (1008)', async () => {
    const ingestOnly = await server.createKey('beta', { scopes: ['ingest'] });
    const client = new WsClient(`${server.wsUrl}?key=${ingestOnly}`);
    assert.equal(await client.closed, 1008);
    assert.equal(client.frames[0]?.code, 'EVT_FORBIDDEN');
  });
});

void describe('gRPC with another owner\'s credentials', () => {
  void test('Send naming acme with a beta key is PERMISSION_DENIED (EVT_FORBIDDEN); a token is refused; nothing is written', async () => {
    const named = await grpcSend(grpc, grpcRequest('grpc-x', 1), grpcMetadata(keys.beta, { 'x-eventide-owner': 'acme' }));
    assert.equal(named.error?.code, GrpcStatus.PERMISSION_DENIED);
    assert.equal(trailer(named.error, 'x-eventide-code'), 'EVT_FORBIDDEN');
    assert.equal(trailer(named.error, 'x-eventide-field'), 'x-eventide-owner');
    for (const token of [tokens.beta, tokens.acme]) {
      const withToken = await grpcSend(grpc, grpcRequest('grpc-y', 1), grpcMetadata(token));
      assert.equal(withToken.error?.code, GrpcStatus.PERMISSION_DENIED);
      assert.equal(trailer(withToken.error, 'x-eventide-code'), 'EVT_FORBIDDEN');
    }
    assert.equal((await call(server, 'GET', '/v1/events/grpc-x-0', keys.acme)).status, 404);
    assert.equal((await call(server, 'GET', '/v1/events/grpc-y-0', keys.acme)).status, 404);
  });

  void test('a multi-owner key may name acme over gRPC too, and the events land with acme', async () => {
    const sent = await grpcSend(grpc, grpcRequest('grpc-hub', 1), grpcMetadata(keys.hub, { 'x-eventide-owner': 'acme' }));
    assert.equal(sent.error, undefined);
    assert.equal(sent.response?.accepted, 1);
    await eventually(async () => (await call(server, 'GET', '/v1/events/grpc-hub-0', keys.acme)).status === 200);
  });
});
