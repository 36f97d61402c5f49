/**
 * The columnar path for msgpack bodies (src/actors/columns-msgpack.ts)
 * against the record path (decode.ts, validate.ts, OwnerActor.applyBatch):
 * seeded random bodies as msgpackr writes them (map 16 and fixmap events,
 * arrays and envelopes), hand-made encodings msgpackr never writes (every
 * number width, str 8 / 16 / 32, map and array 32) and mangled bodies. For
 * whatever the columnar reader takes, the receipts, counts, deltas, closed
 * windows, snapshots and stored buckets must be the record path's; it must
 * take every batch of plain valid events, and those with rejected events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { Packr } from 'msgpackr';
import { ColumnReader, STATUS_REJECTED } from '../../src/actors/columns.js';
import { fieldAt, severityAt } from '../../src/actors/columns-msgpack.js';
import { FIELD_NAMES, fieldOf } from '../../src/actors/fast-read.js';
import { decodeBody } from '../../src/actors/decode.js';
import { createValidator } from '../../src/actors/validate.js';
import { OwnerActor, type ApplySink, type ColumnSink } from '../../src/actors/owner.js';
import { decodeBucket } from '../../src/store/lmdb/bucket-codec.js';
import { SEVERITIES } from '../../src/actors/types.js';
import { defaults } from '../../config/defaults.js';
import { agree, asciiString, mangle, byIndex, CATEGORIES, columnBuckets, KEYS, LIMITS, lcg, NAMES, OPTIONS, pick, recordBuckets, TAGS } from '../helpers/columns.js';

const COLUMN_LIMITS = { ...LIMITS, bodyDepthMax: defaults.bodyDepthMax };
/** msgpackr as clients use it: map 16 for every object, or fixmaps (variableMapSize). */
const PACKERS = [new Packr({ useRecords: false }), new Packr({ useRecords: false, variableMapSize: true })];

type Plain = Record<string, unknown>;

/** One plain valid event (every field optional but id and name), around receivedAtMs. */
function plainEvent(rand: () => number, ids: string[], receivedAtMs: number): Plain {
  let id: string;
  if (ids.length > 0 && rand() < 0.3) id = pick(rand, ids);
  else {
    id = asciiString(rand, 1, rand() < 0.1 ? 128 : 40);
    ids.push(id);
    if (ids.length > 400) ids.shift();
  }
  const e: Plain = { id, name: pick(rand, NAMES) };
  if (rand() < 0.8) {
    const age = rand() < 0.7 ? Math.floor(rand() * 300) : rand() < 0.8 ? Math.floor(rand() * 6_000) : -Math.floor(rand() * 500);
    // Mostly whole ms; some with a fraction (float 64 either way, as msgpackr writes numbers past 32 bits).
    e.timestamp = Math.max(0, receivedAtMs - age) + (rand() < 0.1 ? 0.25 : 0);
  }
  if (rand() < 0.2) e.sentAt = receivedAtMs - Math.floor(rand() * 3_000) + 1_000;
  const u = rand();
  if (u < 0.7) e.userId = `user-${Math.floor(rand() * 50)}`;
  else if (u < 0.85) e.userId = '';
  if (rand() < 0.6) e.category = pick(rand, CATEGORIES);
  if (rand() < 0.6) e.severity = pick(rand, SEVERITIES);
  if (rand() < 0.7) e.tags = TAGS.filter(() => rand() < 0.3);
  if (rand() < 0.8) {
    const properties: Plain = {};
    for (const key of KEYS.filter(() => rand() < 0.4)) {
      const r = rand();
      if (r < 0.25) properties[key] = asciiString(rand, 0, 12);
      else if (r < 0.35) properties[key] = asciiString(rand, 33, 90);
      else if (r < 0.5) properties[key] = Math.floor(rand() * 2000) - 1000;
      else if (r < 0.6) properties[key] = pick(rand, [-0, 0.5, 1e300, 2 ** 60, -(2 ** 53), 2 ** 52 - 1, 2 ** 52, 3.14159, 300, 70_000, -200, 2 ** 32 + 1]);
      else if (r < 0.7) properties[key] = rand() * 100;
      else properties[key] = rand() < 0.5;
    }
    e.properties = properties;
  }
  if (rand() < 0.6) e.value = pick(rand, [Math.round(rand() * 10_000) / 100, -0, 0, 7, 1e-9, -3, 255, 65_536]);
  // A key the schema does not know, with a scalar: read past.
  if (rand() < 0.1) e[pick(rand, ['extra', 'v', 'meta_data_key'])] = pick(rand, [null, 1, 'x', true, 2.5, -7]);
  return e;
}

