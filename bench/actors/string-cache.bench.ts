/**
 * The readers' two string caches side by side on the short strings of a
 * harness batch (names, categories, tags, property keys and flag values,
 * 2-8 bytes, in the order a 500-event protobuf body holds them): the
 * general cache (a hash over the bytes, then the slot's copy of them
 * compared, fast-read.ts fromCache) against the word-key cache for strings
 * of up to 8 bytes (fast-read.ts cachedAscii's word-key cache: the bytes themselves are the key).
 * Alternating rounds in one process; the ratio of the medians is printed.
 *
 * Run: node dist/bench/actors/string-cache.bench.js [rounds=9]
 */
import { Buffer } from 'node:buffer';
import { cachedAscii, fromCache, hashStep, WORD_KEY_BYTES_MAX } from '../../src/actors/fast-read.js';
import { seeded } from '../runtime/worker-path.js';

const ROUNDS = Number(process.argv[2] ?? 9);
const random = seeded(7);
const strings: string[] = [];
for (let i = 0; i < 500; i++) {
  strings.push(`evt_${Math.floor(random() * 20)}`, `cat${Math.floor(random() * 8)}`, 'bench', `t${Math.floor(random() * 16)}`);
  strings.push('plan', random() < 0.5 ? 'free' : 'pro', 'n', 'ok', 'pad');
}
if (strings.some((s) => s.length > WORD_KEY_BYTES_MAX)) throw new Error('a string past the word-key cache');
// The strings one after another in one body, with a byte between them (as a protobuf tag would be).
const body = Buffer.from(strings.join('.'), 'latin1');
const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
const starts = new Int32Array(strings.length);
const ends = new Int32Array(strings.length);
for (let i = 0, at = 0; i < strings.length; i++) {
  starts[i] = at;
  ends[i] = at + strings[i]!.length;
  at = ends[i]! + 1;
}

/** What cachedAscii did for these strings before the word-key cache: the hash four bytes a step, then fromCache. */
function general(start: number, end: number): string | undefined {
  let h = 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const word = view.getUint32(i, true);
    if ((word & 0x80808080) !== 0) return undefined;
    h = hashStep(h, word);
  }
  for (; i < end; i++) {
    const c = body[i]!;
    if (c >= 0x80) return undefined;
    h = hashStep(h, c);
  }
  return fromCache(body, start, end, h, view);
}

function wordKey(start: number, end: number): string | undefined {
  return cachedAscii(body, view, start, end);
}

for (let i = 0; i < strings.length; i++) {
  if (general(starts[i]!, ends[i]!) !== strings[i] || wordKey(starts[i]!, ends[i]!) !== strings[i]) throw new Error(`string ${i} read wrong`);
}

const PASSES = 400;
function time(read: (start: number, end: number) => string | undefined): number {
  let length = 0;
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < PASSES; p++) for (let i = 0; i < starts.length; i++) length += read(starts[i]!, ends[i]!)!.length;
  const ns = Number(process.hrtime.bigint() - t0) / PASSES / starts.length;
  if (length === 0) throw new Error('nothing read');
  return ns;
}
for (let w = 0; w < 3; w++) {
  time(general);
  time(wordKey);
}
const a: number[] = [];
const b: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  a.push(time(general));
  b.push(time(wordKey));
}
const median = (x: number[]): number => [...x].sort((p, q) => p - q)[x.length >> 1]!;
console.log(
  `general cache ${median(a).toFixed(1)} ns, word-key cache ${median(b).toFixed(1)} ns per string (${strings.length} strings of 1-8 bytes, ${ROUNDS} rounds): word-key / general ${(median(b) / median(a)).toFixed(2)}`,
);
