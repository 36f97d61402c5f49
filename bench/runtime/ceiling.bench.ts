/**
 * How cheap a shard worker's hot path could be in JavaScript, at the least:
 * a measured floor for the "1M events/s with protobuf" question, not a
 * second implementation. Side by side in one run, on the same protobuf
 * bodies (worker-path.ts):
 *
 * - `today`: the worker's path as it is (decode to plain objects, validate to
 *   records, OwnerActor.applyBatch, LmdbEventStore.prepareEvents).
 * - `floor`: a path that makes no object per event. One scan of the body
 *   writes columns (typed arrays): the id's 64-bit hash computed over its
 *   bytes, the name and category interned to small numbers through the
 *   readers' string cache, the user id's 32-bit hash, timestamp, severity,
 *   value, and the byte range of the whole Event message; tags and
 *   properties are only counted and their lengths checked. Apply is the real
 *   DedupMemory and HyperLogLog with counts in typed arrays; pack copies each
 *   event's bytes as they came, behind a varint length.
 *
 * What the floor leaves out is small on purpose, and errs toward making it
 * cheaper than a real path: no receipts, one window per owner (the real
 * actor walks its open windows), no check that property keys are unique or
 * not `__proto__`, ASCII strings only, a stored form that readers would
 * still have to parse. So a real columnar path costs more than `floor`, and
 * `today / floor` is an upper bound on what rewriting the worker's path
 * this way could buy. bench/RESULTS.md puts the figure in the server's
 * budget per event.
 *
 * Run: node dist/bench/runtime/ceiling.bench.js [rounds=5] [batches=2000]
 */
import { Buffer } from 'node:buffer';
import { BATCH_EVENTS, harnessBody, openWorkerPath, seeded } from './worker-path.js';
import { DedupMemory } from '../../src/actors/dedup.js';
import { HyperLogLog } from '../../src/actors/hll.js';
import { fromCache, hashStep } from '../../src/actors/fast-read.js';
import { DEFAULT_EVENT_LIMITS } from '../../src/actors/schema.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const BATCHES = Number(process.argv[3] ?? 2_000);
const OWNERS = 50;
const BODIES = 200;
const NAMES_MAX = 1_000;
const L = DEFAULT_EVENT_LIMITS;

/** The columns one scan writes, one row per event; sized for the largest batch. */
const cols = {
  idA: new Int32Array(BATCH_EVENTS),
  idB: new Int32Array(BATCH_EVENTS),
  name: new Int32Array(BATCH_EVENTS),
  category: new Int32Array(BATCH_EVENTS),
  severity: new Int32Array(BATCH_EVENTS),
  user: new Int32Array(BATCH_EVENTS),
  start: new Int32Array(BATCH_EVENTS),
  end: new Int32Array(BATCH_EVENTS),
  ts: new Float64Array(BATCH_EVENTS),
  value: new Float64Array(BATCH_EVENTS),
  ok: new Uint8Array(BATCH_EVENTS),
};

const names = new Map<string, number>();
const categories = new Map<string, number>();
function intern(table: Map<string, number>, s: string): number {
  let i = table.get(s);
  if (i === undefined) table.set(s, (i = table.size));
  return i;
}

let pos = 0;
function varint(b: Uint8Array): number {
  let result = 0;
  let mul = 1;
  for (;;) {
    const byte = b[pos++]!;
    result += (byte & 0x7f) * mul;
    if (byte < 0x80) return result;
    mul *= 128;
  }
}

/** Reads the string at pos (ASCII assumed), through the readers' cache, and steps over it. */
function cached(body: Buffer): string {
  const len = varint(body);
  const start = pos;
  pos += len;
  let h = 0;
  for (let i = start; i < pos; i++) h = hashStep(h, body[i]!);
  return fromCache(body, start, pos, h);
}

