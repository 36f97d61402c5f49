/**
 * The string hashes of eventide.
 *
 * `shardHash` decides where an owner lives, so it is part of the data format:
 * it is FNV-1a 32-bit over the UTF-8 bytes of the owner string, unsigned, and
 * it must never change for a deployment (changing it would move every owner
 * to another shard). Lone UTF-16 surrogates are hashed as U+FFFD (EF BF BD),
 * the same bytes `TextEncoder` and `Buffer.from(s, 'utf8')` produce, so any
 * other implementation that hashes the standard UTF-8 encoding agrees.
 *
 * `hash32` feeds the HyperLogLog sketches. It is not a wire contract, but the
 * stored sketches depend on it, so it is fixed too: MurmurHash3 x86_32 over
 * the UTF-16LE code units of the string (two code units per 32-bit block),
 * which is exactly murmur3_32 of `Buffer.from(s, 'utf16le')`. Reading UTF-16
 * code units directly avoids encoding the string to bytes first; the murmur3
 * finalizer mixes every input bit into every output bit, which HyperLogLog
 * needs (it takes register indexes from the top bits and ranks from the rest).
 *
 * `hash64` keys the dedup memory; it is part of the snapshot format (see
 * below).
 *
 * All run without allocating: they read `charCodeAt` in a loop.
 */

const FNV_OFFSET_BASIS_32 = 0x811c9dc5;
const FNV_PRIME_32 = 0x01000193;

/** One FNV-1a step: xor the byte in, multiply by the prime (mod 2^32). */
function fnvByte(h: number, byte: number): number {
  return Math.imul(h ^ byte, FNV_PRIME_32);
}

/**
 * FNV-1a 32-bit over the UTF-8 encoding of `owner`, as an unsigned integer.
 * Stable for the life of a deployment: `shardOf` depends on it.
 */
export function shardHash(owner: string): number {
  let h = FNV_OFFSET_BASIS_32;
  const length = owner.length;
  for (let i = 0; i < length; i++) {
    let c = owner.charCodeAt(i);
    if (c < 0x80) {
      h = fnvByte(h, c);
    } else if (c < 0x800) {
      h = fnvByte(h, 0xc0 | (c >>> 6));
      h = fnvByte(h, 0x80 | (c & 0x3f));
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < length ? owner.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        // A valid surrogate pair: one code point above U+FFFF, four bytes.
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        h = fnvByte(h, 0xf0 | (c >>> 18));
        h = fnvByte(h, 0x80 | ((c >>> 12) & 0x3f));
        h = fnvByte(h, 0x80 | ((c >>> 6) & 0x3f));
        h = fnvByte(h, 0x80 | (c & 0x3f));
      } else {
        // A lone surrogate is not encodable; UTF-8 encoders emit U+FFFD instead.
        h = fnvByte(h, 0xef);
        h = fnvByte(h, 0xbf);
        h = fnvByte(h, 0xbd);
      }
    } else {
      h = fnvByte(h, 0xe0 | (c >>> 12));
      h = fnvByte(h, 0x80 | ((c >>> 6) & 0x3f));
      h = fnvByte(h, 0x80 | (c & 0x3f));
    }
  }
  return h >>> 0;
}

/**
 * The shard an owner belongs to. `shardCount` is fixed for a deployment, so an
 * owner never moves between shards; shards move between workers instead.
 */
export function shardOf(owner: string, shardCount: number): number {
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > 0xffffffff) {
    throw new RangeError(`shardCount must be an integer in 1..2^32-1, got ${shardCount}`);
  }
  return shardHash(owner) % shardCount;
}

const M3_C1 = 0xcc9e2d51;
const M3_C2 = 0x1b873593;

/**
 * MurmurHash3 x86_32 of the UTF-16LE code units of `s`, unsigned. Equal to
 * murmur3_32(Buffer.from(s, 'utf16le'), seed). Well mixed, for sketches; not
 * for anything an attacker could exploit (it is not keyed with a secret).
 */
