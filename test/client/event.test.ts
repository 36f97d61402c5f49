/**
 * The event model of the client: the same shape as the server's body model
 * (checked at compile time), send()'s type checks with the field at fault,
 * and both encodings read back by the server's own decoder (src/actors/decode.ts)
 * as the same plain events, with sentAt set per attempt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBody } from '../../src/actors/decode.js';
import type { EventInput } from '../../src/actors/schema.js';
import { SEVERITIES as SERVER_SEVERITIES } from '../../src/actors/types.js';
import { ClientEventError, createClient, SEVERITIES, type ClientEvent } from '../../src/client/index.js';
import { checkEvent } from '../../src/client/event.js';
import { encodeEvent, encodeJsonBody, encodeProtobufBody } from '../../src/client/encode.js';
import { IngestRequest, AckLevel } from '../../src/gen/eventide/v1/ingest.js';
import { Event as PbEvent, type PropertyValue as PbPropertyValue } from '../../src/gen/eventide/v1/event.js';

// ---- the type is the server's body model ------------------------------------------------

type Writable<T> = {
  -readonly [K in keyof T]: T[K] extends ReadonlyArray<infer U> | undefined
    ? U[] | Extract<T[K], undefined>
    : T[K] extends Readonly<Record<string, infer V>> | undefined
      ? Record<string, V> | Extract<T[K], undefined>
      : T[K];
};
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** sentAt is the client's to set, per attempt. */
const SAME_SHAPE: Equals<Required<Writable<ClientEvent>>, Required<Omit<EventInput, 'sentAt'>>> = true;

void test('ClientEvent is the server body model minus sentAt; severities agree', () => {
  assert.equal(SAME_SHAPE, true);
  assert.deepEqual([...SEVERITIES], [...SERVER_SEVERITIES]);
});

// ---- checks ----------------------------------------------------------------------------

function rejects(event: unknown, field: string): void {
  assert.throws(
    () => checkEvent(event, ''),
    (err: unknown) => err instanceof ClientEventError && err.code === 'EVT_CLIENT_EVENT_INVALID' && err.field === field,
    `expected EVT_CLIENT_EVENT_INVALID on ${field} for ${JSON.stringify(event)}`,
  );
}

void test('send() checks types the encoders need and names the field', () => {
  rejects(null, 'event');
  rejects([{ name: 'a' }], 'event');
  rejects('click', 'event');
  rejects({}, 'name');
  rejects({ name: 5 }, 'name');
  rejects({ name: 'a', id: '' }, 'id');
  rejects({ name: 'a', id: 7 }, 'id');
  rejects({ name: 'a', timestamp: 1.5 }, 'timestamp');
  rejects({ name: 'a', timestamp: -1 }, 'timestamp');
  rejects({ name: 'a', timestamp: '2026-01-01' }, 'timestamp');
  rejects({ name: 'a', userId: 1 }, 'userId');
  rejects({ name: 'a', category: false }, 'category');
  rejects({ name: 'a', severity: 'fatal' }, 'severity');
  rejects({ name: 'a', tags: 'x' }, 'tags');
  rejects({ name: 'a', tags: ['x', 2] }, 'tags/1');
  rejects({ name: 'a', properties: [] }, 'properties');
  rejects({ name: 'a', properties: { color: { r: 1 } } }, 'properties/color');
  rejects({ name: 'a', properties: { n: null } }, 'properties/n');
  rejects({ name: 'a', value: '3' }, 'value');
  // Limits are the server's: a long name passes here and is judged by the server.
  checkEvent({ name: 'x'.repeat(10_000) }, '');
});

void test('a bad event in a batch names its index, and none of the batch is taken', () => {
  const client = createClient({ url: 'http://127.0.0.1:9', key: 'k' });
  assert.throws(
    () => client.send([{ name: 'ok' }, { name: 'bad', timestamp: Number.NaN }]),
    (err: unknown) => err instanceof ClientEventError && err.field === 'events/1/timestamp',
  );
  assert.equal(client.stats().enqueued, 0);
  return client.close();
});

// ---- encodings -------------------------------------------------------------------------

const LIMITS = { bodyInflatedBytesMax: 1 << 24, batchEventsMax: 5_000, idCharsMax: 128, bodyDepthMax: 16, tagsMax: 32, propertiesMax: 64 };
const FULL: ClientEvent = {
  name: 'purchase',
  timestamp: 1_768_478_400_123,
  userId: 'u-1',
  category: 'shop',
  severity: 'warning',
  tags: ['a', 'ü'],
  properties: { color: 'red', qty: 3, gift: false },
  value: 9.5,
  // Unknown to the server: stays home.
  ...({ internal: 'x' } as object),
};

