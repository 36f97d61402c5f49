/**
 * The shard host with real LMDB stores, a recording port and an injected
 * clock: idle owners leave memory and come back whole, durable answers wait
 * for the store, a failing store holds events and pushes back, a failing
 * snapshot store is counted and never loses an owner.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { FLUSH_ROLLUPS_MAX, ShardHost } from '../../src/runtime/shard-host.js';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';
import { LmdbSnapshotStore } from '../../src/store/lmdb/snapshot-store.js';
import type { EventStore, PreparedEvents, SnapshotStore } from '../../src/store/port.js';
import type { BatchReceipt, StoredEvent } from '../../src/actors/types.js';
import type { IngestMessage, ReplyMessage } from '../../src/runtime/messages.js';
import type { MetricsResult } from '../../src/runtime/router.js';
import { configWith } from '../../src/server.js';
import { tempDir } from '../helpers.js';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);

interface Harness {
  host: ShardHost;
  clock: { nowMs: number };
  replies: Map<number, ReplyMessage>;
  events: EventStore;
  snapshots: SnapshotStore;
}

function setup(
  t: TestContext,
  overrides: Record<string, unknown> = {},
  wrap?: { events?: (s: EventStore) => EventStore; snapshots?: (s: SnapshotStore) => SnapshotStore },
  hostOptions: { closeSliceMs?: number; walEpoch?: number } = {},
  eventsRetentionMs?: number,
): Harness {
  const dir = tempDir(t);
  const lmdb = { path: path.join(dir, 'lmdb'), noSync: true };
  const clock = { nowMs: T0 };
  const realEvents = new LmdbEventStore(eventsRetentionMs === undefined ? lmdb : { ...lmdb, eventsRetentionMs, clock: () => clock.nowMs });
  const realSnapshots = new LmdbSnapshotStore(lmdb);
  t.after(async () => {
    await realEvents.close();
    await realSnapshots.close();
  });
  const events = wrap?.events?.(realEvents) ?? realEvents;
  const snapshots = wrap?.snapshots?.(realSnapshots) ?? realSnapshots;
  const replies = new Map<number, ReplyMessage>();
  const host = new ShardHost({
    workerIndex: 0,
    config: configWith({ dataDir: dir, walEnabled: false, ownerIdleMs: 60_000, flushBatchEventsMax: 1_000, flushPendingEventsMax: 1_000, ...overrides }),
    eventStore: events,
    snapshotStore: snapshots,
    port: {
      postMessage(message: { t: string; id?: number }) {
        if (message.t === 'reply') replies.set(message.id!, message as ReplyMessage);
      },
    },
    now: () => clock.nowMs,
    ...hostOptions,
  });
  return { host, clock, replies, events, snapshots };
}

let nextId = 1;
function ingest(h: Harness, owner: string, count: number, extra: Partial<IngestMessage> = {}): number {
  const id = nextId++;
  const events = Array.from({ length: count }, (_, i) => ({ id: `${owner}-${id}-${i}`, name: 'n', timestamp: h.clock.nowMs, userId: `u${i}` }));
  h.host.handle({
    t: 'ingest', id, shard: 3, owner, body: Buffer.from(JSON.stringify({ events })), format: 'json', encoding: 'identity',
    ack: 'applied', receiptsAll: false, receivedAtMs: h.clock.nowMs, requestId: `r${id}`, ...extra,
  });
  return id;
}

async function reply(h: Harness, id: number): Promise<ReplyMessage> {
  for (let i = 0; i < 200 && !h.replies.has(id); i++) await new Promise((resolve) => setImmediate(resolve));
  // A store failure answers held batches after the flush's retry delay (FLUSH_RETRY_MS_MIN * 2).
  for (let i = 0; i < 100 && !h.replies.has(id); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  const message = h.replies.get(id);
  assert.ok(message !== undefined, `no reply to request ${id}`);
  return message;
}

async function total(h: Harness, owner: string): Promise<number> {
  const id = nextId++;
  h.host.handle({ t: 'query', id, shard: 3, query: { owner, resolution: '1h', fromMs: T0 - 3_600_000, toMs: T0 + 3_600_000 } });
  const answer = await reply(h, id);
  assert.ok(answer.ok, JSON.stringify(answer.error));
  return (answer.value as MetricsResult).summary.total;
}

test('worker 0 removes events past the embedded store\'s retention; their counts stay in the rollups', async (t) => {
  const h = setup(t, {}, undefined, {}, 3_600_000);
  assert.equal(await h.host.retentionTick(), 0, 'nothing written yet');
  await reply(h, ingest(h, 'acme', 3));
  await h.host.flush();
  const first = `acme-${nextId - 1}-0`;
  assert.equal((await h.events.getEvent('acme', first))?.event.id, first);
  h.clock.nowMs += 1_800_000;
  await reply(h, ingest(h, 'acme', 2));
  await h.host.flush();
  const second = `acme-${nextId - 1}-1`;
  h.clock.nowMs += 1_800_001;
  assert.equal(await h.host.retentionTick(), 3, 'the first flush, an hour and a millisecond old');
  assert.equal(await h.events.getEvent('acme', first), undefined);
  assert.equal((await h.events.getEvent('acme', second))?.event.id, second);
  assert.equal(await total(h, 'acme'), 5, 'the counts of removed events stay');
});

test('an idle owner leaves memory and comes back with its counts', async (t) => {
  const h = setup(t);
  assert.equal((await reply(h, ingest(h, 'acme', 10))).ok, true);
  assert.equal(h.host.ownerCount, 1);
  h.clock.nowMs += 61_000;
  await h.host.idleTick();
  assert.equal(h.host.ownerCount, 0, 'evicted after ownerIdleMs');
  assert.equal(await total(h, 'acme'), 10, 'a query brings it back from the snapshot');
  assert.equal((await reply(h, ingest(h, 'acme', 5))).ok, true);
  assert.equal(await total(h, 'acme'), 15);
});

test('a durable answer waits for the store; an applied one does not', async (t) => {
  const h = setup(t);
  const applied = ingest(h, 'acme', 3);
  assert.equal((await reply(h, applied)).ok, true);
  const durable = ingest(h, 'acme', 3, { ack: 'durable' });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(h.replies.has(durable), false, 'not answered before the flush');
  await h.host.flush();
  assert.equal((await reply(h, durable)).ok, true);
  const stored = await h.events.getEvent('acme', `acme-${durable}-2`);
  assert.equal(stored?.status, 'accepted');
});

test('while the event store fails, events are held, then refused with EVT_STORE_BACKLOG, then drained in order', async (t) => {
  let failing = true;
  const h = setup(t, {}, {
    events: (real) => ({
      writeEvents: (events) => (failing ? Promise.reject(new Error('store down')) : real.writeEvents(events)),
      getEvent: (owner, id) => real.getEvent(owner, id),
      writeRollups: (rollups) => (failing ? Promise.reject(new Error('store down')) : real.writeRollups(rollups)),
      queryRollups: (query) => real.queryRollups(query),
      close: () => Promise.resolve(),
    }),
  });
  const first = ingest(h, 'acme', 600);
  assert.equal((await reply(h, first)).ok, true);
  await h.host.flush(); // fails, keeps the events
  const second = ingest(h, 'acme', 600);
  assert.equal((await reply(h, second)).ok, true, 'under flushPendingEventsMax still accepted');
  // The second batch starts a flush (1,200 pending) that fails and puts its events back.
  for (let i = 0; i < 100 && h.host.flushPendingEvents !== 1_200; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(h.host.flushPendingEvents, 1_200);
  const refused = await reply(h, ingest(h, 'acme', 1));
  assert.equal(refused.ok, false);
  assert.equal(refused.error?.code, 'EVT_STORE_BACKLOG');
  assert.ok((refused.error?.retryAfterMs ?? 0) > 0);
  failing = false;
  while (h.host.flushPendingEvents > 0) await h.host.flush();
  assert.equal((await h.events.getEvent('acme', `acme-${first}-0`))?.status, 'accepted');
  assert.equal((await h.events.getEvent('acme', `acme-${second}-599`))?.status, 'accepted');
  assert.equal((await reply(h, ingest(h, 'acme', 1))).ok, true, 'accepted again once drained');
});

/** An event store whose writes wait for `open()` and then succeed, or fail with `fail()`; `prepared`: it also prepares events (as LMDB does). */
function gated(real: EventStore, prepared = false): { store: EventStore; open: () => void; fail: () => void; writes: () => number } {
  const newGate = () => {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => undefined); // a gate nobody waits on may fail unobserved
    return { promise, resolve, reject };
  };
  let gate = newGate();
  let writes = 0;
  const wait = () => gate.promise;
  return {
    store: {
      writeEvents: async (events) => {
        writes++;
        await wait();
        return real.writeEvents(events);
      },
      getEvent: (owner, id) => real.getEvent(owner, id),
      writeRollups: async (rollups) => {
        await wait();
        return real.writeRollups(rollups);
      },
      queryRollups: (query) => real.queryRollups(query),
      close: () => Promise.resolve(),
      ...(prepared
        ? {
            prepareEvents: (events: readonly StoredEvent[]) => real.prepareEvents!(events),
            findPrepared: (batch: PreparedEvents, owner: string, id: string) => real.findPrepared!(batch, owner, id),
            writePrepared: async (batches: readonly PreparedEvents[]) => {
              writes++;
              await wait();
              return real.writePrepared!(batches);
            },
          }
        : {}),
    },
    open: () => gate.resolve(),
    fail: () => {
      gate.reject(new Error('store down'));
      gate = newGate();
    },
    writes: () => writes,
  };
}

