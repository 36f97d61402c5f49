/**
 * The write-ahead log of one shard worker: every ingest batch an owner applied
 * is appended, as the raw body it came in plus what is needed to apply it the
 * same way again (owner, shard, format, encoding, the actor's clock and the
 * receive time). Replaying a record runs the ordinary decode → validate →
 * apply path with the logged times, so a replayed batch classifies exactly as
 * it did the first time.
 *
 * Layout: `<dataDir>/wal/e<epoch>/w<worker>/<startLsn as 16 hex digits>.wal`.
 * An epoch is one process life; a log position (LSN) is a byte offset in the
 * stream of one worker's log in one epoch, so positions compare as
 * (epoch, lsn). Segments end at walSegmentBytesMax (a record never spans two).
 * Spare files waiting to be recycled, `spare-<n>.wal.free`, sit beside them
 * and are not segments.
 *
 * Record: u32 payload length, u32 CRC-32 of the payload, payload:
 *   u8 version (3 or 4; 1 and 2 are still read, no longer written), u8 format,
 *   u8 encoding, u8 flags (1: receiptsAll; 2: written into a recycled file),
 *   u16 shard, u16 owner bytes,
 *   u16 request-id bytes, u16 reserved, f64 nowMs, f64 receivedAtMs,
 *   versions 3 and 4 only: f64 position (the record's own LSN: its segment's
 *     start + its offset in the file),
 *   owner (UTF-8), request id (UTF-8), then
 *   versions 1 and 3: the body as it came in;
 *   versions 2 and 4: the batch's stored events as the event store packed them
 *     (src/store/lmdb/bucket-codec.ts, see LogBucket in src/store/port.ts):
 *     u32 bucket count, per bucket u32 byte length, u32 event count and
 *     event count x u16 order, then every bucket's bytes.
 * So the fixed part is 28 bytes in versions 1 and 2 and 36 in versions 3 and
 * 4; the CRC covers the position like the rest of the payload.
 *
 * Why buckets (versions 2 and 4): a JSON batch of 500 harness events is 123 KB as sent and
 * 31 KB packed, and the store packs it anyway on the hot path; logging those
 * bytes instead of the body cut the log's page-cache copies and checksum
 * (bench/RESULTS.md). A bucket holds only what the batch stored (accepted,
 * late, too late): the duplicates and rejected events of the batch changed
 * nothing an actor keeps, so replaying the stored events in their order (the
 * `order` arrays give it back: the identity for buckets in applied order, as the store writes them now; it sorted them by id hash before)
 * rebuilds the same windows, tallies, sums and recent ids. A batch the store
 * did not pack (too small to pack on the hot path, another store, events of
 * another shape) is logged with its body (version 3).
 *
 * Group commit: appends only queue buffers (the body is referenced, not
 * copied); a writer wakes walSyncIntervalMs after the first queued record,
 * writes everything queued with one writev per segment, fdatasyncs once, and
 * releases every waiter whose position it covered. A failed write or sync
 * fails those waiters (EVT_WAL_WRITE), cuts the file back to its last synced
 * length and keeps the records queued for the next try: the log never holds a
 * half-written record that later records follow. Every write names its file
 * offset (a new file is opened 'w', an existing one 'r+'; never 'a', whose fd
 * ignores offsets on Linux), so a retry after a cut, or a write into a
 * recycled file, lands exactly where its records belong.
 *
 * Recycling: trimBefore frees the segments a snapshot round covered. Up to
 * recycleSegments of them are renamed to spare files instead of deleted (the
 * rest are deleted), and the next new segment is a spare renamed to
 * `<start>.wal` and overwritten in place. Overwriting a file that already has
 * its size does not change the size, so a group commit's fdatasync writes the
 * data and not the inode too: 0.72x the CPU and 0.65x the wall time per MB of
 * appending to a new file (bench/runtime/wal-file.bench.ts). PostgreSQL and
 * RocksDB recycle their logs for the same reason. A worker life starts with
 * no spares (its log directory is new): recycling begins with its first trims.
 *
 * A recycled file still holds the records of its earlier life after the new
 * ones. Every record carries its position, and positions only grow within a
 * log (spares never leave their log's directory), so a stale record at offset
 * o of a segment starting at s holds an older position, never s + o. What the
 * reader (parseSegment, readLog) makes of a segment's bytes:
 *   - A version 3/4 record whose position is not start + offset is stale: the
 *     segment's records end there. This is checked before a record of another
 *     worker's shard is stepped over unchecked, so stale bytes are never
 *     stepped over. In a segment whose first record is version 3/4, a version
 *     1/2 record is stale too (stale bytes cannot pass as a legacy record).
 *   - A segment that is not the last of its log ends where the next one
 *     starts (the next file's name): a segment is datasynced before the next
 *     one is created or renamed into place, so its records reach that point.
 *     Bytes after it are stale and not read. Stopping before it (a torn or
 *     corrupt record, a stale one, a file too short) is damage, reported and
 *     cut by the log's own worker, as before recycling.
 *   - The last segment's end is unknown. Stopping at a stale record (its
 *     checksum holds, its position is wrong) is the clean end of the log: not
 *     reported, not cut. So is stopping, in a recycled file (its first record
 *     has flag 2), at bytes that do not start a record header written for
 *     their place (version 3/4 with the right position): records differ in
 *     size, so the live end usually falls inside a stale record, and a write
 *     none of whose header reached the disk looks the same; neither holds an
 *     acknowledged record. A record whose header was written for its place
 *     but which is torn or fails its checksum is damage, reported and cut;
 *     in a new file (no flag 2) so is anything unreadable, as before
 *     recycling. An acknowledged record is synced, whole, and before the
 *     first bad byte, so no end loses one, and no stale record is replayed.
 *     A clean close cuts its file to its records.
 * A writer continuing a log (after readLog) finds the end of its last segment
 * by reading its records, not from the file's size.
 *
 * Invariants: `appendedLsn >= syncedLsn`; a segment's bytes on disk up to
 * `syncedLsn` are whole records; segment N is datasynced before segment N+1's
 * file is created or renamed into place; a new segment's directory entry
 * (a fresh file or a spare renamed) is fsynced before any record in it is
 * acknowledged; segments leave the log (deleted or kept as spares) only below
 * a position the shard host declared safe (trimBefore).
 *
 * Caveats: spares are disk kept reserved, up to recycleSegments x
 * segmentBytesMax per worker on top of walBytesMax, which counts only the
 * log's segments. A stale tail could, in principle, hold bytes that form a
 * record with a valid checksum and exactly the right position at the offset
 * where a crash ended the live part (a body crafted to contain such a record);
 * it would be replayed. That needs the log's position at the crash guessed to
 * the byte. In a recycled last segment, a flipped bit in the version or
 * position of a synced record ends the log there without a damage report
 * (the records after it are lost, as with any damage, but silently).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { BodyEncoding, BodyFormat } from '../actors/types.js';
import type { LogBucket } from '../store/port.js';
import { WalWriteError } from './errors.js';

const FORMATS: readonly BodyFormat[] = ['json', 'msgpack', 'protobuf'];
const ENCODINGS: readonly BodyEncoding[] = ['identity', 'gzip'];
/** Records written before they carried their position: read, no longer written. */
const RECORD_VERSION_BODY_LEGACY = 1;
const RECORD_VERSION_BUCKETS_LEGACY = 2;
/** A record holding the body, with its position. */
const RECORD_VERSION_BODY = 3;
/** A record holding event-store buckets instead of the body, with its position. */
const RECORD_VERSION_BUCKETS = 4;
/** At most this many buckets in one record (a request's events fill a few). */
const RECORD_BUCKETS_MAX = 0xffff;
/** The u16 order of a bucket's events bounds its size. */
const BUCKET_EVENTS_MAX = 0x10000;
const PREFIX_BYTES = 8;
/** The fixed part of a version 1/2 payload. */
const FIXED_BYTES_LEGACY = 28;
/** The fixed part of a version 3/4 payload: version 1/2's, then the f64 position. */
const FIXED_BYTES = 36;
/** Where a version 3/4 payload holds its position. */
const POSITION_AT = 28;
const SEGMENT_SUFFIX = '.wal';
/** Spares: covered segments kept to be overwritten; listSegments does not see them. */
const SPARE_PREFIX = 'spare-';
const SPARE_SUFFIX = '.wal.free';
/** At most this many spares per log (walRecycleSegments' bound). */
export const RECYCLE_SEGMENTS_MAX = 64;
/** The writer reading back its own last segment: a record is at most what its u32 length says. */
const RECORD_BYTES_UNBOUNDED = 0xffff_ffff;
const FLAG_RECEIPTS_ALL = 1;
/** The record was written into a recycled file: bytes after the log's end in it may be its earlier life's. */
const FLAG_RECYCLED_FILE = 2;
/** A failed write is retried after this, doubling per consecutive failure, up to RETRY_MS_MAX. */
const RETRY_MS_MIN = 5;
const RETRY_MS_MAX = 1_000;

