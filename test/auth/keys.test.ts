import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createKey,
  ensureDevKey,
  hashKey,
  KEY_INGEST_OWNERS_MAX,
  KEY_PATTERN,
  keyView,
  KeyVerifier,
  loadOrCreateServerSecret,
  resolveServerSecret,
  revokeKey,
  rotateKey,
  SERVER_SECRET_FILE,
} from '../../src/auth/keys.js';
import { secretIdOf } from '../../src/auth/secret.js';
import type { KeyPatch, KeyPatchCondition, KeyPatchResult, KeyRecord, KeyStore, OwnerRecord } from '../../src/store/port.js';
import { LmdbKeyStore } from '../../src/store/lmdb/key-store.js';

const dirs: string[] = [];
const stores: LmdbKeyStore[] = [];

const NOW_MS = 1_700_000_000_000;
const SECRET = crypto.randomBytes(32);

/**
 * The real LMDB key store, with its reads counted so tests can tell whether
 * the store was asked. `records` reads what is stored.
 */
class CountingKeyStore implements KeyStore {
  getCount = 0;
  readonly #inner: LmdbKeyStore;
  constructor() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'eventide-keys-store-'));
    dirs.push(dir);
    this.#inner = new LmdbKeyStore({ path: dir, noSync: true });
    stores.push(this.#inner);
  }
  put(record: KeyRecord): Promise<void> {
    return this.#inner.put(record);
  }
  getByPrefix(prefix: string): Promise<KeyRecord | undefined> {
    this.getCount += 1;
    return this.#inner.getByPrefix(prefix);
  }
  list(owner?: string): Promise<KeyRecord[]> {
    return this.#inner.list(owner);
  }
  patchKey(prefix: string, patch: KeyPatch, condition?: KeyPatchCondition): Promise<KeyPatchResult> {
    return this.#inner.patchKey(prefix, patch, condition);
  }
  putOwner(record: OwnerRecord): Promise<void> {
    return this.#inner.putOwner(record);
  }
  getOwner(owner: string): Promise<OwnerRecord | undefined> {
    return this.#inner.getOwner(owner);
  }
  listOwners(): Promise<OwnerRecord[]> {
    return this.#inner.listOwners();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'eventide-keys-'));
  dirs.push(dir);
  return dir;
}
void test.after(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all(dirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

void test('createKey returns a well-formed key once and stores only its HMAC', async () => {
  const store = new CountingKeyStore();
  const { key, record } = await createKey(store, SECRET, { owner: 'acme', scopes: ['read', 'ingest'], nowMs: NOW_MS });
  assert.match(key, KEY_PATTERN);
  assert.equal(record.prefix, key.slice(0, 12));
  assert.equal(record.hash, hashKey(SECRET, key));
  assert.deepEqual(record.scopes, ['ingest', 'read']);
  assert.equal(record.createdAtMs, NOW_MS);
  const stored = JSON.stringify(await store.list());
  assert.ok(!stored.includes(key.slice(13)), 'the secret part of the key must not be stored');
  const second = await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS });
  assert.notEqual(second.key, key);
});

void test('verify accepts the key it created, with its owner and scopes', async () => {
  const store = new CountingKeyStore();
  const { key } = await createKey(store, SECRET, { owner: 'acme', scopes: ['ingest'], nowMs: NOW_MS });
  const verified = await new KeyVerifier(store, SECRET).verify(key, NOW_MS);
  assert.deepEqual(verified, { owner: 'acme', scopes: ['ingest'], prefix: key.slice(0, 12) });
});

void test('a verifier with another server secret, or a key with one character changed, fails', async () => {
  const store = new CountingKeyStore();
  const { key } = await createKey(store, SECRET, { owner: 'acme', scopes: ['ingest'], nowMs: NOW_MS });
  assert.equal(await new KeyVerifier(store, crypto.randomBytes(32)).verify(key, NOW_MS), undefined);
  const last = key.at(-1) === 'a' ? 'b' : 'a';
  assert.equal(await new KeyVerifier(store, SECRET).verify(key.slice(0, -1) + last, NOW_MS), undefined);
});

