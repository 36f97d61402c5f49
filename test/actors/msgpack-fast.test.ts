/**
 * The one-pass msgpack reader (src/actors/msgpack-fast.ts) against what it
 * stands in for: the structure walk (scanMsgpack) and msgpackr configured as
 * decode.ts configures it. Whenever it returns a value, the walk must have
 * let the body through and msgpackr must read the same value in every field
 * the validator reads, in key order. Whenever it gives up, decode.ts runs
 * the walk and msgpackr, so giving up is always safe.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSameForValidator, FIELDS, rng } from './fast-read-helpers.js';
import { Packr, Unpackr } from 'msgpackr';
import { readMsgpackFast } from '../../src/actors/msgpack-fast.js';
import { scanMsgpack } from '../../src/actors/scan.js';
import { fastReadLimits, type FastReadLimits } from '../../src/actors/fast-read.js';
import { decodeBody, type DecodeLimits } from '../../src/actors/decode.js';

const LIMITS: DecodeLimits = {
  bodyInflatedBytesMax: 1 << 24,
  batchEventsMax: 500,
  idCharsMax: 128,
  bodyDepthMax: 8,
  tagsMax: 16,
  propertiesMax: 32,
};
const STRUCTURE: FastReadLimits = fastReadLimits(LIMITS);
/** As decode.ts reads msgpack. */
const unpackr = new Unpackr({ mapsAsObjects: true, int64AsType: 'number', structuredClone: false });
const packr = new Packr({ useRecords: false, variableMapSize: true });

/** A value only for bodies the walk and msgpackr accept, and then the same value. Returns whether it read the body. */
function checkAgainstUnpack(bytes: Buffer, label: string): boolean {
  const fast = readMsgpackFast(bytes, STRUCTURE);
  if (fast === undefined) return false;
  assert.equal(scanMsgpack(bytes, STRUCTURE), undefined, `${label}: read a body the walk refuses`);
  let unpacked: unknown;
  try {
    unpacked = unpackr.unpack(bytes);
  } catch (err) {
    assert.fail(`${label}: read a body msgpackr refuses (${String(err)}): ${bytes.toString('hex').slice(0, 200)}`);
  }
  assertSameForValidator(fast, unpacked, label);
  return true;
}