/** A plain event with one thing the columnar reader must not take (a rejection, or a shape it leaves to the record path). */
function oddEvent(rand: () => number, ids: string[], receivedAtMs: number): unknown {
  const e = plainEvent(rand, ids, receivedAtMs);
  switch (Math.floor(rand() * 30)) {
    case 0:
      delete e.id; // the server assigns one
      return e;
    case 1:
      return { ...e, name: '' };
    case 2:
      return { ...e, name: 'näme' }; // not ASCII
    case 3:
      return { ...e, timestamp: -5 };
    case 4:
      return { ...e, timestamp: receivedAtMs + 10 * 60_000 }; // EVT_TIMESTAMP_FUTURE
    case 5:
      return { ...e, severity: 'fatal' };
    case 6:
      return { ...e, properties: { '7up': true } }; // an index-like key
    case 7:
      return { ...e, properties: { constructor: true } };
    case 8:
      return { ...e, value: Number.NaN };
    case 9:
      return { ...e, tags: [''] };
    case 10:
      return { ...e, tags: Array.from({ length: LIMITS.tagsMax + 1 }, (_, i) => `t${i}`) };
    case 11:
      return { ...e, id: 'x'.repeat(LIMITS.idCharsMax + 1) };
    case 12:
      return { ...e, category: '' };
    case 13:
      return { ...e, properties: { empty: null } };
    case 14:
      return { ...e, userId: 'üser' };
    case 15:
      return { ...e, timestamp: 'yesterday' };
    case 16:
      return { ...e, severity: 3 };
    case 17:
      return { ...e, id: 5 };
    case 18:
      return { ...e, id: '' };
    case 19:
      return { ...e, userId: null };
    case 20:
      return pick(rand, ['an event', 42, null, [1, 2], true]);
    case 21:
      return { ...e, properties: ['a'] };
    case 22:
      return { ...e, tags: 'a' };
    case 23:
      return { ...e, properties: { nested: { a: 1 } } };
    case 24:
      return { ...e, extra: { a: [1, 2] } }; // valid, with a container the columns do not read past
    case 25:
      return { ...e, value: Number.POSITIVE_INFINITY };
    case 26:
      return { ...e, properties: { k: 'x'.repeat(LIMITS.propertyValueCharsMax + 1) } };
    case 27:
      return { ...e, sentAt: -1 };
    case 28:
      return { ...e, tags: [1] };
    default:
      return { ...e, properties: { pad: 'é'.repeat(40) } };
  }
}

/** A body as a client would send it: a bare array or an envelope (batchId sometimes, '' sometimes, another key sometimes). */
function encode(events: unknown[], rand: () => number): Buffer {
  const packr = pick(rand, PACKERS);
  const r = rand();
  if (r < 0.3) return packr.pack(events);
  const envelope: Plain = {};
  if (rand() < 0.3) envelope.client = 'sdk-x';
  envelope.events = events;
  if (r < 0.6) envelope.batchId = rand() < 0.2 ? '' : `b-${Math.floor(rand() * 1000)}`;
  return packr.pack(envelope);
}