void test('JSON and protobuf bodies decode, with the server decoder, to the same events with sentAt', () => {
  const sentAtMs = 1_768_478_401_000;
  const json = [encodeEvent(FULL, 0, 'e-0', FULL.timestamp, 'json', 0), encodeEvent({ name: 'bare' }, 1, 'e-1', undefined, 'json', 0)];
  const pb = [encodeEvent(FULL, 0, 'e-0', FULL.timestamp, 'protobuf', 0), encodeEvent({ name: 'bare' }, 1, 'e-1', undefined, 'protobuf', 0)];
  const fromJson = decodeBody(encodeJsonBody(json, sentAtMs), 'json', 'identity', LIMITS);
  const fromPb = decodeBody(encodeProtobufBody(pb, sentAtMs, 'batch-7', 'durable'), 'protobuf', 'identity', LIMITS);
  const expected = [
    { sentAt: sentAtMs, id: 'e-0', name: 'purchase', timestamp: FULL.timestamp, userId: 'u-1', category: 'shop', severity: 'warning', tags: ['a', 'ü'], properties: { color: 'red', qty: 3, gift: false }, value: 9.5 },
    { sentAt: sentAtMs, id: 'e-1', name: 'bare' },
  ];
  // Both readers leave absent fields undefined (and the JSON one drops unknown keys): compare the fields sent,
  // and check that the key unknown to the server never left the client.
  const pick = (e: unknown, like: object): object => Object.fromEntries(Object.keys(like).map((k) => [k, (e as Record<string, unknown>)[k]]));
  assert.deepEqual(fromJson.events.map((e, i) => pick(e, expected[i]!)), expected);
  assert.ok(!String(json[0]!.encoded).includes('internal'), 'the unknown key is not encoded');
  for (const [i, e] of fromJson.events.entries()) {
    assert.deepEqual(Object.entries(e as object).filter(([, v]) => v !== undefined).map(([k]) => k).sort(), Object.keys(expected[i]!).sort());
  }
  assert.deepEqual(fromPb.events.map((e, i) => pick(e, expected[i]!)), expected);
  assert.equal(fromPb.batchId, 'batch-7');
  assert.equal(fromPb.ack, 'durable');
  // The generated decoder reads the hand-written request the same way.
  const request = IngestRequest.decode(encodeProtobufBody(pb, sentAtMs, undefined, 'applied'));
  assert.equal(request.events[0]!.sentAtMs, sentAtMs);
  assert.equal(request.ack, AckLevel.ACK_LEVEL_APPLIED);
  assert.equal(request.events[1]!.timestampMs, undefined);
});

void test('sizes are the encoded bytes (UTF-8 for JSON)', () => {
  const e = encodeEvent({ name: 'ü' }, 0, 'i', undefined, 'json', 0);
  assert.equal(e.encoded, '{"id":"i","name":"ü"}');
  assert.equal(e.bytes, Buffer.byteLength('{"id":"i","name":"ü"}'));
  const p = encodeEvent({ name: 'ü' }, 0, 'i', undefined, 'protobuf', 0);
  assert.equal(p.bytes, (p.encoded as Uint8Array).byteLength);
});

/** The generated encoder, given the same event; the hand-written one must produce its bytes. */
function generated(e: ClientEvent, id: string, timestamp: number | undefined): Uint8Array {
  const properties = new Map<string, PbPropertyValue>();
  for (const [key, value] of Object.entries(e.properties ?? {})) {
    properties.set(
      key,
      typeof value === 'string'
        ? { kind: { $case: 'stringValue', value } }
        : typeof value === 'number'
          ? { kind: { $case: 'numberValue', value } }
          : { kind: { $case: 'boolValue', value } },
    );
  }
  const severity = e.severity === undefined ? 0 : SEVERITIES.indexOf(e.severity) + 1;
  return PbEvent.encode({
    id,
    name: e.name,
    timestampMs: timestamp,
    userId: e.userId,
    category: e.category,
    severity,
    tags: e.tags === undefined ? [] : [...e.tags],
    properties,
    value: e.value,
  }).finish();
}

void test('the hand-written protobuf encoding is byte for byte the generated one', () => {
  const cases: Array<[ClientEvent, string, number | undefined]> = [
    [FULL, 'e-0', FULL.timestamp],
    [{ name: 'bare' }, 'x', undefined],
    [{ name: '' }, 'empty-name', 0],
    [{ name: 'ünï€ødé 🎉', userId: '', category: 'c'.repeat(300), tags: [], properties: {} }, 'i'.repeat(128), 2 ** 53 - 1],
    [{ name: 'n', severity: 'critical', properties: { '': 'empty key', big: 1e308, neg: -0.5, t: true, long: 'v'.repeat(1_000) }, value: -3 }, 'p', 1],
    [{ name: 'lone \ud800 surrogate', tags: ['\udc00', 'end\ud83d', '\ud83d\ude00'] }, 's', undefined],
    // Over 64 characters the native UTF-8 writer is used; under it, a JS one.
    [{ name: 'é€🎉'.repeat(40), userId: 'ß'.repeat(63), category: 'ß'.repeat(65) }, 'long', 5],
  ];
  for (const [e, id, ts] of cases) {
    const ours = encodeEvent(e, 0, id, ts, 'protobuf', 0).encoded as Uint8Array;
    assert.deepEqual(Buffer.from(ours), Buffer.from(generated(e, id, ts)), JSON.stringify(e));
  }
});

void test('random strings of any UTF-16 units encode as the generated encoder does', () => {
  // mulberry32: a fixed seed, so a failure reproduces.
  let seed = 0x5eed;
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let r = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4_294_967_296;
  };
  const UNITS = [0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xe9, 0x20ac, 0xd83d, 0xde00, 0xdbff, 0xdc00, 0xfffd, 0xffff];
  const text = (): string => {
    const n = Math.floor(random() * 90);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(random() < 0.5 ? UNITS[Math.floor(random() * UNITS.length)]! : Math.floor(random() * 0x10000));
    return s;
  };
  for (let i = 0; i < 300; i++) {
    const e: ClientEvent = { name: text(), userId: text(), tags: [text(), text()], properties: { [text()]: text(), k: random() } };
    const id = text() || 'id';
    assert.deepEqual(Buffer.from(encodeEvent(e, 0, id, i, 'protobuf', 0).encoded as Uint8Array), Buffer.from(generated(e, id, i)));
  }
});
