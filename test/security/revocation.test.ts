/**
 * Revocation across processes. Each process caches key answers (750 ms) and
 * re-reads the store after; these tests change keys from another process and
 * watch a server stop taking them: HTTP requests, an open ws stream and an
 * open gRPC stream.
 *
 * - The CLI (a separate process) revoking on the server's data directory.
 * - Two servers sharing a MongoDB key store (FerretDB): a key revoked or
 *   rotated through one stops working on the other.
 *
 * The time from the change to the first refusal is reported as a diagnostic,
 * not asserted: this machine is shared and slow. What bounds it is the cache
 * TTL and the ws re-check period (test/auth/keys.test.ts, src/edge/ws.ts).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { IngestRequest, IngestResponse } from '../../src/gen/eventide/v1/ingest.js';
import { eventually, tempDir } from '../helpers.js';
import { missingServer, mongoTarget, withDatabase } from '../helpers/ferretdb.js';
import { call, grpcClient, grpcMetadata, grpcRequest, startSecureServer, TEST_SECRET, WsClient } from './helpers.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** Resolves with the first answer of a stream that matches. */
function nextAnswer(stream: ClientDuplexStream<IngestRequest, IngestResponse>, match: (answer: IngestResponse) => boolean): Promise<IngestResponse> {
  return new Promise((resolve) => {
    const onData = (answer: IngestResponse): void => {
      if (!match(answer)) return;
      stream.off('data', onData);
      resolve(answer);
    };
    stream.on('data', onData);
  });
}

void test('a key revoked by the CLI on the data directory stops working on the running server: requests, ws and gRPC streams', async (t) => {
  const server = await startSecureServer(t);
  const key = await server.createKey('acme');
  assert.equal((await call(server, 'GET', '/v1/metrics', key)).status, 200, 'cached as good');

  const stream = new WsClient(`${server.wsUrl}?key=${key}`);
  await stream.opened();
  stream.send({ type: 'subscribe', resolution: '1m' });
  await stream.next((f) => f.type === 'snapshot');

  const client = grpcClient(t, server.grpcTarget);
  const ingest = client.stream(grpcMetadata(key));
  // The server closes the stream at the end of the test (CANCELLED): that is no failure.
  ingest.on('error', () => undefined);
  t.after(() => ingest.end());
  ingest.write(grpcRequest('before', 1));
  assert.equal((await nextAnswer(ingest, () => true)).accepted, 1);

  const { stderr } = await run(process.execPath, [CLI, 'keys', 'revoke', key.slice(0, 12), '--data-dir', server.dataDir, '--key-secret', TEST_SECRET]);
  assert.match(stderr, /revoked/);
  const revokedAt = Date.now();

  await eventually(async () => (await call(server, 'GET', '/v1/metrics', key)).status === 401);
  t.diagnostic(`HTTP refused ${Date.now() - revokedAt} ms after the CLI returned`);
  assert.equal(await stream.closed, 1008);
  t.diagnostic(`ws stream closed ${Date.now() - revokedAt} ms after the CLI returned`);
  assert.equal(stream.frames.find((f) => f.type === 'error')?.code, 'EVT_UNAUTHENTICATED');

  ingest.write(grpcRequest('after', 1));
  const refused = await nextAnswer(ingest, (answer) => answer.errorCode !== '');
  assert.equal(refused.errorCode, 'EVT_UNAUTHENTICATED');
  assert.equal((await call(server, 'GET', '/v1/events/after-0', await server.createKey('acme'))).status, 404, 'nothing of it was taken');
});

const target = await mongoTarget();
after(async () => {
  await target?.close();
});

if (target === undefined) {
  void test('two servers sharing a MongoDB key store', (t) => missingServer(t, 'test/security/revocation.test.ts'));
} else {
  void test('two servers sharing a MongoDB key store: created on one, revoked or rotated on one, refused on the other', async (t) => {
    const shared = {
      keyStore: 'mongodb',
      mongodbUri: withDatabase(target.uri, `eventide_revocation_${process.pid}`),
      eventStore: 'lmdb',
    };
    const a = await startSecureServer(t, shared, { dataDir: tempDir(t) });
    const b = await startSecureServer(t, shared, { dataDir: tempDir(t) });
    const admin = await a.createKey('ops', { scopes: ['admin'] });
    const created = await call(a, 'POST', '/v1/admin/keys', admin, { owner: 'acme' });
    const key = created.body.key as string;
    assert.equal((await call(b, 'GET', '/v1/metrics', key)).status, 200, 'made on A, taken by B');

    const stream = new WsClient(`${b.wsUrl}?key=${key}`);
    await stream.opened();
    stream.send({ type: 'subscribe', resolution: '1m' });
    await stream.next((f) => f.type === 'snapshot');

    assert.equal((await call(a, 'POST', `/v1/admin/keys/${key.slice(0, 12)}/revoke`, admin)).status, 200);
    const revokedAt = Date.now();
    assert.equal((await call(a, 'GET', '/v1/metrics', key)).status, 401, 'at once on the process that revoked');
    await eventually(async () => (await call(b, 'GET', '/v1/metrics', key)).status === 401);
    t.diagnostic(`B refused ${Date.now() - revokedAt} ms after A answered the revocation`);
    assert.equal(await stream.closed, 1008);

    // Rotation through B without overlap: the old key ends on A too, the new one works on A.
    const second = (await call(b, 'POST', '/v1/admin/keys', admin, { owner: 'acme' })).body.key as string;
    assert.equal((await call(a, 'GET', '/v1/metrics', second)).status, 200);
    const rotated = await call(b, 'POST', `/v1/admin/keys/${second.slice(0, 12)}/rotate`, admin, { overlapMs: 0 });
    assert.equal(rotated.status, 201);
    assert.equal((await call(a, 'GET', '/v1/metrics', rotated.body.key as string)).status, 200);
    await eventually(async () => (await call(a, 'GET', '/v1/metrics', second)).status === 401);
  });
}
