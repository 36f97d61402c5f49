/**
 * The columnar path against the record path (docs/columnar-path.md,
 * invariants 1-3): seeded random protobuf bodies go through both, and
 * whatever the columnar reader takes must give the same receipts, the same
 * windows and deltas, the same dedup memory and byte-identical buckets. It
 * must take every batch of plain valid events, and those with rejected
 * events too (their receipts as validateBatch makes them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { ColumnReader, COLUMNS_KEPT_EVENTS, STATUS_REJECTED } from '../../src/actors/columns.js';
import { decodeBody } from '../../src/actors/decode.js';
import { CACHE_SLOTS } from '../../src/actors/fast-read.js';
import { createValidator } from '../../src/actors/validate.js';
import { OwnerActor, type ApplySink, type ColumnSink } from '../../src/actors/owner.js';
import { hash32, hash32Ascii, hash64, hash64Ascii } from '../../src/actors/hash.js';
import { decodeBucket } from '../../src/store/lmdb/bucket-codec.js';
import { IngestRequest } from '../../src/gen/eventide/v1/ingest.js';
import { Event as PbEventCodec, type Event as PbEvent, type PropertyValue } from '../../src/gen/eventide/v1/event.js';
import { defaults } from '../../config/defaults.js';
import { agree, asciiString, mangle, byIndex, CATEGORIES, columnBuckets, KEYS, LIMITS, lcg, NAMES, OPTIONS, pick, recordBuckets, TAGS } from '../helpers/columns.js';

void test('hash64Ascii and hash32Ascii equal hash64 and hash32 of the string the bytes spell, at every length', () => {
  const rand = lcg(3);
  const out = new Uint32Array(2);
  const fromBytes = new Int32Array(4);
  for (let length = 0; length <= 70; length++) {
    for (let round = 0; round < 5; round++) {
      const s = asciiString(rand, length, length);
      // At an offset inside a larger buffer, as in a body.
      const body = Buffer.from(`xyz${s}!!`, 'latin1');
      hash64(s, out);
      hash64Ascii(body, 3, 3 + length, fromBytes, 2);
      assert.deepEqual([fromBytes[2]! >>> 0, fromBytes[3]! >>> 0], [out[0], out[1]], `hash64 of ${JSON.stringify(s)}`);
      assert.equal(hash32Ascii(body, 3, 3 + length), hash32(s), `hash32 of ${JSON.stringify(s)}`);
    }
  }
});

/** One plain valid event (every field optional but id and name), around receivedAtMs. */
function plainEvent(rand: () => number, ids: string[], receivedAtMs: number): PbEvent {
  // A third of ids come from the pool (duplicates across and within batches), the rest new.
  let id: string;
  if (ids.length > 0 && rand() < 0.3) id = pick(rand, ids);
  else {
    id = asciiString(rand, 1, rand() < 0.1 ? 128 : 40);
    ids.push(id);
    if (ids.length > 400) ids.shift();
  }
  const properties = new Map<string, PropertyValue>();
  const keys = KEYS.filter(() => rand() < 0.4);
  for (const key of keys) {
    const r = rand();
    let kind: PropertyValue['kind'];
    if (r < 0.25) kind = { $case: 'stringValue', value: asciiString(rand, 0, 12) };
    else if (r < 0.35) kind = { $case: 'stringValue', value: asciiString(rand, 33, 90) };
    else if (r < 0.5) kind = { $case: 'numberValue', value: Math.floor(rand() * 2000) - 1000 };
    else if (r < 0.6) kind = { $case: 'numberValue', value: pick(rand, [-0, 0.5, 1e300, 2 ** 60, -(2 ** 53), 2 ** 52 - 1, 2 ** 52, 3.14159]) };
    else if (r < 0.7) kind = { $case: 'numberValue', value: rand() * 100 };
    else kind = { $case: 'boolValue', value: rand() < 0.5 };
    properties.set(key, { kind });
  }
  const hasTimestamp = rand() < 0.8;
  // Mostly within the second, some a few seconds old (late, too late), some slightly ahead.
  const age = rand() < 0.7 ? Math.floor(rand() * 300) : rand() < 0.8 ? Math.floor(rand() * 6_000) : -Math.floor(rand() * 500);
  const event: PbEvent = {
    id,
    name: pick(rand, NAMES),
    timestampMs: hasTimestamp ? Math.max(0, receivedAtMs - age) : undefined,
    sentAtMs: rand() < 0.2 ? receivedAtMs - Math.floor(rand() * 3_000) + 1_000 : undefined,
    userId: rand() < 0.7 ? `user-${Math.floor(rand() * 50)}` : rand() < 0.5 ? '' : undefined,
    category: rand() < 0.6 ? pick(rand, CATEGORIES) : undefined,
    severity: Math.floor(rand() * 7),
    tags: TAGS.filter(() => rand() < 0.3),
    properties,
    value: rand() < 0.6 ? pick(rand, [Math.round(rand() * 10_000) / 100, -0, 0, 7, 1e-9]) : undefined,
  };
  return event;
}

