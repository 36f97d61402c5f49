import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { bodyStructureLimits, scanJson, scanMsgpack, type StructureLimits } from '../../src/actors/scan.js';

const enc = new TextEncoder();
const LIMITS: StructureLimits = { depthMax: 4, valuesMax: 100, eventsMax: 5 };
const packr = new Packr({ useRecords: false });

function kindOf(fault: ReturnType<typeof scanJson>): string | undefined {
  return fault?.kind;
}

void test('json: bodies of the schema pass, including escapes and brackets inside strings', () => {
  for (const body of [
    '{"name":"a"}',
    '[{"name":"a","tags":["x","y"],"properties":{"k":"v"}}]',
    '{"events":[{"name":"a","properties":{"q":"[[[[[[{{{{,,,,,"}}],"batchId":"b"}',
    '{"events":[{"name":"a\\"]]]]]]\\\\"}]}',
    '  [ {"name" : "a"} , {"name":"b"} ]  ',
  ]) {
    assert.equal(scanJson(enc.encode(body), LIMITS), undefined, body);
  }
});

void test('json: nesting past depthMax is refused at the first level too deep', () => {
  assert.equal(scanJson(enc.encode('[[[[1]]]]'), LIMITS), undefined);
  assert.deepEqual(scanJson(enc.encode('[[[[[1]]]]]'), LIMITS), { kind: 'depth', limit: 4 });
  // Without the closing brackets (the scan stops before it would see them).
  assert.equal(kindOf(scanJson(enc.encode('['.repeat(1_000_000)), LIMITS)), 'depth');
});

void test('json: the events array is counted in both shapes, and only it', () => {
  const six = JSON.stringify(Array.from({ length: 6 }, () => ({ name: 'a' })));
  assert.deepEqual(scanJson(enc.encode(six), LIMITS), { kind: 'events', count: 6, exact: false, limit: 5 });
  assert.equal(kindOf(scanJson(enc.encode(`{"batchId":"x","events":${six}}`), LIMITS)), 'events');
  // Six items in an array that is not the events array are only values.
  assert.equal(scanJson(enc.encode('{"events":[{"name":"a","tags":[1,2,3,4,5,6]}]}'), LIMITS), undefined);
  assert.equal(scanJson(enc.encode('{"other":[1,2,3,4,5,6],"events":[{"name":"a"}]}'), LIMITS), undefined);
  // A key that merely contains "events", or a string value "events", does not make an events array.
  assert.equal(scanJson(enc.encode('{"xevents":[1,2,3,4,5,6,7],"events":[]}'), LIMITS), undefined);
  assert.equal(scanJson(enc.encode('{"a":"events","b":[1,2,3,4,5,6,7]}'), LIMITS), undefined);
});

void test('json: values past valuesMax are refused, however flat', () => {
  const wide = `[{"name":"a","junk":[${Array.from({ length: 200 }, () => '{}').join(',')}]}]`;
  assert.deepEqual(scanJson(enc.encode(wide), LIMITS), { kind: 'values', limit: 100 });
  const keys = `{"name":"a",${Array.from({ length: 200 }, (_, i) => `"k${i}":0`).join(',')}}`;
  assert.equal(kindOf(scanJson(enc.encode(keys), LIMITS)), 'values');
});

void test('the derived valuesMax admits the largest body of valid events', () => {
  const limits = { bodyDepthMax: 16, batchEventsMax: 50, tagsMax: 32, propertiesMax: 64 };
  const event = {
    id: 'e',
    name: 'n',
    timestamp: 1,
    sentAt: 1,
    userId: 'u',
    category: 'c',
    severity: 'info',
    tags: Array.from({ length: 32 }, (_, i) => `t${i}`),
    properties: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`p${i}`, i])),
    value: 1,
  };
  const body = { batchId: 'b', events: Array.from({ length: 50 }, () => event) };
  const structure = bodyStructureLimits(limits);
  assert.equal(scanJson(enc.encode(JSON.stringify(body)), structure), undefined);
  assert.equal(scanMsgpack(packr.pack(body), structure), undefined);
});

void test('msgpack: bodies of the schema pass; the events header is counted exactly', () => {
  assert.equal(scanMsgpack(packr.pack({ events: [{ name: 'a', tags: ['x'], properties: { k: 1.5 } }], batchId: 'b' }), LIMITS), undefined);
  assert.equal(scanMsgpack(packr.pack([{ name: 'a', value: -3, timestamp: 2 ** 40 }]), LIMITS), undefined);
  const six = Array.from({ length: 6 }, () => ({ name: 'a' }));
  assert.deepEqual(scanMsgpack(packr.pack(six), LIMITS), { kind: 'events', count: 6, exact: true, limit: 5 });
  assert.deepEqual(scanMsgpack(packr.pack({ batchId: 'x', events: six }), LIMITS), { kind: 'events', count: 6, exact: true, limit: 5 });
  // array32 of 4 billion, nothing after it: refused on its header.
  assert.equal(kindOf(scanMsgpack(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]), LIMITS)), 'events');
  // A map32 declaring 4 billion entries inside an event: refused on values, before reading them.
  assert.equal(kindOf(scanMsgpack(new Uint8Array([0x91, 0xdf, 0xff, 0xff, 0xff, 0xff]), LIMITS)), 'values');
});

void test('msgpack: depth, keys, __proto__, reserved bytes, truncation and trailing bytes', () => {
  assert.equal(kindOf(scanMsgpack(packr.pack([[[[1]]]]), LIMITS)), undefined);
  assert.equal(kindOf(scanMsgpack(packr.pack([[[[[1]]]]]), LIMITS)), 'depth');
  assert.equal(kindOf(scanMsgpack(new Uint8Array(1_000_000).fill(0x91), LIMITS)), 'depth');
  // { 1: "a" }: an integer key.
  assert.equal(kindOf(scanMsgpack(new Uint8Array([0x91, 0x81, 0x01, 0xa1, 0x61]), LIMITS)), 'key');
  // [{ "__proto__": 1 }]
  assert.equal(kindOf(scanMsgpack(new Uint8Array([0x91, 0x81, 0xa9, ...enc.encode('__proto__'), 0x01]), LIMITS)), 'proto');
  assert.equal(kindOf(scanMsgpack(new Uint8Array([0x91, 0xc1]), LIMITS)), 'reserved');
  const body = packr.pack([{ name: 'abc' }]);
  for (let cut = 1; cut < body.length; cut++) assert.equal(kindOf(scanMsgpack(body.subarray(0, cut), LIMITS)), 'truncated', `cut at ${cut}`);
  assert.equal(kindOf(scanMsgpack(new Uint8Array([...body, 0x01]), LIMITS)), 'trailing');
  // A str32 header claiming 4 GB.
  assert.equal(kindOf(scanMsgpack(new Uint8Array([0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]), LIMITS)), 'truncated');
});

void test('msgpack: every extension header is refused, whatever its type', () => {
  for (const header of [[0xd4], [0xd5], [0xd6], [0xd7], [0xd8], [0xc7, 1], [0xc8, 0, 1], [0xc9, 0, 0, 0, 1]]) {
    for (const type of [0x72, 0xff, 0x00, 0x65]) {
      const fault = scanMsgpack(new Uint8Array([0x91, ...header, type, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), LIMITS);
      assert.deepEqual(fault, { kind: 'extension', type }, `header ${header.join(',')} type ${type}`);
    }
  }
});
