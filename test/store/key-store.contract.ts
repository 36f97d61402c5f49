/**
 * The KeyStore contract, run against every adapter. Each test opens a fresh,
 * empty store through `open`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyStore } from '../../src/store/port.js';
import { keyRecord, T0_MS } from './samples.js';

export interface OpenedKeyStore {
  store: KeyStore;
  close(): Promise<void>;
}

export function keyStoreContract(name: string, open: () => Promise<OpenedKeyStore>): void {
  async function withStore(body: (store: KeyStore) => Promise<void>): Promise<void> {
    const opened = await open();
    try {
      await body(opened.store);
    } finally {
      await opened.close();
    }
  }

  void describe(`KeyStore contract: ${name}`, () => {
    void test('getByPrefix returns the record as written, optional fields absent or present', () =>
      withStore(async (store) => {
        const plain = keyRecord('acme', 'evt_aaaaaaaa');
        const full = keyRecord('acme', 'evt_bbbbbbbb', { scopes: ['admin'], expiresAtMs: T0_MS + 10, revokedAtMs: T0_MS + 5 });
        await store.put(plain);
        await store.put(full);
        assert.deepEqual(await store.getByPrefix('evt_aaaaaaaa'), plain);
        assert.deepEqual(await store.getByPrefix('evt_bbbbbbbb'), full);
        assert.equal(await store.getByPrefix('evt_cccccccc'), undefined);
      }));

    void test('put replaces the record with the same prefix (revocation)', () =>
      withStore(async (store) => {
        await store.put(keyRecord('acme', 'evt_aaaaaaaa'));
        const revoked = keyRecord('acme', 'evt_aaaaaaaa', { revokedAtMs: T0_MS + 1 });
        await store.put(revoked);
        assert.deepEqual(await store.getByPrefix('evt_aaaaaaaa'), revoked);
        assert.deepEqual(await store.list('acme'), [revoked]);
      }));

    void test('list(owner) lists only that owner\'s keys; list() lists all', () =>
      withStore(async (store) => {
        const records = [
          keyRecord('dev', 'evt_00000002'),
          keyRecord('dev', 'evt_00000001'),
          keyRecord('dev2', 'evt_00000003'),
          keyRecord('de', 'evt_00000004'),
        ];
        for (const record of records) await store.put(record);
        const dev = await store.list('dev');
        assert.deepEqual(dev.map((r) => r.prefix).sort(), ['evt_00000001', 'evt_00000002']);
        assert.deepEqual(await store.list('nobody'), []);
        const all = await store.list();
        assert.deepEqual(all.map((r) => r.prefix).sort(), records.map((r) => r.prefix).sort());
      }));

    void test('every optional field round-trips; a record carries nothing it was not given', () =>
      withStore(async (store) => {
        const full = keyRecord('acme', 'evt_ffffffff', {
          scopes: ['ingest'],
          ingestOwners: ['beta', 'gamma'],
          rotatedTo: 'evt_gggggggg',
          rotatedFrom: 'evt_eeeeeeee',
          secretId: '0123456789abcdef',
          hashPrevious: 'cd'.repeat(32),
          expiresAtMs: T0_MS + 9,
        });
        await store.put(full);
        assert.deepEqual(await store.getByPrefix('evt_ffffffff'), full);
        assert.deepEqual(await store.list('acme'), [full]);
      }));

    void test('patchKey sets only the given fields and answers the stored record', () =>
      withStore(async (store) => {
        const record = keyRecord('acme', 'evt_aaaaaaaa', { expiresAtMs: T0_MS + 100 });
        await store.put(record);
        const result = await store.patchKey('evt_aaaaaaaa', { revokedAtMs: T0_MS + 1 });
        assert.equal(result.applied, true);
        assert.deepEqual(result.record, { ...record, revokedAtMs: T0_MS + 1 });
        assert.deepEqual(await store.getByPrefix('evt_aaaaaaaa'), { ...record, revokedAtMs: T0_MS + 1 });
        assert.deepEqual(await store.patchKey('evt_nothere', { revokedAtMs: T0_MS }), { record: undefined, applied: false });
      }));

    void test('patchKey with a condition that does not hold writes nothing', () =>
      withStore(async (store) => {
        const record = keyRecord('acme', 'evt_aaaaaaaa', { revokedAtMs: T0_MS });
        await store.put(record);
        const rotate = await store.patchKey('evt_aaaaaaaa', { rotatedTo: 'evt_bbbbbbbb', expiresAtMs: T0_MS + 5 }, { absent: ['revokedAtMs', 'rotatedTo'] });
        assert.deepEqual(rotate, { record, applied: false });
        const migrate = await store.patchKey('evt_aaaaaaaa', { hash: 'ef'.repeat(32) }, { hash: 'no'.repeat(32) });
        assert.equal(migrate.applied, false);
        assert.deepEqual(await store.getByPrefix('evt_aaaaaaaa'), record);
        const matching = await store.patchKey('evt_aaaaaaaa', { hash: 'ef'.repeat(32), hashPrevious: record.hash }, { hash: record.hash });
        assert.equal(matching.applied, true);
        assert.equal(matching.record?.hash, 'ef'.repeat(32));
        assert.equal(matching.record?.revokedAtMs, T0_MS);
      }));

    void test('concurrent patches of different fields all land (no lost update)', () =>
      withStore(async (store) => {
        const prefixes = Array.from({ length: 20 }, (_, i) => `evt_c${String(i).padStart(7, '0')}`);
        for (const prefix of prefixes) await store.put(keyRecord('acme', prefix));
        await Promise.all(
          prefixes.flatMap((prefix) => [
            store.patchKey(prefix, { expiresAtMs: T0_MS + 10 }, { absent: ['rotatedTo'] }),
            store.patchKey(prefix, { revokedAtMs: T0_MS + 1 }),
            store.patchKey(prefix, { secretId: 'feedfeedfeedfeed' }),
          ]),
        );
        for (const prefix of prefixes) {
          const record = await store.getByPrefix(prefix);
          assert.equal(record?.revokedAtMs, T0_MS + 1, prefix);
          assert.equal(record?.expiresAtMs, T0_MS + 10, prefix);
          assert.equal(record?.secretId, 'feedfeedfeedfeed', prefix);
        }
      }));

    void test('owners: putOwner replaces, getOwner reads, listOwners lists by id', () =>
      withStore(async (store) => {
        assert.equal(await store.getOwner('acme'), undefined);
        assert.deepEqual(await store.listOwners(), []);
        await store.putOwner({ owner: 'zeta', createdAtMs: T0_MS });
        await store.putOwner({ owner: 'acme', createdAtMs: T0_MS, eventsPerDayMax: 1_000 });
        await store.putOwner({ owner: 'acme', createdAtMs: T0_MS, eventsPerDayMax: 0 });
        assert.deepEqual(await store.getOwner('acme'), { owner: 'acme', createdAtMs: T0_MS, eventsPerDayMax: 0 });
        assert.deepEqual(await store.getOwner('zeta'), { owner: 'zeta', createdAtMs: T0_MS });
        assert.deepEqual(
          (await store.listOwners()).map((o) => o.owner),
          ['acme', 'zeta'],
        );
      }));

    void test('a record whose owner changes leaves the old owner\'s list', () =>
      withStore(async (store) => {
        await store.put(keyRecord('a', 'evt_aaaaaaaa'));
        await store.put(keyRecord('b', 'evt_aaaaaaaa'));
        assert.deepEqual(await store.list('a'), []);
        assert.deepEqual(await store.list('b'), [keyRecord('b', 'evt_aaaaaaaa')]);
      }));
  });
}
