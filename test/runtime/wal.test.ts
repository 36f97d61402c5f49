/**
 * The write-ahead log on a real file system: records round-trip with their
 * positions, group commit releases waiters, a torn or corrupt tail is cut and
 * reported, segments roll over and are trimmed only below a safe position,
 * and a write that fails with ENOSPC (a segment that is /dev/full) fails its
 * waiters, leaves no partial record behind and succeeds once the disk does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { listEpochs, logDir, nextEpoch, readLog, WalWriter, type LogDamage, type WalRecord } from '../../src/runtime/wal.js';
import { tempDir } from '../helpers.js';

function record(i: number, bodyBytes = 100): WalRecord {
  return {
    shard: i % 1024,
    owner: `owner-${i % 7}`,
    format: i % 2 === 0 ? 'json' : 'msgpack',
    encoding: i % 3 === 0 ? 'gzip' : 'identity',
    receiptsAll: i % 5 === 0,
    nowMs: 1_700_000_000_000 + i,
    receivedAtMs: 1_700_000_000_000 + i - 1,
    requestId: i % 4 === 0 ? undefined : `req-${i}`,
    body: Buffer.alloc(bodyBytes, i % 251),
  };
}

function readAll(dir: string, damaged: LogDamage[] = []) {
  return [...readLog(dir, 1 << 26, (d) => damaged.push(d))].flat();
}

test('records come back in order with their fields and positions', async (t) => {
  const root = tempDir(t);
  const wal = new WalWriter({ root, epoch: 5, worker: 1, segmentBytesMax: 1 << 20, syncIntervalMs: 1 });
  const ends: number[] = [];
  for (let i = 0; i < 50; i++) ends.push(wal.append(record(i, 10 + i)));
  await wal.whenSynced(ends.at(-1)!);
  assert.equal(wal.syncedLsn, ends.at(-1));
  await wal.close();
  const read = readAll(logDir(root, 5, 1));
  assert.equal(read.length, 50);
  for (let i = 0; i < 50; i++) {
    const { lsn, endLsn, body, ...rest } = read[i]!;
    const { body: expectedBody, ...expected } = record(i, 10 + i);
    assert.deepEqual(rest, expected);
    assert.deepEqual(Buffer.from(body), expectedBody);
    assert.equal(endLsn, ends[i]);
    assert.equal(lsn, i === 0 ? 0 : ends[i - 1]);
  }
});

test('one sync covers many appends (group commit)', async (t) => {
  const root = tempDir(t);
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 20 });
  const waits = [];
  for (let i = 0; i < 100; i++) waits.push(wal.whenSynced(wal.append(record(i))));
  await Promise.all(waits);
  assert.ok(wal.stats().syncs <= 2, `syncs: ${wal.stats().syncs}`);
  await wal.close();
});

test('a torn last record is cut on read and appending continues after the last good one', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  let wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1 });
  let end = 0;
  for (let i = 0; i < 10; i++) end = wal.append(record(i));
  await wal.whenSynced(end);
  await wal.close();
  const [file] = fs.readdirSync(dir);
  const full = path.join(dir, file!);
  // A crash in the middle of the last write: half a record at the end.
  const size = fs.statSync(full).size;
  fs.truncateSync(full, size - 40);
  const damaged: LogDamage[] = [];
  const read = readAll(dir, damaged);
  assert.equal(read.length, 9);
  assert.equal(damaged.length, 1);
  assert.match(damaged[0]!.damage, /torn/);
  assert.equal(fs.statSync(full).size, read.at(-1)!.endLsn);
  wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1 });
  assert.equal(wal.appendedLsn, read.at(-1)!.endLsn);
  await wal.whenSynced(wal.append(record(99)));
  await wal.close();
  const again = readAll(dir);
  assert.equal(again.length, 10);
  assert.equal(again.at(-1)!.nowMs, record(99).nowMs);
});

test('a flipped byte fails the checksum: the segment is cut there, later segments are still read', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1 });
  let end = 0;
  // ~1.2 MiB in 100 KiB records: two segments.
  for (let i = 0; i < 12; i++) end = wal.append(record(i, 100 * 1024));
  await wal.whenSynced(end);
  await wal.close();
  const files = fs.readdirSync(dir).sort();
  assert.equal(files.length, 2);
  const first = path.join(dir, files[0]!);
  const bytes = fs.readFileSync(first);
  const perRecord = bytes.length / 10;
  bytes[Math.floor(perRecord * 3.5)]! ^= 0xff; // inside the fourth record
  fs.writeFileSync(first, bytes);
  const damaged: LogDamage[] = [];
  const read = readAll(dir, damaged);
  assert.equal(damaged.length, 1);
  assert.match(damaged[0]!.damage, /checksum/);
  assert.equal(read.length, 3 + 2);
  assert.deepEqual(read.map((r) => r.nowMs), [0, 1, 2, 10, 11].map((i) => record(i).nowMs));
});

test('segments roll over at the size limit and are trimmed only below the safe position', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1 });
  const ends: number[] = [];
  for (let i = 0; i < 35; i++) ends.push(wal.append(record(i, 100 * 1024)));
  await wal.whenSynced(ends.at(-1)!);
  assert.equal(fs.readdirSync(dir).length, 4);
  assert.equal(wal.retainedBytes, ends.at(-1));
  // Safe up to the middle of the second segment: only the first goes.
  assert.equal(await wal.trimBefore(ends[14]!), 1);
  assert.equal(fs.readdirSync(dir).length, 3);
  // Everything is safe: all but the segment being appended to go.
  assert.equal(await wal.trimBefore(ends.at(-1)!), 2);
  assert.equal(fs.readdirSync(dir).length, 1);
  assert.ok(wal.retainedBytes < 1 << 20);
  await wal.close();
  assert.deepEqual(readAll(dir).map((r) => r.nowMs), [30, 31, 32, 33, 34].map((i) => record(i).nowMs));
});

test('ENOSPC: waiters fail with EVT_WAL_WRITE, no partial record stays, and the records are written once the disk takes them', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1 });
  const first = wal.append(record(0));
  await wal.whenSynced(first);
  // The next segment is a full disk: a real ENOSPC from the kernel.
  const nextFile = path.join(dir, first.toString(16).padStart(16, '0') + '.wal');
  const big = record(1, 1 << 20); // does not fit the first segment: goes to the next one
  fs.symlinkSync('/dev/full', nextFile);
  const end = wal.append(big);
  await assert.rejects(wal.whenSynced(end), (err: Error & { code?: string }) => err.code === 'EVT_WAL_WRITE');
  assert.equal(wal.failing, true);
  assert.equal(wal.syncedLsn, first);
  assert.ok(wal.pendingBytes > 0);
  // The disk has room again.
  fs.rmSync(nextFile);
  const later = wal.append(record(2));
  await wal.whenSynced(later);
  assert.equal(wal.failing, false);
  assert.equal(wal.pendingBytes, 0);
  await wal.close();
  assert.deepEqual(readAll(dir).map((r) => r.nowMs), [0, 1, 2].map((i) => record(i).nowMs));
});

test('epochs only go up, even when the log directory was wiped', (t) => {
  const root = tempDir(t);
  const a = nextEpoch(root, 1_000_000);
  const b = nextEpoch(root, 1_000_000);
  assert.ok(b > a);
  fs.mkdirSync(path.join(root, `e${b + 10}`));
  const c = nextEpoch(root, 1_000_000);
  assert.equal(c, b + 11);
  fs.rmSync(root, { recursive: true });
  const d = nextEpoch(root, Date.now());
  assert.ok(d >= Math.floor(Date.now() / 1000) - 1);
  assert.deepEqual(listEpochs(root), []);
});
