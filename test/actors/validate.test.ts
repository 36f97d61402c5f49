import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createValidatedBatch,
  createValidator,
  isRejection,
  validateBatch,
  type ValidateContext,
} from '../../src/actors/validate.js';
import { DEFAULT_EVENT_LIMITS, type EventLimits } from '../../src/actors/schema.js';
import type { Rejection } from '../../src/actors/errors.js';
import type { EventRecord } from '../../src/actors/types.js';

const NOW_MS = 1_700_000_000_000;
const CTX: ValidateContext = { requestId: 'req9', receivedAtMs: NOW_MS };
const LIMITS: EventLimits = {
  ...DEFAULT_EVENT_LIMITS,
  idCharsMax: 8,
  nameCharsMax: 8,
  categoryCharsMax: 4,
  tagsMax: 2,
  tagCharsMax: 3,
  propertiesMax: 3,
  propertyKeyCharsMax: 5,
  propertyValueCharsMax: 6,
  eventBytesMax: 40,
  futureToleranceMs: 1_000,
};
const validator = createValidator(LIMITS);

function ok(input: unknown, index = 0): EventRecord {
  const r = validator.validate(input, index, CTX);
  assert.ok(!isRejection(r), `rejected: ${JSON.stringify(r)}`);
  return r;
}

function rejected(input: unknown, code: Rejection['code'], field: string): Rejection {
  const r = validator.validate(input, 0, CTX);
  assert.ok(isRejection(r), `accepted: ${JSON.stringify(r)}`);
  assert.deepEqual({ code: r.code, field: r.field }, { code, field }, r.message);
  return r;
}

void test('a minimal event is filled with server defaults', () => {
  assert.deepEqual(ok({ name: 'click' }, 3), {
    id: 'req9-3',
    name: 'click',
    timestampMs: NOW_MS,
    clientTimestampMs: NOW_MS,
    receivedAtMs: NOW_MS,
    userId: undefined,
    category: 'default',
    severity: 'info',
    tags: [],
    properties: {},
    value: undefined,
  });
});

void test('a full event keeps what the client sent and reuses its arrays', () => {
  const input = {
    id: 'e1',
    name: 'buy',
    timestamp: NOW_MS - 5_000,
    userId: 'u1',
    category: 'shop',
    severity: 'critical',
    tags: ['a', 'b'],
    properties: { c: 'red', n: 2, g: true },
    value: -1.5,
    unknownField: 'ignored',
  };
  const roomy = createValidator({ ...LIMITS, eventBytesMax: 1_000 });
  const r = roomy.validate(input, 0, CTX);
  assert.deepEqual(r, {
    id: 'e1',
    name: 'buy',
    timestampMs: NOW_MS - 5_000,
    clientTimestampMs: NOW_MS - 5_000,
    receivedAtMs: NOW_MS,
    userId: 'u1',
    category: 'shop',
    severity: 'critical',
    tags: ['a', 'b'],
    properties: { c: 'red', n: 2, g: true },
    value: -1.5,
  });
  assert.ok(!isRejection(r));
  assert.equal(r.tags, input.tags);
  assert.equal(r.properties, input.properties);
});

void test('sentAt corrects clock skew; the client timestamp is kept', () => {
  // The client clock runs 60 s ahead: it sent at NOW+60s an event it stamped NOW+59s.
  const r = ok({ name: 'a', timestamp: NOW_MS + 59_000, sentAt: NOW_MS + 60_000 });
  assert.equal(r.timestampMs, NOW_MS - 1_000);
  assert.equal(r.clientTimestampMs, NOW_MS + 59_000);
  // Without a client timestamp there is nothing to correct.
  assert.equal(ok({ name: 'a', sentAt: NOW_MS - 99_000 }).timestampMs, NOW_MS);
});

void test('a corrected timestamp too far in the future is EVT_TIMESTAMP_FUTURE', () => {
  assert.equal(ok({ name: 'a', timestamp: NOW_MS + 1_000 }).timestampMs, NOW_MS + 1_000);
  rejected({ name: 'a', timestamp: NOW_MS + 1_001 }, 'EVT_TIMESTAMP_FUTURE', 'timestamp');
  // Skew correction can push an event into the future too: the client clock is 10 s behind.
  rejected({ name: 'a', timestamp: NOW_MS, sentAt: NOW_MS - 10_000 }, 'EVT_TIMESTAMP_FUTURE', 'timestamp');
});