export interface WalRecord {
  shard: number;
  owner: string;
  format: BodyFormat;
  encoding: BodyEncoding;
  receiptsAll: boolean;
  /** The actor clock the batch was applied with. */
  nowMs: number;
  receivedAtMs: number;
  requestId: string | undefined;
  /** The body as it came in; empty when `buckets` holds the events. */
  body: Uint8Array;
  /** The batch's stored events, packed by the event store (a version 2 record); replayed without decoding the body. */
  buckets?: readonly LogBucket[] | undefined;
}

export interface WalOptions {
  /** `<dataDir>/wal`. */
  root: string;
  epoch: number;
  worker: number;
  segmentBytesMax: number;
  syncIntervalMs: number;
  /** Covered segments kept as spares to overwrite instead of new files (0..RECYCLE_SEGMENTS_MAX; 0: deleted). */
  recycleSegments: number;
}

export interface WalStats {
  appendedLsn: number;
  syncedLsn: number;
  /** Queued, not yet written. */
  pendingBytes: number;
  /** Bytes of records in this log's segment files (a recycled file's stale tail and the spares not counted). */
  bytesOnDisk: number;
  segments: number;
  /** Covered segments kept to be overwritten by the next new segments. */
  spareSegments: number;
  /** New segments that were a spare renamed into place, not a new file, since the writer opened. */
  segmentsRecycled: number;
  /** Records appended since the writer opened: with the request's body (version 3), with the store's buckets (version 4). */
  records: { body: number; buckets: number };
  /** Bytes appended since the writer opened (headers included). */
  appendedBytes: number;
  syncs: number;
  writeFailures: number;
  lastErrorCode: string | undefined;
}