void test('msgpack: the columnar path answers, counts and stores every batch it takes exactly as the record path does', () => {
  const rand = lcg(20261123);
  const validator = createValidator(LIMITS);
  const reader = new ColumnReader(COLUMN_LIMITS);
  const t0 = 1_700_000_000_000;
  const owner = 'owner-mp';
  const shard = 2;
  const viaRecords = new OwnerActor(owner, OPTIONS, t0);
  const viaColumns = new OwnerActor(owner, OPTIONS, t0);
  viaRecords.watch('1s');
  viaColumns.watch('1s');
  const ids: string[] = [];
  let taken = 0;
  let refused = 0;
  let takenWithRejections = 0;
  let receivedAtMs = t0;
  for (let b = 0; b < 500; b++) {
    receivedAtMs += Math.floor(rand() * 700);
    const nowMs = receivedAtMs + (rand() < 0.9 ? Math.floor(rand() * 20) : Math.floor(rand() * 5_000));
    const odd = rand() < 0.35;
    const n = rand() < 0.03 ? 501 + Math.floor(rand() * 600) : 1 + Math.floor(rand() * 40);
    const events: unknown[] = Array.from({ length: n }, () => plainEvent(rand, ids, receivedAtMs));
    if (odd) events[Math.floor(rand() * n)] = oddEvent(rand, ids, receivedAtMs);
    const body = encode(events, rand);

    const decoded = decodeBody(body, 'msgpack', 'identity', defaults);
    const batch = validator.validateBatch(decoded.events, { receivedAtMs, requestId: `req-${b}` });
    const took = reader.read(body, receivedAtMs, 'msgpack');
    if (!odd) assert.ok(took, `batch ${b} of plain valid events was not taken`);
    if (!took) {
      refused++;
      continue;
    }
    taken++;
    if (batch.rejected > 0) takenWithRejections++;
    const cols = reader.columns;
    assert.equal(cols.n, n);
    assert.equal(cols.rejected, batch.rejected, `batch ${b}: rejected events`);
    assert.equal(cols.batchId, decoded.batchId, `batch ${b}: batchId`);
    assert.equal(cols.ack, decoded.ack);
    assert.equal(cols.receiptsAll, decoded.receiptsAll === true);
    for (let j = 0; j < batch.records.length; j++) {
      const k = batch.indexes[j]!;
      const record = batch.records[j]!;
      assert.notEqual(cols.status[k], STATUS_REJECTED);
      assert.equal(cols.id(k), record.id, `batch ${b} event ${k}: the server assigned an id, so the batch should not have been taken`);
      assert.equal(cols.userId(k), record.userId);
    }
    const sink: ApplySink = { shard, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: batch.rejected }, receipts: batch.receipts, receiptsAll: true, stored: [], storedIdWords: [] };
    viaRecords.applyBatch(batch.records, batch.indexes, nowMs, sink);
    const columnSink: ColumnSink = { counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: cols.rejected }, receipts: [...cols.rejections], receiptsAll: true };
    viaColumns.applyColumns(cols, nowMs, columnSink);
    assert.deepEqual(columnSink.counts, sink.counts, `batch ${b}: counts`);
    assert.deepEqual(byIndex(columnSink.receipts), byIndex(sink.receipts), `batch ${b}: receipts`);
    const stored = sink.stored.length;
    if (stored > 0) {
      const expected = recordBuckets(sink.stored);
      const actual = columnBuckets(reader, owner, shard, stored);
      assert.equal(actual.length, expected.length);
      for (let i = 0; i < expected.length; i++) {
        assert.ok(actual[i]!.equals(expected[i]!), `batch ${b}: bucket ${i} differs from encodeBucket's`);
        assert.deepEqual(decodeBucket(actual[i]!), sink.stored.slice(500 * i, 500 * (i + 1)));
      }
    }
    reader.columns.release();
    if (b % 7 === 0) assert.deepEqual(viaColumns.takeOwnerDeltas(), viaRecords.takeOwnerDeltas(), `batch ${b}: deltas`);
    if (b % 11 === 0) assert.deepEqual(viaColumns.closeDue(nowMs), viaRecords.closeDue(nowMs), `batch ${b}: closed windows`);
  }
  const now = receivedAtMs + 1_000;
  assert.deepEqual(viaColumns.snapshot(now), viaRecords.snapshot(now), 'snapshots (windows, dedup memory)');
  assert.deepEqual(viaColumns.counters, viaRecords.counters);
  assert.deepEqual(reader.counts, { read: taken, gaveUp: refused });
  assert.ok(taken > 350, `only ${taken} batches taken`);
  assert.ok(refused > 30, `only ${refused} batches given up`);
  assert.ok(takenWithRejections > 80, `only ${takenWithRejections} batches with rejected events taken`);
});

