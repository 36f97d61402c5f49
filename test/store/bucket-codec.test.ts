/**
 * The event bucket format (src/store/lmdb/bucket-codec.ts): exact round trips
 * of every field an event may carry, the fallback for events of another shape,
 * and damaged bytes reported as EVT_STORE_CORRUPT. The store-level tests
 * (both formats in one data dir) are in lmdb.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUCKET_MARK, bucketScratchBytes, decodeBucket, encodeBucket, isCodecBucket } from '../../src/store/lmdb/bucket-codec.js';
import { SEVERITIES, type StoredEvent } from '../../src/actors/types.js';
import { storedEvent, T0_MS } from './samples.js';

function roundTrip(group: StoredEvent[]): StoredEvent[] {
  const bytes = encodeBucket(group);
  assert.ok(bytes !== undefined, 'the group has the bucket shape');
  assert.ok(isCodecBucket(bytes));
  assert.equal(bytes[0], BUCKET_MARK);
  return decodeBucket(bytes);
}

void test('every field survives exactly: statuses, severities, optional fields, timestamps, tags and properties', () => {
  const group: StoredEvent[] = [];
  for (let i = 0; i < 40; i++) {
    const e = storedEvent('acme', `e-${i}`, { status: (['accepted', 'late', 'too_late'] as const)[i % 3] });
    e.event.severity = SEVERITIES[i % SEVERITIES.length]!;
    // Some equal client and corrected timestamps, some not; receivedAtMs changing every 7 events.
    e.event.clientTimestampMs = i % 2 === 0 ? e.event.timestampMs : e.event.timestampMs - i;
    e.event.timestampMs += i;
    e.event.receivedAtMs = T0_MS + Math.floor(i / 7);
    e.event.userId = i % 4 === 0 ? undefined : `user-${i}`;
    e.event.value = i % 5 === 0 ? undefined : i * 1.25 - 7;
    e.event.tags = i % 6 === 0 ? [] : ['a', `t${i}`];
    e.event.properties =
      i % 8 === 0
        ? {}
        : { path: `/p/${i}`, n: i, negInt: -12_345 * i, big: 2 ** 53 - 1, neg: -0, frac: i / 3, ok: i % 2 === 0, no: false, long: `${'z'.repeat(40)}${i % 3}` };
    group.push(e);
  }
  // Timestamps the deltas cannot carry: fractional, then far before the previous, then far after.
  group[5]!.event.timestampMs = T0_MS + 0.25;
  group[6]!.event.timestampMs = -(2 ** 52);
  group[7]!.event.timestampMs = 2 ** 52;
  group[8]!.event.timestampMs = T0_MS - 86_400_000;
  const back = roundTrip(group);
  assert.deepEqual(back, group);
  assert.ok(Object.is(back[1]!.event.properties.neg, -0), '-0 stays -0');
  assert.deepEqual(
    back.map((e) => e.event.timestampMs),
    group.map((e) => e.event.timestampMs),
  );
  assert.ok(Object.hasOwn(back[0]!.event, 'userId') && back[0]!.event.userId === undefined, 'an absent userId is an own undefined, as validate.ts builds it');
});

void test('strings: non-ASCII, surrogate pairs, the 42/43-character boundary, long ones, empty ones', () => {
  const samples = ['', 'é', 'ünïcødé', '日本語のイベント', '🎉 party 🎉', 'a'.repeat(42), 'é'.repeat(42), '🎉'.repeat(21), 'a'.repeat(43), 'é'.repeat(43), 'x'.repeat(5_000), `${'a'.repeat(41)}€`];
  const group = samples.map((s, i) => {
    const e = storedEvent(`owner-${'ö'.repeat(10)}`, `${s}#${i}`);
    e.event.name = s || 'n';
    e.event.userId = s;
    e.event.category = s;
    e.event.tags = [s, s];
    e.event.properties = { [s || 'k']: s, other: s };
    return e;
  });
  assert.deepEqual(roundTrip(group), group);
});

void test('the string table: repeated strings are written once and read back in place, long and non-ASCII ones too', () => {
  const repeated = ['page_view', 'é'.repeat(30), '🎉'.repeat(15), 'x'.repeat(32), 'y'.repeat(33)];
  const group = Array.from({ length: 60 }, (_, i) => {
    const e = storedEvent('acme', `id-${i}`);
    e.event.name = repeated[i % repeated.length]!;
    e.event.category = repeated[(i + 1) % repeated.length]!;
    e.event.tags = [repeated[(i + 2) % repeated.length]!, repeated[i % repeated.length]!];
    e.event.properties = { [repeated[(i + 3) % repeated.length]!]: repeated[(i + 4) % repeated.length]! };
    return e;
  });
  const bytes = encodeBucket(group)!;
  assert.deepEqual(decodeBucket(bytes), group);
  // Written out, each event's six strings would take ~230 bytes; through the table each is a byte after its first time.
  assert.ok(bytes.length < 60 * 60, `60 events of 5 repeated strings take ${bytes.length} B`);
  const once = encodeBucket(group.slice(0, repeated.length))!;
  // A reference past the table is damage.
  const tampered = Buffer.from(once);
  // The first event's name is its first ref: after flags (9), severity (10), the id (11: length 4, 'id-0'), at byte 16.
  tampered[16] = 41;
  assert.throws(() => decodeBucket(tampered), (err: unknown) => (err as { code?: string }).code === 'EVT_STORE_CORRUPT');
});

void test('properties without a prototype are plain too: encoded, and read back as their keys and values', () => {
  const e = storedEvent('acme', 'bare');
  const bare = Object.assign(Object.create(null) as Record<string, string | number | boolean>, { b: 2, a: 'x', 10: true });
  (e.event as { properties: object }).properties = bare;
  const bytes = encodeBucket([e]);
  assert.ok(bytes !== undefined, 'encoded in the fixed layout');
  const back = decodeBucket(bytes);
  assert.deepEqual(Object.entries(back[0]!.event.properties), Object.entries(bare), 'keys in the same order, with their values');
});

void test('a property key __proto__ stays an own key, with its value, and changes no prototype', () => {
  const e = storedEvent('acme', 'p-1');
  const properties: Record<string, string | number | boolean> = {};
  Object.defineProperty(properties, '__proto__', { value: 'x', enumerable: true, writable: true, configurable: true });
  properties.constructor2 = 1;
  e.event.properties = properties;
  const [back] = roundTrip([e]);
  assert.ok(Object.hasOwn(back!.event.properties, '__proto__'));
  assert.equal(back!.event.properties['__proto__'], 'x');
  assert.equal(Object.getPrototypeOf(back!.event.properties), Object.prototype);
  assert.deepEqual(Object.keys(back!.event.properties), ['__proto__', 'constructor2']);
});

void test('events of another shape are not encoded (the store packs them with msgpack instead)', () => {
  const shapes: Array<(e: StoredEvent) => void> = [
    (e) => ((e.event as { severity: string }).severity = 'fatal'),
    (e) => ((e as { status: string }).status = 'duplicate'),
    (e) => ((e.event.properties as Record<string, unknown>).nested = { a: 1 }),
    (e) => ((e.event.properties as Record<string, unknown>).nothing = null),
    (e) => ((e.event.tags as unknown[]).push(3)),
    (e) => ((e.event as { value: unknown }).value = '3'),
    (e) => ((e.event as { userId: unknown }).userId = 7),
    (e) => (e.shard = 8),
    (e) => (e.owner = 'other'),
    // Properties with a prototype of their own: its enumerable keys are not the object's (for...in would read them).
    (e) => ((e.event as { properties: object }).properties = Object.assign(Object.create({ inherited: 'x' }) as object, { own: 1 })),
  ];
  for (const [i, change] of shapes.entries()) {
    const odd = storedEvent('acme', 'odd');
    change(odd);
    assert.equal(encodeBucket([storedEvent('acme', 'fine'), odd]), undefined, `shape ${i}`);
  }
  assert.equal(encodeBucket([]), undefined);
});

void test('damaged bytes are EVT_STORE_CORRUPT: truncated, trailing, another version, unknown codes', () => {
  const bytes = encodeBucket([storedEvent('acme', 'a'), storedEvent('acme', 'b')])!;
  const corrupt = (b: Uint8Array, why: string) =>
    assert.throws(() => decodeBucket(b), (err: unknown) => (err as { code?: string }).code === 'EVT_STORE_CORRUPT', why);
  for (const cut of [1, 2, 5, bytes.length - 1]) corrupt(bytes.subarray(0, cut), `cut at ${cut}`);
  corrupt(Buffer.concat([bytes, Buffer.from([0])]), 'a trailing byte');
  const version = Buffer.from(bytes);
  version[1] = 9;
  corrupt(version, 'version 9');
  corrupt(Buffer.from([0x92, 0x01, 0x02]), 'msgpack is not this format');
  // The first event's flags sit after the header: mark, version, count, owner (1 + 4 bytes), shard: byte 9.
  const status = Buffer.from(bytes);
  status[9] = 0b11;
  corrupt(status, 'status 3');
  const severity = Buffer.from(bytes);
  severity[10] = 6;
  corrupt(severity, 'severity 6');
});

void test('a bucket larger than the scratch keeps, megabytes of properties, round-trips, and the next small one too', () => {
  const big = Array.from({ length: 40 }, (_, i) => {
    const e = storedEvent('acme', `l-${i}`);
    e.event.properties = Object.fromEntries(Array.from({ length: 8 }, (_, k) => [`p${k}`, `${k}`.repeat(8_000)]));
    return e;
  });
  const bytes = encodeBucket(big)!;
  assert.ok(bytes.length > 2_000_000, `${bytes.length} bytes`);
  assert.deepEqual(decodeBucket(bytes), big);
  assert.ok(bucketScratchBytes() <= 1024 * 1024, `the scratch went back to ${bucketScratchBytes()} bytes`);
  const small = [storedEvent('acme', 'after')];
  assert.deepEqual(decodeBucket(encodeBucket(small)!), small);
});

void test('encoding a large bucket after a small one reuses nothing the first still holds', () => {
  const small = [storedEvent('acme', 's-1')];
  const smallBytes = encodeBucket(small)!;
  const copy = Buffer.from(smallBytes);
  const big = Array.from({ length: 500 }, (_, i) => storedEvent('acme', `b-${i}-${'y'.repeat(300)}`));
  assert.deepEqual(decodeBucket(encodeBucket(big)!), big);
  assert.deepEqual(smallBytes, copy, 'the first bucket is its own copy');
  assert.deepEqual(decodeBucket(smallBytes), small);
});

void test('damaged buckets never decode to anything but events or EVT_STORE_CORRUPT (2,000 seeded mutations)', () => {
  const group = Array.from({ length: 30 }, (_, i) => {
    const e = storedEvent('acme', `f-${i}`, { status: (['accepted', 'late', 'too_late'] as const)[i % 3] });
    e.event.userId = i % 2 === 0 ? `user-${i}` : undefined;
    e.event.value = i % 3 === 0 ? undefined : i / 7;
    e.event.properties = { plan: i % 2 === 0 ? 'free' : 'pro', n: i, big: 1.5 * i, ok: true, long: 'é'.repeat(40) };
    return e;
  });
  const bytes = encodeBucket(group)!;
  // xorshift32, seeded: the same mutations every run.
  let state = 0x9e3779b9;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  let corrupt = 0;
  for (let round = 0; round < 2_000; round++) {
    const damaged = Buffer.from(bytes);
    const flips = 1 + Math.floor(next() * 4);
    for (let f = 0; f < flips; f++) damaged[2 + Math.floor(next() * (damaged.length - 2))] = Math.floor(next() * 256);
    const cut = next() < 0.2 ? damaged.subarray(0, Math.floor(next() * damaged.length)) : damaged;
    try {
      const events = decodeBucket(cut);
      assert.ok(Array.isArray(events));
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'EVT_STORE_CORRUPT', `round ${round}: ${String(err)}`);
      corrupt++;
    }
  }
  assert.ok(corrupt > 500, `${corrupt} of 2,000 damaged buckets were reported`);
});
