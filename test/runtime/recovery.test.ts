/**
 * Crash recovery of a shard host with its write-ahead log, on real LMDB
 * stores and a real log directory. A "crash" abandons the host without
 * closing it: whatever it held only in memory is gone, as after kill -9. A new
 * host (a new epoch, as a new process; or the same epoch, as a restarted
 * worker) replays the log; counts must equal exactly what was acknowledged,
 * whatever snapshots, flushes and evictions happened before the crash.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loggedRecords, ShardHost } from '../../src/runtime/shard-host.js';
import { encodeBucket } from '../../src/store/lmdb/bucket-codec.js';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';
import { LmdbSnapshotStore } from '../../src/store/lmdb/snapshot-store.js';
import type { BatchReceipt } from '../../src/actors/types.js';
import type { SnapshotStore } from '../../src/store/port.js';
import type { IngestMessage, ReplyMessage } from '../../src/runtime/messages.js';
import type { MetricsResult } from '../../src/runtime/router.js';
import { configWith } from '../../src/server.js';
import { tempDir } from '../helpers.js';
import { columnarCounts } from '../../src/actors/columns.js';
import { IngestRequest } from '../../src/gen/eventide/v1/ingest.js';
import { Packr } from 'msgpackr';
import { SEVERITIES } from '../../src/actors/types.js';

/** msgpack bodies as clients write them with msgpackr. */
const MSGPACK = new Packr({ useRecords: false });

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);

interface World {
  dir: string;
  events: LmdbEventStore;
  snapshots: LmdbSnapshotStore;
  clock: { nowMs: number };
}

interface Host {
  host: ShardHost;
  replies: Map<number, ReplyMessage>;
  world: World;
}

function world(t: TestContext): World {
  const dir = tempDir(t);
  const lmdb = { path: path.join(dir, 'lmdb'), noSync: true };
  const events = new LmdbEventStore(lmdb);
  const snapshots = new LmdbSnapshotStore(lmdb);
  t.after(async () => {
    await events.close();
    await snapshots.close();
  });
  return { dir, events, snapshots, clock: { nowMs: T0 } };
}

async function boot(
  w: World,
  epoch: number,
  processEpoch = epoch,
  worker = 0,
  shards?: number[],
  overrides: Record<string, unknown> = {},
  snapshotStore: SnapshotStore = w.snapshots,
  snapshotSliceMs?: number,
): Promise<Host> {
  const replies = new Map<number, ReplyMessage>();
  const host = new ShardHost({
    workerIndex: worker,
    ...(shards === undefined ? {} : { shards }),
    config: configWith({ dataDir: w.dir, walEnabled: true, walSyncIntervalMs: 1, ownerIdleMs: 60_000, ...overrides }),
    eventStore: w.events,
    snapshotStore,
    port: {
      postMessage(message: { t: string; id?: number }) {
        if (message.t === 'reply') replies.set(message.id!, message as ReplyMessage);
      },
    },
    now: () => w.clock.nowMs,
    walEpoch: epoch,
    walProcessEpoch: processEpoch,
    ...(snapshotSliceMs === undefined ? {} : { snapshotSliceMs }),
  });
  await host.recover();
  return { host, replies, world: w };
}

let nextId = 1;
function send(h: Host, owner: string, ids: string[], extra: Partial<IngestMessage> = {}, timestampMs = h.world.clock.nowMs, shard = 3): number {
  const id = nextId++;
  const events = ids.map((eventId, i) => ({ id: eventId, name: i % 2 === 0 ? 'a' : 'b', timestamp: timestampMs, userId: `u${i % 5}` }));
  h.host.handle({
    t: 'ingest', id, shard, owner, body: Buffer.from(JSON.stringify({ events })), format: 'json', encoding: 'identity',
    ack: 'durable', receiptsAll: false, receivedAtMs: h.world.clock.nowMs, requestId: `r${id}`, ...extra,
  });
  return id;
}

