/**
 * The hand-written IngestRequest reader (src/actors/protobuf.ts) against the
 * generated decoder as the oracle: seeded random messages, well formed (with
 * unknown fields of every wire type mixed in), must read to the same plain
 * events; damaged ones must fail with ProtobufError only, never another
 * exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { IngestRequest, AckLevel } from '../../src/gen/eventide/v1/ingest.js';
import type { Event as PbEvent, PropertyValue } from '../../src/gen/eventide/v1/event.js';
import { generatedPlainEvents as oracle } from './protobuf-oracle.js';
import { mulberry32 as prng } from '../../src/bench/prng.js';
import { countEvents, ProtobufError, readIngestRequest, TooManyEvents } from '../../src/actors/protobuf.js';

const ALPHABET = ['a', 'Z', '0', '_', ' ', 'é', '日', '😀', '\u0000', '\ufeff', '"', '\\'];

function randomString(rand: () => number, maxChars: number): string {
  let s = '';
  const n = Math.floor(rand() * (maxChars + 1));
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
  return s;
}

function randomEvent(rand: () => number): PbEvent {
  const maybe = <T>(make: () => T): T | undefined => (rand() < 0.5 ? make() : undefined);
  const properties = new Map<string, PropertyValue>();
  const propertyCount = Math.floor(rand() * 4);
  for (let i = 0; i < propertyCount; i++) {
    const key = rand() < 0.1 ? '__proto__' : randomString(rand, 6);
    const pick = rand();
    const kind: PropertyValue['kind'] =
      pick < 0.3
        ? { $case: 'stringValue', value: randomString(rand, 12) }
        : pick < 0.6
          ? { $case: 'numberValue', value: (rand() - 0.5) * 1e6 }
          : pick < 0.9
            ? { $case: 'boolValue', value: rand() < 0.5 }
            : undefined;
    properties.set(key, { kind });
  }
  const bigTime = (): number => Math.floor((rand() - 0.3) * 2 ** 53);
  return {
    id: rand() < 0.9 ? randomString(rand, 30) : '',
    name: rand() < 0.95 ? randomString(rand, 20) : '',
    timestampMs: maybe(bigTime),
    sentAtMs: maybe(bigTime),
    userId: maybe(() => randomString(rand, 16)),
    category: maybe(() => randomString(rand, 8)),
    severity: Math.floor(rand() * 9),
    tags: Array.from({ length: Math.floor(rand() * 5) }, () => randomString(rand, 5)),
    properties,
    value: maybe(() => (rand() < 0.1 ? -0 : (rand() - 0.5) * 1e9)),
  };
}

/** Unknown fields of every wire type (and a nested group), as a newer client's message would carry. */
function unknownFields(rand: () => number): Uint8Array {
  const w = new BinaryWriter();
  const field = 11 + Math.floor(rand() * 50);
  switch (Math.floor(rand() * 5)) {
    case 0:
      w.tag(field, 0).uint64(BigInt(Math.floor(rand() * 2 ** 40)));
      break;
    case 1:
      w.tag(field, 1).fixed64(BigInt(Math.floor(rand() * 2 ** 40)));
      break;
    case 2:
      w.tag(field, 2).string(randomString(rand, 10));
      break;
    case 3:
      w.tag(field, 5).fixed32(Math.floor(rand() * 2 ** 31));
      break;
    default:
      w.tag(field, 3).tag(field + 1, 0).int32(7).tag(field + 2, 3).tag(field + 2, 4).tag(field, 4);
  }
  return w.finish();
}