void test('a revoked key fails, and a cached one stops working once the cache TTL has passed', async () => {
  const store = new CountingKeyStore();
  const { key, record } = await createKey(store, SECRET, { owner: 'acme', scopes: ['ingest'], nowMs: NOW_MS });
  const verifier = new KeyVerifier(store, SECRET, { cacheTtlMs: 1_000 });
  assert.ok(await verifier.verify(key, NOW_MS));
  await revokeKey(store, record.prefix, NOW_MS + 100);
  // Within the TTL the cached answer stands: the documented window of a revocation.
  assert.ok(await verifier.verify(key, NOW_MS + 999));
  assert.equal(await verifier.verify(key, NOW_MS + 1_000), undefined);
  assert.equal(await new KeyVerifier(store, SECRET).verify(key, NOW_MS + 100), undefined);
  assert.equal(await revokeKey(store, 'evt_00000000', NOW_MS), undefined);
});

void test('an expired key fails at its expiry even while cached', async () => {
  const store = new CountingKeyStore();
  const { key } = await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS, expiresAtMs: NOW_MS + 500 });
  const verifier = new KeyVerifier(store, SECRET, { cacheTtlMs: 1_000 });
  assert.ok(await verifier.verify(key, NOW_MS));
  assert.ok(await verifier.verify(key, NOW_MS + 499));
  assert.equal(await verifier.verify(key, NOW_MS + 500), undefined);
});

void test('answers are cached for the TTL, the good and the bad alike', async () => {
  const store = new CountingKeyStore();
  const { key } = await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS });
  const unknown = `evt_ZZZZZZZZ_${'z'.repeat(32)}`;
  const verifier = new KeyVerifier(store, SECRET, { cacheTtlMs: 1_000 });
  store.getCount = 0;
  for (let i = 0; i < 3; i++) {
    assert.ok(await verifier.verify(key, NOW_MS + i));
    assert.equal(await verifier.verify(unknown, NOW_MS + i), undefined);
  }
  assert.equal(store.getCount, 2);
  assert.equal(verifier.cacheHitCount, 4);
  await verifier.verify(unknown, NOW_MS + 1_000);
  assert.equal(store.getCount, 3);
});

void test('the caches are bounded: the least recently used entry is evicted and counted', async () => {
  const store = new CountingKeyStore();
  const keys: string[] = [];
  for (let i = 0; i < 3; i++) keys.push((await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS })).key);
  const verifier = new KeyVerifier(store, SECRET, { cacheEntriesMax: 2, negativeCacheEntriesMax: 1 });
  await verifier.verify(keys[0]!, NOW_MS);
  await verifier.verify(keys[1]!, NOW_MS);
  await verifier.verify(keys[0]!, NOW_MS); // keys[0] is now the most recently used
  await verifier.verify(keys[2]!, NOW_MS); // evicts keys[1]
  assert.equal(verifier.evictedCount, 1);
  store.getCount = 0;
  await verifier.verify(keys[0]!, NOW_MS);
  assert.equal(store.getCount, 0);
  await verifier.verify(keys[1]!, NOW_MS);
  assert.equal(store.getCount, 1);
  await verifier.verify(`evt_AAAAAAAA_${'a'.repeat(32)}`, NOW_MS);
  await verifier.verify(`evt_BBBBBBBB_${'b'.repeat(32)}`, NOW_MS);
  assert.equal(verifier.cacheSize, 3);
  assert.equal(verifier.evictedCount, 3);
});

void test('malformed keys are refused without a store lookup', async () => {
  const store = new CountingKeyStore();
  const verifier = new KeyVerifier(store, SECRET);
  const malformed = [
    '',
    'evt_',
    `evk_AAAAAAAA_${'a'.repeat(32)}`,
    `evt_AAAAAAA_${'a'.repeat(33)}`,
    `evt_AAAAAAAA_${'a'.repeat(31)}`,
    `evt_AAAAAAAA_${'a'.repeat(32)}x`,
    `evt_AAAA-AAA_${'a'.repeat(32)}`,
    `evt_AAAAAAAA_${'a'.repeat(31)}=`,
    ` evt_AAAAAAAA_${'a'.repeat(31)}`,
    42 as unknown as string,
  ];
  for (const key of malformed) assert.equal(await verifier.verify(key, NOW_MS), undefined, JSON.stringify(key));
  assert.equal(store.getCount, 0);
  assert.equal(verifier.malformedCount, malformed.length);
});

