/**
 * The write-ahead log on a real file system: records round-trip with their
 * positions, group commit releases waiters, a torn or corrupt tail is cut and
 * reported, segments roll over and are trimmed only below a safe position,
 * and a write that fails with ENOSPC (a segment that is /dev/full) fails its
 * waiters, leaves no partial record behind and succeeds once the disk does.
 * Recycled segments: a covered segment's file is reused for a new segment,
 * and what follows the new records in it (the earlier life's records, whole
 * or cut in half) is never read as the log, by the owner or by a reader
 * stepping over other workers' records; records written before positions
 * (versions 1 and 2) are still read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { encodeRecordHeader, listEpochs, logDir, nextEpoch, parseSegment, readLog, WalWriter, type LogDamage, type WalRecord } from '../../src/runtime/wal.js';
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
  const wal = new WalWriter({ root, epoch: 5, worker: 1, segmentBytesMax: 1 << 20, syncIntervalMs: 1, recycleSegments: 4 });
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
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 20, recycleSegments: 4 });
  const waits = [];
  for (let i = 0; i < 100; i++) waits.push(wal.whenSynced(wal.append(record(i))));
  await Promise.all(waits);
  assert.ok(wal.stats().syncs <= 2, `syncs: ${wal.stats().syncs}`);
  await wal.close();
});

test('a torn last record is cut on read and appending continues after the last good one', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  let wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1, recycleSegments: 4 });
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
  wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1, recycleSegments: 4 });
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
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1, recycleSegments: 4 });
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

test('segments roll over at the size limit and are trimmed only below the safe position; recycleSegments 0 deletes them', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1, recycleSegments: 0 });
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
  assert.equal(wal.stats().spareSegments, 0);
  await wal.close();
  assert.deepEqual(readAll(dir).map((r) => r.nowMs), [30, 31, 32, 33, 34].map((i) => record(i).nowMs));
});

test('ENOSPC: waiters fail with EVT_WAL_WRITE, no partial record stays, and the records are written once the disk takes them', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1, recycleSegments: 4 });
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
  const wal = new WalWriter({ root, epoch: 2, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1, recycleSegments: 4 });
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
  const wal = new WalWriter({ root, epoch: 3, worker: 0, segmentBytesMax: 1 << 20, syncIntervalMs: 1, recycleSegments: 4 });
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
  const tableAt = third.lsn + 8 + 36 + Buffer.byteLength(third.owner) + Buffer.byteLength(third.requestId ?? '');
  lying.writeUInt32LE(lying.readUInt32LE(tableAt + 4) + 1, tableAt + 4);
  lying.writeUInt32LE(crc32(lying.subarray(third.lsn + 8, third.endLsn)), third.lsn + 4);
  const unreadable = parseSegment(lying, 0, 1 << 26);
  assert.equal(unreadable.records.length, 2);
  assert.match(unreadable.damage ?? '', /unreadable record \(version 4\)/);
});

// ---- recycled segments ------------------------------------------------------------

const SEGMENT_BYTES_MAX = 1 << 20;

/** Records all of one size (a fixed-length request id), so a recycled file's stale records lie where new ones would. */
function sized(i: number, bodyBytes = 100 * 1024): WalRecord {
  return { ...record(i, bodyBytes), owner: 'owner-x', requestId: `req-${String(i).padStart(4, '0')}` };
}

function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.wal')).sort().map((name) => path.join(dir, name));
}

function spareFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.wal.free'));
}

/**
 * Segment A full of records 0..9, segment B (10..19), A trimmed and kept as a
 * spare, then segment C in A's file with records 20..(20 + cRecords - 1) of
 * cBodyBytes: fewer bytes than A had, so A's records are still on disk after
 * C's. Left open, as a crash would leave it (close cuts the stale tail).
 */
