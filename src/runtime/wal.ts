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
 *
 * Record: u32 payload length, u32 CRC-32 of the payload, payload:
 *   u8 version (1 or 2), u8 format, u8 encoding, u8 flags (1: receiptsAll),
 *   u16 shard, u16 owner bytes, u16 request-id bytes, u16 reserved,
 *   f64 nowMs, f64 receivedAtMs, owner (UTF-8), request id (UTF-8), then
 *   version 1: the body as it came in;
 *   version 2: the batch's stored events as the event store packed them
 *     (src/store/lmdb/bucket-codec.ts, see LogBucket in src/store/port.ts):
 *     u32 bucket count, per bucket u32 byte length, u32 event count and
 *     event count x u16 order, then every bucket's bytes.
 *
 * Why version 2: a JSON batch of 500 harness events is 123 KB as sent and
 * 31 KB packed, and the store packs it anyway on the hot path; logging those
 * bytes instead of the body cut the log's page-cache copies and checksum
 * (bench/RESULTS.md). A bucket holds only what the batch stored (accepted,
 * late, too late): the duplicates and rejected events of the batch changed
 * nothing an actor keeps, so replaying the stored events in their order (the
 * `order` arrays give it back: the identity for buckets in applied order, as the store writes them now; it sorted them by id hash before)
 * rebuilds the same windows, tallies, sums and recent ids. A batch the store
 * did not pack (too small to pack on the hot path, another store, events of
 * another shape) is logged as version 1.
 *
 * Group commit: appends only queue buffers (the body is referenced, not
 * copied); a writer wakes walSyncIntervalMs after the first queued record,
 * writes everything queued with one writev per segment, fdatasyncs once, and
 * releases every waiter whose position it covered. A failed write or sync
 * fails those waiters (EVT_WAL_WRITE), cuts the file back to its last synced
 * length and keeps the records queued for the next try: the log never holds a
 * half-written record that later records follow.
 *
 * Invariants: `appendedLsn >= syncedLsn`; a segment's bytes on disk up to
 * `syncedLsn` are whole records; segments are deleted only below a position
 * the shard host declared safe (trimBefore).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { BodyEncoding, BodyFormat } from '../actors/types.js';
import type { LogBucket } from '../store/port.js';
import { WalWriteError } from './errors.js';

const FORMATS: readonly BodyFormat[] = ['json', 'msgpack', 'protobuf'];
const ENCODINGS: readonly BodyEncoding[] = ['identity', 'gzip'];
const RECORD_VERSION = 1;
/** A record holding event-store buckets instead of the body. */
const RECORD_VERSION_BUCKETS = 2;
/** At most this many buckets in one record (a request's events fill a few). */
const RECORD_BUCKETS_MAX = 0xffff;
/** The u16 order of a bucket's events bounds its size. */
const BUCKET_EVENTS_MAX = 0x10000;
const PREFIX_BYTES = 8;
const FIXED_BYTES = 28;
const SEGMENT_SUFFIX = '.wal';
const FLAG_RECEIPTS_ALL = 1;
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
}