test('a store a flush behind holds ingest, in arrival order, until it catches up (no refusal)', async (t) => {
  let store!: ReturnType<typeof gated>;
  const h = setup(t, { flushBatchEventsMax: 100, flushPendingEventsMax: 10_000 }, { events: (real) => (store = gated(real)).store });
  // The first request starts a flush (a request's events are flushed whole), which waits at the gate.
  assert.equal((await reply(h, ingest(h, 'acme', 150))).ok, true);
  assert.equal(store.writes(), 1);
  assert.equal(h.host.flushPendingEvents, 0);
  // 100, then 200 pending: under FLUSH_HOLD_BATCHES (2) x 100 when they arrive, so admitted.
  assert.equal((await reply(h, ingest(h, 'acme', 100))).ok, true);
  assert.equal((await reply(h, ingest(h, 'acme', 100))).ok, true);
  assert.equal(h.host.flushPendingEvents, 200);
  // The store is two flushes behind: these wait.
  const held = [ingest(h, 'acme', 10), ingest(h, 'acme', 10), ingest(h, 'beta', 10)];
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  for (const id of held) assert.equal(h.replies.has(id), false, `request ${id} is held, not answered`);
  assert.equal(h.host.ingestHeld, 3);
  assert.deepEqual(h.host.ingestHeldTotal, { store: 3, wal: 0 });
  // A query is not held.
  assert.equal(await total(h, 'acme'), 350);
  store.open();
  const answers = await Promise.all(held.map((id) => reply(h, id)));
  assert.deepEqual(answers.map((a) => a.ok), [true, true, true]);
  assert.equal(h.host.ingestHeld, 0);
  assert.equal(await total(h, 'acme'), 370, 'every held batch applied once');
  assert.equal(await total(h, 'beta'), 10);
  while (h.host.flushPendingEvents > 0) await h.host.flush();
  assert.equal((await h.events.getEvent('acme', `acme-${held[1]!}-9`))?.status, 'accepted');
});

