import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  createKey,
  ensureDevKey,
  hashKey,
  KEY_PATTERN,
  KeyVerifier,
  loadOrCreateServerSecret,
  resolveServerSecret,
  revokeKey,
  SERVER_SECRET_FILE,
} from '../../src/auth/keys.js';
import type { KeyRecord, KeyStore } from '../../src/store/port.js';

const NOW_MS = 1_700_000_000_000;
const SECRET = crypto.randomBytes(32);

/** An in-memory KeyStore that counts reads, so tests can tell whether the store was asked. */
class CountingKeyStore implements KeyStore {
  readonly records = new Map<string, KeyRecord>();
  getCount = 0;
  put(record: KeyRecord): Promise<void> {
    this.records.set(record.prefix, structuredClone(record));
    return Promise.resolve();
  }
  getByPrefix(prefix: string): Promise<KeyRecord | undefined> {
    this.getCount += 1;
    const record = this.records.get(prefix);
    return Promise.resolve(record === undefined ? undefined : structuredClone(record));
  }
  list(owner?: string): Promise<KeyRecord[]> {
    return Promise.resolve([...this.records.values()].filter((r) => owner === undefined || r.owner === owner));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'eventide-keys-'));
  dirs.push(dir);
  return dir;
}
void test.after(async () => {
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
  const stored = JSON.stringify([...store.records.values()]);
  assert.ok(!stored.includes(key.slice(13)), 'the secret part of the key must not be stored');
  const second = await createKey(store, SECRET, { owner: 'acme', scopes: ['read'], nowMs: NOW_MS });
  assert.notEqual(second.key, key);
});

void test('verify accepts the key it created, with its owner and scopes', async () => {
  const store = new CountingKeyStore();
  const { key } = await createKey(store, SECRET, { owner: 'acme', scopes: ['ingest'], nowMs: NOW_MS });
  const verified = await new KeyVerifier(store, SECRET).verify(key, NOW_MS);
  assert.deepEqual(verified, { owner: 'acme', scopes: ['ingest'] });
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
  assert.deepEqual(await new KeyVerifier(store, SECRET).verify(key, NOW_MS), { owner: 'dev', scopes: ['ingest', 'read'] });
  assert.equal(await ensureDevKey(store, SECRET, NOW_MS), undefined);
  assert.equal(store.records.size, 1);
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