/** Hand-encoded scalars, so every msgpack form appears (Packr picks the smallest). */
const SCALARS: Buffer[] = [
  Buffer.from([0x00]),
  Buffer.from([0x7f]),
  Buffer.from([0xff]), // -1
  Buffer.from([0xe0]), // -32
  Buffer.from([0xc0]),
  Buffer.from([0xc2]),
  Buffer.from([0xc3]),
  Buffer.from([0xcc, 0xff]),
  Buffer.from([0xcd, 0x12, 0x34]),
  Buffer.from([0xce, 0xff, 0xff, 0xff, 0xff]),
  Buffer.from([0xcf, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]), // 2^53 + 1: rounds as msgpackr rounds
  Buffer.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
  Buffer.from([0xd0, 0x80]),
  Buffer.from([0xd1, 0x80, 0x00]),
  Buffer.from([0xd2, 0x80, 0x00, 0x00, 0x00]),
  Buffer.from([0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]),
  Buffer.from([0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
  Buffer.from([0xca, 0x3f, 0xc0, 0x00, 0x00]), // 1.5 as float32
  Buffer.from([0xca, 0x3d, 0xcc, 0xcc, 0xcd]), // 0.1 as float32
  Buffer.from([0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18]),
  Buffer.from([0xd9, 0x03, 0x61, 0x62, 0x63]), // str8 "abc"
  Buffer.from([0xda, 0x00, 0x02, 0xc3, 0xa9]), // str16 "é"
  Buffer.from([0xdb, 0x00, 0x00, 0x00, 0x04, 0xf0, 0x9f, 0x98, 0x80]), // str32 "😀"
  Buffer.from([0xa0]),
  Buffer.from([0xa3, 0xef, 0xbb, 0xbf]), // a U+FEFF inside a string is kept
];
const STRINGS = ['a', 'page_view', 'é', '日本', '😀', 'x'.repeat(40), 'path', '', '__proto_', 'tags'];
const KEYS = [...FIELDS, 'pad', 'extra', 'ïd', '0', '10', '2', 'constructor'];

function str(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length < 32) return Buffer.concat([Buffer.from([0xa0 | bytes.length]), bytes]);
  return Buffer.concat([Buffer.from([0xd9, bytes.length]), bytes]);
}

function mapHeader(n: number, r: () => number): Buffer {
  if (n < 16 && r() < 0.8) return Buffer.from([0x80 | n]);
  return Buffer.from([0xde, n >> 8, n & 0xff]);
}

function arrayHeader(n: number, r: () => number): Buffer {
  if (n < 16 && r() < 0.8) return Buffer.from([0x90 | n]);
  return r() < 0.5 ? Buffer.from([0xdc, n >> 8, n & 0xff]) : Buffer.from([0xdd, 0, 0, n >> 8, n & 0xff]);
}

function randomValue(r: () => number, depth: number): Buffer {
  const k = r();
  if (depth > 0 && k < 0.08) {
    const n = Math.floor(r() * 3);
    return Buffer.concat([arrayHeader(n, r), ...Array.from({ length: n }, () => randomValue(r, depth - 1))]);
  }
  if (depth > 0 && k < 0.16) {
    const n = Math.floor(r() * 3);
    return Buffer.concat([mapHeader(n, r), ...Array.from({ length: n }, () => Buffer.concat([str(STRINGS[Math.floor(r() * STRINGS.length)]!), randomValue(r, depth - 1)]))]);
  }
  if (k < 0.55) return str(STRINGS[Math.floor(r() * STRINGS.length)]!);
  return SCALARS[Math.floor(r() * SCALARS.length)]!;
}

function randomEvent(r: () => number): Buffer {
  const n = Math.floor(r() * 12);
  const parts: Buffer[] = [mapHeader(n, r)];
  for (let i = 0; i < n; i++) {
    const key = KEYS[Math.floor(r() * KEYS.length)]!;
    parts.push(str(key));
    if (key === 'tags') {
      const t = Math.floor(r() * 4);
      parts.push(arrayHeader(t, r), ...Array.from({ length: t }, () => (r() < 0.9 ? str(STRINGS[Math.floor(r() * STRINGS.length)]!) : randomValue(r, 0))));
    } else if (key === 'properties') {
      const p = Math.floor(r() * 5);
      parts.push(mapHeader(p, r), ...Array.from({ length: p }, () => Buffer.concat([str(KEYS[Math.floor(r() * KEYS.length)]!), randomValue(r, 1)])));
    } else parts.push(randomValue(r, 2));
  }
  return Buffer.concat(parts);
}

function randomBody(r: () => number): Buffer {
  const n = 1 + Math.floor(r() * 6);
  const list = Buffer.concat([arrayHeader(n, r), ...Array.from({ length: n }, () => (r() < 0.95 ? randomEvent(r) : randomValue(r, 1)))]);
  if (r() < 0.5) return list;
  const members: Buffer[] = [Buffer.concat([str('events'), list])];
  if (r() < 0.5) members.push(Buffer.concat([str('batchId'), randomValue(r, 0)]));
  if (r() < 0.3) members.unshift(Buffer.concat([str('meta'), randomValue(r, 2)]));
  return Buffer.concat([mapHeader(members.length, r), ...members]);
}

void test('reads the batches clients send, to what msgpackr gives: arrays, envelopes, every integer, float and string form', () => {
  const events = [
    { id: 'e1', name: 'page_view', timestamp: 1_700_000_000_000, userId: 'u1', category: 'web', severity: 'info', tags: ['a', 'b'], properties: { path: '/x', n: 3, ok: true, f: -2.5 }, value: 2.5 },
    { name: 'café 😀', properties: { '10': 1, '2': 2, a: 3 }, extra: { deep: [1, { x: null }] } },
  ];
  const bodies: Array<[string, Buffer]> = [
    ['array', packr.pack(events)],
    ['envelope', packr.pack({ events, batchId: 'b-1' })],
    ['envelope, batchId first', packr.pack({ batchId: 'first', events })],
    ['items that are not events', packr.pack([{ name: 'x' }, 7, 's', null, [1, 2], {}])],
    ['every scalar form', Buffer.concat([arrayHeader(1, () => 0), mapHeader(SCALARS.length, () => 1), ...SCALARS.map((s, i) => Buffer.concat([str(`k${i}`), s]))])],
    ['empty', packr.pack([])],
  ];
  for (const [label, bytes] of bodies) assert.ok(checkAgainstUnpack(bytes, label), `${label} must be read in one pass`);
});

void test('gives up on what only the walk and msgpackr may answer', () => {
  const cases: Array<[string, Buffer]> = [
    ['one event, not a batch', packr.pack({ name: 'a' })],
    ['an envelope without events', packr.pack({ batchId: 'x' })],
    ['events twice', Buffer.concat([Buffer.from([0x82]), str('events'), Buffer.from([0x90]), str('events'), Buffer.from([0x90])])],
    ['events not an array', packr.pack({ events: { name: 'a' } })],
    ['__proto__ as a property key', Buffer.concat([Buffer.from([0x91, 0x82]), str('name'), str('a'), str('properties'), Buffer.from([0x81]), str('__proto__'), Buffer.from([0x01])])],
    ['__proto__ as an event key', Buffer.concat([Buffer.from([0x91, 0x81]), str('__proto__'), Buffer.from([0x01])])],
    ['a key that is not a string', Buffer.concat([Buffer.from([0x91, 0x81, 0x01]), str('a')])],
    ['an extension type', Buffer.concat([Buffer.from([0x91, 0x81]), str('name'), Buffer.from([0xd4, 0x01, 0x00])])],
    ['a msgpack timestamp', Buffer.concat([Buffer.from([0x91, 0x81]), str('timestamp'), Buffer.from([0xd6, 0xff, 0, 0, 0, 1])])],
    ['the byte 0xc1', Buffer.concat([Buffer.from([0x91, 0x81]), str('name'), Buffer.from([0xc1])])],
    ['bin', Buffer.concat([Buffer.from([0x91, 0x81]), str('name'), Buffer.from([0xc4, 0x01, 0x61])])],
    ['invalid UTF-8', Buffer.concat([Buffer.from([0x91, 0x81]), str('name'), Buffer.from([0xa2, 0xc3, 0x28])])],
    ['truncated', packr.pack([{ name: 'abc' }]).subarray(0, 6)],
    ['a count past the end', Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])],
    ['trailing bytes', Buffer.concat([packr.pack([{ name: 'a' }]), Buffer.from([0x00])])],
    ['more events than batchEventsMax', packr.pack(Array.from({ length: LIMITS.batchEventsMax + 1 }, () => ({ name: 'a' })))],
  ];
  for (const [label, bytes] of cases) assert.equal(readMsgpackFast(bytes, STRUCTURE), undefined, label);
  assert.ok(checkAgainstUnpack(packr.pack(Array.from({ length: LIMITS.batchEventsMax }, () => ({ name: 'a' }))), 'batchEventsMax events'));
});