async function recycledLog(t: import('node:test').TestContext, cRecords: number, cBodyBytes = 100 * 1024) {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: SEGMENT_BYTES_MAX, syncIntervalMs: 1, recycleSegments: 4 });
  const written: WalRecord[] = [];
  const ends: number[] = [];
  const add = (one: WalRecord): void => {
    written.push(one);
    ends.push(wal.append(one));
  };
  for (let i = 0; i < 11; i++) add(sized(i));
  await wal.whenSynced(wal.appendedLsn);
  const [aFile] = segmentFiles(dir);
  const aBytes = fs.statSync(aFile!).size;
  assert.equal(aBytes, ends[9], 'segment A holds records 0..9');
  assert.equal(await wal.trimBefore(ends[9]!), 1);
  assert.equal(wal.stats().spareSegments, 1);
  assert.deepEqual(spareFiles(dir).length, 1);
  for (let i = 11; i < 20 + cRecords; i++) add(i < 20 ? sized(i) : sized(i, cBodyBytes));
  await wal.whenSynced(wal.appendedLsn);
  const files = segmentFiles(dir);
  assert.equal(files.length, 2, 'B and C');
  const cStart = ends[19]!;
  assert.equal(path.basename(files[1]!), cStart.toString(16).padStart(16, '0') + '.wal');
  assert.equal(wal.stats().segmentsRecycled, 1, "C is A's file renamed");
  assert.equal(wal.stats().spareSegments, 0);
  assert.deepEqual(spareFiles(dir), []);
  return { root, dir, wal, written, ends, aBytes, cStart, cFile: files[1]! };
}

function nowMsOf(records: readonly { nowMs: number }[]): number[] {
  return records.map((r) => r.nowMs);
}

test("a recycled segment's stale records after its live end are not returned", async (t) => {
  const { dir, wal, written, ends, aBytes, cStart, cFile } = await recycledLog(t, 3);
  // C's file still has A's size: A's records 3..9 follow C's three.
  assert.equal(fs.statSync(cFile).size, aBytes);
  assert.equal(wal.appendedLsn - cStart, (3 * aBytes) / 10);
  const damaged: LogDamage[] = [];
  const read = readAll(dir, damaged);
  assert.deepEqual<LogDamage[]>(damaged, []);
  assert.deepEqual(nowMsOf(read), nowMsOf(written.slice(10)));
  assert.deepEqual(read.map((r) => r.endLsn), ends.slice(10));
  // The bytes are where they were: the stale ones are neither reported nor cut by the reader.
  assert.equal(fs.statSync(cFile).size, aBytes);
  // A clean close cuts them.
  await wal.close();
  assert.equal(fs.statSync(cFile).size, wal.appendedLsn - cStart);
  assert.deepEqual(nowMsOf(readAll(dir)), nowMsOf(written.slice(10)));
});

test("records of another worker's shards are checked for their position before they are stepped over", async (t) => {
  const { dir, written } = await recycledLog(t, 3);
  const foreign: number[] = [];
  const damaged: LogDamage[] = [];
  const none = [...readLog(dir, 1 << 26, (d) => damaged.push(d), false, () => false, (count) => foreign.push(count))].flat();
  assert.deepEqual(none, []);
  assert.deepEqual<LogDamage[]>(damaged, []);
  // B's ten and C's three: none of A's seven stale records.
  assert.equal(foreign.reduce((a, b) => a + b, 0), 13);
  const even = [...readLog(dir, 1 << 26, (d) => damaged.push(d), false, (shard) => shard % 2 === 0)].flat();
  assert.deepEqual<LogDamage[]>(damaged, []);
  assert.deepEqual(nowMsOf(even), nowMsOf(written.slice(10).filter((r) => r.shard % 2 === 0)));
});

