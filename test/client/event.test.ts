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
import { checkEvent, encodeEvent, encodeJsonBody, encodeProtobufBody } from '../../src/client/event.js';
import { IngestRequest, AckLevel } from '../../src/gen/eventide/v1/ingest.js';

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

const LIMITS = { bodyInflatedBytesMax: 1 << 24, batchEventsMax: 5_000, idCharsMax: 128 };
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
  assert.deepEqual(fromJson.events, expected);
  // The protobuf decoder fills absent repeated fields and maps; compare the fields the JSON form has.
  const pick = (e: unknown, like: object): object => Object.fromEntries(Object.keys(like).map((k) => [k, (e as Record<string, unknown>)[k]]));
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