void test('createKey refuses bad owners, scopes and expiries, naming the field', async () => {
  const store = new CountingKeyStore();
  for (const owner of ['', 'a b', 'x'.repeat(65), 'ünï', 'a/b']) {
    await assert.rejects(createKey(store, SECRET, { owner, scopes: ['read'], nowMs: NOW_MS }), { code: 'EVT_KEY_INVALID', field: 'owner' });
  }
  assert.ok(await createKey(store, SECRET, { owner: 'A-z_0.9', scopes: ['read'], nowMs: NOW_MS }));
  assert.ok(await createKey(store, SECRET, { owner: 'x'.repeat(64), scopes: ['read'], nowMs: NOW_MS }));
  for (const scopes of [[], ['root'], ['read', 'root']]) {
    await assert.rejects(createKey(store, SECRET, { owner: 'acme', scopes: scopes as never, nowMs: NOW_MS }), { field: 'scopes' });
  }
  await assert.rejects(createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS, expiresAtMs: NOW_MS }), { field: 'expiresAtMs' });
});

void test('ensureDevKey creates an ingest+read key for owner dev only when no key exists', async () => {
  const store = new CountingKeyStore();
  const key = await ensureDevKey(store, SECRET, NOW_MS);
  assert.ok(key !== undefined);
  assert.deepEqual(await new KeyVerifier(store, SECRET).verify(key, NOW_MS), { owner: 'dev', scopes: ['ingest', 'read'], prefix: key.slice(0, 12) });
  assert.equal(await ensureDevKey(store, SECRET, NOW_MS), undefined);
  assert.equal((await store.list()).length, 1);
});

void test('loadOrCreateServerSecret creates 32 bytes with mode 0600 once, then reads them back', async () => {
  const dir = path.join(await tempDir(), 'nested');
  const first = await loadOrCreateServerSecret(dir);
  assert.equal(first.length, 32);
  const file = path.join(dir, SERVER_SECRET_FILE);
  if (process.platform !== 'win32') assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await loadOrCreateServerSecret(dir), first);
  assert.deepEqual((await fs.readdir(dir)).sort(), [SERVER_SECRET_FILE]);
});

void test('concurrent first starts on one dataDir agree on one secret', async () => {
  const dir = await tempDir();
  const secrets = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateServerSecret(dir)));
  for (const secret of secrets) assert.deepEqual(secret, secrets[0]);
  assert.deepEqual(await fs.readdir(dir), [SERVER_SECRET_FILE]);
});

void test('a server secret of the wrong size or readable by others is refused', async () => {
  const dir = await tempDir();
  const file = path.join(dir, SERVER_SECRET_FILE);
  await fs.writeFile(file, Buffer.alloc(16), { mode: 0o600 });
  await assert.rejects(loadOrCreateServerSecret(dir), { code: 'EVT_SERVER_SECRET_INVALID' });
  if (process.platform !== 'win32') {
    await fs.writeFile(file, Buffer.alloc(32));
    await fs.chmod(file, 0o644);
    await assert.rejects(loadOrCreateServerSecret(dir), /chmod 600/);
  }
});

void test('resolveServerSecret prefers the configured keySecret and then writes no file', async () => {
  const dir = await tempDir();
  const configured = await resolveServerSecret({ keySecret: 's'.repeat(32), dataDir: dir });
  assert.deepEqual(Buffer.from(configured), Buffer.from('s'.repeat(32)));
  assert.deepEqual(await fs.readdir(dir), []);
  assert.equal((await resolveServerSecret({ keySecret: '', dataDir: dir })).length, 32);
});

void test('createKey records the owner once, and the id of the secret it hashed with', async () => {
  const store = new CountingKeyStore();
  const { record } = await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS });
  await createKey(store, SECRET, { owner: 'acme', scopes: ['ingest'], nowMs: NOW_MS + 5 });
  assert.equal(record.secretId, secretIdOf(SECRET));
  assert.deepEqual(await store.listOwners(), [{ owner: 'acme', createdAtMs: NOW_MS }]);
});