test("a segment that is not the last is read up to the next one's start, not into its stale bytes", async (t) => {
  // C: three records of 300 KiB (a fourth does not fit), ending inside A's eighth record.
  const { dir, wal, written, aBytes, cStart, cFile } = await recycledLog(t, 3, 300 * 1024);
  const cEnd = wal.appendedLsn;
  assert.ok(cEnd - cStart < aBytes);
  for (let i = 23; i < 25; i++) written.push(sized(i, 300 * 1024));
  for (const one of written.slice(23)) wal.append(one);
  await wal.whenSynced(wal.appendedLsn);
  const files = segmentFiles(dir);
  assert.equal(files.length, 3, 'B, C and D');
  assert.equal(path.basename(files[2]!), cEnd.toString(16).padStart(16, '0') + '.wal');
  assert.equal(fs.statSync(cFile).size, aBytes, "C's file still holds A's tail");
  const damaged: LogDamage[] = [];
  assert.deepEqual(nowMsOf(readAll(dir, damaged)), nowMsOf(written.slice(10)));
  assert.deepEqual<LogDamage[]>(damaged, []);
  // The whole file, told where the next segment starts: C's three records, then nothing.
  const bytes = fs.readFileSync(cFile);
  const known = parseSegment(bytes, cStart, 1 << 26, undefined, cEnd);
  assert.deepEqual(nowMsOf(known.records), nowMsOf(written.slice(20, 23)));
  assert.equal(known.damage, undefined);
  assert.equal(known.goodBytes, cEnd - cStart);
  // As a last segment, the same bytes end inside a stale record of a recycled file: the clean end.
  const alone = parseSegment(bytes, cStart, 1 << 26);
  assert.equal(alone.records.length, 3);
  assert.equal(alone.damage, undefined);
  assert.equal(alone.stale, true);
  assert.equal(alone.recycledFile, true);
  // And a segment shorter than the next one's start lost records: damage.
  const short = parseSegment(bytes.subarray(0, cEnd - cStart - 10), cStart, 1 << 26, undefined, cEnd);
  assert.equal(short.records.length, 2);
  assert.match(short.damage ?? '', /torn/);
  await wal.close();
});

test("a crash that leaves a recycled last segment's live end inside a stale record: the clean end of the log, no damage", async (t) => {
  // C: three records of 300 KiB, ending inside A's eighth record; no close, as after kill -9.
  const { dir, wal, written, aBytes, cFile } = await recycledLog(t, 3, 300 * 1024);
  assert.equal(fs.statSync(cFile).size, aBytes);
  const damaged: LogDamage[] = [];
  assert.deepEqual(nowMsOf(readAll(dir, damaged)), nowMsOf(written.slice(10)));
  assert.deepEqual<LogDamage[]>(damaged, []);
  assert.equal(fs.statSync(cFile).size, aBytes, 'not cut: those bytes are not part of the log');
  await wal.close();
});

test('in a new file, bytes after the records that were not written for their place are still damage', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: SEGMENT_BYTES_MAX, syncIntervalMs: 1, recycleSegments: 4 });
  await wal.whenSynced(wal.append(record(0)));
  await wal.close();
  const file = segmentFiles(dir)[0]!;
  fs.appendFileSync(file, Buffer.alloc(4096)); // a page that reached the disk without its data
  const damaged: LogDamage[] = [];
  assert.deepEqual(nowMsOf(readAll(dir, damaged)), nowMsOf([record(0)]));
  assert.equal(damaged.length, 1);
  assert.match(damaged[0]!.damage, /length 0 out of range/);
});