interface Segment {
  start: number;
  /** End of its whole records (exclusive), as far as appended. */
  end: number;
  file: string;
  /** Its directory entry is synced: a record in it may be acknowledged. */
  linked: boolean;
  /** Its file is (to be) a recycled one: its records carry FLAG_RECYCLED_FILE. */
  recycled: boolean;
  /** The spare file it is to be, taken when the segment began; undefined once renamed, and for a new file. */
  spare: string | undefined;
}

interface Waiter {
  lsn: number;
  resolve(): void;
  reject(err: Error): void;
}

export function walRoot(dataDir: string): string {
  return path.join(dataDir, 'wal');
}

export function epochDir(root: string, epoch: number): string {
  return path.join(root, `e${epoch}`);
}

export function logDir(root: string, epoch: number, worker: number): string {
  return path.join(epochDir(root, epoch), `w${worker}`);
}

function segmentName(start: number): string {
  return start.toString(16).padStart(16, '0') + SEGMENT_SUFFIX;
}

/** The epochs present under root, ascending. */
export function listEpochs(root: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  const epochs: number[] = [];
  for (const name of names) {
    const match = /^e(\d+)$/.exec(name);
    if (match !== null) epochs.push(Number(match[1]));
  }
  return epochs.sort((a, b) => a - b);
}

/** The worker logs of one epoch, ascending by worker. */
export function listWorkerLogs(root: string, epoch: number): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(epochDir(root, epoch));
  } catch {
    return [];
  }
  const workers: number[] = [];
  for (const name of names) {
    const match = /^w(\d+)$/.exec(name);
    if (match !== null) workers.push(Number(match[1]));
  }
  return workers.sort((a, b) => a - b);
}

function spareName(n: number): string {
  return `${SPARE_PREFIX}${n}${SPARE_SUFFIX}`;
}

function readDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * A log's segments by start. A segment's end is the next one's start (bytes
 * after it in a recycled file are stale); the last one's is its file's size,
 * which a recycled file exceeds: the writer reads its records instead.
 */
function listSegments(dir: string): Segment[] {
  const segments: Segment[] = [];
  for (const name of readDir(dir)) {
    if (!name.endsWith(SEGMENT_SUFFIX)) continue;
    const digits = name.slice(0, -SEGMENT_SUFFIX.length);
    if (!/^[0-9a-f]{16}$/.test(digits)) continue;
    const start = Number.parseInt(digits, 16);
    if (!Number.isSafeInteger(start)) continue;
    segments.push({ start, end: start, file: path.join(dir, name), linked: true, recycled: false, spare: undefined });
  }
  segments.sort((a, b) => a.start - b.start);
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    segment.end = segments[i + 1]?.start ?? segment.start + fs.statSync(segment.file).size;
  }
  return segments;
}

/** The spare files of a log, oldest first, with the number the next one gets. */
function listSpares(dir: string): { files: string[]; next: number } {
  const spares: Array<{ n: number; file: string }> = [];
  for (const name of readDir(dir)) {
    const match = /^spare-(\d+)\.wal\.free$/.exec(name);
    if (match !== null) spares.push({ n: Number(match[1]), file: path.join(dir, name) });
  }
  spares.sort((a, b) => a.n - b.n);
  return { files: spares.map((spare) => spare.file), next: (spares.at(-1)?.n ?? -1) + 1 };
}