void test('gives up past the walk limits: values and depth are counted as the walk counts them', () => {
  const tight: FastReadLimits = { depthMax: 3, valuesMax: 10, eventsMax: 5, itemsMax: 100 };
  const ok = packr.pack([{ name: 'a', properties: { k: 1 } }]);
  assert.notEqual(readMsgpackFast(ok, tight), undefined);
  assert.equal(scanMsgpack(ok, tight), undefined);
  for (const [label, value] of [
    ['depth 4', [{ name: 'a', properties: { k: [1] } }]],
    ['11 values', [{ name: 'a', tags: [1, 2, 3, 4, 5, 6, 7] }]],
    ['6 events', [1, 2, 3, 4, 5, 6]],
  ] as const) {
    const bytes = packr.pack(value);
    assert.equal(readMsgpackFast(bytes, tight), undefined, label);
    assert.notEqual(scanMsgpack(bytes, tight), undefined, `${label}: the walk refuses it too`);
  }
});

void test('gives up on any container but the events array with more than itemsMax items, from its header', () => {
  const limits: FastReadLimits = { ...STRUCTURE, itemsMax: 8 };
  const props = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
  const tags = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
  assert.ok(readMsgpackFast(packr.pack([{ name: 'a', properties: props(8), tags: tags(8) }]), limits) !== undefined);
  assert.equal(readMsgpackFast(packr.pack([{ name: 'a', properties: props(9) }]), limits), undefined, 'properties');
  assert.equal(readMsgpackFast(packr.pack([{ name: 'a', tags: tags(9) }]), limits), undefined, 'tags');
  assert.equal(readMsgpackFast(packr.pack({ events: [], ...props(9) }), limits), undefined, 'the envelope');
  assert.ok(readMsgpackFast(packr.pack(Array.from({ length: 20 }, () => ({ name: 'a' }))), limits) !== undefined);
  // A map header claiming four billion entries: given up on at the header, before anything is read or allocated.
  assert.equal(readMsgpackFast(Buffer.concat([Buffer.from([0x91, 0x81]), str('properties'), Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff])]), STRUCTURE), undefined);
});