async function reply(h: Host, id: number): Promise<ReplyMessage> {
  for (let i = 0; i < 2_000 && !h.replies.has(id); i++) await new Promise((resolve) => setTimeout(resolve, 1));
  const message = h.replies.get(id);
  assert.ok(message !== undefined, `no reply to request ${id}`);
  return message;
}

async function acked(h: Host, owner: string, ids: string[], timestampMs?: number): Promise<BatchReceipt> {
  const answer = await reply(h, send(h, owner, ids, {}, timestampMs));
  assert.ok(answer.ok, JSON.stringify(answer.error));
  return answer.value as BatchReceipt;
}

async function summary(h: Host, owner: string, shard = 3): Promise<MetricsResult['summary']> {
  const id = nextId++;
  h.host.handle({ t: 'query', id, shard, query: { owner, resolution: '1h', fromMs: T0 - 3_600_000, toMs: T0 + 7_200_000 } });
  const answer = await reply(h, id);
  assert.ok(answer.ok, JSON.stringify(answer.error));
  return (answer.value as MetricsResult).summary;
}

function ids(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

test('after a crash, replay restores exactly the acknowledged counts and the store gets every event once', async (t) => {
  const w = world(t);
  const before = await boot(w, 1);
  await acked(before, 'acme', ids('a', 40));
  await acked(before, 'zeta', ids('z', 7));
  await acked(before, 'acme', ids('b', 10));
  // crash: nothing flushed, nothing snapshotted

  w.clock.nowMs += 5_000;
  const after = await boot(w, 2);
  assert.equal(after.host.recovery?.records, 3);
  assert.equal((await summary(after, 'acme')).total, 50);
  assert.equal((await summary(after, 'zeta')).total, 7);
  assert.deepEqual((await summary(after, 'acme')).byName, { a: 25, b: 25 });
  while (after.host.flushPendingEvents > 0) await after.host.flush();
  for (const id of [...ids('a', 40), ...ids('b', 10)]) assert.equal((await w.events.getEvent('acme', id))?.status, 'accepted', id);
  // Resends of acknowledged ids are recognised: the dedup memory was replayed too.
  const resent = await acked(after, 'acme', ids('a', 3));
  assert.equal(resent.counts.duplicate, 3);
  assert.equal((await summary(after, 'acme')).total, 50);
});

test('records already in a snapshot are not counted twice; those after it are replayed', async (t) => {
  const w = world(t);
  const before = await boot(w, 1);
  await acked(before, 'acme', ids('a', 30));
  await before.host.snapshotTick(); // waits for the log sync and the store, then writes the snapshot
  await acked(before, 'acme', ids('b', 12));
  await acked(before, 'beta', ids('c', 5));
  // crash

  const after = await boot(w, 2);
  const report = after.host.recovery!;
  assert.equal(report.records, 3);
  assert.equal(report.recordsSkipped, 1, 'the record before the snapshot position');
  assert.equal((await summary(after, 'acme')).total, 42);
  assert.equal((await summary(after, 'beta')).total, 5);
});

test('a snapshot round built in slices with ingest between them: every owner exact after a crash', async (t) => {
  const w = world(t);
  // Slices of 0 ms: ingest gets a turn between every two owners of the round.
  const before = await boot(w, 1, 1, 0, undefined, {}, w.snapshots, 0);
  const owners = Array.from({ length: 40 }, (_, i) => `o${i}`);
  const expected = new Map<string, number>();
  for (const owner of owners) {
    await acked(before, owner, ids(`${owner}-a`, 3));
    expected.set(owner, 3);
  }
  const round = before.host.snapshotTick();
  // While the round goes owner by owner: batches for owners it has passed and for owners it has not reached.
  const pending: number[] = [];
  for (let k = 0; k < owners.length; k++) {
    const owner = owners[(k * 7) % owners.length]!;
    pending.push(send(before, owner, ids(`${owner}-b${k}`, 2)));
    expected.set(owner, expected.get(owner)! + 2);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await round;
  for (const id of pending) assert.ok((await reply(before, id)).ok);
  await acked(before, 'o1', ids('o1-c', 4));
  expected.set('o1', expected.get('o1')! + 4);
  // crash

  const after = await boot(w, 2);
  const report = after.host.recovery!;
  // 40 first batches (in every snapshot), 40 sent during the round, one after it. A batch sent during the round to an owner
  // the round had not reached yet is in that owner's snapshot, so its record is skipped too: without per-owner positions
  // it would be replayed (and only the dedup memory would keep the count right).
  assert.equal(report.records, 81);
  assert.ok(report.recordsSkipped > 40 && report.recordsSkipped < 81, `records in snapshots: ${JSON.stringify(report)}`);
  for (const [owner, total] of expected) assert.equal((await summary(after, owner)).total, total, owner);
});

test('an owner evicted with a snapshot and back again before the crash is exact after replay', async (t) => {
  const w = world(t);
  const before = await boot(w, 1);
  await acked(before, 'acme', ids('a', 20));
  w.clock.nowMs += 61_000;
  await before.host.idleTick();
  assert.equal(before.host.ownerCount, 0);
  await acked(before, 'acme', ids('b', 9));
  // crash

  const after = await boot(w, 2);
  assert.equal((await summary(after, 'acme')).total, 29);
});

test('late events are classified as they were, however long after the crash the replay runs', async (t) => {
  const w = world(t);
  const before = await boot(w, 1);
  // 2 s behind the clock: after their 1-s window ended, within the allowed lateness: `late`.
  const receipt = await acked(before, 'acme', ids('late', 6), T0 - 2_000);
  assert.equal(receipt.counts.late, 6);
  await acked(before, 'acme', ids('ok', 4), T0 + 500);
  // crash; the replay happens an hour later by the wall clock
  w.clock.nowMs += 3_600_000;
  const after = await boot(w, 2);
  w.clock.nowMs = T0 + 1_000; // read while the hour window is still open in memory
  const s = await summary(after, 'acme');
  assert.equal(s.total, 10);
  assert.equal(s.late, 6);
});

test('a restarted worker replays the log of its earlier life; a later crash of the process replays both lives', async (t) => {
  const w = world(t);
  const first = await boot(w, 7);
  await acked(first, 'acme', ids('a', 11));
  // the worker dies; the process (first epoch 7) lives on, the new life writes epoch 8
  const restarted = await boot(w, 8, 7);
  assert.equal(restarted.host.recovery?.records, 1);
  assert.equal((await summary(restarted, 'acme')).total, 11);
  await acked(restarted, 'acme', ids('b', 4));
  await restarted.host.snapshotTick();
  await acked(restarted, 'acme', ids('c', 2));
  // the process dies
  const next = await boot(w, 9);
  assert.equal((await summary(next, 'acme')).total, 17);
});

test('a clean close leaves nothing to replay', async (t) => {
  const w = world(t);
  const before = await boot(w, 1);
  await acked(before, 'acme', ids('a', 25));
  await before.host.close();
  const after = await boot(w, 2);
  assert.equal(after.host.recovery?.records, after.host.recovery?.recordsSkipped);
  assert.equal((await summary(after, 'acme')).total, 25);
});

test('after a restart with fewer workers, each replays the records of the shards it now hosts from every old log', async (t) => {
  const w = world(t);
  const a = await boot(w, 1, 1, 0, [3]);
  const b = await boot(w, 1, 1, 1, [5]);
  assert.ok((await reply(a, send(a, 'acme', ids('a', 12)))).ok);
  assert.ok((await reply(b, send(b, 'beta', ids('b', 8), {}, w.clock.nowMs, 5))).ok);
  // crash; one worker now hosts both shards
  const both = await boot(w, 2, 2, 0, [3, 5]);
  assert.equal(both.host.recovery?.records, 2);
  assert.equal((await summary(both, 'acme')).total, 12);
  assert.equal((await summary(both, 'beta', 5)).total, 8);
  // A worker that hosts only shard 3 steps over shard 5's records without applying them.
  const w2 = world(t);
  const c = await boot(w2, 1, 1, 0, [3]);
  const d = await boot(w2, 1, 1, 1, [5]);
  assert.ok((await reply(c, send(c, 'acme', ids('a', 3)))).ok);
  assert.ok((await reply(d, send(d, 'beta', ids('b', 4), {}, w2.clock.nowMs, 5))).ok);
  const only3 = await boot(w2, 2, 2, 0, [3]);
  assert.equal(only3.host.recovery?.records, 1);
  assert.equal(only3.host.recovery?.recordsForeign, 1);
  assert.equal((await summary(only3, 'acme')).total, 3);
});

test('while snapshot rounds cannot complete the log grows to walBytesMax, then ingest is refused with EVT_WAL_BACKLOG until a round frees it', async (t) => {
  const w = world(t);
  let failing = true;
  const snapshots: SnapshotStore = {
    putOwnerSnapshots: (shard, list) => (failing ? Promise.reject(new Error('redis down')) : w.snapshots.putOwnerSnapshots(shard, list)),
    getOwnerSnapshot: (shard, owner) => w.snapshots.getOwnerSnapshot(shard, owner),
    deleteOwnerSnapshots: (shard, owners) => w.snapshots.deleteOwnerSnapshots(shard, owners),
    putCheckpoint: (checkpoint) => w.snapshots.putCheckpoint(checkpoint),
    getCheckpoint: (shard) => w.snapshots.getCheckpoint(shard),
    close: () => Promise.resolve(),
  };
  const h = await boot(w, 1, 1, 0, undefined, { walBytesMax: 16 * 1024 * 1024, walSegmentBytesMax: 1024 * 1024 }, snapshots);
  const padding = 'p'.repeat(900);
  let refused: ReplyMessage | undefined;
  let batches = 0;
  for (; batches < 400 && refused === undefined; batches++) {
    const id = nextId++;
    const events = Array.from({ length: 100 }, (_, i) => ({ id: `x${batches}-${i}`, name: 'n', timestamp: w.clock.nowMs, properties: { p: padding } }));
    h.host.handle({
      t: 'ingest', id, shard: 3, owner: 'acme', body: Buffer.from(JSON.stringify({ events })), format: 'json', encoding: 'identity',
      ack: 'applied', receiptsAll: false, receivedAtMs: w.clock.nowMs, requestId: `r${id}`,
    });
    const answer = await reply(h, id);
    if (!answer.ok) refused = answer;
    if (batches % 20 === 0) await h.host.snapshotTick(); // fails: the log cannot be trimmed
  }
  assert.equal(refused?.error?.code, 'EVT_WAL_BACKLOG', `refused after ${batches} batches: ${JSON.stringify(refused?.error)}`);
  assert.ok((refused.error?.retryAfterMs ?? 0) > 0);
  assert.ok(batches > 100, 'not before ~16 MiB of log');
  failing = false;
  await h.host.snapshotTick();
  const again = await reply(h, send(h, 'acme', ids('after', 5)));
  assert.ok(again.ok, JSON.stringify(again.error));
});

/** Queries every configured resolution of `owner` over the test's hours: the whole state a replay must rebuild. */
async function everything(h: Host, owner: string): Promise<MetricsResult[]> {
  const results: MetricsResult[] = [];
  for (const resolution of ['1s', '1m', '1h'] as const) {
    const id = nextId++;
    h.host.handle({ t: 'query', id, shard: 3, query: { owner, resolution, fromMs: T0 - 3_600_000, toMs: T0 + 7_200_000 } });
    const answer = await reply(h, id);
    assert.ok(answer.ok, JSON.stringify(answer.error));
    results.push(answer.value as MetricsResult);
  }
  return results;
}

function sendEvents(h: Host, owner: string, events: unknown[]): number {
  const id = nextId++;
  h.host.handle({
    t: 'ingest', id, shard: 3, owner, body: Buffer.from(JSON.stringify({ events })), format: 'json', encoding: 'identity',
    ack: 'durable', receiptsAll: false, receivedAtMs: h.world.clock.nowMs, requestId: `r${id}`,
  });
  return id;
}

test('batches logged as the store packed them replay in their order: order-bound state (name overflow, float sums, early dedup eviction) comes back exactly', async (t) => {
  const w = world(t);
  w.clock.nowMs = T0 + 30_000;
  // Four names per window and 12 sent: which get their own count depends on the order events are applied;
  // so do float sums (1e16 + 1 - 1e16) and which ids a full dedup memory forgets first.
  const overrides = { namesPerWindowMax: 4, allowedLatenessMs: 10_000, dedupIdsMax: 150 };
  const before = await boot(w, 1, 1, 0, undefined, overrides);
  const values = [0.1, 1e16, 1, -1e16, 0.2, 3.3, -0.7, 1e-9];
  const rich = (prefix: string, n: number, offset: number) =>
    Array.from({ length: n }, (_, i) => {
      const k = i + offset;
      const ageMs = k % 17 === 0 ? 25_000 : k % 11 === 0 ? 4_000 : 0; // too late, late, on time
      return {
        id: `${prefix}-${k}`,
        name: `name-${(k * 7) % 12}`,
        timestamp: w.clock.nowMs - ageMs - (k % 3),
        userId: `user-${k % 23}`,
        category: k % 4 === 0 ? 'billing' : 'default',
        severity: k % 5 === 0 ? 'error' : 'info',
        tags: k % 2 === 0 ? ['t1', `t${k % 6}`] : [],
        properties: { path: `/p/${k % 9}`, n: k, ok: k % 2 === 0 },
        value: values[k % values.length],
      };
    });
  const first = rich('e', 120, 0);
  first.splice(30, 0, { ...first[5]! }); // a duplicate within the batch
  first.splice(60, 0, { id: 'no-name' } as never); // rejected
  const firstAnswer = await reply(before, sendEvents(before, 'acme', first));
  assert.ok(firstAnswer.ok, JSON.stringify(firstAnswer.error));
  const firstCounts = (firstAnswer.value as BatchReceipt).counts;
  assert.equal(firstCounts.duplicate, 1);
  assert.equal(firstCounts.rejected, 1);
  assert.ok(firstCounts.late > 0 && firstCounts.tooLate > 0, JSON.stringify(firstCounts));
  w.clock.nowMs += 1_000;
  // Half resent (duplicates), half new; the dedup memory (150) overflows and forgets its oldest.
  const second = [...rich('e', 40, 0), ...rich('f', 90, 200)];
  const secondAnswer = await reply(before, sendEvents(before, 'acme', second));
  assert.ok(secondAnswer.ok, JSON.stringify(secondAnswer.error));
  assert.equal((secondAnswer.value as BatchReceipt).counts.duplicate, 40);
  w.clock.nowMs += 1_000;
  await acked(before, 'acme', ids('small', 10)); // too few to pack on the hot path: logged as its body
  const live = await everything(before, 'acme');
  const stats = before.host.walStats();
  assert.deepEqual(stats?.records, { body: 1, buckets: 2 }, 'two batches logged as buckets, one as its body');
  // crash

  const after = await boot(w, 2, 2, 0, undefined, overrides);
  assert.equal(after.host.recovery?.records, 3);
  assert.equal(after.host.recovery?.recordsSkipped, 0);
  assert.deepEqual(await everything(after, 'acme'), live);
  // The dedup memory is the same too: the ids it forgot are accepted again, the rest are duplicates.
  const probe = await reply(after, sendEvents(after, 'acme', rich('e', 120, 0).map(({ id }) => ({ id, name: 'probe', timestamp: w.clock.nowMs }))));
  const again = await reply(before, sendEvents(before, 'acme', rich('e', 120, 0).map(({ id }) => ({ id, name: 'probe', timestamp: w.clock.nowMs }))));
  assert.deepEqual((probe.value as BatchReceipt).counts, (again.value as BatchReceipt).counts);
  assert.ok((probe.value as BatchReceipt).counts.accepted > 0, 'some ids were forgotten (dedupIdsMax)');
});

test("loggedRecords puts each bucket's events back in place and refuses an order that is not a permutation or another owner's bucket", () => {
  const event = (i: number) => ({
    id: `id-${i}`, name: 'n', timestampMs: T0 + i, clientTimestampMs: T0 + i, receivedAtMs: T0, userId: undefined,
    category: 'default', severity: 'info' as const, tags: [], properties: {}, value: undefined,
  });
  const stored = (i: number, owner = 'acme') => ({ owner, shard: 3, status: 'accepted' as const, event: event(i) });
  // Bucket 1 holds events 0..2 stored as 2, 0, 1; bucket 2 holds 3..4 stored as 4, 3.
  const one = { bytes: encodeBucket([stored(2), stored(0), stored(1)])!, order: Uint16Array.of(2, 0, 1) };
  const two = { bytes: encodeBucket([stored(4), stored(3)])!, order: Uint16Array.of(1, 0) };
  assert.deepEqual(loggedRecords([one, two], 'acme')?.map((r) => r.id), ['id-0', 'id-1', 'id-2', 'id-3', 'id-4']);
  assert.equal(loggedRecords([{ ...one, order: Uint16Array.of(2, 2, 1) }], 'acme'), undefined, 'a place twice');
  assert.equal(loggedRecords([{ ...one, order: Uint16Array.of(2, 0, 3) }], 'acme'), undefined, 'a place past the bucket');
  assert.equal(loggedRecords([{ ...one, order: Uint16Array.of(1, 0) }], 'acme'), undefined, 'an order of another length');
  assert.equal(loggedRecords([one], 'zeta'), undefined, "another owner's bucket");
  assert.equal(loggedRecords([{ bytes: Buffer.from('not a bucket'), order: Uint16Array.of(0) }], 'acme'), undefined);
});

/** A protobuf or msgpack body of plain valid events (what the columnar path takes), ids from `ids`. */
function plainBody(format: 'protobuf' | 'msgpack', eventIds: string[], timestampMs: number): Buffer {
  const events = eventIds.map((id, i) => ({
    id,
    // An empty name (EVT_FIELD_MISSING) for ids ending in -x: the columnar path keeps the rejection, as validateBatch makes it.
    name: id.endsWith('-x') ? '' : i % 3 === 0 ? 'a' : 'b',
    timestampMs,
    userId: `u-${id.split('-')[0]!}-${i % 7}`,
    category: i % 2 === 0 ? 'web' : 'api',
    severity: i % 6,
    tags: ['t', `x${i % 3}`],
    plan: i % 2 === 0 ? 'free' : 'pro',
    n: i,
    value: i / 4,
  }));
  if (format === 'msgpack') {
    return MSGPACK.pack({
      events: events.map((e) => ({
        id: e.id,
        name: e.name,
        timestamp: e.timestampMs,
        userId: e.userId,
        category: e.category,
        severity: SEVERITIES[e.severity],
        tags: e.tags,
        properties: { plan: e.plan, n: e.n },
        value: e.value,
      })),
    });
  }
  return Buffer.from(
    IngestRequest.encode({
      events: events.map((e) => ({
        ...e,
        severity: 1 + e.severity,
        properties: new Map([
          ['plan', { kind: { $case: 'stringValue' as const, value: e.plan } }],
          ['n', { kind: { $case: 'numberValue' as const, value: e.n } }],
        ]),
      })),
      batchId: '',
      ack: 0,
      receiptsAll: false,
    }).finish(),
  );
}

for (const format of ['protobuf', 'msgpack'] as const) {
  test(`${format} batches on the columnar path: the same receipts, counts and stored events as the record path, and replayed exactly after a crash`, async (t) => {
    const runs = [
      { columnar: true, w: world(t) },
      { columnar: false, w: world(t) },
    ];
    const readBefore = columnarCounts[format].read;
    const results: Array<{ receipts: unknown[]; summary: unknown; stored: unknown[]; replayed: unknown }> = [];
    for (const { columnar, w } of runs) {
      const h = await boot(w, 1, 1, 0, undefined, { columnarPath: columnar });
      const bodies = [
        plainBody(format, ids('p', 30), T0), // the owner is loaded: the record path either way
        plainBody(format, ids('q', 40), T0 + 10), // resident: the columnar path when on
        plainBody(format, [...ids('p', 5), ...ids('r', 20), 'bad-x'], T0 + 20), // five duplicates of the first batch, one invalid event
        plainBody(format, ids('s', 600), T0 + 30), // more than a bucket (500)
      ];
      const receipts: unknown[] = [];
      for (const body of bodies) {
        const answer = await reply(h, send(h, 'acme', [], { body, format, ack: 'durable' }));
        assert.ok(answer.ok, JSON.stringify(answer.error));
        receipts.push(answer.value);
      }
      const summaryBefore = await summary(h, 'acme');
      // crash, then replay from the log (the columnar batches were logged as their packed buckets)
      const after = await boot(w, 2, 2, 0, undefined, { columnarPath: columnar });
      assert.equal(after.host.recovery?.records, 4);
      const replayed = await summary(after, 'acme');
      assert.deepEqual(replayed, summaryBefore, 'replay gives back what was acknowledged');
      while (after.host.flushPendingEvents > 0) await after.host.flush();
      const stored = [];
      for (const id of ['p-0', 'q-7', 'r-19', 's-0', 's-599']) stored.push(await w.events.getEvent('acme', id));
      results.push({ receipts, summary: summaryBefore, stored, replayed });
    }
    assert.equal(columnarCounts[format].read - readBefore, 3, 'three batches took the columnar path, in the first run only');
    assert.deepEqual(results[0], results[1]);
    const counts = (results[0]!.receipts as BatchReceipt[]).map((r) => r.counts);
    assert.deepEqual(counts.map((c) => c.duplicate), [0, 0, 5, 0]);
    assert.deepEqual(counts.map((c) => c.rejected), [0, 0, 1, 0]);
    assert.equal((results[0]!.summary as { total: number }).total, 30 + 40 + 20 + 600);
  });
}

test('snapshot rounds keep covered segments as spares and new segments reuse them; a crash after that replays exactly what was acknowledged', async (t) => {
  const w = world(t);
  const config = { walSegmentBytesMax: 1024 * 1024, walRecycleSegments: 2 };
  const before = await boot(w, 1, 1, 0, undefined, config);
  const padding = 'p'.repeat(900);
  let total = 0;
  for (let batch = 0; batch < 120; batch++) {
    const events = Array.from({ length: 100 }, (_, i) => ({ id: `r${batch}-${i}`, name: 'n', timestamp: w.clock.nowMs, properties: { p: padding } }));
    const id = nextId++;
    before.host.handle({
      t: 'ingest', id, shard: 3, owner: 'acme', body: Buffer.from(JSON.stringify({ events })), format: 'json', encoding: 'identity',
      ack: 'durable', receiptsAll: false, receivedAtMs: w.clock.nowMs, requestId: `r${id}`,
    });
    const answer = await reply(before, id);
    assert.ok(answer.ok, JSON.stringify(answer.error));
    total += 100;
    if (batch % 15 === 14) await before.host.snapshotTick();
  }
  const stats = before.host.walStats()!;
  assert.ok(stats.segmentsRecycled >= 2, JSON.stringify(stats));
  assert.ok(stats.spareSegments <= 2);
  // crash: the last segment is a recycled file with its earlier life's records after the new ones
  const after = await boot(w, 2, 2, 0, undefined, config);
  assert.deepEqual(after.host.recovery?.damaged, []);
  assert.equal((await summary(after, 'acme')).total, total);
});