test('a torn last record in a recycled segment: the synced records come back, nothing stale, the tear is damage, and the log continues', async (t) => {
  const { root, dir, wal, written, cStart, cFile } = await recycledLog(t, 3);
  const liveEnd = wal.appendedLsn;
  // A crash in the middle of the next write: the first half of record 23 over A's fourth record.
  const next = sized(23);
  const torn = Buffer.concat([encodeRecordHeader(next, liveEnd), next.body]);
  const fd = fs.openSync(cFile, 'r+');
  fs.writeSync(fd, torn, 0, torn.length >> 1, liveEnd - cStart);
  fs.closeSync(fd);
  // A reader that does not cut: the synced records, then damage; nothing of A's.
  const damaged: LogDamage[] = [];
  const read = [...readLog(dir, 1 << 26, (d) => damaged.push(d), false)].flat();
  assert.deepEqual(nowMsOf(read), nowMsOf(written.slice(10)));
  assert.equal(damaged.length, 1);
  assert.match(damaged[0]!.damage, /checksum/);
  assert.ok(fs.statSync(cFile).size > liveEnd - cStart, 'not cut');
  // The next writer on this log finds the end of C's records, not of its file, and continues there.
  const again = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: SEGMENT_BYTES_MAX, syncIntervalMs: 1, recycleSegments: 4 });
  assert.equal(again.appendedLsn, liveEnd);
  const later = sized(24, 10);
  await again.whenSynced(again.append(later));
  await again.close();
  const after: LogDamage[] = [];
  assert.deepEqual(nowMsOf(readAll(dir, after)), nowMsOf([...written.slice(10), later]));
  assert.deepEqual<LogDamage[]>(after, []);
  await wal.close();
});

/** A record as versions 1 and 2 wrote it: a 28-byte fixed part, no position. */
function legacyRecordBytes(one: WalRecord): Buffer {
  const owner = Buffer.from(one.owner);
  const requestId = Buffer.from(one.requestId ?? '');
  const fixed = Buffer.alloc(28);
  fixed.writeUInt8(one.buckets === undefined ? 1 : 2, 0);
  fixed.writeUInt8(['json', 'msgpack', 'protobuf'].indexOf(one.format), 1);
  fixed.writeUInt8(['identity', 'gzip'].indexOf(one.encoding), 2);
  fixed.writeUInt8(one.receiptsAll ? 1 : 0, 3);
  fixed.writeUInt16LE(one.shard, 4);
  fixed.writeUInt16LE(owner.length, 6);
  fixed.writeUInt16LE(requestId.length, 8);
  fixed.writeDoubleLE(one.nowMs, 12);
  fixed.writeDoubleLE(one.receivedAtMs, 20);
  const parts: Buffer[] = [fixed, owner, requestId];
  if (one.buckets === undefined) {
    parts.push(Buffer.from(one.body));
  } else {
    const table = Buffer.alloc(4 + one.buckets.reduce((sum, bucket) => sum + 8 + 2 * bucket.order.length, 0));
    table.writeUInt32LE(one.buckets.length, 0);
    let at = 4;
    for (const bucket of one.buckets) {
      table.writeUInt32LE(bucket.bytes.length, at);
      table.writeUInt32LE(bucket.order.length, at + 4);
      at += 8;
      for (const k of bucket.order) at = table.writeUInt16LE(k, at);
    }
    parts.push(table, ...one.buckets.map((bucket) => Buffer.from(bucket.bytes)));
  }
  const payload = Buffer.concat(parts);
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(payload.length, 0);
  prefix.writeUInt32LE(crc32(payload), 4);
  return Buffer.concat([prefix, payload]);
}

function segmentName(start: number): string {
  return start.toString(16).padStart(16, '0') + '.wal';
}