void test('3,000 seeded random bodies: every one it reads equals msgpackr; most are read', () => {
  const r = rng(20261122);
  let read = 0;
  for (let i = 0; i < 3_000; i++) {
    const bytes = randomBody(r);
    if (checkAgainstUnpack(bytes, `body ${i}: ${bytes.toString('hex').slice(0, 300)}`)) read++;
  }
  assert.ok(read > 2_000, `read ${read} of 3,000`);
});

void test('4,000 seeded byte mutations of a valid body: it reads only what the walk and msgpackr accept, as they read it', () => {
  const r = rng(7);
  const base = packr.pack({
    events: [
      { id: 'e-1', name: 'page_view', timestamp: 1_700_000_000_000, userId: 'u-1', category: 'web', severity: 'info', tags: ['mobile', 'eu'], properties: { path: '/p/1', n: 42, ok: true, f: -2.5e3 }, value: 0.25 },
      { name: 'café ü', properties: { t: 'x"y', big: 2 ** 40, neg: -70_000 } },
    ],
    batchId: 'b',
  });
  let read = 0;
  for (let i = 0; i < 4_000; i++) {
    const bytes = Buffer.from(base);
    const edits = 1 + Math.floor(r() * 3);
    for (let e = 0; e < edits; e++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
    if (checkAgainstUnpack(bytes, `mutation ${i}: ${bytes.toString('hex')}`)) read++;
  }
  assert.ok(read > 100, `some mutations stay valid and are read (${read})`);
});

void test('decodeBody answers the same with or without the one-pass reader: values, and errors from the walk and msgpackr', () => {
  assert.throws(() => decodeBody(Buffer.concat([Buffer.from([0x91, 0x81]), str('name'), Buffer.from([0xd4, 0x01, 0x00])]), 'msgpack', 'identity', LIMITS), {
    code: 'EVT_BODY_MALFORMED',
    message: /extension types are not accepted/,
  });
  assert.throws(() => decodeBody(packr.pack(Array.from({ length: LIMITS.batchEventsMax + 1 }, () => ({ name: 'a' }))), 'msgpack', 'identity', LIMITS), { code: 'EVT_BATCH_TOO_LONG' });
  assert.throws(() => decodeBody(packr.pack([]), 'msgpack', 'identity', LIMITS), { code: 'EVT_BATCH_EMPTY' });
  assert.throws(() => decodeBody(packr.pack({ events: [{ name: 'a' }], batchId: 7 }), 'msgpack', 'identity', LIMITS), { code: 'EVT_BODY_MALFORMED' });
  assert.equal(decodeBody(packr.pack({ name: 'a' }), 'msgpack', 'identity', LIMITS).single, true);
  const batch = decodeBody(packr.pack({ events: [{ name: 'a', pad: 1 }], batchId: 'b-7' }), 'msgpack', 'identity', LIMITS);
  assert.equal(batch.batchId, 'b-7');
  assert.equal((batch.events[0] as { name: string }).name, 'a');
});