export function hash32(s: string, seed = 0): number {
  let h = seed | 0;
  const length = s.length;
  const pairsEnd = length & ~1;
  let i = 0;
  for (; i < pairsEnd; i += 2) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    k = Math.imul(k, M3_C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, M3_C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < length) {
    // An odd code unit out: the 2-byte tail of murmur3.
    let k = s.charCodeAt(i);
    k = Math.imul(k, M3_C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, M3_C2);
    h ^= k;
  }
  // murmur3 mixes in the input length in bytes: two per UTF-16 code unit.
  h ^= length * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const M3X_C1 = 0x239b961b;
const M3X_C2 = 0xab0e9789;
const M3X_C3 = 0x38b34ae5;
const M3X_C4 = 0xa1e38b93;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * The first 64 bits of MurmurHash3 x86_128 (seed 0) of the UTF-16LE code
 * units of `s`: out[0] = h1, out[1] = h2 of the reference implementation
 * (the first eight bytes of its output, read as two little-endian words), so
 * it equals murmur3_x86_128(Buffer.from(s, 'utf16le')) truncated.
 *
 * It keys the dedup memory (dedup.ts), which keeps these 64 bits instead of
 * the id, and they are written into snapshots: the function is part of the
 * snapshot format and must never change. Why 64 bits and not hash32: a hash
 * stands for an id, so a collision makes a new event a false `duplicate`;
 * with n ids remembered that happens with probability n / 2^64 per event,
 * and with 32 bits it would be n / 2^32 (2 % at 100K ids). Like hash32 it is
 * not keyed: someone who chooses ids on purpose can make two collide, and
 * since dedup is per owner that only ever miscounts the sender's own events.
 */
export function hash64(s: string, out: Uint32Array): void {
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let h4 = 0;
  const length = s.length;
  const blocksEnd = length & ~7;
  let i = 0;
  // 16-byte blocks: eight code units, two per 32-bit word.
  for (; i < blocksEnd; i += 8) {
    let k1 = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    let k2 = s.charCodeAt(i + 2) | (s.charCodeAt(i + 3) << 16);
    let k3 = s.charCodeAt(i + 4) | (s.charCodeAt(i + 5) << 16);
    let k4 = s.charCodeAt(i + 6) | (s.charCodeAt(i + 7) << 16);
    k1 = Math.imul(k1, M3X_C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, M3X_C2);
    h1 = (h1 << 19) | (h1 >>> 13);
    h1 = (h1 + h2) | 0;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(k2, M3X_C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, M3X_C3);
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (h2 + h3) | 0;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(k3, M3X_C3);
    k3 = (k3 << 17) | (k3 >>> 15);
    h3 ^= Math.imul(k3, M3X_C4);
    h3 = (h3 << 15) | (h3 >>> 17);
    h3 = (h3 + h4) | 0;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(k4, M3X_C4);
    k4 = (k4 << 18) | (k4 >>> 14);
    h4 ^= Math.imul(k4, M3X_C1);
    h4 = (h4 << 13) | (h4 >>> 19);
    h4 = (h4 + h1) | 0;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  // The tail: 0..7 code units, i.e. an even number of bytes of the reference's switch.
  const rest = length - i;
  if (rest >= 7) {
    let k4 = s.charCodeAt(i + 6);
    k4 = Math.imul(k4, M3X_C4);
    k4 = (k4 << 18) | (k4 >>> 14);
    h4 ^= Math.imul(k4, M3X_C1);
  }
  if (rest >= 5) {
    let k3 = s.charCodeAt(i + 4) | (rest >= 6 ? s.charCodeAt(i + 5) << 16 : 0);
    k3 = Math.imul(k3, M3X_C3);
    k3 = (k3 << 17) | (k3 >>> 15);
    h3 ^= Math.imul(k3, M3X_C4);
  }
  if (rest >= 3) {
    let k2 = s.charCodeAt(i + 2) | (rest >= 4 ? s.charCodeAt(i + 3) << 16 : 0);
    k2 = Math.imul(k2, M3X_C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, M3X_C3);
  }
  if (rest >= 1) {
    let k1 = s.charCodeAt(i) | (rest >= 2 ? s.charCodeAt(i + 1) << 16 : 0);
    k1 = Math.imul(k1, M3X_C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, M3X_C2);
  }
  const bytes = length * 2;
  h1 ^= bytes;
  h2 ^= bytes;
  h3 ^= bytes;
  h4 ^= bytes;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  out[0] = h1;
  out[1] = h2;
}

/**
 * hash32 of the string whose code units are the bytes [start, end) of `b`:
 * for ASCII bytes, hash32 of the string those bytes spell (a byte is its own
 * UTF-16 code unit), computed without making the string (the columnar path,
 * columns.ts). Bytes past 0x7f would hash as Latin-1, not as their UTF-8
 * string: callers pass ASCII only.
 */
export function hash32Ascii(b: Uint8Array, start: number, end: number, seed = 0): number {
  let h = seed | 0;
  const length = end - start;
  const pairsEnd = start + (length & ~1);
  let i = start;
  for (; i < pairsEnd; i += 2) {
    let k = b[i]! | (b[i + 1]! << 16);
    k = Math.imul(k, M3_C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, M3_C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < end) {
    let k = b[i]!;
    k = Math.imul(k, M3_C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, M3_C2);
    h ^= k;
  }
  h ^= length * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * hash64 of the string whose code units are the bytes [start, end) of `b`
 * (ASCII: the string those bytes spell), as hash32Ascii is to hash32. The
 * same 64 bits for the same id whichever body format it came in, so dedup
 * and snapshots do not depend on the path an event took.
 */
export function hash64Ascii(b: Uint8Array, start: number, end: number, out: Uint32Array | Int32Array, at = 0): void {
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let h4 = 0;
  const length = end - start;
  const blocksEnd = start + (length & ~7);
  let i = start;
  for (; i < blocksEnd; i += 8) {
    let k1 = b[i]! | (b[i + 1]! << 16);
    let k2 = b[i + 2]! | (b[i + 3]! << 16);
    let k3 = b[i + 4]! | (b[i + 5]! << 16);
    let k4 = b[i + 6]! | (b[i + 7]! << 16);
    k1 = Math.imul(k1, M3X_C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, M3X_C2);
    h1 = (h1 << 19) | (h1 >>> 13);
    h1 = (h1 + h2) | 0;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(k2, M3X_C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, M3X_C3);
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (h2 + h3) | 0;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(k3, M3X_C3);
    k3 = (k3 << 17) | (k3 >>> 15);
    h3 ^= Math.imul(k3, M3X_C4);
    h3 = (h3 << 15) | (h3 >>> 17);
    h3 = (h3 + h4) | 0;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(k4, M3X_C4);
    k4 = (k4 << 18) | (k4 >>> 14);
    h4 ^= Math.imul(k4, M3X_C1);
    h4 = (h4 << 13) | (h4 >>> 19);
    h4 = (h4 + h1) | 0;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const rest = end - i;
  if (rest >= 7) {
    let k4 = b[i + 6]!;
    k4 = Math.imul(k4, M3X_C4);
    k4 = (k4 << 18) | (k4 >>> 14);
    h4 ^= Math.imul(k4, M3X_C1);
  }
  if (rest >= 5) {
    let k3 = b[i + 4]! | (rest >= 6 ? b[i + 5]! << 16 : 0);
    k3 = Math.imul(k3, M3X_C3);
    k3 = (k3 << 17) | (k3 >>> 15);
    h3 ^= Math.imul(k3, M3X_C4);
  }
  if (rest >= 3) {
    let k2 = b[i + 2]! | (rest >= 4 ? b[i + 3]! << 16 : 0);
    k2 = Math.imul(k2, M3X_C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, M3X_C3);
  }
  if (rest >= 1) {
    let k1 = b[i]! | (rest >= 2 ? b[i + 1]! << 16 : 0);
    k1 = Math.imul(k1, M3X_C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, M3X_C2);
  }
  const bytes = length * 2;
  h1 ^= bytes;
  h2 ^= bytes;
  h3 ^= bytes;
  h4 ^= bytes;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  out[at] = h1;
  out[at + 1] = h2;
}