test('records of versions 1 and 2 (no position) are still read, and a log of them can be continued', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  fs.mkdirSync(dir, { recursive: true });
  const legacy = [record(0, 30), bucketRecord(1, 2, 5), record(2, 40), bucketRecord(3, 1, 7), record(4, 50)];
  const first = Buffer.concat(legacy.slice(0, 3).map(legacyRecordBytes));
  fs.writeFileSync(path.join(dir, segmentName(0)), first);
  fs.writeFileSync(path.join(dir, segmentName(first.length)), Buffer.concat(legacy.slice(3).map(legacyRecordBytes)));
  const damaged: LogDamage[] = [];
  const read = readAll(dir, damaged);
  assert.deepEqual<LogDamage[]>(damaged, []);
  assert.equal(read.length, legacy.length);
  for (let i = 0; i < legacy.length; i++) {
    const { lsn: _lsn, endLsn: _end, body, buckets, ...rest } = read[i]!;
    const { body: expectedBody, buckets: expectedBuckets, ...expected } = legacy[i]!;
    assert.deepEqual(rest, expected);
    assert.deepEqual(Buffer.from(body), Buffer.from(expectedBody));
    assert.deepEqual(
      buckets?.map((b) => [Buffer.from(b.bytes), [...b.order]]),
      expectedBuckets?.map((b) => [Buffer.from(b.bytes), [...b.order]]),
    );
  }
  // A writer continues the legacy segment with records that carry their position.
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: SEGMENT_BYTES_MAX, syncIntervalMs: 1, recycleSegments: 4 });
  await wal.whenSynced(wal.append(record(5, 60)));
  await wal.close();
  assert.deepEqual(nowMsOf(readAll(dir, damaged)), nowMsOf([...legacy, record(5, 60)]));
  assert.deepEqual<LogDamage[]>(damaged, []);
});

test('in a segment whose first record carries its position, a version 1 record is stale: the end of a last segment, damage before a known end', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: SEGMENT_BYTES_MAX, syncIntervalMs: 1, recycleSegments: 4 });
  wal.append(record(0));
  await wal.whenSynced(wal.append(record(1)));
  await wal.close();
  const file = segmentFiles(dir)[0]!;
  fs.appendFileSync(file, legacyRecordBytes(record(2)));
  const damaged: LogDamage[] = [];
  assert.deepEqual(nowMsOf(readAll(dir, damaged)), nowMsOf([record(0), record(1)]));
  assert.deepEqual<LogDamage[]>(damaged, []);
  const bytes = fs.readFileSync(file);
  const last = parseSegment(bytes, 0, 1 << 26);
  assert.equal(last.stale, true);
  assert.equal(last.damage, undefined);
  const notLast = parseSegment(bytes, 0, 1 << 26, undefined, bytes.length);
  assert.equal(notLast.records.length, 2);
  assert.match(notLast.damage ?? '', /stale record/);
});

test('trimBefore keeps at most recycleSegments spares, deletes the rest, and new segments use them first', async (t) => {
  const root = tempDir(t);
  const dir = logDir(root, 1, 0);
  const wal = new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: SEGMENT_BYTES_MAX, syncIntervalMs: 1, recycleSegments: 1 });
  for (let i = 0; i < 35; i++) wal.append(sized(i));
  await wal.whenSynced(wal.appendedLsn);
  assert.equal(segmentFiles(dir).length, 4);
  assert.equal(await wal.trimBefore(wal.appendedLsn), 3);
  assert.equal(segmentFiles(dir).length, 1);
  assert.equal(spareFiles(dir).length, 1);
  assert.equal(wal.stats().spareSegments, 1);
  for (let i = 35; i < 60; i++) wal.append(sized(i));
  await wal.whenSynced(wal.appendedLsn);
  assert.equal(wal.stats().segmentsRecycled, 1);
  assert.equal(spareFiles(dir).length, 0);
  await wal.close();
  const damaged: LogDamage[] = [];
  assert.deepEqual(nowMsOf(readAll(dir, damaged)), nowMsOf(Array.from({ length: 30 }, (_, k) => sized(30 + k))));
  assert.deepEqual<LogDamage[]>(damaged, []);
});

test('recycleSegments outside 0..64 is a bug of the caller', (t) => {
  const root = tempDir(t);
  for (const recycleSegments of [-1, 65, 1.5]) {
    assert.throws(() => new WalWriter({ root, epoch: 1, worker: 0, segmentBytesMax: SEGMENT_BYTES_MAX, syncIntervalMs: 1, recycleSegments }), /recycleSegments/);
  }
});