/** A plain event with one thing the columnar reader must not take (a rejection, or a shape it leaves to the record path). */
function oddEvent(rand: () => number, ids: string[], receivedAtMs: number): PbEvent {
  const e = plainEvent(rand, ids, receivedAtMs);
  switch (Math.floor(rand() * 16)) {
    case 0:
      return { ...e, id: '' }; // the server assigns one
    case 1:
      return { ...e, name: '' }; // EVT_FIELD_MISSING
    case 2:
      return { ...e, name: 'näme' }; // not ASCII
    case 3:
      return { ...e, timestampMs: -5 };
    case 4:
      return { ...e, timestampMs: receivedAtMs + 10 * 60_000 }; // EVT_TIMESTAMP_FUTURE
    case 5:
      return { ...e, severity: 9 as PbEvent['severity'] };
    case 6:
      return { ...e, properties: new Map([['7up', { kind: { $case: 'boolValue', value: true } }]]) }; // an index-like key
    case 7:
      return { ...e, properties: new Map([['__proto__', { kind: { $case: 'boolValue', value: true } }]]) };
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
      return { ...e, properties: new Map([['empty', { kind: undefined }]]) }; // a value with none of its oneof
    case 14:
      return { ...e, userId: 'üser' };
    default:
      return { ...e, properties: new Map([['pad', { kind: { $case: 'stringValue', value: 'é'.repeat(40) } }]]) };
  }
}

function encode(events: PbEvent[], rand: () => number): Buffer {
  return Buffer.from(
    IngestRequest.encode({
      events,
      batchId: rand() < 0.3 ? `b-${Math.floor(rand() * 1000)}` : '',
      ack: Math.floor(rand() * 3),
      receiptsAll: rand() < 0.3,
    }).finish(),
  );
}

