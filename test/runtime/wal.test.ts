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
import { crc32 } from 'node:zlib';
import { listEpochs, logDir, nextEpoch, parseSegment, readLog, WalWriter, type LogDamage, type WalRecord } from '../../src/runtime/wal.js';
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
    const { lsn, endLsn, body, buckets, ...rest } = read[i]!;
    const { body: expectedBody, ...expected } = record(i, 10 + i);
    assert.deepEqual(rest, expected);
    assert.equal(buckets, undefined);
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

/** A record holding buckets (version 2): `count` buckets of `events` each, bytes and order drawn from i. */
function bucketRecord(i: number, count: number, events: number): WalRecord {
  const buckets = Array.from({ length: count }, (_, b) => ({
    bytes: Buffer.alloc(40 + 13 * b + i, (i * 31 + b) % 251),
    order: Uint16Array.from({ length: events }, (_, k) => (k * 7 + b + i) % events),
  }));
  return { ...record(i), body: new Uint8Array(0), buckets };
}

test("records holding the store's buckets come back with their bytes and order, between body records", async (t) => {
  const root = tempDir(t);
  const wal = new WalWriter({ root, epoch: 2, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1 });
  const written: WalRecord[] = [];
  for (let i = 0; i < 30; i++) {
    const one = i % 3 === 0 ? record(i, 50) : bucketRecord(i, i % 3, 1 + (i % 5) * 100);
    written.push(one);
    wal.append(one);
  }
  await wal.whenSynced(wal.appendedLsn);
  const stats = wal.stats();
  assert.deepEqual(stats.records, { body: 10, buckets: 20 });
  await wal.close();
  const dir = logDir(root, 2, 0);
  assert.equal(stats.appendedBytes, fs.statSync(path.join(dir, fs.readdirSync(dir)[0]!)).size, 'appendedBytes counts every byte written');
  const read = readAll(dir);
  assert.equal(read.length, 30);
  for (let i = 0; i < 30; i++) {
    const { lsn: _lsn, endLsn: _end, body, buckets, ...rest } = read[i]!;
    const { body: expectedBody, buckets: expectedBuckets, ...expected } = written[i]!;
    assert.deepEqual(rest, expected);
    assert.deepEqual(Buffer.from(body), Buffer.from(expectedBody));
    assert.equal(buckets?.length, expectedBuckets?.length);
    for (let b = 0; b < (buckets?.length ?? 0); b++) {
      assert.deepEqual(Buffer.from(buckets![b]!.bytes), Buffer.from(expectedBuckets![b]!.bytes));
      assert.deepEqual([...buckets![b]!.order], [...expectedBuckets![b]!.order]);
    }
  }
  // Stepping over other workers' shards works for both versions.
  const bytes = fs.readFileSync(path.join(dir, fs.readdirSync(dir)[0]!));
  const mine = parseSegment(bytes, 0, 1 << 26, (shard) => shard % 2 === 0);
  assert.equal(mine.records.length + mine.foreign, 30);
  assert.deepEqual(mine.records.map((r) => r.shard % 2), mine.records.map(() => 0));
  assert.equal(mine.damage, undefined);
});

test('a bucket record with a flipped byte, or whose table does not add up, ends the read there', async (t) => {
  const root = tempDir(t);
  const wal = new WalWriter({ root, epoch: 3, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1 });
  for (let i = 0; i < 4; i++) wal.append(bucketRecord(i, 2, 10));
  await wal.whenSynced(wal.appendedLsn);
  await wal.close();
  const dir = logDir(root, 3, 0);
  const bytes = fs.readFileSync(path.join(dir, fs.readdirSync(dir)[0]!));
  const good = parseSegment(bytes, 0, 1 << 26);
  assert.equal(good.records.length, 4);
  const third = good.records[2]!;
  // A byte of the third record's last bucket: its checksum fails.
  const flipped = Buffer.from(bytes);
  flipped[third.endLsn - 3] = flipped[third.endLsn - 3]! ^ 0xff;
  const read = parseSegment(flipped, 0, 1 << 26);
  assert.equal(read.records.length, 2);
  assert.match(read.damage ?? '', /checksum/);
  // A bucket length one byte too long, with a checksum that matches: the table does not add up.
  const lying = Buffer.from(bytes);
  const tableAt = third.lsn + 8 + 28 + Buffer.byteLength(third.owner) + Buffer.byteLength(third.requestId ?? '');
  lying.writeUInt32LE(lying.readUInt32LE(tableAt + 4) + 1, tableAt + 4);
  lying.writeUInt32LE(crc32(lying.subarray(third.lsn + 8, third.endLsn)), third.lsn + 4);
  const unreadable = parseSegment(lying, 0, 1 << 26);
  assert.equal(unreadable.records.length, 2);
  assert.match(unreadable.damage ?? '', /unreadable record \(version 2\)/);
});