/** Two 32-bit lanes over a string's bytes, mixed at the end (the cost of a 64-bit hash, not hash64's values). */
let hashA = 0;
let hashB = 0;
function hashBytes(b: Uint8Array, start: number, end: number): void {
  let h1 = 0x9747b28c ^ (end - start);
  let h2 = 0x85ebca6b;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const k = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    h1 = Math.imul(h1 ^ k, 0xcc9e2d51);
    h1 = (h1 << 13) | (h1 >>> 19);
    h2 = Math.imul(h2 ^ k, 0x1b873593);
    h2 = (h2 << 17) | (h2 >>> 15);
  }
  for (; i < end; i++) {
    h1 = Math.imul(h1 ^ b[i]!, 0xcc9e2d51);
    h2 = Math.imul(h2 ^ b[i]!, 0x1b873593);
  }
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h2 ^= h2 >>> 13;
  h2 = Math.imul(h2, 0xc2b2ae35);
  hashA = h1 ^ (h1 >>> 13);
  hashB = h2 ^ (h2 >>> 16);
}

/** One scan of an IngestRequest into the columns; returns the event count. Invalid events get ok = 0. */
function scan(body: Buffer): number {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  pos = 0;
  let n = 0;
  while (pos < body.length) {
    const tag = body[pos++]!;
    const len = varint(body);
    if (tag !== 0x0a) {
      pos += len;
      continue;
    }
    const end = pos + len;
    cols.start[n] = pos;
    cols.end[n] = end;
    let ok = 1;
    let hasName = 0;
    let tags = 0;
    let props = 0;
    cols.ts[n] = NaN;
    cols.value[n] = NaN;
    cols.severity[n] = 0;
    cols.user[n] = 0;
    cols.category[n] = 0;
    while (pos < end) {
      const t = body[pos++]!;
      switch (t) {
        case 0x0a: {
          const l = varint(body);
          if (l > L.idCharsMax) ok = 0;
          hashBytes(body, pos, pos + l);
          cols.idA[n] = hashA;
          cols.idB[n] = hashB;
          pos += l;
          break;
        }
        case 0x12: {
          const s = cached(body);
          if (s.length > L.nameCharsMax) ok = 0;
          cols.name[n] = intern(names, s);
          hasName = 1;
          break;
        }
        case 0x18:
          cols.ts[n] = varint(body);
          break;
        case 0x2a: {
          const l = varint(body);
          hashBytes(body, pos, pos + l);
          cols.user[n] = hashA;
          pos += l;
          break;
        }
        case 0x32:
          cols.category[n] = intern(categories, cached(body));
          break;
        case 0x38:
          cols.severity[n] = varint(body);
          break;
        case 0x42: {
          const l = varint(body);
          if (l > L.tagCharsMax) ok = 0;
          tags++;
          pos += l;
          break;
        }
        case 0x4a: {
          // A map entry: key (1) and a PropertyValue (2); only lengths are checked.
          const entryEnd = varint(body) + pos;
          while (pos < entryEnd) {
            const et = body[pos++]!;
            const l = varint(body);
            if (et === 0x0a && l > L.propertyKeyCharsMax) ok = 0;
            if (et === 0x12 && l > L.propertyValueCharsMax + 8) ok = 0;
            pos += l;
          }
          props++;
          break;
        }
        case 0x51:
          cols.value[n] = view.getFloat64(pos, true);
          pos += 8;
          break;
        default:
          throw new Error(`unexpected tag ${t}`);
      }
    }
    if (hasName === 0 || tags > L.tagsMax || props > L.propertiesMax || cols.severity[n]! > 6) ok = 0;
    cols.ok[n] = ok;
    n++;
  }
  return n;
}

/** One owner's state in the floor path: the real dedup memory and sketch, counts in typed arrays. */
class FloorOwner {
  readonly dedup: DedupMemory;
  readonly hll = new HyperLogLog(12);
  total = 0;
  readonly byName = new Float64Array(NAMES_MAX);
  /** count, sum, min, max per name. */
  readonly values = new Float64Array(4 * NAMES_MAX);
  readonly byCategory = new Float64Array(256);
  readonly bySeverity = new Float64Array(8);
  constructor(nowMs: number) {
    this.dedup = new DedupMemory(100, 100_000, nowMs);
  }