/** msgpack bytes by hand, for what msgpackr never writes. */
const str = (s: string): number[] => {
  const bytes = [...Buffer.from(s, 'utf8')];
  return bytes.length < 32 ? [0xa0 | bytes.length, ...bytes] : [0xd9, bytes.length, ...bytes];
};
const str16 = (s: string): number[] => [0xda, 0, s.length, ...Buffer.from(s, 'latin1')];
const str32 = (s: string): number[] => [0xdb, 0, 0, 0, s.length, ...Buffer.from(s, 'latin1')];
const u64 = (v: number): number[] => [0xcf, ...Buffer.from(new BigUint64Array([BigInt(v)]).buffer).reverse()];
const i64 = (v: number): number[] => [0xd3, ...Buffer.from(new BigInt64Array([BigInt(v)]).buffer).reverse()];
const f32 = (v: number): number[] => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  return [0xca, ...b];
};
const f64 = (v: number): number[] => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return [0xcb, ...b];
};
const u32 = (v: number): number[] => [0xce, (v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const map32 = (n: number): number[] => [0xdf, 0, 0, 0, n];
const array32 = (n: number): number[] => [0xdd, 0, 0, 0, n];

void test('msgpack: the columnar reader reads every encoding as the record path does, and leaves it the rest', () => {
  const reader = new ColumnReader(COLUMN_LIMITS);
  const receivedAtMs = 1_700_000_000_000;
  const ts = receivedAtMs - 10;
  // An event as its entries (key and value bytes), written as a fixmap.
  const event = (entries: number[][]): number[] => [0x80 | entries.length, ...entries.flat()];
  const id = (s: string): number[] => [...str('id'), ...str(s)];
  const name = [...str('name'), ...str('signup')];
  const other = event([id('wire-2'), [...str('name'), ...str('login')]]);
  const cases: Array<[string, number[], boolean]> = [
    ['a timestamp as uint 64', event([id('a'), name, [...str('timestamp'), ...u64(ts)]]), true],
    ['a timestamp as int 64', event([id('a'), name, [...str('timestamp'), ...i64(ts)]]), true],
    ['a timestamp as float 32', event([id('a'), name, [...str('timestamp'), ...f32(ts)]]), true],
    ['a negative timestamp as int 64 (rejected)', event([id('a'), name, [...str('timestamp'), ...i64(-5)]]), true],
    ['a value as uint 32, a property as int 64 and uint 64', event([id('a'), name, [...str('value'), ...u32(4_000_000_000)], [...str('properties'), 0x82, ...str('x'), ...i64(-(2 ** 40)), ...str('y'), ...u64(2 ** 53 + 2)]]), true],
    ['uint 8 / 16, int 8 / 16 / 32 and negative fixints', event([id('a'), name, [...str('properties'), 0x85, ...str('a'), 0xcc, 200, ...str('b'), 0xcd, 1, 0, ...str('c'), 0xd0, 0x80, ...str('d'), 0xd1, 0x80, 0, ...str('e'), 0xd2, 0xff, 0xff, 0xff, 0xfe], [...str('value'), 0xf0]]), true],
    ['a float 32 property and value', event([id('a'), name, [...str('properties'), 0x81, ...str('r'), ...f32(0.1)], [...str('value'), ...f32(-2.5)]]), true],
    ['an id as str 16 and a name as str 32', event([[...str('id'), ...str16('wire-long')], [...str('name'), ...str32('signup')]]), true],
    ['keys as str 8', event([[0xd9, 2, ...Buffer.from('id'), ...str('k1')], [0xd9, 4, ...Buffer.from('name'), ...str('n')]]), true],
    ['tags as array 32, properties as map 32', event([id('a'), name, [...str('tags'), ...array32(2), ...str('t1'), ...str('t2')], [...str('properties'), ...map32(1), ...str('k'), 0xc3]]), true],
    ['an event as map 32', [...map32(2), ...id('a'), ...name], true],
    ['an unknown key with nil, with false, with a float', event([id('a'), name, [...str('x'), 0xc0], [...str('y'), 0xc2], [...str('zz'), ...f64(1.5)]]), true],
    ['an unknown key with a non-ASCII string (left to the record path, which decodes it strictly)', event([id('a'), name, [...str('x'), ...str('été')]]), false],
    ['an unknown key with invalid UTF-8', event([id('a'), name, [...str('x'), 0xa2, 0xc3, 0x28]]), false],
    ['an unknown key with bin', event([id('a'), name, [...str('x'), 0xc4, 1, 7]]), false],
    ['an unknown key with an ext', event([id('a'), name, [...str('x'), 0xd4, 1, 7]]), false],
    ['the name twice (the last one wins)', event([id('a'), name, [...str('name'), ...str('purchase')]]), false],
    ['a key that is not a string', event([id('a'), name, [0x01, 0x02]]), false],
    ['the key __proto__', event([id('a'), name, [...str('__proto__'), 0x01]]), false],
    ['a property key __proto__', event([id('a'), name, [...str('properties'), 0x81, ...str('__proto__'), 0xc3]]), false],
    ['an index-like property key after another (the object lists it first)', event([id('a'), name, [...str('properties'), 0x82, ...str('b'), 0xc3, ...str('7'), 0xc2]]), false],
    ['a property key twice (the object keeps its first place and last value)', event([id('a'), name, [...str('properties'), 0x83, ...str('k'), 0xc3, ...str('j'), 0x01, ...str('k'), 0xc2]]), false],
    ['a property key that is not a string', event([id('a'), name, [...str('properties'), 0x81, 0x05, 0xc3]]), false],
    ['a tag as bin (rejected? no: the one-pass reader leaves bin to msgpackr)', event([id('a'), name, [...str('tags'), 0x91, 0xc4, 1, 0x41]]), false],
    ['a severity as str 8', event([id('a'), name, [...str('severity'), 0xd9, 5, ...Buffer.from('error')]]), true],
    ['an unknown severity (rejected)', event([id('a'), name, [...str('severity'), ...str('loud')]]), true],
    ['an empty properties map and tags array', event([id('a'), name, [...str('properties'), 0x80], [...str('tags'), 0x90]]), true],
    ['the reserved byte 0xc1 as a value', event([id('a'), name, [...str('value'), 0xc1]]), false],
    ['a truncated float 64', event([id('a'), name, [...str('value'), 0xcb, 1, 2]]), false],
  ];
  for (const [label, first, taken] of cases) {
    for (const shape of ['array', 'envelope'] as const) {
      const events = [first, other];
      const body = shape === 'array' ? [0x92, ...events.flat()] : [0x81, ...str('events'), 0x92, ...events.flat()];
      const took = agree(reader, Buffer.from(body), receivedAtMs, `${label} (${shape})`, 'msgpack');
      if (taken) assert.ok(took, `${label} (${shape}): a batch the columnar reader should take`);
      else assert.equal(took, false, `${label} (${shape}): the record path's to answer`);
    }
  }
});

void test('msgpack: the columnar reader gives up on bodies the record path must answer or answers differently', () => {
  const reader = new ColumnReader({ ...COLUMN_LIMITS, batchEventsMax: 3 });
  const packr = PACKERS[0]!;
  const e = { id: 'e1', name: 'n' };
  const body = (v: unknown): Buffer => packr.pack(v);
  assert.ok(reader.read(body([e, { ...e, id: 'e2' }]), 1_000, 'msgpack'));
  assert.ok(reader.read(body({ events: [e], batchId: 'b-1', note: 'x' }), 1_000, 'msgpack'));
  assert.equal(reader.columns.batchId, 'b-1');
  const refused: Array<[string, Buffer]> = [
    ['one event, not a batch', body(e)],
    ['no events', body([])],
    ['an empty envelope', body({ events: [] })],
    ['past batchEventsMax', body([e, e, e, e])],
    ['batchId past idCharsMax', body({ events: [e], batchId: 'b'.repeat(LIMITS.idCharsMax + 1) })],
    ['batchId not a string', body({ events: [e], batchId: 7 })],
    ['batchId not ASCII', body({ events: [e], batchId: 'bé' })],
    ['events not an array', body({ events: e })],
    ['an envelope key with a container', body({ events: [e], meta: { a: 1 } })],
    ['a string body', body('events')],
    ['bytes after the body', Buffer.concat([body([e]), Buffer.from([0x01])])],
    ['a truncated body', body([e]).subarray(0, 5)],
    ['events twice', Buffer.from([0x82, ...str('events'), 0x91, ...[...body(e)], ...str('events'), 0x91, ...[...body(e)]])],
  ];
  for (const [label, b] of refused) assert.equal(reader.read(b, 1_000, 'msgpack'), false, label);
  assert.deepEqual(reader.counts, { read: 2, gaveUp: refused.length });
  // Without bodyDepthMax no msgpack body is taken (the protobuf reader does not need it).
  assert.equal(new ColumnReader(LIMITS).read(body([e]), 1_000, 'msgpack'), false);
  // Depth: a batch whose tags would pass bodyDepthMax is the record path's.
  const shallow = new ColumnReader({ ...LIMITS, bodyDepthMax: 3 });
  assert.equal(shallow.read(body({ events: [{ ...e, tags: ['a'] }] }), 1_000, 'msgpack'), false);
  assert.ok(shallow.read(body([{ ...e, tags: ['a'] }]), 1_000, 'msgpack'));
});

void test('msgpack: on mangled bodies the columnar reader gives up or agrees with the record path, never more', () => {
  const rand = lcg(91);
  const reader = new ColumnReader(COLUMN_LIMITS);
  const receivedAtMs = 1_700_000_000_000;
  let took = 0;
  let gaveUp = 0;
  for (let i = 0; i < 1_500; i++) {
    const ids: string[] = [];
    const events = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => plainEvent(rand, ids, receivedAtMs));
    const bytes = mangle([...encode(events, rand)], rand);
    if (agree(reader, Buffer.from(bytes), receivedAtMs, `mangled body ${i}`, 'msgpack')) took++;
    else gaveUp++;
  }
  assert.ok(took > 150 && gaveUp > 150, `${took} taken, ${gaveUp} given up`);
});

void test('fieldAt and severityAt tell keys and severities apart as fieldOf and the validator do, near misses included', () => {
  const rand = lcg(5);
  const names = [...FIELD_NAMES, ...SEVERITIES, 'ids', 'nam', 'namе', 'Name', 'tag', 'tagss', 'valu', 'values', 'sentat', 'userID', 'categor', 'severit', 'timestam', 'propertie', 'propertiesx', 'infO', 'debuG', 'errors', 'notic', 'warnin', 'warnings', 'critica', 'criticaL', ''];
  // Each name, and each with one byte changed.
  const keys: string[] = [];
  for (const name of names) {
    keys.push(name);
    for (let i = 0; i < name.length; i++) keys.push(name.slice(0, i) + String.fromCharCode(name.charCodeAt(i) ^ (1 << Math.floor(rand() * 7))) + name.slice(i + 1));
  }
  for (const key of keys) {
    // At an odd offset inside a larger buffer, as in a body, with bytes after it.
    const b = Buffer.from(`\x01${key}\x65\x65\x65\x65`, 'latin1');
    const view = new DataView(b.buffer, b.byteOffset, b.length);
    assert.equal(fieldAt(b, view, 1, 1 + key.length), fieldOf(b, 1, 1 + key.length), `field of ${JSON.stringify(key)}`);
    let severity: number;
    try {
      severity = severityAt(b, view, 1, 1 + key.length);
    } catch {
      severity = -1;
    }
    assert.equal(severity, (SEVERITIES as readonly string[]).indexOf(key), `severity ${JSON.stringify(key)}`);
  }
});
