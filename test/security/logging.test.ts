/**
 * What the server logs never holds: a key or token, whether it came in a
 * header, in the ws URL (`?key=`), or was just created by an admin route.
 * A real pino logger at level info writes to a buffer the test reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { requestLogValue } from '../../src/edge/http.js';
import { call, events, startSecureServer, WsClient } from './helpers.js';

void test('request logs redact credentials in the URL; no key or token appears in any log line', async (t) => {
  let logged = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged += chunk.toString();
      done();
    },
  });
  const server = await startSecureServer(t, { logLevel: 'debug' }, { log: pino({ level: 'debug' }, sink) });
  const admin = await server.createKey('ops', { scopes: ['admin'] });
  const created = await call(server, 'POST', '/v1/admin/keys', admin, { owner: 'acme' });
  const key = created.body.key as string;
  const token = (await call(server, 'POST', '/v1/tokens', key)).body.token as string;
  assert.equal((await call(server, 'POST', '/v1/events', key, events('log', 1))).status, 200);
  const stream = new WsClient(`${server.wsUrl}?key=${token}`);
  await stream.opened();
  stream.send({ type: 'subscribe', resolution: '1m' });
  await stream.next((f) => f.type === 'snapshot');
  stream.close();
  await stream.closed;
  await call(server, 'GET', `/v1/metrics?key=${key}`, key);

  assert.match(logged, /"path":"\/v1\/metrics"/, "a request with ?key= is logged by its path only, its credential is not");
  assert.match(logged, /"audit":\{"action":"key.create"/);
  for (const secret of [key, token, admin]) assert.ok(!logged.includes(secret.slice(13, 40)), 'no credential in the log');
});

void test('requestLogValue replaces key, token and api_key query values, and only those', () => {
  const value = requestLogValue({ method: 'GET', url: '/v1/stream?resolution=1m&key=evt_a_b&TOKEN=x&api_key=y#f' });
  assert.equal(value.url, '/v1/stream?resolution=1m&key=[redacted]&TOKEN=[redacted]&api_key=[redacted]#f');
  assert.equal(requestLogValue({ url: '/v1/metrics?monkey=1' }).url, '/v1/metrics?monkey=1');
});
