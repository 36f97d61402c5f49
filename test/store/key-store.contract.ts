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

    void test('a record whose owner changes leaves the old owner\'s list', () =>
      withStore(async (store) => {
        await store.put(keyRecord('a', 'evt_aaaaaaaa'));
        await store.put(keyRecord('b', 'evt_aaaaaaaa'));
        assert.deepEqual(await store.list('a'), []);
        assert.deepEqual(await store.list('b'), [keyRecord('b', 'evt_aaaaaaaa')]);
      }));
  });
}
