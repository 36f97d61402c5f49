/**
 * Durability with real processes and real faults (issue 5): kill -9 under
 * load, a worker thread terminated under load, and a full disk under the
 * write-ahead log. Each ends with the same check: once the client has resent
 * what got no answer (same ids), every owner counts exactly the distinct
 * events sent, and events acknowledged `durable` are in the store.
 *
 * The full kill -9 run (20+ trials) is `node dist/bench/kill9.js --trials 20`;
 * here a few trials keep `npm test` short.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runKillTrials } from '../../bench/kill9.js';
import { getJson, postEvents, startTestServer, type TestServer } from '../helpers.js';

test('kill -9 under durable load, twice, then SIGTERM: nothing acknowledged is lost, nothing counts twice', async () => {
  const result = await runKillTrials({
    trials: 3,
    owners: 4,
    senders: 4,
    batchEvents: 50,
    killAfterMs: [200, 900],
    seed: 20261122,
    sampleIds: 50,
  });
  assert.deepEqual(result.mismatches, []);
  assert.equal(result.sigtermExitCode, 0);
  assert.ok(result.trials.every((trial) => trial.batchesAcked > 0), JSON.stringify(result.trials));
});

interface Sender {
  sent: Set<string>;
  /** Batches not yet acknowledged: resent until they are. */
  unanswered: string[];
  acked: number;
  refusals: Map<string, number>;
}

function sender(): Sender {
  return { sent: new Set(), unanswered: [], acked: 0, refusals: new Map() };
}

async function sendBatch(server: TestServer, key: string, s: Sender, body: string, ack: 'durable' | 'applied' = 'durable'): Promise<number> {
  let status = 0;
  let code = 'network';
  try {
    const answer = await postEvents(server, key, body, { 'x-eventide-ack': ack });
    status = answer.status;
    code = (answer.body.error as { code?: string } | undefined)?.code ?? String(status);
  } catch {
    // connection reset: no answer
  }
  if (status === 200) s.acked++;
  else {
    s.unanswered.push(body);
    s.refusals.set(code, (s.refusals.get(code) ?? 0) + 1);
  }
  return status;
}

function makeBatch(s: Sender, prefix: string, count: number): string {
  const now = Date.now();
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) s.sent.add(id);
  return JSON.stringify({ events: ids.map((id, i) => ({ id, name: `n${i % 3}`, timestamp: now, userId: `u${i % 20}` })) });
}

