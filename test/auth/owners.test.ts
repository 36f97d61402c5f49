import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LmdbKeyStore } from '../../src/store/lmdb/key-store.js';
import { OwnerDirectory, setOwnerQuota } from '../../src/auth/owners.js';

const NOW_MS = 1_700_000_000_000;

function openStore(t: { after(fn: () => Promise<void> | void): void }): LmdbKeyStore {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'eventide-owners-'));
  const store = new LmdbKeyStore({ path: dir, noSync: true });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

void test('setOwnerQuota creates an owner, then changes its quota, keeping its creation time', async (t) => {
  const store = openStore(t);
  assert.deepEqual(await setOwnerQuota(store, { owner: 'acme' }, NOW_MS), { record: { owner: 'acme', createdAtMs: NOW_MS }, created: true });
  const changed = await setOwnerQuota(store, { owner: 'acme', eventsPerDayMax: 500 }, NOW_MS + 9);
  assert.deepEqual(changed, { record: { owner: 'acme', createdAtMs: NOW_MS, eventsPerDayMax: 500 }, created: false });
  assert.equal((await setOwnerQuota(store, { owner: 'acme' }, NOW_MS + 10)).record.eventsPerDayMax, 500, 'omitted: kept');
  assert.equal((await setOwnerQuota(store, { owner: 'acme', eventsPerDayMax: null }, NOW_MS + 11)).record.eventsPerDayMax, undefined, 'null: dropped');
});

void test('setOwnerQuota refuses bad owners and quotas, naming the field', async (t) => {
  const store = openStore(t);
  for (const owner of ['', 'a b', 7, 'x'.repeat(65)]) {
    await assert.rejects(setOwnerQuota(store, { owner }, NOW_MS), { code: 'EVT_OWNER_INVALID', field: 'owner' });
  }
  for (const eventsPerDayMax of [-1, 1.5, '10', 1e13]) {
    await assert.rejects(setOwnerQuota(store, { owner: 'acme', eventsPerDayMax }, NOW_MS), { code: 'EVT_OWNER_INVALID', field: 'eventsPerDayMax' });
  }
  assert.deepEqual(await store.listOwners(), []);
});

void test('OwnerDirectory answers the owner\'s quota or the default, cached for its TTL and bounded', async (t) => {
  const store = openStore(t);
  await setOwnerQuota(store, { owner: 'big', eventsPerDayMax: 10 }, NOW_MS);
  const directory = new OwnerDirectory(store, { defaultEventsPerDayMax: 100, ttlMs: 1_000, entriesMax: 2 });
  assert.equal(await directory.eventsPerDayMaxOf('big', NOW_MS), 10);
  assert.equal(await directory.eventsPerDayMaxOf('unrecorded', NOW_MS), 100);
  await setOwnerQuota(store, { owner: 'big', eventsPerDayMax: 20 }, NOW_MS);
  assert.equal(await directory.eventsPerDayMaxOf('big', NOW_MS + 999), 10, 'cached within the TTL');
  assert.equal(await directory.eventsPerDayMaxOf('big', NOW_MS + 1_000), 20, 'read again after it');
  assert.equal(directory.lookupCount, 3);
  await directory.eventsPerDayMaxOf('third', NOW_MS + 1_000);
  assert.equal(directory.evictedCount, 1);
});

void test('OwnerDirectory keeps the last known quota while the store cannot answer', async (t) => {
  const store = openStore(t);
  await setOwnerQuota(store, { owner: 'big', eventsPerDayMax: 10 }, NOW_MS);
  const directory = new OwnerDirectory(store, { defaultEventsPerDayMax: 100, ttlMs: 1_000 });
  assert.equal(await directory.eventsPerDayMaxOf('big', NOW_MS), 10);
  await store.close();
  assert.equal(await directory.eventsPerDayMaxOf('big', NOW_MS + 5_000), 10, 'stale, not the default, and no failure');
  assert.equal(await directory.eventsPerDayMaxOf('unknown', NOW_MS + 5_000), 100);
  assert.equal(directory.failedCount, 2);
});