/** Up to bytesMax bytes from the start of a file, and the file's size. */
function readPrefix(file: string, bytesMax: number): { bytes: Buffer; size: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.max(0, Math.min(size, bytesMax));
    const bytes = Buffer.allocUnsafeSlow(length);
    let at = 0;
    while (at < length) {
      const read = fs.readSync(fd, bytes, at, length - at, at);
      if (read === 0) break;
      at += read;
    }
    return { bytes: bytes.subarray(0, at), size };
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Picks this process's epoch: above every epoch seen under root and above the
 * last one recorded, and at least the current unix second, so a wiped log
 * directory still starts above the epochs that snapshots elsewhere refer to.
 * Recorded (fsynced) before any log of the epoch is written.
 */
export function nextEpoch(root: string, nowMs: number = Date.now()): number {
  fs.mkdirSync(root, { recursive: true });
  const recordFile = path.join(root, 'EPOCH');
  let recorded = 0;
  try {
    recorded = Number.parseInt(fs.readFileSync(recordFile, 'utf8'), 10) || 0;
  } catch {
    // first start
  }
  const seen = listEpochs(root);
  const epoch = Math.max(recorded + 1, (seen.at(-1) ?? 0) + 1, Math.floor(nowMs / 1000));
  const tmp = `${recordFile}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, String(epoch));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, recordFile);
  fsyncDir(root);
  return epoch;
}

// ---- records ------------------------------------------------------------------

/** The record's header (prefix + fixed part + owner + request id [+ bucket table]); the body or the buckets follow it on disk. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * `position` is the LSN the record starts at: readers check it to tell a live
 * record from a recycled file's stale one. `recycledFile`: the record goes
 * into a recycled file (FLAG_RECYCLED_FILE).
 */
export function encodeRecordHeader(record: WalRecord, position: number, recycledFile = false): Buffer {
  const owner = Buffer.from(record.owner, 'utf8');
  const requestId = Buffer.from(record.requestId ?? '', 'utf8');
  const buckets = record.buckets;
  let tableBytes = 0;
  let dataBytes = record.body.length;
  if (buckets !== undefined) {
    if (buckets.length > RECORD_BUCKETS_MAX) throw new RangeError(`${buckets.length} buckets in one log record (at most ${RECORD_BUCKETS_MAX})`);
    tableBytes = 4;
    dataBytes = 0;
    for (const bucket of buckets) {
      if (bucket.order.length > BUCKET_EVENTS_MAX) throw new RangeError(`${bucket.order.length} events in one logged bucket (at most ${BUCKET_EVENTS_MAX})`);
      tableBytes += 8 + 2 * bucket.order.length;
      dataBytes += bucket.bytes.length;
    }
  }
  const fixedEnd = PREFIX_BYTES + FIXED_BYTES + owner.length + requestId.length;
  const header = Buffer.allocUnsafe(fixedEnd + tableBytes);
  header.writeUInt32LE(FIXED_BYTES + owner.length + requestId.length + tableBytes + dataBytes, 0);
  header.writeUInt8(buckets === undefined ? RECORD_VERSION_BODY : RECORD_VERSION_BUCKETS, 8);
  header.writeUInt8(FORMATS.indexOf(record.format), 9);
  header.writeUInt8(ENCODINGS.indexOf(record.encoding), 10);
  header.writeUInt8((record.receiptsAll ? FLAG_RECEIPTS_ALL : 0) | (recycledFile ? FLAG_RECYCLED_FILE : 0), 11);
  header.writeUInt16LE(record.shard, 12);
  header.writeUInt16LE(owner.length, 14);
  header.writeUInt16LE(requestId.length, 16);
  header.writeUInt16LE(0, 18);
  header.writeDoubleLE(record.nowMs, 20);
  header.writeDoubleLE(record.receivedAtMs, 28);
  header.writeDoubleLE(position, PREFIX_BYTES + POSITION_AT);
  owner.copy(header, PREFIX_BYTES + FIXED_BYTES);
  requestId.copy(header, PREFIX_BYTES + FIXED_BYTES + owner.length);
  let crc: number;
  if (buckets === undefined) {
    crc = crc32(record.body, crc32(header.subarray(PREFIX_BYTES)));
  } else {
    let at = fixedEnd;
    header.writeUInt32LE(buckets.length, at);
    at += 4;
    for (const bucket of buckets) {
      header.writeUInt32LE(bucket.bytes.length, at);
      header.writeUInt32LE(bucket.order.length, at + 4);
      at += 8;
      const order = bucket.order;
      if (LITTLE_ENDIAN) {
        // The u16s as they sit in memory: one copy, not a write call per event (a 500-event record's
        // header with its CRC in 6.9 instead of 10.0 µs, both builds side by side).
        header.set(new Uint8Array(order.buffer, order.byteOffset, order.byteLength), at);
        at += order.byteLength;
      } else {
        for (let k = 0; k < order.length; k++, at += 2) header.writeUInt16LE(order[k]!, at);
      }
    }
    crc = crc32(header.subarray(PREFIX_BYTES));
    for (const bucket of buckets) crc = crc32(bucket.bytes, crc);
  }
  header.writeUInt32LE(crc, 4);
  return header;
}

/** The buffers of one record, in order: its header, then its body or its buckets' bytes (referenced, not copied). */
function recordBuffers(header: Buffer, record: WalRecord): Uint8Array[] {
  if (record.buckets === undefined) return [header, record.body];
  const buffers: Uint8Array[] = [header];
  for (const bucket of record.buckets) buffers.push(bucket.bytes);
  return buffers;
}

/** A version 2/4 record's bucket table and bytes, from `at` to the payload's end; undefined when they do not add up. */
function readBuckets(payload: Buffer, at: number): LogBucket[] | undefined {
  if (payload.length - at < 4) return undefined;
  const count = payload.readUInt32LE(at);
  at += 4;
  if (count > RECORD_BUCKETS_MAX) return undefined;
  const sizes: Array<{ bytes: number; order: Uint16Array }> = [];
  for (let i = 0; i < count; i++) {
    if (payload.length - at < 8) return undefined;
    const bytes = payload.readUInt32LE(at);
    const events = payload.readUInt32LE(at + 4);
    at += 8;
    if (events > BUCKET_EVENTS_MAX || payload.length - at < 2 * events) return undefined;
    const order = new Uint16Array(events);
    for (let k = 0; k < events; k++, at += 2) order[k] = payload.readUInt16LE(at);
    sizes.push({ bytes, order });
  }
  const buckets: LogBucket[] = [];
  for (const { bytes, order } of sizes) {
    if (payload.length - at < bytes) return undefined;
    // A copy: the segment buffer is large and read once.
    buckets.push({ bytes: new Uint8Array(payload.subarray(at, at + bytes)), order });
    at += bytes;
  }
  return at === payload.length ? buckets : undefined;
}

const NO_BODY = new Uint8Array(0);

export interface ReadRecord extends WalRecord {
  /** Position of the record's first byte. */
  lsn: number;
  /** Position just after it. */
  endLsn: number;
}

export interface SegmentRead {
  records: ReadRecord[];
  /** Records skipped because `wanted` said no (their checksum is left to the worker that owns them). */
  foreign: number;
  /** Bytes of the segment that hold whole, checked records. */
  goodBytes: number;
  /** Why reading stopped early, when it did (a torn or corrupt record; before a known end, a stale one too). */
  damage: string | undefined;
  /**
   * A last segment's records ended at bytes of its file's earlier life: the clean end of the log.
   * Either a stale record (its checksum holds, its position does not), or, in a recycled file, bytes
   * that do not start a record written for their place.
   */
  stale: boolean;
  /** The segment's first record says its file is recycled (FLAG_RECYCLED_FILE). */
  recycledFile: boolean;
}

/** Whether the bytes at offset start a version 3/4 record header written for that place (torn or whole, its position is right). */
function writtenHere(bytes: Buffer, offset: number, start: number): boolean {
  if (bytes.length - offset < PREFIX_BYTES + FIXED_BYTES) return false;
  const version = bytes.readUInt8(offset + PREFIX_BYTES);
  if (version !== RECORD_VERSION_BODY && version !== RECORD_VERSION_BUCKETS) return false;
  return bytes.readDoubleLE(offset + PREFIX_BYTES + POSITION_AT) === start + offset;
}

/**
 * Parses a segment's bytes; stops at the first record that is torn, fails its
 * checksum or is stale (its position is not where it lies: a recycled file's
 * earlier life). Records of shards `wanted` rejects are stepped over without
 * the checksum or a copy of their body: after a restart every worker reads
 * every old log, and most of it belongs to the others. Their position is
 * checked first, so stale bytes are never stepped over.
 *
 * `liveEnd`, the next segment's start, is where a segment that is not the
 * last of its log ends: bytes after it are not read, and stopping before it,
 * at a stale record too, is damage. Without it (the last segment), a stale
 * record is the clean end: `stale`, no damage; so, in a recycled file, are
 * bytes that do not start a record header written for their place (the live
 * end inside a stale record, or a write none of whose header reached the
 * disk). A record header written for its place whose record is torn or fails
 * its checksum is damage in every file.
 */
export function parseSegment(
  bytes: Buffer,
  start: number,
  recordBytesMax: number,
  wanted?: (shard: number) => boolean,
  liveEnd?: number,
): SegmentRead {
  const records: ReadRecord[] = [];
  let foreign = 0;
  let offset = 0;
  let damage: string | undefined;
  let stale = false;
  let recycledFile = false;
  const limit = liveEnd === undefined ? bytes.length : Math.min(bytes.length, liveEnd - start);
  // Whether the segment's first record carries its position: then every record must.
  let positioned = false;
  while (offset < limit) {
    if (limit - offset < PREFIX_BYTES + FIXED_BYTES_LEGACY) {
      damage = `torn record header at byte ${offset}`;
      break;
    }
    const payloadBytes = bytes.readUInt32LE(offset);
    if (payloadBytes < FIXED_BYTES_LEGACY || payloadBytes > recordBytesMax) {
      damage = `record length ${payloadBytes} out of range at byte ${offset}`;
      break;
    }
    const end = offset + PREFIX_BYTES + payloadBytes;
    if (end > limit) {
      damage =
        end > bytes.length
          ? `torn record at byte ${offset} (${end - bytes.length} bytes missing)`
          : `record at byte ${offset} runs ${end - limit} bytes past the segment's end (the next segment's start)`;
      break;
    }
    const payload = bytes.subarray(offset + PREFIX_BYTES, end);
    const version = payload.readUInt8(0);
    const legacy = version === RECORD_VERSION_BODY_LEGACY || version === RECORD_VERSION_BUCKETS_LEGACY;
    const hasPosition = version === RECORD_VERSION_BODY || version === RECORD_VERSION_BUCKETS;
    if (offset === 0) {
      positioned = hasPosition;
      recycledFile = hasPosition && payloadBytes >= FIXED_BYTES && writtenHere(bytes, 0, start) && (payload.readUInt8(3) & FLAG_RECYCLED_FILE) !== 0;
    }
    if (hasPosition && payloadBytes < FIXED_BYTES) {
      damage = `unreadable record (version ${version}) at byte ${offset}`;
      break;
    }
    if (hasPosition ? payload.readDoubleLE(POSITION_AT) !== start + offset : legacy && positioned) {
      // A stale record if its checksum holds; bytes that only look like a record's start if not.
      if (crc32(payload) !== bytes.readUInt32LE(offset + 4)) damage = `checksum mismatch at byte ${offset}`;
      else if (liveEnd !== undefined) damage = `stale record at byte ${offset}, ${liveEnd - start - offset} bytes before the next segment's start`;
      else stale = true;
      break;
    }
    if (wanted !== undefined && (legacy || hasPosition) && !wanted(payload.readUInt16LE(4))) {
      foreign++;
      offset = end;
      continue;
    }
    if (crc32(payload) !== bytes.readUInt32LE(offset + 4)) {
      damage = `checksum mismatch at byte ${offset}`;
      break;
    }
    const fixedBytes = hasPosition ? FIXED_BYTES : FIXED_BYTES_LEGACY;
    const format = FORMATS[payload.readUInt8(1)];
    const encoding = ENCODINGS[payload.readUInt8(2)];
    const ownerBytes = payload.readUInt16LE(6);
    const requestIdBytes = payload.readUInt16LE(8);
    const bodyStart = fixedBytes + ownerBytes + requestIdBytes;
    const holdsBuckets = version === RECORD_VERSION_BUCKETS || version === RECORD_VERSION_BUCKETS_LEGACY;
    const buckets = holdsBuckets && bodyStart <= payload.length ? readBuckets(payload, bodyStart) : undefined;
    if (!(legacy || hasPosition) || (holdsBuckets && buckets === undefined) || format === undefined || encoding === undefined || bodyStart > payload.length) {
      damage = `unreadable record (version ${version}) at byte ${offset}`;
      break;
    }
    const requestId = payload.toString('utf8', fixedBytes + ownerBytes, bodyStart);
    records.push({
      lsn: start + offset,
      endLsn: start + end,
      format,
      encoding,
      receiptsAll: (payload.readUInt8(3) & FLAG_RECEIPTS_ALL) !== 0,
      shard: payload.readUInt16LE(4),
      nowMs: payload.readDoubleLE(12),
      receivedAtMs: payload.readDoubleLE(20),
      owner: payload.toString('utf8', fixedBytes, fixedBytes + ownerBytes),
      requestId: requestId === '' ? undefined : requestId,
      // A copy: the segment buffer is large and read once.
      body: buckets === undefined ? new Uint8Array(payload.subarray(bodyStart)) : NO_BODY,
      buckets,
    });
    offset = end;
  }
  if (damage === undefined && !stale && liveEnd !== undefined && start + offset < liveEnd) {
    damage = `segment ends at byte ${offset}, ${liveEnd - start - offset} bytes before the next segment's start`;
  }
  if (damage !== undefined && liveEnd === undefined && recycledFile && !writtenHere(bytes, offset, start)) {
    damage = undefined;
    stale = true;
  }
  return { records, foreign, goodBytes: offset, damage, stale, recycledFile };
}