/** The reader leaves absent fields undefined (one object shape); the oracle leaves them out. */
function defined(events: readonly Record<string, unknown>[]): unknown[] {
  return events.map((e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

void test('random well-formed messages read exactly as the generated decoder reads them', () => {
  for (let seed = 1; seed <= 400; seed++) {
    const rand = prng(seed);
    const events = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => randomEvent(rand));
    const request = { events, batchId: randomString(rand, 8), ack: Math.floor(rand() * 3) as AckLevel, receiptsAll: rand() < 0.5 };
    let bytes: Uint8Array = IngestRequest.encode(request).finish();
    // Unknown top-level fields after the known ones: proto3 readers skip them.
    if (rand() < 0.5) bytes = concat([bytes, unknownFields(rand)]);
    const read = readIngestRequest(bytes);
    assert.deepStrictEqual(defined(read.events), oracle(bytes), `seed ${seed}`);
    assert.equal(read.batchId, request.batchId, `seed ${seed}`);
    assert.equal(read.ack, request.ack, `seed ${seed}`);
    assert.equal(read.receiptsAll, request.receiptsAll, `seed ${seed}`);
    assert.equal(countEvents(bytes), events.length, `seed ${seed}`);
  }
});

void test('unknown fields inside an event and inside a property value are skipped', () => {
  const rand = prng(7);
  const event = IngestRequest.encode({ events: [randomEvent(rand)], batchId: '', ack: AckLevel.ACK_LEVEL_UNSPECIFIED, receiptsAll: false }).finish();
  // Rebuild the event with unknown fields inside it: field 1 (LEN) of the request holds the event.
  const inner = IngestRequest.decode(event).events[0]!;
  const innerBytes = concat([
    unknownFields(rand),
    (() => {
      const w = new BinaryWriter();
      w.tag(2, 2).string('signup');
      w.tag(9, 2).fork().tag(1, 2).string('plan').tag(2, 2).fork().tag(7, 0).int32(1).tag(1, 2).string('pro').join().join();
      return w.finish();
    })(),
    unknownFields(rand),
  ]);
  const w = new BinaryWriter();
  w.tag(1, 2).bytes(innerBytes);
  const bytes = w.finish();
  assert.deepStrictEqual(defined(readIngestRequest(bytes).events), [{ name: 'signup', properties: { plan: 'pro' } }]);
  assert.deepStrictEqual(defined(readIngestRequest(bytes).events), oracle(bytes));
  assert.ok(inner);
});

void test('int64 timestamps: negative ones read back, beyond 2^53 is an error', () => {
  const ok = IngestRequest.encode({
    events: [{ id: 'a', name: 'n', timestampMs: -(2 ** 53 - 1), sentAtMs: 2 ** 53 - 1, tags: [], properties: new Map(), severity: 0 }],
    batchId: '',
    ack: 0,
    receiptsAll: false,
  }).finish();
  assert.deepStrictEqual(defined(readIngestRequest(ok).events), [{ id: 'a', name: 'n', timestamp: -(2 ** 53 - 1), sentAt: 2 ** 53 - 1 }]);
  const w = new BinaryWriter();
  w.tag(1, 2).fork().tag(3, 0).int64(2n ** 53n).join();
  assert.throws(() => readIngestRequest(w.finish()), ProtobufError);
  const v = new BinaryWriter();
  v.tag(1, 2).fork().tag(3, 0).int64(-(2n ** 60n)).join();
  assert.throws(() => readIngestRequest(v.finish()), ProtobufError);
});

void test('damaged messages fail with ProtobufError only: every truncation, random bytes, deep groups, bad tags', () => {
  const rand = prng(99);
  const good = IngestRequest.encode({ events: [randomEvent(rand), randomEvent(rand)], batchId: 'b', ack: 2, receiptsAll: true }).finish();
  const onlyProtobufErrors = (bytes: Uint8Array): void => {
    try {
      readIngestRequest(bytes);
      countEvents(bytes);
    } catch (err) {
      assert.ok(err instanceof ProtobufError, `${String(err)} for ${Buffer.from(bytes).toString('hex')}`);
    }
  };
  for (let cut = 0; cut < good.length; cut++) onlyProtobufErrors(good.subarray(0, cut));
  for (let i = 0; i < 3000; i++) {
    const bytes = new Uint8Array(Math.floor(rand() * 40));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
    onlyProtobufErrors(bytes);
  }
  // A flipped byte anywhere in a good message.
  for (let at = 0; at < good.length; at++) {
    const bad = Uint8Array.from(good);
    bad[at] = bad[at]! ^ 0xff;
    onlyProtobufErrors(bad);
  }
  const deep = new Uint8Array(200_000).fill(0x5b); // field 11, start group, nested 200,000 deep
  assert.throws(() => readIngestRequest(deep), /groups nested deeper than/);
  assert.throws(() => readIngestRequest(new Uint8Array([0x00])), /invalid tag/);
  assert.throws(() => readIngestRequest(new Uint8Array([0x5c])), /end-group tag without a group/);
  assert.throws(() => readIngestRequest(new Uint8Array([0x0f])), /invalid tag/);
  // An event whose declared length cuts a field in two.
  assert.throws(() => readIngestRequest(new Uint8Array([0x0a, 0x02, 0x0a, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65])), ProtobufError);
});

void test('the reader stops at the event past eventsMax with TooManyEvents; up to it, it reads them all', () => {
  const rand = prng(5);
  const bytes = IngestRequest.encode({ events: Array.from({ length: 7 }, () => randomEvent(rand)), batchId: '', ack: 0, receiptsAll: false }).finish();
  assert.equal(readIngestRequest(bytes, 7).events.length, 7);
  assert.throws(() => readIngestRequest(bytes, 6), TooManyEvents);
  assert.throws(() => readIngestRequest(bytes, 0), TooManyEvents);
  assert.equal(countEvents(bytes), 7);
});

void test('short strings hashed a word at a time read as themselves, whatever bytes their words share', () => {
  // Words that differ only in a high bit of their last byte, strings of 1..33 bytes, non-ASCII at each place of a word.
  const names = ['abcd', 'abcD', 'abcd', 'abcdabcD', 'abcdabcd', 'abcDabcd', 'ab\u00e9d', '\u00e9bcd', 'abc\u00e9', 'a', 'ab', 'abc', 'abcde'];
  for (let n = 1; n <= 33; n++) names.push('x'.repeat(n), 'x'.repeat(n - 1) + 'X');
  const events = [...names, ...names].map((name) => ({ ...randomEvent(prng(1)), name, category: name, tags: [name] }));
  const bytes = IngestRequest.encode({ events, batchId: '', ack: 0, receiptsAll: false }).finish();
  const read = readIngestRequest(bytes).events;
  assert.deepStrictEqual(
    read.map((e) => [e.name, e.category, (e.tags as string[])[0]]),
    events.map((e) => [e.name, e.category, e.name]),
  );
});
