import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash32, shardHash, shardOf } from '../../src/actors/hash.js';

// Vectors computed independently (a Python FNV-1a over str.encode('utf-8')).
const FNV1A_VECTORS: Array<[string, number]> = [
  ['', 0x811c9dc5],
  ['a', 0xe40c292c],
  ['foobar', 0xbf9cf968],
  ['é', 0x1e9de8c1],
  ['Ünïcødé', 0x3161a240],
  ['日本語', 0x805f5ce7],
  ['😀', 0x33a29608],
  ['owner-42', 0x1f5eba3d],
];

/** Byte-wise FNV-1a, the textbook definition, to cross-check the inline UTF-8 encoder. */
function fnv1aBytes(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

void test('shardHash matches FNV-1a 32 vectors, ASCII and non-ASCII', () => {
  for (const [input, expected] of FNV1A_VECTORS) {
    assert.equal(shardHash(input), expected, `shardHash(${JSON.stringify(input)})`);
  }
});

void test('shardHash hashes a lone surrogate as U+FFFD, like Buffer.from(s, "utf8")', () => {
  // EF BF BD hashed alone, computed independently.
  assert.equal(shardHash('\ud800'), 0x03479c4a);
  assert.equal(shardHash('\udc00'), 0x03479c4a);
  for (const s of ['a\ud800b', '\udc00\ud800', 'x\ud83d', '\ud83d\ude00\ud83d']) {
    assert.equal(shardHash(s), fnv1aBytes(Buffer.from(s, 'utf8')), JSON.stringify(s));
  }
});

void test('shardHash agrees with byte-wise FNV-1a over UTF-8 for mixed random strings', () => {
  // A deterministic generator over code units of every UTF-8 length class.
  let state = 12345;
  const next = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state;
  };
  const pool = [0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0xd83d, 0xde00, 0xe9, 0x65e5];
  for (let n = 0; n < 500; n++) {
    let s = '';
    const length = next() % 12;
    for (let i = 0; i < length; i++) s += String.fromCharCode(pool[next() % pool.length] ?? 0x41);
    assert.equal(shardHash(s), fnv1aBytes(Buffer.from(s, 'utf8')), JSON.stringify(s));
  }
});

void test('shardOf is shardHash modulo shardCount and rejects a bad count', () => {
  assert.equal(shardOf('foobar', 1024), 0xbf9cf968 % 1024);
  assert.equal(shardOf('a', 1), 0);
  assert.throws(() => shardOf('a', 0), RangeError);
  assert.throws(() => shardOf('a', 1.5), RangeError);
});

// Vectors from a Python murmur3_32 that reproduces the published byte vectors
// ("" -> 0, "" seed 1 -> 0x514e28b7, "test" -> 0xba6bd213), applied to s.encode('utf-16-le').
const MURMUR3_UTF16_VECTORS: Array<[string, number, number]> = [
  ['', 0x0, 0x087fcd5c],
  ['a', 0x6f49d11a, 0x78b0f109],
  ['ab', 0x165860ca, 0x25651858],
  ['abc', 0x42b016c3, 0x2d3cc60e],
  ['user-12345', 0x8578a777, 0xac44e796],
  ['é日本😀', 0x1835820c, 0x73722ff6],
];

void test('hash32 is murmur3_32 over UTF-16LE code units (seed 0 and 42)', () => {
  for (const [input, seed0, seed42] of MURMUR3_UTF16_VECTORS) {
    assert.equal(hash32(input), seed0, `hash32(${JSON.stringify(input)})`);
    assert.equal(hash32(input, 42), seed42, `hash32(${JSON.stringify(input)}, 42)`);
  }
});

void test('hash32 spreads sequential ids evenly over the top bits (what HLL indexes use)', () => {
  const buckets = new Uint32Array(16);
  const count = 64_000;
  for (let i = 0; i < count; i++) buckets[hash32(`user-${i}`) >>> 28]! += 1;
  const expected = count / 16;
  let chiSquare = 0;
  for (const observed of buckets) chiSquare += (observed - expected) ** 2 / expected;
  // 15 degrees of freedom: the 99.99th percentile is about 44.3.
  assert.ok(chiSquare < 44.3, `chi-square ${chiSquare}`);
});