/**
 * A host with flushBatchEventsMax 100 behind a gated store, brought to the
 * point where ingest is held: a flush of 150 waits at the gate and 200 more
 * are pending; then `count` batches of 10 are sent and wait.
 */
async function backlogged(t: TestContext, flushPendingEventsMax: number, count: number): Promise<{ h: Harness; store: ReturnType<typeof gated>; held: number[] }> {
  let store!: ReturnType<typeof gated>;
  const h = setup(t, { flushBatchEventsMax: 100, flushPendingEventsMax }, { events: (real) => (store = gated(real)).store });
  for (const n of [150, 100, 100]) assert.equal((await reply(h, ingest(h, 'acme', n))).ok, true);
  const held = Array.from({ length: count }, () => ingest(h, 'acme', 10));
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(h.host.ingestHeld, count);
  return { h, store, held };
}

test('held ingest meets the hard limit when the store starts failing', async (t) => {
  const { h, store, held } = await backlogged(t, 205, 2);
  // The flush fails: its 150 events go back, the retry takes them again (200 pending), and the store
  // is failing, so nothing waits for it any more: the held batches meet flushPendingEventsMax (205).
  store.fail();
  const first = await reply(h, held[0]!);
  assert.equal(first.ok, true, '200 pending is under flushPendingEventsMax');
  const second = await reply(h, held[1]!);
  assert.equal(second.ok, false);
  assert.equal(second.error?.code, 'EVT_STORE_BACKLOG');
  store.open();
  while (h.host.flushPendingEvents > 0) await h.host.flush();
  assert.equal((await h.events.getEvent('acme', `acme-${held[0]!}-0`))?.status, 'accepted');
});

