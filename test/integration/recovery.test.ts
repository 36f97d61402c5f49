/**
 * A worker thread that dies is restarted and its owners keep counting; a
 * process restart on the same data directory keeps the stored rollups.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, getJson, postEvents, startTestServer, tempDir } from '../helpers.js';

async function hourTotal(server: { httpUrl: string }, key: string): Promise<number> {
  const now = Date.now();
  const { status, body } = await getJson(`${server.httpUrl}/v1/metrics?resolution=1h&from=${now - 7_200_000}&to=${now + 3_600_000}`, key);
  assert.equal(status, 200, JSON.stringify(body));
  return (body.summary as { total: number }).total;
}

function batch(prefix: string, count: number) {
  const now = Date.now();
  return JSON.stringify({ events: Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, name: 'n', timestamp: now })) });
}

test('a killed worker is restarted and its owners keep counting from the last snapshot', async (t) => {
  const server = await startTestServer(t, { snapshotIntervalMs: 100 });
  assert.equal((await postEvents(server, server.key, batch('before', 50))).status, 200);
  // Let a snapshot round cover the first batch.
  const shard = server.router.shardMap.shardOf('acme');
  const worker = server.router.shardMap.workerOf(shard);
  await eventually(() => (server.router.supervisor.stats(worker)?.snapshotAgeMs ?? Infinity) < 100 && server.router.supervisor.stats(worker)!.eventsApplied >= 50);
  await new Promise((resolve) => setTimeout(resolve, 150));
  const restartsBefore = server.router.supervisor.restarts(worker);
  await server.router.supervisor.kill(worker);
  await eventually(() => server.router.supervisor.restarts(worker) > restartsBefore && server.router.supervisor.isUp(worker));
  assert.equal((await postEvents(server, server.key, batch('after', 30))).status, 200);
  assert.equal(await hourTotal(server, server.key), 80);
});

test('a restart of the process keeps the stored rollups', async (t) => {
  const dataDir = tempDir(t);
  const first = await startTestServer(t, {}, dataDir);
  assert.equal((await postEvents(first, first.key, batch('one', 25))).status, 200);
  await first.close();
  const second = await startTestServer(t, {}, dataDir);
  // The key created by the first process is still valid: keys are stored (hashed).
  assert.equal(await hourTotal(second, first.key), 25);
  assert.equal((await postEvents(second, first.key, batch('two', 5))).status, 200);
  assert.equal(await hourTotal(second, first.key), 30);
});
