/**
 * Health against a real server: /livez answers while the process does,
 * /readyz turns 503 with its reasons when the process drains or a worker is
 * down, gRPC health checking follows per service, and /metrics says the same.
 * (A store that cannot be reached: outage.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { credentials, loadPackageDefinition, status as GrpcStatus, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { eventually, getJson, postEvents } from '../helpers.js';
import { captureLogger, scrape, startOpsServer } from './helpers.js';

const require = createRequire(import.meta.url);

type HealthClient = Client & { Check(request: { service: string }, callback: (err: ServiceError | null, res: { status: string }) => void): void };

function healthClient(target: string): HealthClient {
  const protoPath = (require('grpc-health-check') as { protoPath: string }).protoPath;
  const loaded = loadPackageDefinition(loadSync(protoPath, { keepCase: true, enums: String, defaults: true })) as unknown as {
    grpc: { health: { v1: { Health: new (target: string, creds: ReturnType<typeof credentials.createInsecure>) => HealthClient } } };
  };
  return new loaded.grpc.health.v1.Health(target, credentials.createInsecure());
}

function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) => client.Check({ service }, (err, res) => (err === null ? resolve(res.status) : reject(err))));
}

interface ReadyBody {
  ready: boolean;
  draining: boolean;
  reasons: string[];
  workersUp: number;
  workersTotal: number;
}

void test('draining: /readyz 503 "draining", /livez 200, gRPC health NOT_SERVING for both services, ingest 503 EVT_DRAINING', async (t) => {
  const server = await startOpsServer(t);
  const health = healthClient(server.grpcTarget);
  t.after(() => health.close());

  for (const path of ['/livez', '/healthz']) {
    const live = await getJson(`${server.httpUrl}${path}`, undefined);
    assert.deepEqual(live, { status: 200, body: { ok: true } }, path);
  }
  const ready = await getJson(`${server.httpUrl}/readyz`, undefined);
  assert.equal(ready.status, 200);
  assert.deepEqual((ready.body as unknown as ReadyBody).reasons, []);
  assert.equal(await check(health, ''), 'SERVING');
  assert.equal(await check(health, 'eventide.v1.Ingest'), 'SERVING');
  await assert.rejects(check(health, 'no.such.Service'), (err: ServiceError) => err.code === GrpcStatus.NOT_FOUND);

  // What a graceful stop does first (server.close calls it too).
  server.router.drain();

  const unready = await getJson(`${server.httpUrl}/readyz`, undefined);
  assert.equal(unready.status, 503);
  const body = unready.body as unknown as ReadyBody;
  assert.equal(body.ready, false);
  assert.equal(body.draining, true);
  assert.deepEqual(body.reasons, ['draining']);
  assert.equal((await getJson(`${server.httpUrl}/livez`, undefined)).status, 200, 'a draining process is still alive');
  // gRPC health follows readiness on its own 1-s tick.
  await eventually(async () => (await check(health, '')) === 'NOT_SERVING' && (await check(health, 'eventide.v1.Ingest')) === 'NOT_SERVING');

  const refused = await postEvents(server, server.key, JSON.stringify({ name: 'click' }));
  assert.equal(refused.status, 503);
  assert.equal((refused.body.error as { code: string }).code, 'EVT_DRAINING');
  assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
  // The exact estimate beside the whole seconds: EVT_DRAINING says 1,000 ms.
  assert.equal(refused.headers.get('retry-after-ms'), '1000');

  const metrics = await scrape(server.httpUrl);
  assert.equal(metrics.get('eventide_ready'), 0);
  assert.equal(metrics.get('eventide_draining'), 1);
});

void test('a dead worker: /readyz 503 until it is back, restarts counted, a warning logged', async (t) => {
  const { log, lines } = captureLogger('info');
  // A long restart delay keeps the worker down long enough to be seen; nothing waits on it by the clock.
  const server = await startOpsServer(t, { workerRestartDelayMs: 2_000, logLevel: 'info' }, log);
  const victim = 1;
  await server.router.supervisor.kill(victim);

  await eventually(async () => (await getJson(`${server.httpUrl}/readyz`, undefined)).status === 503);
  const { body } = await getJson(`${server.httpUrl}/readyz`, undefined);
  assert.deepEqual((body as unknown as ReadyBody).reasons, ['1 of 2 workers restarting']);
  assert.equal((await getJson(`${server.httpUrl}/livez`, undefined)).status, 200);
  const down = await scrape(server.httpUrl);
  assert.equal(down.get('eventide_worker_up', { worker: String(victim) }), 0);
  assert.equal(down.get('eventide_worker_up', { worker: '0' }), 1);
  assert.equal(down.get('eventide_ready'), 0);

  await eventually(async () => (await getJson(`${server.httpUrl}/readyz`, undefined)).status === 200);
  const back = await scrape(server.httpUrl);
  assert.equal(back.get('eventide_worker_restarts_total', { worker: String(victim) }), 1);
  assert.equal(back.get('eventide_worker_restarts_total', { worker: '0' }), 0);
  assert.equal(back.get('eventide_worker_up', { worker: String(victim) }), 1);
  const died = lines.filter((line) => line.msg === 'shard worker died; restarting');
  assert.equal(died.length, 1);
  assert.equal(died[0]!.level, 'warn');
  assert.equal(died[0]!.worker, victim);
});