void test('the columnar path answers, counts and stores every batch it takes exactly as the record path does', () => {
  const rand = lcg(20261122);
  const validator = createValidator(LIMITS);
  const reader = new ColumnReader(LIMITS);
  const t0 = 1_700_000_000_000;
  const owner = 'owner-col';
  const shard = 3;
  const viaRecords = new OwnerActor(owner, OPTIONS, t0);
  const viaColumns = new OwnerActor(owner, OPTIONS, t0);
  viaRecords.watch('1s');
  viaColumns.watch('1s');
  viaRecords.watch('1m');
  viaColumns.watch('1m');
  const ids: string[] = [];
  let taken = 0;
  let refused = 0;
  let oddTaken = 0;
  let takenWithRejections = 0;
  let receivedAtMs = t0;
  for (let b = 0; b < 400; b++) {
    receivedAtMs += Math.floor(rand() * 700);
    const nowMs = receivedAtMs + (rand() < 0.9 ? Math.floor(rand() * 20) : Math.floor(rand() * 5_000));
    const odd = rand() < 0.3;
    // Mostly small batches, now and then one past a bucket (500) to split.
    const n = rand() < 0.03 ? 501 + Math.floor(rand() * 600) : 1 + Math.floor(rand() * 40);
    const events = Array.from({ length: n }, () => plainEvent(rand, ids, receivedAtMs));
    if (odd) events[Math.floor(rand() * n)] = oddEvent(rand, ids, receivedAtMs);
    const body = encode(events, rand);

    const decoded = decodeBody(body, 'protobuf', 'identity', defaults);
    const batch = validator.validateBatch(decoded.events, { receivedAtMs, requestId: `req-${b}` });
    const took = reader.read(body, receivedAtMs);
    if (!odd) assert.ok(took, `batch ${b} of plain valid events was not taken`);
    if (!took) {
      refused++;
      continue;
    }
    if (odd) oddTaken++;
    if (batch.rejected > 0) takenWithRejections++;
    taken++;
    const cols = reader.columns;
    assert.equal(cols.n, n);
    assert.equal(cols.rejected, batch.rejected, `batch ${b}: rejected events`);
    assert.equal(cols.batchId, decoded.batchId);
    assert.equal(cols.ack, decoded.ack);
    assert.equal(cols.receiptsAll, decoded.receiptsAll === true);
    for (let j = 0; j < batch.records.length; j++) {
      const k = batch.indexes[j]!;
      const record = batch.records[j]!;
      assert.notEqual(cols.status[k], STATUS_REJECTED);
      assert.equal(cols.id(k), record.id, `batch ${b} event ${k}: the server assigned an id, so the batch should not have been taken`);
      assert.equal(cols.userId(k), record.userId);
    }

    const receiptsAll = cols.receiptsAll;
    const sink: ApplySink = { shard, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: batch.rejected }, receipts: batch.receipts, receiptsAll, stored: [], storedIdWords: [] };
    viaRecords.applyBatch(batch.records, batch.indexes, nowMs, sink);
    const columnSink: ColumnSink = { counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: cols.rejected }, receipts: [...cols.rejections], receiptsAll };
    // Names' and categories' slots only speed up interning: wrong ones change nothing.
    if (b % 4 === 1) for (const slots of [cols.nameSlot, cols.categorySlot]) for (let i = 0; i < n; i++) slots[i] = Math.floor(rand() * 8) - 1;
    viaColumns.applyColumns(cols, nowMs, columnSink);
    assert.deepEqual(columnSink.counts, sink.counts, `batch ${b}: counts`);
    assert.deepEqual(byIndex(columnSink.receipts), byIndex(sink.receipts), `batch ${b}: receipts`);

    const stored = sink.stored.length;
    assert.equal(stored, n - sink.counts.duplicate - sink.counts.rejected);
    if (stored > 0) {
      const expected = recordBuckets(sink.stored);
      const actual = columnBuckets(reader, owner, shard, stored);
      assert.equal(actual.length, expected.length);
      for (let i = 0; i < expected.length; i++) {
        assert.ok(actual[i]!.equals(expected[i]!), `batch ${b}: bucket ${i} differs from encodeBucket's`);
        assert.deepEqual(decodeBucket(actual[i]!), sink.stored.slice(500 * i, 500 * (i + 1)));
      }
      // The strings' cache slots only speed up the bucket's string table: wrong ones (another string's, none) give the same bytes.
      if (b % 3 === 0) {
        for (const slots of [cols.nameSlot, cols.categorySlot, cols.tagSlot, cols.propKeySlot, cols.propStringSlot]) {
          for (let i = 0; i < slots.length; i++) slots[i] = rand() < 0.5 ? slots[(i + 1) % slots.length]! : Math.floor(rand() * (CACHE_SLOTS + 1)) - 1;
        }
        const scrambled = columnBuckets(reader, owner, shard, stored);
        for (let i = 0; i < expected.length; i++) assert.ok(scrambled[i]!.equals(expected[i]!), `batch ${b}: bucket ${i} with the slots scrambled`);
      }
    }
    reader.columns.release();

    if (b % 7 === 0) assert.deepEqual(viaColumns.takeOwnerDeltas(), viaRecords.takeOwnerDeltas(), `batch ${b}: deltas`);
    if (b % 11 === 0) assert.deepEqual(viaColumns.closeDue(nowMs), viaRecords.closeDue(nowMs), `batch ${b}: closed windows`);
  }
  const now = receivedAtMs + 1_000;
  assert.deepEqual(viaColumns.snapshot(now), viaRecords.snapshot(now), 'snapshots (windows, dedup memory)');
  assert.deepEqual(viaColumns.counters, viaRecords.counters);
  assert.equal(reader.counts.read, taken);
  assert.equal(reader.counts.gaveUp, refused);
  // Enough of each kind for the comparison to mean something.
  assert.ok(taken > 250, `only ${taken} batches taken`);
  assert.ok(refused > 20, `only ${refused} batches given up`);
  // Rejected events stay in the columns (their receipts made by the validator); valid odd ones give the batch up.
  assert.ok(takenWithRejections > 40, `only ${takenWithRejections} batches with rejected events taken`);
  assert.ok(oddTaken > takenWithRejections - 1 && refused > 20, `${oddTaken} odd batches taken, ${refused} given up`);
});