export interface LogDamage {
  file: string;
  damage: string;
  bytesCut: number;
}

/**
 * Reads every segment of one log in order, yielding its records a segment at a
 * time. A segment that is not the last is read up to the next one's start
 * (parseSegment's `liveEnd`). A damaged segment is cut at its last good record
 * (with `cut`, the file is truncated, so the next append continues from whole
 * records) and reported; reading goes on with the next segment, whose records
 * are independent. A last segment that ends at a stale record is neither
 * reported nor cut: those bytes are not part of the log.
 */
export function* readLog(
  dir: string,
  recordBytesMax: number,
  onDamage: (damage: LogDamage) => void,
  cut = true,
  wanted?: (shard: number) => boolean,
  onForeign?: (count: number) => void,
): Generator<ReadRecord[]> {
  const segments = listSegments(dir);
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const liveEnd = segments[i + 1]?.start;
    const { bytes, size } = readPrefix(segment.file, liveEnd === undefined ? Number.POSITIVE_INFINITY : liveEnd - segment.start);
    const read = parseSegment(bytes, segment.start, recordBytesMax, wanted, liveEnd);
    if (read.foreign > 0) onForeign?.(read.foreign);
    if (read.damage !== undefined) {
      if (cut) fs.truncateSync(segment.file, read.goodBytes);
      onDamage({ file: segment.file, damage: read.damage, bytesCut: cut ? size - read.goodBytes : 0 });
    }
    if (read.records.length > 0) yield read.records;
  }
}

