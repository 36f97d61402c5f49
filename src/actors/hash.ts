/**
 * The two string hashes of eventide.
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
 * Both run without allocating: they read `charCodeAt` in a loop.
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