/** Protobuf wire bytes by hand, for what the generated encoder never writes. */
function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function lengthField(field: number, bytes: readonly number[]): number[] {
  return [...varintBytes(field * 8 + 2), ...varintBytes(bytes.length), ...bytes];
}

function asciiBytes(s: string): number[] {
  return [...Buffer.from(s, 'latin1')];
}

/** An IngestRequest of events given as their wire bytes. */
function requestOf(events: ReadonlyArray<readonly number[]>): Buffer {
  return Buffer.from(events.flatMap((e) => lengthField(1, e)));
}

void test('the columnar reader reads the wire as protobuf.ts does: unknown fields, long tags and lengths, repeats, non-canonical varints', () => {
  const reader = new ColumnReader(LIMITS);
  const receivedAtMs = 1_700_000_000_000;
  const base: PbEvent = {
    id: 'wire-1',
    name: 'signup',
    timestampMs: receivedAtMs - 10,
    userId: 'user-1',
    category: 'web',
    severity: 2,
    tags: ['a', 'beta'],
    properties: new Map<string, PropertyValue>([
      ['plan', { kind: { $case: 'stringValue', value: 'pro' } }],
      ['n', { kind: { $case: 'numberValue', value: 42 } }],
    ]),
    value: 1.5,
  };
  const plain = [...PbEventCodec.encode(base).finish()];
  const other = [...PbEventCodec.encode({ ...base, id: 'wire-2', name: 'login' }).finish()];
  const entry = (parts: number[]): number[] => lengthField(9, parts);
  // Each: extra fields for the first event, and whether the reader must take the batch (false: the record path's to answer).
  const cases: Array<[string, number[], boolean]> = [
    ['an unknown varint field', [0x78, ...varintBytes(300)], true],
    ['an unknown field with a two-byte tag', [...varintBytes(20 * 8), ...varintBytes(2 ** 40)], true],
    ['unknown fixed64 and fixed32 fields', [0x59, 1, 2, 3, 4, 5, 6, 7, 8, 0x65, 1, 2, 3, 4], true],
    ['an unknown length-delimited field of 200 bytes (a two-byte length)', lengthField(13, Array.from({ length: 200 }, () => 0xff)), true],
    ['an unknown length-delimited field number 2000', lengthField(2000, [1, 2, 3]), true],
    ['an unknown field with a four-byte tag and one of 20,000 bytes (a three-byte length)', [...lengthField(300_000, [1]), ...lengthField(14, Array.from({ length: 20_000 }, () => 7))], true],
    ['the name again (the last one wins)', lengthField(2, asciiBytes('purchase')), true],
    ['the id again (the last one wins)', lengthField(1, asciiBytes('wire-9')), true],
    ['a severity in two bytes', [0x38, 0x85, 0x00], true],
    // After the event's own timestamp it wins: a rejected event, its receipt the validator's; before it, the event's own wins.
    ['a timestamp with a ten-byte varint (negative)', [0x18, ...Array.from({ length: 9 }, () => 0xff), 0x01], true],
    ['a name as a varint (a known number, another wire type: skipped)', [0x10, 0x05], true],
    ['a tag of 64 characters', lengthField(8, asciiBytes('t'.repeat(64))), true],
    ['a property value of 300 characters (a two-byte length)', entry([...lengthField(1, asciiBytes('pad')), ...lengthField(2, lengthField(1, asciiBytes('v'.repeat(300))))]), true],
    ['a property with its value before its key', entry([...lengthField(2, [0x18, 0x01]), ...lengthField(1, asciiBytes('ok'))]), true],
    ['a property value holding a string then a number (the last one wins)', entry([...lengthField(1, asciiBytes('mix')), ...lengthField(2, [...lengthField(1, asciiBytes('s')), 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f])]), true],
    ['a property value with an unknown field', entry([...lengthField(1, asciiBytes('unk')), ...lengthField(2, [0x20, 0x07, 0x18, 0x00])]), true],
    ['a false bool in three bytes', entry([...lengthField(1, asciiBytes('f3')), ...lengthField(2, [0x18, 0x80, 0x80, 0x00])]), true],
    ['a bool in a ten-byte varint', entry([...lengthField(1, asciiBytes('b10')), ...lengthField(2, [0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])]), true],
    ['a property entry without a value (no property)', entry(lengthField(1, asciiBytes('novalue'))), true],
    ['an unknown field inside a property entry', entry([...lengthField(1, asciiBytes('e3')), 0x18, 0x01, ...lengthField(2, [0x18, 0x01])]), true],
    ['a group (the record path skips it)', [0x73, 0x08, 0x01, 0x74], false],
    ['field number 0', [0x02, 0x00], false],
    ['wire type 7', [0x0f], false],
    ['a length past the event', [0x6a, 0x7f], false],
    ['a fixed64 past the event', [0x59, 1, 2, 3], false],
  ];
  for (const [label, extra, taken] of cases) {
    for (const at of ['after', 'before'] as const) {
      const first = at === 'after' ? [...plain, ...extra] : [...extra, ...plain];
      const took = agree(reader, requestOf([first, other]), receivedAtMs, `${label} (${at})`, 'protobuf');
      if (taken) assert.ok(took, `${label} (${at}): a batch the columnar reader should take`);
      else assert.equal(took, false, `${label} (${at}): the record path's to answer`);
    }
  }
});