// ---- the writer -----------------------------------------------------------------

export class WalWriter {
  readonly #options: WalOptions;
  readonly #dir: string;
  readonly #segments: Segment[];
  /** Queued buffers, each with the segment it goes to and the position of its first byte, in log order. */
  #queue: Array<{ segment: Segment; lsn: number; buffers: Uint8Array[]; bytes: number }> = [];
  /** Spare files, oldest first: the next new segments are these renamed. */
  readonly #spares: string[];
  #spareNext: number;
  #segmentsRecycled = 0;
  #pendingBytes = 0;
  #appendedLsn: number;
  #syncedLsn: number;
  #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #fd: fs.promises.FileHandle | undefined;
  #fdSegment: Segment | undefined;
  #syncs = 0;
  #recordsBody = 0;
  #recordsBuckets = 0;
  #appendedBytes = 0;
  #writeFailures = 0;
  #consecutiveFailures = 0;
  #lastErrorCode: string | undefined;
  #closed = false;

  /**
   * Opens (or continues) a worker's log. A continued log's last segment ends
   * where its records end (read back here, whatever readLog cut): a recycled
   * file is longer than its records, and appending after its stale bytes
   * would put records where no reader looks.
   */
  constructor(options: WalOptions) {
    assert.ok(
      Number.isInteger(options.recycleSegments) && options.recycleSegments >= 0 && options.recycleSegments <= RECYCLE_SEGMENTS_MAX,
      `recycleSegments ${options.recycleSegments} outside 0..${RECYCLE_SEGMENTS_MAX}`,
    );
    this.#options = options;
    this.#dir = logDir(options.root, options.epoch, options.worker);
    fs.mkdirSync(this.#dir, { recursive: true });
    fsyncDir(path.dirname(this.#dir));
    this.#segments = listSegments(this.#dir);
    const spares = listSpares(this.#dir);
    this.#spares = spares.files;
    this.#spareNext = spares.next;
    const last = this.#segments.at(-1);
    if (last !== undefined) {
      const { bytes, size } = readPrefix(last.file, Number.POSITIVE_INFINITY);
      const read = parseSegment(bytes, last.start, RECORD_BYTES_UNBOUNDED);
      if (read.goodBytes < size) fs.truncateSync(last.file, read.goodBytes);
      last.end = last.start + read.goodBytes;
      last.recycled = read.recycledFile;
    }
    this.#appendedLsn = last?.end ?? 0;
    this.#syncedLsn = this.#appendedLsn;
  }

  get epoch(): number {
    return this.#options.epoch;
  }

  /** Position after the last appended record. */
  get appendedLsn(): number {
    return this.#appendedLsn;
  }

  get syncedLsn(): number {
    return this.#syncedLsn;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Bytes from the start of the oldest kept segment to the end of the log: what trimming has not freed. */
  get retainedBytes(): number {
    const first = this.#segments[0];
    return first === undefined ? 0 : this.#appendedLsn - first.start;
  }

  /** True while the last write or sync failed and nothing has succeeded since. */
  get failing(): boolean {
    return this.#lastErrorCode !== undefined;
  }

  stats(): WalStats {
    let bytesOnDisk = 0;
    for (const segment of this.#segments) bytesOnDisk += Math.min(segment.end, this.#syncedLsn) - segment.start;
    return {
      appendedLsn: this.#appendedLsn,
      syncedLsn: this.#syncedLsn,
      pendingBytes: this.#pendingBytes,
      bytesOnDisk: Math.max(0, bytesOnDisk),
      segments: this.#segments.length,
      spareSegments: this.#spares.length,
      segmentsRecycled: this.#segmentsRecycled,
      records: { body: this.#recordsBody, buckets: this.#recordsBuckets },
      appendedBytes: this.#appendedBytes,
      syncs: this.#syncs,
      writeFailures: this.#writeFailures,
      lastErrorCode: this.#lastErrorCode,
    };
  }

  /** Queues a record; returns the position just after it. Synchronous: no I/O here. */
  append(record: WalRecord): number {
    if (this.#closed) throw new WalWriteError('the log is closed');
    const lsn = this.#appendedLsn;
    let segment = this.#segments.at(-1);
    // Encoded for the current segment; the flag does not change the size, so a new segment's re-encodes only when it differs.
    let buffers = recordBuffers(encodeRecordHeader(record, lsn, segment?.recycled ?? false), record);
    let bytes = 0;
    for (const buffer of buffers) bytes += buffer.length;
    if (segment === undefined || (segment.end > segment.start && segment.end + bytes > segment.start + this.#options.segmentBytesMax)) {
      // The spare is taken now, not when the file is opened: the records must say whether their file is recycled.
      const spare = this.#spares.shift();
      const recycled = spare !== undefined;
      if (recycled !== (segment?.recycled ?? false)) buffers = recordBuffers(encodeRecordHeader(record, lsn, recycled), record);
      segment = { start: lsn, end: lsn, file: path.join(this.#dir, segmentName(lsn)), linked: false, recycled, spare };
      this.#segments.push(segment);
    }
    segment.end += bytes;
    this.#appendedLsn += bytes;
    const tail = this.#queue.at(-1);
    if (tail !== undefined && tail.segment === segment) {
      for (const buffer of buffers) tail.buffers.push(buffer);
      tail.bytes += bytes;
    } else {
      this.#queue.push({ segment, lsn, buffers, bytes });
    }
    this.#pendingBytes += bytes;
    this.#appendedBytes += bytes;
    if (record.buckets === undefined) this.#recordsBody++;
    else this.#recordsBuckets++;
    this.#schedule();
    return this.#appendedLsn;
  }

  /** Resolves once the log is synced up to lsn; rejects with EVT_WAL_WRITE if the write covering it fails. */
  whenSynced(lsn: number): Promise<void> {
    if (lsn <= this.#syncedLsn) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ lsn, resolve, reject });
    });
  }

  /**
   * Frees whole segments that end at or before lsn (never the one being
   * appended to): keeps them as spares while fewer than recycleSegments are
   * kept, deletes the rest. Returns how many were freed.
   */
  async trimBefore(lsn: number): Promise<number> {
    let freed = 0;
    while (this.#segments.length > 1 && this.#segments[0]!.end <= lsn && this.#segments[0]!.end <= this.#syncedLsn) {
      const segment = this.#segments.shift()!;
      freed++;
      if (this.#spares.length < this.#options.recycleSegments) {
        // No directory fsync: if the rename is lost in a crash, the covered segment is read again and skipped, as an undone delete would be.
        const spare = path.join(this.#dir, spareName(this.#spareNext++));
        try {
          await fsp.rename(segment.file, spare);
          this.#spares.push(spare);
          continue;
        } catch {
          // Deleted below instead.
        }
      }
      await fsp.rm(segment.file, { force: true });
    }
    return freed;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#writing !== undefined || this.#closed) return;
    // After failures, back off (a full disk does not empty in a millisecond).
    const delayMs = this.#consecutiveFailures === 0 ? this.#options.syncIntervalMs : Math.min(RETRY_MS_MAX, RETRY_MS_MIN * 2 ** this.#consecutiveFailures);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.sync();
    }, delayMs);
  }

  /** Writes and syncs everything queued now; one at a time. */
  sync(): Promise<void> {
    if (this.#writing !== undefined) return this.#writing;
    if (this.#queue.length === 0) return Promise.resolve();
    const groups = this.#queue;
    this.#queue = [];
    const upTo = this.#appendedLsn;
    this.#writing = (async () => {
      let written = 0;
      try {
        for (const group of groups) {
          const fd = await this.#fdFor(group.segment);
          await fd.writev(group.buffers, group.lsn - group.segment.start);
          written += group.bytes;
          if (group !== groups.at(-1)) await fd.datasync();
        }
        await this.#fd!.datasync();
        this.#syncs++;
        this.#syncedLsn = upTo;
        this.#lastErrorCode = undefined;
        this.#consecutiveFailures = 0;
        this.#pendingBytes -= written;
        this.#release();
      } catch (cause) {
        this.#writeFailures++;
        this.#consecutiveFailures++;
        const error = new WalWriteError((cause as NodeJS.ErrnoException).code ?? String(cause));
        this.#lastErrorCode = error.code;
        await this.#cutBack();
        // Keep the records, in order, ahead of what arrived meanwhile; the waiters they cover fail now.
        this.#queue.unshift(...groups);
        this.#failWaiters(upTo, error);
      } finally {
        this.#writing = undefined;
      }
      if (this.#queue.length > 0 && !this.#closed) this.#schedule();
    })();
    return this.#writing;
  }

  /**
   * The file of a segment, open for writes at explicit offsets. A new
   * segment's file is a spare renamed into place when there is one, else a
   * new file; either way its directory entry is fsynced before a record in it
   * can be acknowledged.
   */
  async #fdFor(segment: Segment): Promise<fs.promises.FileHandle> {
    if (this.#fdSegment === segment && this.#fd !== undefined) return this.#fd;
    if (this.#fd !== undefined) {
      // The previous segment is on disk before the next one's file exists: readers take the next start as its end.
      await this.#fd.datasync();
      await this.#fd.close();
      this.#fd = undefined;
      this.#fdSegment = undefined;
    }
    let flags = 'r+';
    if (!fs.existsSync(segment.file)) {
      flags = 'w';
      const spare = segment.spare;
      segment.spare = undefined;
      if (spare !== undefined) {
        try {
          await fsp.rename(spare, segment.file);
          flags = 'r+';
          this.#segmentsRecycled++;
        } catch {
          // A spare that cannot be renamed is dropped; the segment is a new file (whose records still say recycled: harmless).
          await fsp.rm(spare, { force: true }).catch(() => undefined);
        }
      }
    }
    const fd = await fsp.open(segment.file, flags);
    if (!segment.linked) {
      try {
        fsyncDir(this.#dir);
      } catch (err) {
        await fd.close().catch(() => undefined);
        throw err;
      }
      segment.linked = true;
    }
    this.#fd = fd;
    this.#fdSegment = segment;
    return fd;
  }

  /**
   * After a failed write: files back to their synced length, so no partial
   * record stays on disk. The retry writes the same records at the same
   * offsets; a recycled file cut here simply grows again. This may cut a
   * segment the failed round had already synced before the next one: a crash
   * before the retry then reads it as shorter than the next one's start
   * (reported as damage), and nothing acknowledged is lost with it.
   */
  async #cutBack(): Promise<void> {
    for (const segment of this.#segments) {
      if (segment.end <= this.#syncedLsn) continue;
      const keep = Math.max(0, this.#syncedLsn - segment.start);
      try {
        if (fs.existsSync(segment.file)) await fsp.truncate(segment.file, keep);
      } catch {
        // The retry overwrites these bytes at their offsets; reads stop at a bad record anyway.
      }
    }
    if (this.#fd !== undefined) {
      await this.#fd.close().catch(() => undefined);
      this.#fd = undefined;
      this.#fdSegment = undefined;
    }
  }

  /**
   * At a clean close: a recycled file cut to its records, so the next reader
   * ends the log at the file's end, not in stale bytes it would report as
   * damage. Best effort: the reader copes without it.
   */
  async #cutStaleTail(): Promise<void> {
    const fd = this.#fd;
    const segment = this.#fdSegment;
    if (fd === undefined || segment === undefined || this.#queue.length > 0 || segment.end > this.#syncedLsn) return;
    try {
      if ((await fd.stat()).size <= segment.end - segment.start) return;
      await fd.truncate(segment.end - segment.start);
      await fd.sync();
    } catch {
      // Left as it is.
    }
  }

  #release(): void {
    let released = 0;
    while (released < this.#waiters.length && this.#waiters[released]!.lsn <= this.#syncedLsn) {
      this.#waiters[released]!.resolve();
      released++;
    }
    if (released > 0) this.#waiters.splice(0, released);
  }

  #failWaiters(upTo: number, error: Error): void {
    const keep: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (waiter.lsn <= upTo) waiter.reject(error);
      else keep.push(waiter);
    }
    this.#waiters = keep;
  }

  /** Writes and syncs what is queued (a bounded number of tries), then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (let attempt = 0; attempt < 3 && (this.#queue.length > 0 || this.#writing !== undefined); attempt++) await this.sync();
    this.#closed = true;
    await this.#cutStaleTail();
    await this.#fd?.close();
    this.#fd = undefined;
    this.#failWaiters(Number.POSITIVE_INFINITY, new WalWriteError('the log closed before this batch was synced'));
  }
}
