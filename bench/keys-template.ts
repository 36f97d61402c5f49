/**
 * A data directory holding one key per owner (`owner-0` .. `owner-<n-1>`,
 * scopes ingest and read), and the keys as a JSON map owner -> key: what
 * bench/ab.sh and bench/solo.sh copy for every server they start, and pass
 * to `eventide bench --keys-file`.
 *
 *   node dist/bench/keys-template.js <data dir> <owners> <keys.json>
 */
import { writeFileSync } from 'node:fs';
import { openKeyStore } from '../src/store/open.js';
import { createKey, loadOrCreateServerSecret } from '../src/auth/keys.js';

/** Keys created at a time: lmdb commits an event turn's puts together (100K owners in seconds, not minutes). */
const CONCURRENCY = 500;

const [dir, ownersText, keysFile] = process.argv.slice(2);
const ownerCount = Number(ownersText);
if (dir === undefined || keysFile === undefined || !Number.isInteger(ownerCount) || ownerCount < 1) {
  console.error('usage: node dist/bench/keys-template.js <data dir> <owners> <keys.json>');
  process.exit(2);
}
const store = await openKeyStore({ dataDir: dir });
const secret = await loadOrCreateServerSecret(dir);
const keys: Record<string, string> = {};
for (let i = 0; i < ownerCount; i += CONCURRENCY) {
  const owners = Array.from({ length: Math.min(CONCURRENCY, ownerCount - i) }, (_, j) => `owner-${i + j}`);
  const created = await Promise.all(owners.map((owner) => createKey(store, secret, { owner, scopes: ['ingest', 'read'], nowMs: Date.now() })));
  owners.forEach((owner, j) => (keys[owner] = created[j]!.key));
}
await store.close();
writeFileSync(keysFile, JSON.stringify(keys));
