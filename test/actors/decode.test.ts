import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { Packr } from 'msgpackr';
import { decodeBody, type DecodedBody, type DecodeLimits } from '../../src/actors/decode.js';
import { IngestRequest, AckLevel } from '../../src/gen/eventide/v1/ingest.js';
import { Event as PbEvent, Severity } from '../../src/gen/eventide/v1/event.js';
import type { EventideError } from '../../src/errors.js';

const LIMITS: DecodeLimits = { bodyInflatedBytesMax: 64 * 1024, batchEventsMax: 5, idCharsMax: 16, bodyDepthMax: 8, tagsMax: 4, propertiesMax: 4 };
const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));

function throwsCode(fn: () => unknown, code: string, field?: string): EventideError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected ${code}, nothing was thrown`);
  const e = caught as EventideError;
  assert.equal(e.code, code, e.message);
  if (field !== undefined) assert.equal(e.field, field);
  return e;
}

function pbEvent(partial: Partial<PbEvent>): PbEvent {
  return { id: '', name: '', severity: Severity.SEVERITY_UNSPECIFIED, tags: [], properties: new Map(), ...partial };
}

function pbBody(events: PbEvent[], extra: Partial<IngestRequest> = {}): Uint8Array {
  return IngestRequest.encode({ events, batchId: '', ack: AckLevel.ACK_LEVEL_UNSPECIFIED, receiptsAll: false, ...extra }).finish();
}

void test('json: one event object is a single-event batch', () => {
  const out = decodeBody(json({ name: 'click' }), 'json', 'identity', LIMITS);
  assert.deepEqual(out, { events: [{ name: 'click' }], single: true });
});

/** The fields an event was sent with: the one-pass readers (json-fast.ts, msgpack-fast.ts) leave absent schema fields undefined, as the protobuf reader does. */
function sent(body: DecodedBody): DecodedBody {
  return { ...body, events: body.events.map((e) => Object.fromEntries(Object.entries(e as object).filter(([, v]) => v !== undefined))) };
}

void test('json: an array and an envelope are batches; the envelope batchId is echoed', () => {
  assert.deepEqual(sent(decodeBody(json([{ name: 'a' }, { name: 'b' }]), 'json', 'identity', LIMITS)), {
    events: [{ name: 'a' }, { name: 'b' }],
    single: false,
  });
  assert.deepEqual(sent(decodeBody(json({ events: [{ name: 'a' }], batchId: 'b-1' }), 'json', 'identity', LIMITS)), {
    events: [{ name: 'a' }],
    single: false,
    batchId: 'b-1',
  });
});

void test('json: a syntax error is EVT_BODY_MALFORMED and says where', () => {
  const e = throwsCode(() => decodeBody(enc.encode('{"name": "a",}'), 'json', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
  assert.match(e.message, /position \d+/);
});

void test('json: invalid UTF-8 is EVT_BODY_MALFORMED', () => {
  throwsCode(() => decodeBody(new Uint8Array([0x22, 0xff, 0xfe, 0x22]), 'json', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
});

void test('json: a body that is not an object or array is EVT_BODY_MALFORMED', () => {
  for (const body of ['42', '"x"', 'null', 'true']) {
    throwsCode(() => decodeBody(enc.encode(body), 'json', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
  }
  throwsCode(() => decodeBody(json({ events: { name: 'a' } }), 'json', 'identity', LIMITS), 'EVT_BODY_MALFORMED', 'events');
});

void test('batchId must be a string within idCharsMax', () => {
  throwsCode(() => decodeBody(json({ events: [{ name: 'a' }], batchId: 7 }), 'json', 'identity', LIMITS), 'EVT_BODY_MALFORMED', 'batchId');
  throwsCode(
    () => decodeBody(json({ events: [{ name: 'a' }], batchId: 'x'.repeat(17) }), 'json', 'identity', LIMITS),
    'EVT_BODY_MALFORMED',
    'batchId',
  );
});

void test('an empty batch is EVT_BATCH_EMPTY in every shape', () => {
  throwsCode(() => decodeBody(json([]), 'json', 'identity', LIMITS), 'EVT_BATCH_EMPTY', 'events');
  throwsCode(() => decodeBody(json({ events: [] }), 'json', 'identity', LIMITS), 'EVT_BATCH_EMPTY', 'events');
  throwsCode(() => decodeBody(new Packr().pack([]), 'msgpack', 'identity', LIMITS), 'EVT_BATCH_EMPTY');
  throwsCode(() => decodeBody(pbBody([]), 'protobuf', 'identity', LIMITS), 'EVT_BATCH_EMPTY');
});

void test('more than batchEventsMax events is EVT_BATCH_TOO_LONG in every shape', () => {
  const six = Array.from({ length: 6 }, (_, i) => ({ name: `e${i}` }));
  throwsCode(() => decodeBody(json(six), 'json', 'identity', LIMITS), 'EVT_BATCH_TOO_LONG', 'events');
  throwsCode(() => decodeBody(json({ events: six }), 'json', 'identity', LIMITS), 'EVT_BATCH_TOO_LONG', 'events');
  throwsCode(() => decodeBody(new Packr({ useRecords: false }).pack(six), 'msgpack', 'identity', LIMITS), 'EVT_BATCH_TOO_LONG');
  throwsCode(() => decodeBody(new Packr({ useRecords: false }).pack({ events: six }), 'msgpack', 'identity', LIMITS), 'EVT_BATCH_TOO_LONG');
  throwsCode(() => decodeBody(pbBody(six.map((e) => pbEvent(e))), 'protobuf', 'identity', LIMITS), 'EVT_BATCH_TOO_LONG');
  // Exactly the limit passes.
  assert.equal(decodeBody(json(six.slice(0, 5)), 'json', 'identity', LIMITS).events.length, 5);
});

void test('protobuf: past batchEventsMax the reader stops, and the refusal says how many the body holds', () => {
  // 100,000 empty events (two bytes each): read up to the sixth, then counted by skipping.
  const empties = new Uint8Array(200_000);
  for (let i = 0; i < empties.length; i += 2) empties[i] = 0x0a;
  const big = { ...LIMITS, bodyInflatedBytesMax: 1 << 20 };
  const e = throwsCode(() => decodeBody(empties, 'protobuf', 'identity', big), 'EVT_BATCH_TOO_LONG') as EventideError & { length: number };
  assert.equal(e.length, 100_000);
  // Malformed past the limit: the count finds it, and the body is malformed, not too long.
  const bad = Uint8Array.from([...pbBody(Array.from({ length: 6 }, (_, i) => pbEvent({ name: `e${i}` }))), 0x0a, 0x09]);
  throwsCode(() => decodeBody(bad, 'protobuf', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
});

void test('msgpack: an array header declaring too many events is refused before decoding the rest', () => {
  // array32 declaring 4 billion elements, followed by nothing: refused on the header, not as truncated.
  const body = new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]);
  throwsCode(() => decodeBody(body, 'msgpack', 'identity', LIMITS), 'EVT_BATCH_TOO_LONG');
  // The same for an envelope map whose first key is "events" (array16 of 6).
  const env = new Uint8Array([0x81, 0xa6, ...enc.encode('events'), 0xdc, 0x00, 0x06]);
  throwsCode(() => decodeBody(env, 'msgpack', 'identity', LIMITS), 'EVT_BATCH_TOO_LONG');
});

void test('protobuf: a million empty events are refused by the field scan', () => {
  const body = new Uint8Array(2 * 1_000_000);
  for (let i = 0; i < body.length; i += 2) body[i] = 0x0a; // field 1, length-delimited, length 0
  throwsCode(() => decodeBody(body, 'protobuf', 'identity', { ...LIMITS, bodyInflatedBytesMax: 4e6 }), 'EVT_BATCH_TOO_LONG');
});

void test('gzip: a compressed body decodes like the plain one', () => {
  const plain = json({ events: [{ name: 'a', tags: ['x'] }] });
  assert.deepEqual(decodeBody(gzipSync(plain), 'json', 'gzip', LIMITS), decodeBody(plain, 'json', 'identity', LIMITS));
});

void test('gzip: a bomb is EVT_BODY_TOO_LARGE, a corrupt stream EVT_BODY_MALFORMED', () => {
  const bomb = gzipSync(new Uint8Array(LIMITS.bodyInflatedBytesMax + 1));
  assert.ok(bomb.length < 1024);
  throwsCode(() => decodeBody(bomb, 'json', 'gzip', LIMITS), 'EVT_BODY_TOO_LARGE');
  const corrupt = gzipSync(json([{ name: 'a' }]));
  corrupt[corrupt.length - 6] = corrupt[corrupt.length - 6]! ^ 0xff; // break the CRC
  throwsCode(() => decodeBody(corrupt, 'json', 'gzip', LIMITS), 'EVT_BODY_MALFORMED');
  throwsCode(() => decodeBody(json([{ name: 'a' }]), 'json', 'gzip', LIMITS), 'EVT_BODY_MALFORMED');
});

void test('msgpack: plain maps decode in all three shapes', () => {
  const events = [
    { name: 'a', timestamp: 1_700_000_000_000, tags: ['t'] },
    { name: 'b', timestamp: 1_700_000_000_001, tags: [] },
  ];
  const packr = new Packr({ useRecords: false });
  assert.deepEqual(sent(decodeBody(packr.pack(events), 'msgpack', 'identity', LIMITS)), { events, single: false });
  assert.deepEqual(sent(decodeBody(packr.pack({ events, batchId: 'q' }), 'msgpack', 'identity', LIMITS)), {
    events,
    single: false,
    batchId: 'q',
  });
  assert.deepEqual(decodeBody(packr.pack(events[0]), 'msgpack', 'identity', LIMITS), { events: [events[0]], single: true });
});

void test('msgpack: extension types are refused, msgpackr records and timestamps included', () => {
  const events = [{ name: 'a', timestamp: 1_700_000_000_000 }];
  const records = throwsCode(() => decodeBody(new Packr({ useRecords: true }).pack(events), 'msgpack', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
  assert.match(records.message, /extension types are not accepted \(type 114/);
  // msgpackr's extensions for other types: each built by msgpackr's own reader if it were let through.
  const packr = new Packr({ useRecords: false, moreTypes: true, useBigIntExtension: true, structuredClone: true });
  for (const value of [new Date(0), new Set([1]), new Error('x'), /a+/, new Uint16Array(2), 10n ** 30n]) {
    const e = throwsCode(() => decodeBody(packr.pack([{ name: 'a', properties: { v: value } }]), 'msgpack', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
    assert.match(e.message, /extension types are not accepted/);
  }
  // A structured-clone pointer (ext 0x70) on its own.
  throwsCode(() => decodeBody(new Uint8Array([0x91, 0xd6, 0x70, 0, 0, 0, 1]), 'msgpack', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
});

void test('msgpack: 0x40..0x7f are plain integers, so no record structure can carry over to the next body', () => {
  // fixarray(1) holding 0x40 and then bytes: a valid { name: 'z', timestamp: 1 }
  // if a record structure 0x40 were defined, else 64 and trailing bytes.
  const next = new Uint8Array([0x91, 0x40, 0xa1, 0x7a, 0x01]);
  throwsCode(() => decodeBody(next, 'msgpack', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
});

void test('msgpack: uint64 timestamps become numbers; truncated data is EVT_BODY_MALFORMED', () => {
  // { name: "a", timestamp: uint64 1700000000000 }
  const ts = 1_700_000_000_000;
  const body = new Uint8Array([0x82, 0xa4, ...enc.encode('name'), 0xa1, 0x61, 0xa9, ...enc.encode('timestamp'), 0xcf, 0, 0, 0, 0, 0, 0, 0, 0]);
  new DataView(body.buffer).setBigUint64(body.length - 8, BigInt(ts));
  assert.deepEqual(decodeBody(body, 'msgpack', 'identity', LIMITS).events, [{ name: 'a', timestamp: ts }]);
  throwsCode(() => decodeBody(body.subarray(0, body.length - 3), 'msgpack', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
});

void test('protobuf: every field maps to the JSON shape; unset optionals are undefined, never zero', () => {
  const full = pbEvent({
    id: 'e1',
    name: 'buy',
    timestampMs: 1_700_000_000_000,
    sentAtMs: 1_700_000_000_500,
    userId: 'u1',
    category: 'shop',
    severity: Severity.SEVERITY_WARNING,
    tags: ['a', 'b'],
    properties: new Map([
      ['color', { kind: { $case: 'stringValue', value: 'red' } }],
      ['qty', { kind: { $case: 'numberValue', value: 3 } }],
      ['gift', { kind: { $case: 'boolValue', value: false } }],
      ['empty', { kind: undefined }],
    ]),
    value: 0,
  });
  const bare = pbEvent({ name: 'view' });
  const out = decodeBody(pbBody([full, bare], { batchId: 'B7', ack: AckLevel.ACK_LEVEL_DURABLE, receiptsAll: true }), 'protobuf', 'identity', LIMITS);
  assert.deepStrictEqual(out, {
    events: [
      {
        id: 'e1',
        name: 'buy',
        timestamp: 1_700_000_000_000,
        sentAt: 1_700_000_000_500,
        userId: 'u1',
        category: 'shop',
        severity: 'warning',
        tags: ['a', 'b'],
        properties: { color: 'red', qty: 3, gift: false, empty: undefined },
        value: 0,
      },
      {
        id: undefined,
        name: 'view',
        timestamp: undefined,
        sentAt: undefined,
        userId: undefined,
        category: undefined,
        severity: undefined,
        tags: undefined,
        properties: undefined,
        value: undefined,
      },
    ],
    single: false,
    batchId: 'B7',
    ack: 'durable',
    receiptsAll: true,
  });
  const applied = decodeBody(pbBody([bare], { ack: AckLevel.ACK_LEVEL_APPLIED }), 'protobuf', 'identity', LIMITS);
  assert.equal(applied.ack, 'applied');
  assert.equal(applied.receiptsAll, undefined);
  assert.equal(applied.batchId, undefined);
});

void test('protobuf: a __proto__ property key stays an own key and the prototype is untouched', () => {
  const body = pbBody([pbEvent({ name: 'x', properties: new Map([['__proto__', { kind: { $case: 'stringValue', value: 'p' } }]]) })]);
  const event = decodeBody(body, 'protobuf', 'identity', LIMITS).events[0] as { properties: object };
  assert.equal(Object.getPrototypeOf(event.properties), Object.prototype);
  assert.deepEqual(Object.keys(event.properties), ['__proto__']);
});

void test('protobuf: an unknown severity number maps to a string the validator rejects', () => {
  const body = pbBody([pbEvent({ name: 'x', severity: 42 as Severity })]);
  assert.equal((decodeBody(body, 'protobuf', 'identity', LIMITS).events[0] as { severity: string }).severity, 'unknown(42)');
});

void test('protobuf: garbage and truncated messages are EVT_BODY_MALFORMED', () => {
  throwsCode(() => decodeBody(new Uint8Array([0x0a, 0x10, 0x01]), 'protobuf', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
  throwsCode(() => decodeBody(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'protobuf', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
  const good = pbBody([pbEvent({ name: 'x', timestampMs: 5 })]);
  throwsCode(() => decodeBody(good.subarray(0, good.length - 1), 'protobuf', 'identity', LIMITS), 'EVT_BODY_MALFORMED');
});