void test('a multi-owner ingest key is explicit: ingestOwners needs the ingest scope, names owners or "*" alone', async () => {
  const store = new CountingKeyStore();
  const some = await createKey(store, SECRET, { owner: 'hub', scopes: ['ingest'], nowMs: NOW_MS, ingestOwners: ['b', 'a', 'hub', 'a'] });
  assert.deepEqual(some.record.ingestOwners, ['a', 'b'], 'sorted, deduplicated, without the own owner');
  const any = await createKey(store, SECRET, { owner: 'hub', scopes: ['ingest'], nowMs: NOW_MS, ingestOwners: ['*'] });
  assert.deepEqual(any.record.ingestOwners, ['*']);
  assert.deepEqual((await new KeyVerifier(store, SECRET).verify(some.key, NOW_MS))?.ingestOwners, ['a', 'b']);
  const refused: Array<[unknown, string]> = [
    [[], 'ingestOwners'],
    [['*', 'a'], 'ingestOwners'],
    [['hub'], 'ingestOwners'],
    [['ok', 'not ok'], 'ingestOwners/1'],
    [Array.from({ length: KEY_INGEST_OWNERS_MAX + 1 }, (_, i) => `o${i}`), 'ingestOwners'],
  ];
  for (const [ingestOwners, field] of refused) {
    await assert.rejects(
      createKey(store, SECRET, { owner: 'hub', scopes: ['ingest'], nowMs: NOW_MS, ingestOwners: ingestOwners as string[] }),
      { code: 'EVT_KEY_INVALID', field },
    );
  }
  await assert.rejects(createKey(store, SECRET, { owner: 'hub', scopes: ['read'], nowMs: NOW_MS, ingestOwners: ['a'] }), {
    code: 'EVT_KEY_INVALID',
    field: 'ingestOwners',
  });
});

void test('keyView shows state and fields but never a hash', async () => {
  const store = new CountingKeyStore();
  const { record } = await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS, expiresAtMs: NOW_MS + 10 });
  const view = keyView(record, NOW_MS);
  assert.equal(view.state, 'active');
  assert.equal(keyView(record, NOW_MS + 10).state, 'expired');
  assert.ok(!JSON.stringify(view).includes(record.hash));
  assert.equal((view as unknown as Record<string, unknown>).hash, undefined);
});

void test('rotateKey makes a successor with the same rights; the old key works through the overlap, then not', async () => {
  const store = new CountingKeyStore();
  const old = await createKey(store, SECRET, { owner: 'acme', scopes: ['ingest', 'read'], nowMs: NOW_MS, ingestOwners: ['beta'] });
  const rotated = await rotateKey(store, SECRET, old.record.prefix, NOW_MS + 100, 1_000);
  assert.ok(rotated !== undefined);
  assert.deepEqual(rotated.record.scopes, ['ingest', 'read']);
  assert.deepEqual(rotated.record.ingestOwners, ['beta']);
  assert.equal(rotated.record.rotatedFrom, old.record.prefix);
  assert.equal(rotated.previous.rotatedTo, rotated.record.prefix);
  assert.equal(rotated.previous.expiresAtMs, NOW_MS + 1_100);
  const verifier = new KeyVerifier(store, SECRET, { cacheTtlMs: 0 });
  assert.ok(await verifier.verify(old.key, NOW_MS + 1_099));
  assert.ok(await verifier.verify(rotated.key, NOW_MS + 1_099));
  assert.equal(await verifier.verify(old.key, NOW_MS + 1_100), undefined);
  assert.ok(await verifier.verify(rotated.key, NOW_MS + 5_000));
});

void test('rotateKey keeps an earlier expiry, refuses inactive keys and bad overlaps, and answers undefined for no key', async () => {
  const store = new CountingKeyStore();
  const short = await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS, expiresAtMs: NOW_MS + 50 });
  const rotated = await rotateKey(store, SECRET, short.record.prefix, NOW_MS, 1_000);
  assert.equal(rotated?.previous.expiresAtMs, NOW_MS + 50);
  assert.equal(rotated?.record.expiresAtMs, NOW_MS + 50, 'the successor does not outlive what the old key had');
  await assert.rejects(rotateKey(store, SECRET, short.record.prefix, NOW_MS, 1_000), { code: 'EVT_KEY_INACTIVE' });
  const revoked = await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS });
  await revokeKey(store, revoked.record.prefix, NOW_MS);
  await assert.rejects(rotateKey(store, SECRET, revoked.record.prefix, NOW_MS, 1_000), { code: 'EVT_KEY_INACTIVE' });
  for (const overlap of [-1, 1.5, 31 * 86_400_000]) {
    await assert.rejects(rotateKey(store, SECRET, revoked.record.prefix, NOW_MS, overlap), { code: 'EVT_KEY_INVALID', field: 'overlapMs' });
  }
  assert.equal(await rotateKey(store, SECRET, 'evt_00000000', NOW_MS, 0), undefined);
});

