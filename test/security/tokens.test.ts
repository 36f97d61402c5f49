/**
 * Browser tokens against a real server: minted by POST /v1/tokens, accepted
 * by the GET routes and the ws stream, refused for what they may not do, and
 * ended by their expiry, on open ws connections too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mintToken } from '../../src/auth/tokens.js';
import { call, events, startSecureServer, TEST_SECRET, WsClient } from './helpers.js';
import { eventually } from '../helpers.js';

const SECRET = Buffer.from(TEST_SECRET, 'utf8');

void test('POST /v1/tokens mints a read token for the key\'s owner; GET routes and the stream take it', async (t) => {
  const server = await startSecureServer(t, { tokenTtlMsMax: 600_000 });
  const key = await server.createKey('acme');
  assert.equal((await call(server, 'POST', '/v1/events', key, events('t', 3))).status, 200);
  const before = Date.now();
  const minted = await call(server, 'POST', '/v1/tokens', key);
  assert.equal(minted.status, 201);
  assert.equal(minted.body.owner, 'acme');
  assert.deepEqual(minted.body.scopes, ['read']);
  assert.equal(minted.body.tokenType, 'Bearer');
  const expiresAtMs = minted.body.expiresAtMs as number;
  assert.ok(expiresAtMs >= before + 600_000 && expiresAtMs <= Date.now() + 600_000, 'the default lifetime is tokenTtlMsMax');
  const token = minted.body.token as string;
  assert.match(token, /^evtt_/);

  await eventually(async () => (await call(server, 'GET', '/v1/events/t-0', token)).status === 200);
  const metrics = await call(server, 'GET', '/v1/metrics?resolution=1h', token);
  assert.equal((metrics.body.summary as { total: number }).total, 3);
  assert.equal((await call(server, 'GET', '/v1/usage', token)).body.events, 3);
  const viaHeader = await fetch(`${server.httpUrl}/v1/metrics`, { headers: { 'x-api-key': token } });
  assert.equal(viaHeader.status, 200);

  const stream = new WsClient(server.wsUrl);
  t.after(() => stream.close());
  await stream.opened();
  stream.send({ type: 'auth', key: token });
  stream.send({ type: 'subscribe', resolution: '1h' });
  const snapshot = await stream.next((f) => f.type === 'snapshot');
  assert.equal(snapshot.channel, 'acme/1h');
});

void test('a token lifetime may be asked for, within 1 s..tokenTtlMsMax', async (t) => {
  const server = await startSecureServer(t, { tokenTtlMsMax: 60_000 });
  const key = await server.createKey('acme');
  const short = await call(server, 'POST', '/v1/tokens', key, { ttlMs: 5_000 });
  assert.ok((short.body.expiresAtMs as number) <= Date.now() + 5_000);
  for (const ttlMs of [999, 60_001, 1.5, '5000']) {
    const refused = await call(server, 'POST', '/v1/tokens', key, { ttlMs });
    assert.equal(refused.status, 400, String(ttlMs));
    assert.equal(refused.body.error?.code, 'EVT_REQUEST_MALFORMED');
    assert.equal(refused.body.error?.field, 'ttlMs');
  }
});

void test('an expired token is 401 EVT_TOKEN_EXPIRED on HTTP and an error frame and close 1008 on ws', async (t) => {
  const server = await startSecureServer(t);
  const key = await server.createKey('acme');
  const expired = mintToken(SECRET, { owner: 'acme', keyPrefix: key.slice(0, 12), issuedAtMs: Date.now() - 10_000, expiresAtMs: Date.now() - 1 });
  const answer = await call(server, 'GET', '/v1/metrics', expired);
  assert.equal(answer.status, 401);
  assert.equal(answer.body.error?.code, 'EVT_TOKEN_EXPIRED');
  assert.equal(answer.body.error?.retryable, false);
  const stream = new WsClient(`${server.wsUrl}?key=${expired}`);
  assert.equal(await stream.closed, 1008);
  assert.equal(stream.frames[0]?.code, 'EVT_TOKEN_EXPIRED');
});

void test('an open stream ends when its token expires, unless the client sent a fresh token of the same owner in time', async (t) => {
  const server = await startSecureServer(t);
  const key = await server.createKey('acme');
  const soon = Date.now() + 400;
  const expiring = mintToken(SECRET, { owner: 'acme', keyPrefix: key.slice(0, 12), issuedAtMs: Date.now(), expiresAtMs: soon });
  const fresh = (await call(server, 'POST', '/v1/tokens', key)).body.token as string;

  const witness = new WsClient(`${server.wsUrl}?key=${expiring}`);
  const renewed = new WsClient(`${server.wsUrl}?key=${expiring}`);
  t.after(() => renewed.close());
  await Promise.all([witness.opened(), renewed.opened()]);
  witness.send({ type: 'subscribe', resolution: '1m' });
  renewed.send({ type: 'subscribe', resolution: '1m' });
  await witness.next((f) => f.type === 'snapshot');
  await renewed.next((f) => f.type === 'snapshot');
  renewed.send({ type: 'auth', key: fresh });

  // The witness holds only the expiring token: its close marks a re-check round after the expiry.
  assert.equal(await witness.closed, 1008);
  assert.equal(witness.frames.find((f) => f.type === 'error')?.code, 'EVT_TOKEN_EXPIRED');
  assert.ok(Date.now() >= soon);
  renewed.send({ type: 'ping' });
  assert.equal((await renewed.next((f) => f.type === 'pong' || f.type === 'error')).type, 'pong');
});

void test('tokens cannot ingest, administer or mint; a token outlives the revocation of its key until it expires (documented)', async (t) => {
  const server = await startSecureServer(t);
  const key = await server.createKey('acme', { scopes: ['ingest', 'read', 'admin'] });
  const token = (await call(server, 'POST', '/v1/tokens', key, { ttlMs: 60_000 })).body.token as string;
  for (const [method, url, body] of [
    ['POST', '/v1/events', events('x', 1)],
    ['GET', '/v1/admin/keys', undefined],
    ['POST', '/v1/tokens', {}],
  ] as Array<[string, string, unknown]>) {
    const answer = await call(server, method, url, token, body);
    assert.equal(answer.status, 403, `${method} ${url}`);
    assert.equal(answer.body.error?.code, 'EVT_FORBIDDEN');
  }
  await call(server, 'POST', `/v1/admin/keys/${key.slice(0, 12)}/revoke`, key);
  assert.equal((await call(server, 'GET', '/v1/metrics', key)).status, 401);
  assert.equal((await call(server, 'GET', '/v1/metrics', token)).status, 200, 'verified by signature alone, until its expiry');
});