export interface WalStats {
  appendedLsn: number;
  syncedLsn: number;
  /** Queued, not yet written. */
  pendingBytes: number;
  /** Bytes in this log's segment files. */
  bytesOnDisk: number;
  segments: number;
  /** Records appended since the writer opened: with the request's body (version 1), with the store's buckets (version 2). */
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

function listSegments(dir: string): Segment[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const segments: Segment[] = [];
  for (const name of names) {
    if (!name.endsWith(SEGMENT_SUFFIX)) continue;
    const start = Number.parseInt(name.slice(0, -SEGMENT_SUFFIX.length), 16);
    if (!Number.isSafeInteger(start)) continue;
    const file = path.join(dir, name);
    segments.push({ start, end: start + fs.statSync(file).size, file });
  }
  return segments.sort((a, b) => a.start - b.start);
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

export function encodeRecordHeader(record: WalRecord): Buffer {
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
  header.writeUInt8(buckets === undefined ? RECORD_VERSION : RECORD_VERSION_BUCKETS, 8);
  header.writeUInt8(FORMATS.indexOf(record.format), 9);
  header.writeUInt8(ENCODINGS.indexOf(record.encoding), 10);
  header.writeUInt8(record.receiptsAll ? FLAG_RECEIPTS_ALL : 0, 11);
  header.writeUInt16LE(record.shard, 12);
  header.writeUInt16LE(owner.length, 14);
  header.writeUInt16LE(requestId.length, 16);
  header.writeUInt16LE(0, 18);
  header.writeDoubleLE(record.nowMs, 20);
  header.writeDoubleLE(record.receivedAtMs, 28);
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

/** A version 2 record's bucket table and bytes, from `at` to the payload's end; undefined when they do not add up. */
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
  /** Why reading stopped early, when it did (a torn or corrupt record). */
  damage: string | undefined;
}

/**
 * Parses a segment's bytes; stops at the first record that is torn or fails its
 * checksum. Records of shards `wanted` rejects are stepped over without the
 * checksum or a copy of their body: after a restart every worker reads every
 * old log, and most of it belongs to the others.
 */
export function parseSegment(bytes: Buffer, start: number, recordBytesMax: number, wanted?: (shard: number) => boolean): SegmentRead {
  const records: ReadRecord[] = [];
  let foreign = 0;
  let offset = 0;
  let damage: string | undefined;
  while (offset < bytes.length) {
    if (bytes.length - offset < PREFIX_BYTES + FIXED_BYTES) {
      damage = `torn record header at byte ${offset}`;
      break;
    }
    const payloadBytes = bytes.readUInt32LE(offset);
    if (payloadBytes < FIXED_BYTES || payloadBytes > recordBytesMax) {
      damage = `record length ${payloadBytes} out of range at byte ${offset}`;
      break;
    }
    const end = offset + PREFIX_BYTES + payloadBytes;
    if (end > bytes.length) {
      damage = `torn record at byte ${offset} (${end - bytes.length} bytes missing)`;
      break;
    }
    const payload = bytes.subarray(offset + PREFIX_BYTES, end);
    const knownVersion = payload.readUInt8(0) === RECORD_VERSION || payload.readUInt8(0) === RECORD_VERSION_BUCKETS;
    if (wanted !== undefined && knownVersion && !wanted(payload.readUInt16LE(4))) {
      foreign++;
      offset = end;
      continue;
    }
    if (crc32(payload) !== bytes.readUInt32LE(offset + 4)) {
      damage = `checksum mismatch at byte ${offset}`;
      break;
    }
    const version = payload.readUInt8(0);
    const format = FORMATS[payload.readUInt8(1)];
    const encoding = ENCODINGS[payload.readUInt8(2)];
    const ownerBytes = payload.readUInt16LE(6);
    const requestIdBytes = payload.readUInt16LE(8);
    const bodyStart = FIXED_BYTES + ownerBytes + requestIdBytes;
    const buckets = version === RECORD_VERSION_BUCKETS && bodyStart <= payload.length ? readBuckets(payload, bodyStart) : undefined;
    if (
      (version !== RECORD_VERSION && buckets === undefined) ||
      format === undefined ||
      encoding === undefined ||
      bodyStart > payload.length
    ) {
      damage = `unreadable record (version ${version}) at byte ${offset}`;
      break;
    }
    const requestId = payload.toString('utf8', FIXED_BYTES + ownerBytes, bodyStart);
    records.push({
      lsn: start + offset,
      endLsn: start + end,
      format,
      encoding,
      receiptsAll: (payload.readUInt8(3) & FLAG_RECEIPTS_ALL) !== 0,
      shard: payload.readUInt16LE(4),
      nowMs: payload.readDoubleLE(12),
      receivedAtMs: payload.readDoubleLE(20),
      owner: payload.toString('utf8', FIXED_BYTES, FIXED_BYTES + ownerBytes),
      requestId: requestId === '' ? undefined : requestId,
      // A copy: the segment buffer is large and read once.
      body: buckets === undefined ? new Uint8Array(payload.subarray(bodyStart)) : NO_BODY,
      buckets,
    });
    offset = end;
  }
  return { records, foreign, goodBytes: offset, damage };
}

export interface LogDamage {
  file: string;
  damage: string;
  bytesCut: number;
}

/**
 * Reads every segment of one log in order, yielding its records a segment at a
 * time. A damaged segment is cut at its last good record (with `cut`, the file
 * is truncated, so the next append continues from whole records) and reported;
 * reading goes on with the next segment, whose records are independent.
 */
export function* readLog(
  dir: string,
  recordBytesMax: number,
  onDamage: (damage: LogDamage) => void,
  cut = true,
  wanted?: (shard: number) => boolean,
  onForeign?: (count: number) => void,
): Generator<ReadRecord[]> {
  for (const segment of listSegments(dir)) {
    const bytes = fs.readFileSync(segment.file);
    const read = parseSegment(bytes, segment.start, recordBytesMax, wanted);
    if (read.foreign > 0) onForeign?.(read.foreign);
    if (read.damage !== undefined) {
      if (cut) fs.truncateSync(segment.file, read.goodBytes);
      onDamage({ file: segment.file, damage: read.damage, bytesCut: cut ? bytes.length - read.goodBytes : 0 });
    }
    if (read.records.length > 0) yield read.records;
  }
}

// ---- the writer -----------------------------------------------------------------

export class WalWriter {
  readonly #options: WalOptions;
  readonly #dir: string;
  readonly #segments: Segment[];
  /** Queued buffers, each with the segment it goes to, in log order. */
  #queue: Array<{ segment: Segment; buffers: Uint8Array[]; bytes: number }> = [];
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

  /** Opens (or continues) a worker's log; call after readLog has cut any damaged tail. */
  constructor(options: WalOptions) {
    this.#options = options;
    this.#dir = logDir(options.root, options.epoch, options.worker);
    fs.mkdirSync(this.#dir, { recursive: true });
    fsyncDir(path.dirname(this.#dir));
    this.#segments = listSegments(this.#dir);
    const last = this.#segments.at(-1);
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
    const header = encodeRecordHeader(record);
    const buffers = recordBuffers(header, record);
    let bytes = 0;
    for (const buffer of buffers) bytes += buffer.length;
    let segment = this.#segments.at(-1);
    if (segment === undefined || (segment.end > segment.start && segment.end + bytes > segment.start + this.#options.segmentBytesMax)) {
      segment = { start: this.#appendedLsn, end: this.#appendedLsn, file: path.join(this.#dir, segmentName(this.#appendedLsn)) };
      this.#segments.push(segment);
    }
    segment.end += bytes;
    this.#appendedLsn += bytes;
    const tail = this.#queue.at(-1);
    if (tail !== undefined && tail.segment === segment) {
      for (const buffer of buffers) tail.buffers.push(buffer);
      tail.bytes += bytes;
    } else {
      this.#queue.push({ segment, buffers, bytes });
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

  /** Deletes whole segments that end at or before lsn (never the one being appended to). */
  async trimBefore(lsn: number): Promise<number> {
    let removed = 0;
    while (this.#segments.length > 1 && this.#segments[0]!.end <= lsn && this.#segments[0]!.end <= this.#syncedLsn) {
      const segment = this.#segments.shift()!;
      await fsp.rm(segment.file, { force: true });
      removed++;
    }
    return removed;
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
          await fd.writev(group.buffers);
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

  async #fdFor(segment: Segment): Promise<fs.promises.FileHandle> {
    if (this.#fdSegment === segment && this.#fd !== undefined) return this.#fd;
    if (this.#fd !== undefined) {
      await this.#fd.datasync();
      await this.#fd.close();
      this.#fd = undefined;
    }
    const fresh = !fs.existsSync(segment.file);
    this.#fd = await fsp.open(segment.file, 'a');
    this.#fdSegment = segment;
    if (fresh) fsyncDir(this.#dir);
    return this.#fd;
  }

  /** After a failed write: files back to their synced length, so no partial record stays on disk. */
  async #cutBack(): Promise<void> {
    for (const segment of this.#segments) {
      if (segment.end <= this.#syncedLsn) continue;
      const keep = Math.max(0, this.#syncedLsn - segment.start);
      try {
        if (fs.existsSync(segment.file)) await fsp.truncate(segment.file, keep);
      } catch {
        // The next successful write starts by cutting again; reads stop at a bad record anyway.
      }
    }
    if (this.#fd !== undefined) {
      await this.#fd.close().catch(() => undefined);
      this.#fd = undefined;
      this.#fdSegment = undefined;
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
    await this.#fd?.close();
    this.#fd = undefined;
    this.#failWaiters(Number.POSITIVE_INFINITY, new WalWriteError('the log closed before this batch was synced'));
  }
}
