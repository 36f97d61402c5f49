/**
 * The EventStore contract, written once and run against every adapter
 * (test/store/lmdb.test.ts now; MongoDB later). Each test opens a fresh,
 * empty store through `open` and closes it when done.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventStore } from '../../src/store/port.js';
import { rollup, sketchBytes, storedEvent, T0_MS } from './samples.js';

export interface OpenedEventStore {
  store: EventStore;
  close(): Promise<void>;
}

export function eventStoreContract(name: string, open: () => Promise<OpenedEventStore>): void {
  async function withStore(body: (store: EventStore) => Promise<void>): Promise<void> {
    const opened = await open();
    try {
      await body(opened.store);
    } finally {
      await opened.close();
    }
  }

  void describe(`EventStore contract: ${name}`, () => {
    void test('getEvent returns a written event as it was written', () =>
      withStore(async (store) => {
        const event = storedEvent('acme', 'e-1', { status: 'late' });
        event.event.userId = 'u-9';
        event.event.value = 42.25;
        await store.writeEvents([event, storedEvent('acme', 'e-2')]);
        assert.deepEqual(await store.getEvent('acme', 'e-1'), event);
        assert.deepEqual(await store.getEvent('acme', 'e-2'), storedEvent('acme', 'e-2'));
      }));

    void test('getEvent of a missing id or owner is undefined', () =>
      withStore(async (store) => {
        assert.equal(await store.getEvent('acme', 'nope'), undefined);
        await store.writeEvents([storedEvent('acme', 'e-1')]);
        assert.equal(await store.getEvent('acme', 'nope'), undefined);
        assert.equal(await store.getEvent('nobody', 'e-1'), undefined);
      }));

    void test('writeEvents is idempotent by (owner, id): the first write wins, across calls and within one', () =>
      withStore(async (store) => {
        const first = storedEvent('acme', 'e-1', { status: 'accepted' });
        await store.writeEvents([first]);
        await store.writeEvents([storedEvent('acme', 'e-1', { status: 'too_late' })]);
        assert.deepEqual(await store.getEvent('acme', 'e-1'), first);

        const inBatch = storedEvent('acme', 'e-2', { status: 'late' });
        await store.writeEvents([inBatch, storedEvent('acme', 'e-2', { status: 'accepted' })]);
        assert.deepEqual(await store.getEvent('acme', 'e-2'), inBatch);
      }));

    void test('the same event id under another owner is another event', () =>
      withStore(async (store) => {
        await store.writeEvents([storedEvent('acme', 'e-1', { status: 'late' }), storedEvent('beta', 'e-1')]);
        assert.equal((await store.getEvent('acme', 'e-1'))?.status, 'late');
        assert.equal((await store.getEvent('beta', 'e-1'))?.status, 'accepted');
      }));

    void test('empty writes resolve and store nothing', () =>
      withStore(async (store) => {
        await store.writeEvents([]);
        await store.writeRollups([]);
        assert.deepEqual(await store.queryRollups({ owner: 'acme', resolution: '1s', fromMs: 0, toMs: T0_MS * 2, limit: 10 }), []);
      }));

    void test('a batch of 10,000 events is written whole', () =>
      withStore(async (store) => {
        const events = Array.from({ length: 10_000 }, (_, i) => storedEvent('acme', `e-${i}`));
        await store.writeEvents(events);
        for (const i of [0, 1, 4_999, 9_999]) assert.equal((await store.getEvent('acme', `e-${i}`))?.event.id, `e-${i}`);
      }));

    void test('writeRollups upserts by (owner, resolution, startMs): the last write wins', () =>
      withStore(async (store) => {
        await store.writeRollups([rollup('acme', '1m', T0_MS, 1)]);
        await store.writeRollups([rollup('acme', '1m', T0_MS, 5)]);
        const found = await store.queryRollups({ owner: 'acme', resolution: '1m', fromMs: T0_MS, toMs: T0_MS + 1, limit: 10 });
        assert.deepEqual(found, [rollup('acme', '1m', T0_MS, 5)]);
      }));

    void test('queryRollups covers [fromMs, toMs): from included, to excluded', () =>
      withStore(async (store) => {
        const starts = [-1, 0, 1, 2, 3].map((i) => T0_MS + i * 1_000);
        await store.writeRollups(starts.map((start) => rollup('acme', '1s', start)));
        const found = await store.queryRollups({ owner: 'acme', resolution: '1s', fromMs: T0_MS, toMs: T0_MS + 3_000, limit: 100 });
        assert.deepEqual(
          found.map((r) => r.startMs),
          [0, 1, 2].map((i) => T0_MS + i * 1_000),
        );
      }));

    void test('queryRollups returns windows oldest first whatever the write order, and at most limit of them', () =>
      withStore(async (store) => {
        const starts = [5, 1, 9, 3, 7, 2, 8, 0, 6, 4].map((i) => T0_MS + i * 60_000);
        await store.writeRollups(starts.slice(0, 5).map((start) => rollup('acme', '1m', start)));
        await store.writeRollups(starts.slice(5).map((start) => rollup('acme', '1m', start)));
        const all = await store.queryRollups({ owner: 'acme', resolution: '1m', fromMs: 0, toMs: T0_MS * 2, limit: 100 });
        assert.deepEqual(
          all.map((r) => r.startMs),
          [...starts].sort((a, b) => a - b),
        );
        const first3 = await store.queryRollups({ owner: 'acme', resolution: '1m', fromMs: 0, toMs: T0_MS * 2, limit: 3 });
        assert.deepEqual(
          first3.map((r) => r.startMs),
          [0, 1, 2].map((i) => T0_MS + i * 60_000),
        );
        assert.deepEqual(await store.queryRollups({ owner: 'acme', resolution: '1m', fromMs: 0, toMs: T0_MS * 2, limit: 0 }), []);
      }));

    void test('queryRollups with an empty or inverted range is empty', () =>
      withStore(async (store) => {
        await store.writeRollups([rollup('acme', '1s', T0_MS)]);
        assert.deepEqual(await store.queryRollups({ owner: 'acme', resolution: '1s', fromMs: T0_MS, toMs: T0_MS, limit: 10 }), []);
        assert.deepEqual(await store.queryRollups({ owner: 'acme', resolution: '1s', fromMs: T0_MS + 1, toMs: T0_MS, limit: 10 }), []);
      }));

    void test('resolutions and owners are separate: neither other owners nor other resolutions are visible', () =>
      withStore(async (store) => {
        await store.writeRollups([
          rollup('acme', '1s', T0_MS),
          rollup('acme', '1m', T0_MS),
          rollup('acme2', '1s', T0_MS),
          rollup('acm', '1s', T0_MS),
        ]);
        const found = await store.queryRollups({ owner: 'acme', resolution: '1s', fromMs: 0, toMs: T0_MS * 2, limit: 10 });
        assert.deepEqual(found, [rollup('acme', '1s', T0_MS)]);
        assert.deepEqual(await store.queryRollups({ owner: 'other', resolution: '1s', fromMs: 0, toMs: T0_MS * 2, limit: 10 }), []);
      }));

    void test('a rollup keeps names that are JavaScript object keys (`__proto__`) exactly', () =>
      withStore(async (store) => {
        const written = rollup('acme', '1m', T0_MS);
        written.byName = Object.fromEntries([['__proto__', 4], ['constructor', 1]]);
        await store.writeRollups([written]);
        const [read] = await store.queryRollups({ owner: 'acme', resolution: '1m', fromMs: T0_MS, toMs: T0_MS + 1, limit: 1 });
        assert.equal(Object.getOwnPropertyDescriptor(read!.byName, '__proto__')?.value, 4);
        assert.deepEqual(read, written);
      }));

    void test('uniquesSketch comes back as a plain Uint8Array with every byte intact', () =>
      withStore(async (store) => {
        const written = rollup('acme', '1h', T0_MS);
        written.uniquesSketch = sketchBytes(77);
        await store.writeRollups([written]);
        const [read] = await store.queryRollups({ owner: 'acme', resolution: '1h', fromMs: T0_MS, toMs: T0_MS + 1, limit: 1 });
        assert.ok(read !== undefined);
        assert.equal(Object.getPrototypeOf(read.uniquesSketch), Uint8Array.prototype);
        assert.deepEqual(read.uniquesSketch, sketchBytes(77));
      }));
  });
}