void test('a rotation racing a revocation never leaves the revoked key or a second live successor', async () => {
  const store = new CountingKeyStore();
  for (let round = 0; round < 20; round++) {
    const { key, record } = await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS });
    const [rotation] = await Promise.allSettled([rotateKey(store, SECRET, record.prefix, NOW_MS, 60_000), revokeKey(store, record.prefix, NOW_MS)]);
    const verifier = new KeyVerifier(store, SECRET, { cacheTtlMs: 0 });
    assert.equal(await verifier.verify(key, NOW_MS + 1), undefined, `round ${round}: the revoked key stays revoked`);
    const live = (await store.list('acme')).filter((r) => r.rotatedFrom === record.prefix && r.revokedAtMs === undefined);
    if (rotation.status === 'fulfilled') assert.equal(live.length, 1, `round ${round}: one successor`);
    else assert.equal(live.length, 0, `round ${round}: a refused rotation leaves no live successor`);
  }
});

void test('with a previous secret, old keys work and are re-hashed; processes on either secret keep working', async () => {
  const store = new CountingKeyStore();
  const oldSecret = crypto.randomBytes(32);
  const newSecret = crypto.randomBytes(32);
  const used = await createKey(store, oldSecret, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS });
  const unused = await createKey(store, oldSecret, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS });
  const rotated = new KeyVerifier(store, { current: newSecret, previous: oldSecret }, { cacheTtlMs: 0 });
  assert.ok(await rotated.verify(used.key, NOW_MS));
  // The re-hash is written in the background, off the request's path.
  await rotated.settled();
  assert.equal(rotated.migratedCount, 1);
  const migrated = await store.getByPrefix(used.record.prefix);
  assert.equal(migrated?.hash, hashKey(newSecret, used.key));
  assert.equal(migrated?.hashPrevious, hashKey(oldSecret, used.key));
  assert.equal(migrated?.secretId, secretIdOf(newSecret));
  // A process not yet restarted (old secret only) and one past the rotation (new only) both accept it.
  assert.ok(await new KeyVerifier(store, oldSecret).verify(used.key, NOW_MS));
  assert.ok(await new KeyVerifier(store, newSecret).verify(used.key, NOW_MS));
  // A key nobody used during the rotation still carries the old hash: it stops once the old secret is dropped.
  assert.equal((await store.getByPrefix(unused.record.prefix))?.secretId, secretIdOf(oldSecret));
  assert.equal(await new KeyVerifier(store, newSecret).verify(unused.key, NOW_MS), undefined);
  assert.ok(await new KeyVerifier(store, { current: newSecret, previous: oldSecret }).verify(unused.key, NOW_MS));
});

void test('a revoked key stays revoked through a secret rotation (the re-hash does not touch it)', async () => {
  const store = new CountingKeyStore();
  const oldSecret = crypto.randomBytes(32);
  const newSecret = crypto.randomBytes(32);
  const { key, record } = await createKey(store, oldSecret, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS });
  await revokeKey(store, record.prefix, NOW_MS + 1);
  const verifier = new KeyVerifier(store, { current: newSecret, previous: oldSecret }, { cacheTtlMs: 0 });
  assert.equal(await verifier.verify(key, NOW_MS + 2), undefined);
  assert.equal((await store.getByPrefix(record.prefix))?.revokedAtMs, NOW_MS + 1);
});

void test('revokeKey keeps the earliest revocation time', async () => {
  const store = new CountingKeyStore();
  const { record } = await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS });
  assert.equal((await revokeKey(store, record.prefix, NOW_MS + 5))?.revokedAtMs, NOW_MS + 5);
  assert.equal((await revokeKey(store, record.prefix, NOW_MS + 9))?.revokedAtMs, NOW_MS + 5);
});