void test('missing and mistyped fields name the field at fault', () => {
  rejected({}, 'EVT_FIELD_MISSING', 'name');
  rejected({ name: '' }, 'EVT_FIELD_MISSING', 'name');
  rejected({ name: 5 }, 'EVT_FIELD_TYPE', 'name');
  rejected({ name: 'a', id: 5 }, 'EVT_FIELD_TYPE', 'id');
  rejected({ name: 'a', id: '' }, 'EVT_FIELD_INVALID', 'id');
  rejected({ name: 'a', timestamp: '2024-01-01' }, 'EVT_FIELD_TYPE', 'timestamp');
  rejected({ name: 'a', sentAt: null }, 'EVT_FIELD_TYPE', 'sentAt');
  rejected({ name: 'a', userId: 1 }, 'EVT_FIELD_TYPE', 'userId');
  rejected({ name: 'a', category: [] }, 'EVT_FIELD_TYPE', 'category');
  rejected({ name: 'a', category: '' }, 'EVT_FIELD_INVALID', 'category');
  rejected({ name: 'a', severity: 3 }, 'EVT_FIELD_TYPE', 'severity');
  rejected({ name: 'a', severity: 'fatal' }, 'EVT_FIELD_INVALID', 'severity');
  rejected({ name: 'a', tags: 'x' }, 'EVT_FIELD_TYPE', 'tags');
  rejected({ name: 'a', tags: ['x', 1] }, 'EVT_FIELD_TYPE', 'tags/1');
  rejected({ name: 'a', tags: [''] }, 'EVT_FIELD_INVALID', 'tags/0');
  rejected({ name: 'a', properties: [] }, 'EVT_FIELD_TYPE', 'properties');
  rejected({ name: 'a', properties: { color: { r: 1 } } }, 'EVT_FIELD_TYPE', 'properties/color');
  rejected({ name: 'a', properties: { color: null } }, 'EVT_FIELD_TYPE', 'properties/color');
  rejected({ name: 'a', properties: { color: undefined } }, 'EVT_FIELD_MISSING', 'properties/color');
  rejected({ name: 'a', properties: { '': 1 } }, 'EVT_FIELD_INVALID', 'properties/');
  rejected({ name: 'a', value: '3' }, 'EVT_FIELD_TYPE', 'value');
});

void test('limits: too long and too many', () => {
  rejected({ name: 'a', id: 'x'.repeat(9) }, 'EVT_FIELD_TOO_LONG', 'id');
  rejected({ name: 'x'.repeat(9) }, 'EVT_FIELD_TOO_LONG', 'name');
  rejected({ name: 'a', userId: 'x'.repeat(9) }, 'EVT_FIELD_TOO_LONG', 'userId');
  rejected({ name: 'a', category: 'x'.repeat(5) }, 'EVT_FIELD_TOO_LONG', 'category');
  rejected({ name: 'a', tags: ['a', 'b', 'c'] }, 'EVT_FIELD_TOO_MANY', 'tags');
  rejected({ name: 'a', tags: ['a', 'long'] }, 'EVT_FIELD_TOO_LONG', 'tags/1');
  rejected({ name: 'a', properties: { a: 1, b: 2, c: 3, d: 4 } }, 'EVT_FIELD_TOO_MANY', 'properties');
  rejected({ name: 'a', properties: { color: 'purples' } }, 'EVT_FIELD_TOO_LONG', 'properties/color');
  // Exactly at each limit passes.
  ok({ id: 'x'.repeat(8), name: 'x'.repeat(8), category: 'abcd', tags: ['abc', 'def'], properties: { color: 'purple' } });
});

void test('a long or odd property key is cut and escaped in the field path', () => {
  const r = rejected({ name: 'a', properties: { abcdefgh: 1 } }, 'EVT_FIELD_TOO_LONG', 'properties/abcde…');
  assert.match(r.message, /5 characters/);
  rejected({ name: 'a', properties: { 'a/~': Number.NaN } }, 'EVT_FIELD_INVALID', 'properties/a~1~0');
});

void test('NaN and the infinities are refused everywhere', () => {
  rejected({ name: 'a', timestamp: Number.NaN }, 'EVT_FIELD_INVALID', 'timestamp');
  rejected({ name: 'a', timestamp: -1 }, 'EVT_FIELD_INVALID', 'timestamp');
  rejected({ name: 'a', sentAt: Number.POSITIVE_INFINITY }, 'EVT_FIELD_INVALID', 'sentAt');
  rejected({ name: 'a', value: Number.NEGATIVE_INFINITY }, 'EVT_FIELD_INVALID', 'value');
  rejected({ name: 'a', properties: { n: Number.NaN } }, 'EVT_FIELD_INVALID', 'properties/n');
});