test('ingest held at close is applied before the last flush', async (t) => {
  const { h, store, held } = await backlogged(t, 10_000, 1);
  const id = held[0]!;
  const closing = h.host.close();
  assert.equal((await reply(h, id)).ok, true, 'answered as the close begins');
  store.open();
  await closing;
  assert.equal((await h.events.getEvent('acme', `acme-${id}-9`))?.status, 'accepted', 'and written by the close');
});

async function getEvent(h: Harness, owner: string, eventId: string): Promise<{ state: string } | null> {
  const id = nextId++;
  h.host.handle({ t: 'getEvent', id, shard: 3, owner, eventId });
  const answer = await reply(h, id);
  assert.ok(answer.ok, JSON.stringify(answer.error));
  return answer.value as { state: string } | null;
}

test('large requests wait for the store encoded, small ones as objects; both are read while pending and written in one flush', async (t) => {
  const h = setup(t);
  const big = ingest(h, 'acme', 100); // >= PREPARE_EVENTS_MIN: encoded by the store at apply
  const small = ingest(h, 'acme', 5);
  const other = ingest(h, 'beta', 70);
  for (const id of [big, small, other]) assert.equal((await reply(h, id)).ok, true);
  assert.equal(h.host.flushPendingEvents, 175);
  assert.equal((await getEvent(h, 'acme', `acme-${big}-63`))?.state, 'pending');
  assert.equal((await getEvent(h, 'acme', `acme-${small}-4`))?.state, 'pending');
  assert.equal((await getEvent(h, 'beta', `beta-${other}-0`))?.state, 'pending');
  assert.equal(await getEvent(h, 'beta', `acme-${big}-0`), null, 'an id of another owner is not found');
  await h.host.flush();
  assert.equal(h.host.flushPendingEvents, 0);
  for (const [owner, id, n] of [['acme', big, 100], ['acme', small, 5], ['beta', other, 70]] as const) {
    for (let i = 0; i < n; i++) assert.equal((await h.events.getEvent(owner, `${owner}-${id}-${i}`))?.status, 'accepted', `${owner}-${id}-${i}`);
    assert.equal((await getEvent(h, owner, `${owner}-${id}-0`))?.state, 'stored');
  }
});

