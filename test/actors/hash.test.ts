import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash32, hash64, shardHash, shardOf } from '../../src/actors/hash.js';

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

/**
 * MurmurHash3_x86_128 over bytes, transcribed from the reference (SMHasher
 * MurmurHash3.cpp), to check hash64 against. Its own correctness is checked
 * with SMHasher's verification value below.
 */
function murmur3x86x128(data: Uint8Array, seed: number): [number, number, number, number] {
  const c1 = 0x239b961b;
  const c2 = 0xab0e9789;
  const c3 = 0x38b34ae5;
  const c4 = 0xa1e38b93;
  const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
  const fmix = (h: number) => {
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  };
  const word = (o: number) => data[o]! | (data[o + 1]! << 8) | (data[o + 2]! << 16) | (data[o + 3]! << 24);
  const len = data.length;
  let [h1, h2, h3, h4] = [seed | 0, seed | 0, seed | 0, seed | 0];
  const blocks = len >> 4;
  for (let i = 0; i < blocks; i++) {
    const o = i * 16;
    h1 ^= Math.imul(rotl(Math.imul(word(o), c1), 15), c2);
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    h2 ^= Math.imul(rotl(Math.imul(word(o + 4), c2), 16), c3);
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    h3 ^= Math.imul(rotl(Math.imul(word(o + 8), c3), 17), c4);
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    h4 ^= Math.imul(rotl(Math.imul(word(o + 12), c4), 18), c1);
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const tail = blocks * 16;
  const k = [0, 0, 0, 0];
  for (let i = (len & 15) - 1; i >= 0; i--) k[i >> 2]! ^= data[tail + i]! << ((i & 3) * 8);
  if ((len & 15) > 12) h4 ^= Math.imul(rotl(Math.imul(k[3]!, c4), 18), c1);
  if ((len & 15) > 8) h3 ^= Math.imul(rotl(Math.imul(k[2]!, c3), 17), c4);
  if ((len & 15) > 4) h2 ^= Math.imul(rotl(Math.imul(k[1]!, c2), 16), c3);
  if ((len & 15) > 0) h1 ^= Math.imul(rotl(Math.imul(k[0]!, c1), 15), c2);
  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

void test('the reference MurmurHash3_x86_128 above passes SMHasher verification (0xB3ECE62A)', () => {
  // SMHasher's VerificationTest: hash {}, {0}, {0,1}, ... {0..254} with seed 256 - n, hash the concatenated outputs.
  const key = new Uint8Array(256);
  const hashes = new Uint8Array(16 * 256);
  const view = new DataView(hashes.buffer);
  for (let i = 0; i < 256; i++) {
    key[i] = i;
    murmur3x86x128(key.subarray(0, i), 256 - i).forEach((h, j) => view.setUint32(i * 16 + 4 * j, h, true));
  }
  assert.equal(murmur3x86x128(hashes, 0)[0], 0xb3ece62a);
});

void test('hash64 is the first 64 bits of MurmurHash3_x86_128 over UTF-16LE code units, every tail length', () => {
  const out = new Uint32Array(2);
  const inputs = ['', 'a', 'ab', 'abc', 'abcdefg', 'abcdefgh', 'abcdefghi', 'r1a2b3.7.000000012345-0042', '日本語', '😀 x', '\ud800', 'é'.repeat(33)];
  for (let n = 0; n < 40; n++) inputs.push('x'.repeat(n));
  for (const s of inputs) {
    hash64(s, out);
    const [h1, h2] = murmur3x86x128(new Uint8Array(Buffer.from(s, 'utf16le')), 0);
    assert.deepEqual([out[0], out[1]], [h1, h2], JSON.stringify(s));
  }
});

void test('hash64 has no collision among a million sequential ids (64 bits: expected 3e-8)', () => {
  const out = new Uint32Array(2);
  const seen = new Set<bigint>();
  for (let i = 0; i < 1_000_000; i++) {
    hash64(`evt-${i}`, out);
    seen.add((BigInt(out[0]!) << 32n) | BigInt(out[1]!));
  }
  assert.equal(seen.size, 1_000_000);
});