void test('on mangled bodies the columnar reader gives up or agrees with the record path, never more', () => {
  const rand = lcg(77);
  const reader = new ColumnReader(LIMITS);
  const receivedAtMs = 1_700_000_000_000;
  let took = 0;
  let gaveUp = 0;
  for (let i = 0; i < 1_500; i++) {
    const ids: string[] = [];
    const events = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => plainEvent(rand, ids, receivedAtMs));
    const bytes = mangle([...encode(events, rand)], rand);
    if (agree(reader, Buffer.from(bytes), receivedAtMs, `mangled body ${i}`, 'protobuf')) took++;
    else gaveUp++;
  }
  // Both outcomes, often (a changed byte inside a string or a number keeps the body valid).
  assert.ok(took > 150 && gaveUp > 150, `${took} taken, ${gaveUp} given up`);
});

void test('the columnar reader gives up on what the record path must answer: malformed, empty, too long, a long batchId', () => {
  const reader = new ColumnReader({ ...LIMITS, batchEventsMax: 3 });
  const event: PbEvent = { id: 'e1', name: 'n', severity: 0, tags: [], properties: new Map() };
  const body = (events: PbEvent[], batchId = ''): Buffer => Buffer.from(IngestRequest.encode({ events, batchId, ack: 0, receiptsAll: false }).finish());
  assert.ok(reader.read(body([event, { ...event, id: 'e2' }]), 1_000));
  assert.equal(reader.read(body([]), 1_000), false, 'no events');
  assert.equal(reader.read(body([event, event, event, event]), 1_000), false, 'past batchEventsMax');
  assert.equal(reader.read(body([event], 'b'.repeat(LIMITS.idCharsMax + 1)), 1_000), false, 'batchId past idCharsMax');
  const good = body([event]);
  assert.equal(reader.read(good.subarray(0, good.length - 1), 1_000), false, 'truncated');
  assert.equal(reader.read(Buffer.from([0x0a, 0x05, 0x0a]), 1_000), false, 'a length past the end');
  assert.deepEqual(reader.counts, { read: 1, gaveUp: 5 });
});

void test('the columns grow for an outsized batch and are dropped back after it', () => {
  const reader = new ColumnReader(LIMITS);
  const n = LIMITS.batchEventsMax;
  const events: PbEvent[] = Array.from({ length: n }, (_, i) => ({ id: `id-${i}`, name: 'n', severity: 0, tags: ['t'], properties: new Map([['k', { kind: { $case: 'boolValue', value: true } }]]) }));
  const body = Buffer.from(IngestRequest.encode({ events, batchId: '', ack: 0, receiptsAll: false }).finish());
  assert.ok(reader.read(body, 5_000));
  assert.equal(reader.columns.n, n);
  assert.ok(reader.columns.capacity >= n);
  reader.columns.release();
  assert.ok(reader.columns.capacity <= COLUMNS_KEPT_EVENTS, `capacity ${reader.columns.capacity} kept`);
  assert.equal(reader.columns.body.length, 0, 'the body is let go');
});