test('a log a quarter of walPendingBytesMax behind holds ingest, in arrival order, until it syncs (no refusal)', async (t) => {
  // The smallest walPendingBytesMax (1 MiB): one ~540 KB body (~460 KB as the store packs it, which is what the log keeps) puts the log past a quarter of it until its sync.
  const h = setup(t, { walEnabled: true, walSyncIntervalMs: 20, walPendingBytesMax: 1_048_576, flushBatchEventsMax: 10_000, flushPendingEventsMax: 100_000 }, undefined, { walEpoch: 1 });
  await h.host.recover();
  // Resident first (a first request may wait for the snapshot store), and the log synced.
  assert.equal((await reply(h, ingest(h, 'acme', 1))).ok, true);
  await new Promise((resolve) => setTimeout(resolve, 60));
  const big = Array.from({ length: 2_000 }, (_, i) => ({ id: `big-${i}`, name: 'n', timestamp: h.clock.nowMs, userId: `u${i}`, properties: { pad: 'x'.repeat(200) } }));
  const body = Buffer.from(JSON.stringify({ events: big }));
  assert.ok(body.length > 1_048_576 / 4, `the body (${body.length} B) is more than a quarter of walPendingBytesMax`);
  const first = ingest(h, 'acme', 1, { body });
  // Both carry one event with the same id: the one applied first is accepted, the other a duplicate.
  const same = Buffer.from(JSON.stringify({ events: [{ id: 'same', name: 'n', timestamp: h.clock.nowMs }] }));
  const second = ingest(h, 'acme', 1, { body: same });
  const third = ingest(h, 'acme', 1, { body: same });
  assert.equal(h.host.ingestHeld, 2, 'the two behind the big body wait for the log');
  assert.deepEqual(h.host.ingestHeldTotal, { store: 0, wal: 2 });
  const answers = await Promise.all([first, second, third].map((id) => reply(h, id)));
  assert.deepEqual(answers.map((a) => a.ok), [true, true, true], 'none refused');
  const counts = answers.map((a) => (a.value as BatchReceipt).counts);
  assert.equal(counts[0]!.accepted, 2_000);
  assert.deepEqual([counts[1]!.accepted, counts[2]!.duplicate], [1, 1], 'released in arrival order');
  assert.equal(h.host.ingestHeld, 0);
  assert.equal(await total(h, 'acme'), 2_002);
  await h.host.close();
});