void test('prototype keys are refused, whether the object came from JSON.parse or was built', () => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    const input: unknown = JSON.parse(`{"name":"a","properties":{"${key}":{"x":1}}}`);
    rejected(input, 'EVT_FIELD_INVALID', `properties/${key}`);
    const built = { name: 'a', properties: Object.create(null) as Record<string, unknown> };
    built.properties[key] = 'v';
    rejected(built, 'EVT_FIELD_INVALID', `properties/${key}`);
  }
});

void test('only plain objects are events or properties', () => {
  class Sneaky {
    name = 'a';
  }
  for (const input of [null, 'a', 7, [], ['name'], new Date(0), new Map([['name', 'a']]), new Sneaky(), new Uint8Array(2)]) {
    rejected(input, 'EVT_FIELD_TYPE', '');
  }
  rejected({ name: 'a', properties: new Map([['a', 1]]) }, 'EVT_FIELD_TYPE', 'properties');
  rejected({ name: 'a', properties: new Sneaky() }, 'EVT_FIELD_TYPE', 'properties');
  // A null-prototype object is plain (protobuf maps and some decoders make them).
  const bare = Object.assign(Object.create(null) as object, { name: 'a' });
  assert.equal(ok(bare).name, 'a');
});

void test('the estimated size counts string lengths and 8 per number', () => {
  // id 4 + name 8 + value 8 + (key 2 + number 8) + (key 1 + string 6) = 37, plus a 3-char tag = 40 = eventBytesMax.
  const base = { id: 'abcd', name: 'abcdefgh', value: 1, properties: { nn: 1, s: 'abcdef' } };
  ok(base);
  ok({ ...base, tags: ['abc'] });
  rejected({ ...base, tags: ['abc', 'd'] }, 'EVT_EVENT_TOO_LARGE', '');
});

void test('an empty userId is treated as absent', () => {
  assert.equal(ok({ name: 'a', userId: '' }).userId, undefined);
});

void test('validateBatch fills parallel arrays and rejection receipts, and clears them first', () => {
  const out = createValidatedBatch();
  validateBatch([{ name: 'x' }], { ...CTX, validator }, out);
  validateBatch(
    [{ id: 'a', name: 'ok1' }, { id: 'b', name: 9 }, 'junk', { name: 'ok2' }, { id: 12, name: 'x', tags: 1 }],
    { ...CTX, validator },
    out,
  );
  assert.deepEqual(
    out.records.map((r) => r.id),
    ['a', 'req9-3'],
  );
  assert.deepEqual(out.indexes, [0, 3]);
  assert.equal(out.rejected, 3);
  assert.deepEqual(
    out.receipts.map(({ index, id, status, code, field }) => ({ index, id, status, code, field })),
    [
      { index: 1, id: 'b', status: 'rejected', code: 'EVT_FIELD_TYPE', field: 'name' },
      { index: 2, id: '', status: 'rejected', code: 'EVT_FIELD_TYPE', field: '' },
      { index: 4, id: '', status: 'rejected', code: 'EVT_FIELD_TYPE', field: 'id' },
    ],
  );
  for (const r of out.receipts) assert.ok(typeof r.message === 'string' && r.message.length > 0);
});

void test('the validator never throws, whatever it is given', () => {
  const hostile = [
    undefined,
    Symbol('x'),
    () => 1,
    { name: Symbol('n') },
    { name: 'a', tags: [Symbol('t')] },
    { name: 'a', properties: { a: 10n } },
    { name: 'a', timestamp: 10n },
  ];
  for (const input of hostile) assert.ok(isRejection(validator.validate(input, 0, CTX)));
});

void test('Validator.validateBatch answers in fresh arrays each time', () => {
  const first = validator.validateBatch([{ name: 'a' }, { name: 1 }], CTX);
  const second = validator.validateBatch([{ name: 'b' }], CTX);
  assert.deepEqual(first.records.map((r) => r.name), ['a']);
  assert.deepEqual(first.receipts.map((r) => r.index), [1]);
  assert.equal(first.rejected, 1);
  assert.deepEqual(second.records.map((r) => r.name), ['b']);
  assert.equal(second.receipts.length, 0);
  assert.notEqual(first.records, second.records);
});