async function resendAll(server: TestServer, key: string, s: Sender, ack: 'durable' | 'applied' = 'durable'): Promise<void> {
  for (let round = 0; round < 200 && s.unanswered.length > 0; round++) {
    const bodies = s.unanswered;
    s.unanswered = [];
    for (const body of bodies) await sendBatch(server, key, s, body, ack);
    if (s.unanswered.length > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(s.unanswered.length, 0, 'every batch was answered in the end');
}

async function dayTotal(server: TestServer, key: string): Promise<number> {
  const now = Date.now();
  const { status, body } = await getJson(`${server.httpUrl}/v1/metrics?resolution=1d&from=${now - 172_800_000}&to=${now + 86_400_000}`, key);
  assert.equal(status, 200, JSON.stringify(body));
  return (body.summary as { total: number }).total;
}

test('a worker thread terminated under durable load comes back with exact counts', async (t) => {
  const server = await startTestServer(t, { allowedLatenessMs: 600_000, snapshotIntervalMs: 300 });
  const owners = ['w-a', 'w-b', 'w-c', 'w-d'];
  const keys = await Promise.all(owners.map((owner) => server.createKey(owner)));
  const senders = owners.map(() => sender());
  let stop = false;
  let seq = 0;
  const load = owners.map(async (_, k) => {
    while (!stop) await sendBatch(server, keys[k]!, senders[k]!, makeBatch(senders[k]!, `o${k}-${seq++}`, 40));
  });
  await new Promise((resolve) => setTimeout(resolve, 400));
  const worker = server.router.shardMap.workerOf(server.router.shardMap.shardOf('w-a'));
  const restartsBefore = server.router.supervisor.restarts(worker);
  await server.router.supervisor.kill(worker);
  await new Promise((resolve) => setTimeout(resolve, 400));
  stop = true;
  await Promise.all(load);
  const deadline = Date.now() + 20_000;
  while (!(server.router.supervisor.restarts(worker) > restartsBefore && server.router.supervisor.isUp(worker)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(server.router.supervisor.isUp(worker), 'the worker came back');
  for (let k = 0; k < owners.length; k++) await resendAll(server, keys[k]!, senders[k]!);
  const refused = senders.reduce((n, s) => n + (s.refusals.get('EVT_WORKER_UNAVAILABLE') ?? 0), 0);
  assert.ok(refused > 0, 'some batches met the dead worker');
  for (let k = 0; k < owners.length; k++) {
    assert.equal(await dayTotal(server, keys[k]!), senders[k]!.sent.size, `owner ${owners[k]}`);
  }
});

/** A small tmpfs: a real full disk. Needs root (CI runs as root); says so loudly otherwise. */
function mountSmallDisk(t: TestContext, dir: string, bytes: number): boolean {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
    return true;
  } catch (err) {
    // Loud, but not a CI failure: the writer's ENOSPC path (a real one, from /dev/full) is covered by
    // test/runtime/wal.test.ts on every machine; this end-to-end version needs the right to mount.
    const message = `DISK-FULL TEST SKIPPED: cannot mount a small tmpfs (needs root): ${String(err)}`;
    t.diagnostic(message);
    process.stderr.write(`\n*** ${message}\n`);
    return false;
  }
}

test('a full disk under the log: durable batches fail with EVT_WAL_WRITE, nothing acknowledged is lost, and all goes on once there is room', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-diskfull-'));
  const walDir = path.join(dataDir, 'wal');
  if (!mountSmallDisk(t, walDir, 3 * 1024 * 1024)) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    t.skip('needs root to mount a tmpfs');
    return;
  }
  // Close the server, then unmount, then remove: in this order whatever happens.
  let server: TestServer | undefined;
  try {
    server = await startTestServer(
      t,
      // No snapshot round frees segments during the test, so the log fills the disk.
      { allowedLatenessMs: 600_000, snapshotIntervalMs: 600_000, walSegmentBytesMax: 1024 * 1024, walPendingBytesMax: 1024 * 1024, walBytesMax: 64 * 1024 * 1024 },
      dataDir,
    );
    const s = sender();
    let full = false;
    // ~6 KB per batch: the 3 MiB disk fills after a few hundred batches.
    for (let i = 0; i < 2_000 && !full; i++) {
      await sendBatch(server, server.key, s, makeBatch(s, `d${i}`, 50));
      full = (s.refusals.get('EVT_WAL_WRITE') ?? 0) > 0;
    }
    assert.ok(full, `the disk filled up: ${JSON.stringify([...s.refusals])}`);
    assert.ok(s.acked > 0);
    // While the disk stays full, durable batches keep failing clearly.
    assert.equal(await sendBatch(server, server.key, s, makeBatch(s, 'while-full', 10)), 503);
    // /readyz says why (worker stats arrive once a second).
    let reasons = '';
    for (let i = 0; i < 100 && !/write-ahead log failing/.test(reasons); i++) {
      const ready = await fetch(`${server.httpUrl}/readyz`);
      reasons = ready.status === 503 ? JSON.stringify(await ready.json()) : '';
      if (!/write-ahead log failing/.test(reasons)) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(reasons, /write-ahead log failing \(EVT_WAL_WRITE\)/);
    // Room again (the operator grows the volume): the log writes what it holds, durable works again.
    execFileSync('mount', ['-o', `remount,size=${256 * 1024 * 1024}`, walDir]);
    await resendAll(server, server.key, s);
    assert.equal(await dayTotal(server, server.key), s.sent.size, 'every event counted once, the resends as duplicates');
    // A durable ack given before the disk filled: its events are in the store.
    const { status: found } = await getJson(`${server.httpUrl}/v1/events/d0-0`, server.key);
    assert.equal(found, 200);
  } finally {
    await server?.close();
    try {
      execFileSync('umount', [walDir], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', walDir], { stdio: 'pipe' });
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