test('a durable answer (no log) waits for the flush that holds its own events, not the one in flight when it came', async (t) => {
  let store!: ReturnType<typeof gated>;
  const h = setup(t, { flushBatchEventsMax: 100, flushPendingEventsMax: 10_000 }, { events: (real) => (store = gated(real, true)).store });
  const first = ingest(h, 'acme', 150);
  assert.equal((await reply(h, first)).ok, true);
  assert.equal(store.writes(), 1, 'a flush of 150 waits at the gate');
  const durable = ingest(h, 'acme', 10, { ack: 'durable' });
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(h.host.flushPendingEvents, 10);
  store.open();
  // The flush in flight commits; its continuation (which releases durable answers) runs right after.
  for (let i = 0; i < 400 && (await h.events.getEvent('acme', `acme-${first}-149`)) === undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(store.writes(), 1, 'no second flush started (10 pending is under flushBatchEventsMax)');
  assert.equal(h.replies.has(durable), false, 'the flush in flight did not hold its events');
  await h.host.flush();
  assert.equal((await reply(h, durable)).ok, true);
  assert.equal((await h.events.getEvent('acme', `acme-${durable}-9`))?.status, 'accepted');
});

test('a close pass over many owners takes turns with requests, and its rollups are flushed FLUSH_ROLLUPS_MAX at a time', async (t) => {
  const rollupWrites: number[] = [];
  const h = setup(
    t,
    {},
    {
      events: (real) => ({
        writeEvents: (events) => real.writeEvents(events),
        getEvent: (owner, id) => real.getEvent(owner, id),
        writeRollups: (rollups) => {
          rollupWrites.push(rollups.length);
          return real.writeRollups(rollups);
        },
        queryRollups: (query) => real.queryRollups(query),
        close: () => Promise.resolve(),
      }),
    },
    { closeSliceMs: 0 },
  );
  const owners = Array.from({ length: 300 }, (_, i) => `o${i}`);
  for (const owner of owners) assert.equal((await reply(h, ingest(h, owner, 1))).ok, true);
  await h.host.flush();
  h.clock.nowMs += 86_400_000 + 3_600_000; // past the end of every window (the day's too) and the allowed lateness
  const pass = h.host.closeTick();
  let during = -1;
  setImmediate(() => (during = ingest(h, 'o0', 1))); // runs at the pass's first turn for requests
  await pass;
  assert.ok(during > 0 && h.replies.get(during)?.ok === true, 'a request was applied in the middle of the pass');
  while (rollupWrites.reduce((a, b) => a + b, 0) < 1_200) await h.host.flush();
  assert.ok(rollupWrites.every((n) => n <= FLUSH_ROLLUPS_MAX), `rollup writes of ${rollupWrites.join(', ')}`);
  assert.ok(rollupWrites.length >= 2);
  for (const owner of ['o1', 'o150', 'o299']) assert.equal(await total(h, owner), 1, `${owner}: its closed windows read back from the store`);
});

test('a failing snapshot store is counted, and an owner it could not save stays in memory', async (t) => {
  let failing = true;
  const h = setup(t, {}, {
    snapshots: (real) => ({
      putOwnerSnapshots: (shard, snaps) => (failing ? Promise.reject(new Error('redis down')) : real.putOwnerSnapshots(shard, snaps)),
      getOwnerSnapshot: (shard, owner) => real.getOwnerSnapshot(shard, owner),
      deleteOwnerSnapshots: (shard, owners) => real.deleteOwnerSnapshots(shard, owners),
      putCheckpoint: (cp) => real.putCheckpoint(cp),
      getCheckpoint: (shard) => real.getCheckpoint(shard),
      close: () => Promise.resolve(),
    }),
  });
  assert.equal((await reply(h, ingest(h, 'acme', 4))).ok, true);
  await h.host.snapshotTick(); // fails: counted, not thrown
  h.clock.nowMs += 61_000;
  await assert.rejects(h.host.idleTick());
  assert.equal(h.host.ownerCount, 1, 'not evicted: its snapshot could not be written');
  failing = false;
  await h.host.idleTick();
  assert.equal(h.host.ownerCount, 0);
  assert.equal(await total(h, 'acme'), 4);
});

test('receipts come back in index order, and a JSON batch without a batch id has none', async (t) => {
  const h = setup(t);
  const id = nextId++;
  const events = [{ id: 'x', name: 'n', timestamp: T0 }, { name: '' }, { id: 'x', name: 'n', timestamp: T0 }];
  h.host.handle({ t: 'ingest', id, shard: 3, owner: 'acme', body: Buffer.from(JSON.stringify(events)), format: 'json', encoding: 'identity', ack: 'applied', receiptsAll: true, receivedAtMs: T0, requestId: 'r' });
  const answer = (await reply(h, id)).value as BatchReceipt;
  assert.deepEqual(answer.receipts.map((r) => [r.index, r.status]), [[0, 'accepted'], [1, 'rejected'], [2, 'duplicate']]);
  assert.equal(answer.batchId, undefined);
  assert.equal(answer.single, false);
});

test('a window closed while the store cannot take its rollup is still read until it is committed', async (t) => {
  let failing = true;
  const h = setup(t, {}, {
    events: (real) => ({
      writeEvents: (events) => (failing ? Promise.reject(new Error('store down')) : real.writeEvents(events)),
      getEvent: (owner, id) => real.getEvent(owner, id),
      writeRollups: (rollups) => (failing ? Promise.reject(new Error('store down')) : real.writeRollups(rollups)),
      queryRollups: (query) => real.queryRollups(query),
      close: () => Promise.resolve(),
    }),
  });
  assert.equal((await reply(h, ingest(h, 'acme', 5))).ok, true);
  h.clock.nowMs += 3_600_000 + 10_000; // past the 1-h window's end and the allowed lateness
  await h.host.closeTick();
  await h.host.flush(); // fails: the closed windows wait in the worker
  assert.equal(await total(h, 'acme'), 5, 'neither in memory nor in the store, yet still read');
  failing = false;
  while (h.host.flushPendingEvents > 0) await h.host.flush();
  await h.host.flush();
  assert.equal(await total(h, 'acme'), 5, 'and read from the store once committed');
});