  apply(n: number, nowMs: number): number {
    let accepted = 0;
    for (let k = 0; k < n; k++) {
      if (cols.ok[k] === 0) continue;
      if (this.dedup.seenHash(cols.idA[k]!, cols.idB[k]!, nowMs)) {
        cols.ok[k] = 0;
        continue;
      }
      accepted++;
      this.total++;
      const name = cols.name[k]!;
      this.byName[name] = this.byName[name]! + 1;
      const category = cols.category[k]! & 255;
      this.byCategory[category] = this.byCategory[category]! + 1;
      const severity = cols.severity[k]!;
      this.bySeverity[severity] = this.bySeverity[severity]! + 1;
      const v = cols.value[k]!;
      if (v === v) {
        const at = 4 * name;
        this.values[at] = this.values[at]! + 1;
        this.values[at + 1] = this.values[at + 1]! + v;
        if (!(v >= this.values[at + 2]!)) this.values[at + 2] = v;
        if (!(v <= this.values[at + 3]!)) this.values[at + 3] = v;
      }
      this.hll.add(cols.user[k]!);
    }
    return accepted;
  }
}

/** Each accepted event's bytes as they came, behind a varint length. */
function pack(body: Buffer, n: number): Buffer {
  let bytes = 0;
  for (let k = 0; k < n; k++) if (cols.ok[k] === 1) bytes += 2 + cols.end[k]! - cols.start[k]!;
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let k = 0; k < n; k++) {
    if (cols.ok[k] === 0) continue;
    const len = cols.end[k]! - cols.start[k]!;
    out[at++] = (len & 0x7f) | 0x80;
    out[at++] = len >>> 7;
    body.copy(out, at, cols.start[k], cols.end[k]);
    at += len;
  }
  return out;
}

const t0Ms = Date.now();
const random = seeded(7);
const bodies = Array.from({ length: BODIES }, (_, b) => harnessBody(b, random, t0Ms, 'protobuf'));
const owners = Array.from({ length: OWNERS }, () => new FloorOwner(t0Ms));
let packedBytes = 0;
let floorBatch = 0;
/** The floor's time by stage (ns), over the timed rounds. */
const floorStages = { scan: 0n, apply: 0n, pack: 0n };
let floorTimedEvents = 0;
function floorRun(batches: number, lapped = false): void {
  for (let i = 0; i < batches; i++, floorBatch++) {
    const body = bodies[floorBatch % BODIES]!;
    const t0 = lapped ? process.hrtime.bigint() : 0n;
    const n = scan(body);
    const t1 = lapped ? process.hrtime.bigint() : 0n;
    const accepted = owners[floorBatch % OWNERS]!.apply(n, t0Ms + floorBatch);
    const t2 = lapped ? process.hrtime.bigint() : 0n;
    if (accepted !== n) throw new Error('a duplicate or an invalid event: the bench means every event to be new and valid');
    packedBytes += pack(body, n).length;
    if (lapped) {
      const t3 = process.hrtime.bigint();
      floorStages.scan += t1 - t0;
      floorStages.apply += t2 - t1;
      floorStages.pack += t3 - t2;
      floorTimedEvents += n;
    }
  }
}

const today = openWorkerPath('protobuf');
let todayBatch = 0;
function todayRun(batches: number): void {
  for (let i = 0; i < batches; i++, todayBatch++) today.batch(todayBatch);
}

function timed(run: (batches: number) => void): number {
  const t = process.hrtime.bigint();
  run(BATCHES);
  return Number(process.hrtime.bigint() - t) / BATCHES / BATCH_EVENTS;
}

try {
  floorRun(3_000);
  todayRun(3_000);
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = timed(todayRun);
    const b = timed(floorRun);
    ratios.push(a / b);
    console.log(`round ${r + 1}: today ${a.toFixed(0)} ns per event, floor ${b.toFixed(0)} ns per event, today / floor ${(a / b).toFixed(2)}x`);
  }
  floorRun(BATCHES, true);
  const per = (ns: bigint): string => (Number(ns) / floorTimedEvents).toFixed(0);
  console.log(`floor by stage (a separate lapped pass): scan ${per(floorStages.scan)}, apply ${per(floorStages.apply)}, pack ${per(floorStages.pack)} ns per event`);
  ratios.sort((x, y) => x - y);
  console.log(
    `median today / floor ${ratios[ratios.length >> 1]!.toFixed(2)}x over ${ROUNDS} rounds of ${BATCHES} protobuf batches of ${BATCH_EVENTS}` +
      ` (floor stored ${(packedBytes / floorBatch / BATCH_EVENTS).toFixed(0)} bytes per event; Node ${process.version})`,
  );
} finally {
  await today.close();
}
