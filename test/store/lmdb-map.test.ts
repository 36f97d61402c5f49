/**
 * The LMDB map is reserved once (src/store/lmdb/env.ts, LMDB_MAP_BYTES):
 * lmdb-js grows a small map by mapping the file again and keeps the old
 * mapping (and the pages it read) resident, so a growing store held the
 * file in RSS several times over. Counted in /proc/self/smaps (Linux).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { open } from 'lmdb';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';
import { addressSpaceLimitBytes, LMDB_DBS_MAX, LMDB_MAP_BYTES, lmdbMapBytes } from '../../src/store/lmdb/env.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers.js';
import { storedEvent } from './samples.js';

/** Mappings of `file` in this process. */
function mappingsOf(file: string): number {
  return fs.readFileSync('/proc/self/smaps', 'utf8').split('\n').filter((line) => /^[0-9a-f]+-[0-9a-f]+ /.test(line) && line.trimEnd().endsWith(file)).length;
}

const EVENTS = 4_000;
/** Several MiB (random, so compression does not shrink it): lmdb-js's default map (128 KiB, doubled when full) would grow many times. */
const PAD_CHARS = 1_000;

function events(prefix: string) {
  return Array.from({ length: EVENTS }, (_, i) => storedEvent(`owner-${i % 13}`, `${prefix}-${i}`, {}))
    .map((stored, i) => ({ ...stored, event: { ...stored.event, properties: { pad: randomBytes(PAD_CHARS / 2).toString('hex'), i } } }));
}

void test('the store maps data.mdb once, however much it writes', { skip: !fs.existsSync('/proc/self/smaps') && 'no /proc/self/smaps' }, async (t) => {
  const dir = tempDir(t, 'eventide-lmdb-map-');
  const store = new LmdbEventStore({ path: dir, noSync: true });
  t.after(() => store.close());
  for (let round = 0; round < 4; round++) await store.writeEvents(events(`r${round}`));
  const file = path.join(dir, 'data.mdb');
  assert.ok(fs.statSync(file).size > 4 * 1024 * 1024, 'the file grew past a few MiB');
  assert.equal(mappingsOf(file), 1);
  const root = open({ path: dir, maxDbs: LMDB_DBS_MAX, readOnly: true });
  t.after(() => root.close());
  assert.ok((root.getStats() as { mapSize: number }).mapSize >= LMDB_MAP_BYTES);
});

void test('(why) lmdb-js with its default map keeps each outgrown mapping', { skip: !fs.existsSync('/proc/self/smaps') && 'no /proc/self/smaps' }, async (t) => {
  const dir = tempDir(t, 'eventide-lmdb-map-default-');
  const root = open({ path: dir, maxDbs: 2, noSync: true });
  t.after(() => root.close());
  const db = root.openDB({ name: 'values' });
  for (let round = 0; round < 4; round++) {
    await db.transaction(() => {
      for (let i = 0; i < 1_000; i++) void db.put([round, i], 'x'.repeat(PAD_CHARS));
    });
  }
  assert.ok(mappingsOf(path.join(dir, 'data.mdb')) > 1, 'lmdb-js now unmaps an outgrown map: LMDB_MAP_BYTES may no longer be needed');
});

void test('under an address-space limit the map is a quarter of it', () => {
  assert.equal(lmdbMapBytes(undefined), LMDB_MAP_BYTES);
  assert.equal(lmdbMapBytes(16_384_000_000), 4_096_000_000);
  assert.equal(lmdbMapBytes(16_384_100_000), 4_096_000_000);
  assert.equal(lmdbMapBytes(1024 ** 4), LMDB_MAP_BYTES);
  const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax address space         16384000000          unlimited            bytes\n';
  assert.equal(addressSpaceLimitBytes(limits), 16_384_000_000);
  assert.equal(addressSpaceLimitBytes(limits.replace('16384000000 ', 'unlimited   ')), undefined);
});

void test('a process under `ulimit -v` opens and writes the store (a 64 GiB map would kill it)', { skip: !fs.existsSync('/proc/self/limits') && 'no /proc/self/limits' }, (t) => {
  const dir = tempDir(t, 'eventide-lmdb-ulimit-');
  const store = fileURLToPath(new URL('../../src/store/lmdb/event-store.js', import.meta.url));
  const script = `import { LmdbEventStore } from ${JSON.stringify(store)};
    const s = new LmdbEventStore({ path: ${JSON.stringify(dir)}, noSync: true });
    await s.writeEvents([{ owner: 'o', shard: 1, status: 'accepted', event: { id: 'e1', name: 'n', timestampMs: 1, clientTimestampMs: 1, receivedAtMs: 1, tags: [], properties: {} } }]);
    console.log(JSON.stringify(await s.getEvent('o', 'e1')));
    await s.close();`;
  const result = spawnSync('bash', ['-c', 'ulimit -v 16000000 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { encoding: 'utf8' });
  assert.equal(result.signal, null, `killed by ${result.signal}: ${result.stderr}`);
  assert.equal(result.status, 0, result.stderr);
  assert.equal((JSON.parse(result.stdout) as { event: { id: string } }).event.id, 'e1');
});
