/**
 * String hash costs, side by side in one run:
 * - shardHash (FNV-1a over UTF-8, encoded inline) vs the same hash over
 *   Buffer.from(s, 'utf8') (encode first), the obvious alternative;
 * - hash32 (murmur3 over UTF-16 code units) vs murmurhash32-node's murmur2,
 *   one pass (what hyperloglog-lite calls four times per add).
 *
 * Run: node dist/bench/actors/hash.bench.js
 */
import { createRequire } from 'node:module';
import { Bench } from 'tinybench';
import { hash32, shardHash } from '../../src/actors/hash.js';

interface MurmurNode {
  bit32: { v2(value: string, seed?: number): number };
}
const require = createRequire(import.meta.url);
const murmurNode = require('murmurhash32-node') as MurmurNode;

/** Distinct strings hashed per task call; results are divided back to one hash. */
const STRINGS_PER_CALL = 1_000;
/** A typical owner / user id length in characters. */
const STRING_CHARS = 24;
const BENCH_TIME_MS = 1_500;

const strings = Array.from({ length: STRINGS_PER_CALL }, (_, i) => `tenant-${String(i).padStart(STRING_CHARS - 7, '0')}`);

function fnv1aBuffer(s: string): number {
  const bytes = Buffer.from(s, 'utf8');
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

let sink = 0;
const bench = new Bench({ time: BENCH_TIME_MS });
bench
  .add('shardHash (inline UTF-8)', () => {
    for (let i = 0; i < STRINGS_PER_CALL; i++) sink ^= shardHash(strings[i]!);
  })
  .add('FNV-1a over Buffer.from(s)', () => {
    for (let i = 0; i < STRINGS_PER_CALL; i++) sink ^= fnv1aBuffer(strings[i]!);
  })
  .add('hash32 (murmur3, UTF-16)', () => {
    for (let i = 0; i < STRINGS_PER_CALL; i++) sink ^= hash32(strings[i]!);
  })
  .add('murmurhash32-node v2, one pass', () => {
    for (let i = 0; i < STRINGS_PER_CALL; i++) sink ^= murmurNode.bit32.v2(strings[i]!, 0);
  });
await bench.run();
console.table(bench.table());

function nsPerHash(name: string): number {
  const result = bench.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return (result.latency.p50 * 1e6) / STRINGS_PER_CALL;
}
const rows = bench.tasks.map((t) => ({ task: t.name, 'ns/hash (median)': nsPerHash(t.name).toFixed(1) }));
console.table(rows);
console.log(`ratio Buffer FNV / shardHash: ${(nsPerHash('FNV-1a over Buffer.from(s)') / nsPerHash('shardHash (inline UTF-8)')).toFixed(1)}x`);
console.log(`ratio murmur2 (1 pass) / hash32: ${(nsPerHash('murmurhash32-node v2, one pass') / nsPerHash('hash32 (murmur3, UTF-16)')).toFixed(1)}x`);
console.log(`(checksum ${sink})`);
