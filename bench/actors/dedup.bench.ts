/**
 * DedupMemory.seen, before and after, in one run: `before` is the frozen
 * two-generation Map of string ids (bench/actors/legacy/dedup.ts), `after`
 * is src/actors/dedup.ts (64-bit hashes in a ring + table). Ids are shaped
 * like the harness's (`<run>.<unit>.<12 digits>-<4 digits>`, 26 characters).
 *
 * Ids arrive as a worker sees them: fresh strings from JSON.parse of a batch
 * (a string V8 has hashed once caches its hash, which would flatter the Map),
 * so every task parses one batch of SEEN_PER_CALL ids; a parse-only task
 * measures that part, and it is subtracted in the summary.
 *
 * Tasks, per number of ids held in steady state (a small owner, a busy one,
 * one at the default bound of 100K):
 * - new ids: every call remembers a batch of fresh ids while the clock moves
 *   so that as many expire by the horizon (idsMax = 100K, the default);
 * - re-sent ids: every call looks up a batch of ids already held (a client
 *   retrying).
 * Also the hash alone (hash64) and the heap per id.
 *
 * Run: node --expose-gc dist/bench/actors/dedup.bench.js
 */
import { Bench } from 'tinybench';
import { DedupMemory } from '../../src/actors/dedup.js';
import { hash64 } from '../../src/actors/hash.js';
import { DedupMemory as LegacyDedupMemory } from './legacy/dedup.js';

const SIZES = [20, 1_000, 100_000] as const;
const SEEN_PER_CALL = 500;
const HORIZON_MS = 600_000;
const BENCH_TIME_MS = 1_500;
const T0 = 1_700_000_000_000;

function id(n: number): string {
  return `r1a2b3.${n % 32}.${String(n).padStart(12, '0')}-${String(n % 500).padStart(4, '0')}`;
}

type Memory = DedupMemory | LegacyDedupMemory;
type Impl = typeof DedupMemory | typeof LegacyDedupMemory;
const IDS_MAX = 100_000;

/** JSON texts of consecutive batches of `per` ids, starting at id `from`. */
function batches(from: number, count: number, per: number): string[] {
  return Array.from({ length: count }, (_, b) => JSON.stringify(Array.from({ length: per }, (_, i) => id(from + b * per + i))));
}

/** Ids per call for a memory of `size`: half of it, between 10 (the harness's batch) and 500. */
function perCall(size: number): number {
  return Math.min(SEEN_PER_CALL, Math.max(10, size / 2));
}

const bench = new Bench({ time: BENCH_TIME_MS });
for (const size of SIZES) {
  const per = perCall(size);
  const heldBatches = Math.ceil(size / per);
  // New ids come round again only after more than twice the ids held: by then they have expired.
  const stream = batches(0, 2 * heldBatches + 2, per);
  // Re-sent: the ids held, each as its own string (as a retried request parses them anew).
  const heldIds = stream.slice(0, heldBatches).flatMap((text) => JSON.parse(text) as string[]);
  const resentTexts = Array.from({ length: heldBatches }, (_, b) => JSON.stringify(Array.from({ length: per }, (_, i) => heldIds[(b * per + i) % heldIds.length])));
  for (const [label, Impl] of [
    ['before', LegacyDedupMemory],
    ['after', DedupMemory],
  ] as const) {
    // Steady state: `per` new ids per call, the clock moving so that as many leave by the horizon.
    const stepMs = Math.ceil((HORIZON_MS * per) / size);
    const fresh: Memory = new Impl(HORIZON_MS, IDS_MAX, T0);
    let now = T0;
    let cursor = 0;
    const addBatch = (): void => {
      const ids = JSON.parse(stream[cursor]!) as string[];
      cursor = cursor + 1 === stream.length ? 0 : cursor + 1;
      now += stepMs;
      for (let i = 0; i < per; i++) fresh.seen(ids[i]!, now);
    };
    for (let b = 0; b < 2 * heldBatches; b++) addBatch();
    bench.add(`${label}: new ids, ${size} held`, addBatch);
    const resent: Memory = new Impl(HORIZON_MS, IDS_MAX, T0);
    for (const x of heldIds) resent.seen(x, T0);
    let r = 0;
    bench.add(`${label}: re-sent ids, ${size} held`, () => {
      const ids = JSON.parse(resentTexts[r]!) as string[];
      r = r + 1 === resentTexts.length ? 0 : r + 1;
      for (let i = 0; i < per; i++) resent.seen(ids[i]!, T0 + 1);
    });
  }
  const parseText = batches(1_000_000, 1, per)[0]!;
  bench.add(`parse a batch only, ${size} held`, () => JSON.parse(parseText) as string[]);
}
const hashIds = JSON.parse(batches(2_000_000, 1, SEEN_PER_CALL)[0]!) as string[];
const out = new Uint32Array(2);
bench.add('hash64 alone', () => {
  for (let i = 0; i < SEEN_PER_CALL; i++) hash64(hashIds[i]!, out);
});
await bench.run();

function nsPerId(name: string, per = SEEN_PER_CALL): number {
  const result = bench.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return (result.latency.p50 * 1e6) / per;
}

const gc = (globalThis as { gc?: () => void }).gc;
function heapPerId(Impl: Impl, size: number): string {
  if (gc === undefined) return 'run with --expose-gc';
  const owners = Math.max(1, Math.floor(200_000 / size));
  gc();
  const before = process.memoryUsage();
  const memories: Memory[] = [];
  for (let o = 0; o < owners; o++) {
    const memory = new Impl(HORIZON_MS, IDS_MAX, T0);
    // Ids as a worker sees them: fresh strings (from JSON.parse), not the pool's.
    for (let n = 0; n < size; n++) memory.seen(JSON.parse(`"${id(o * size + n)}"`) as string, T0);
    memories.push(memory);
  }
  gc();
  const after = process.memoryUsage();
  const bytes = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
  return memories.length > 0 ? (bytes / owners / size).toFixed(1) : '';
}

const rows = [];
for (const size of SIZES) {
  const per = perCall(size);
  const parseNs = nsPerId(`parse a batch only, ${size} held`, per);
  for (const task of ['new ids', 're-sent ids']) {
    const before = nsPerId(`before: ${task}, ${size} held`, per) - parseNs;
    const after = nsPerId(`after: ${task}, ${size} held`, per) - parseNs;
    rows.push({ task: `${task}, ${size} held`, 'before ns/id': before.toFixed(0), 'after ns/id': after.toFixed(0), 'speed-up (before/after)': `${(before / after).toFixed(2)}x` });
  }
  rows.push({ task: `JSON.parse per id (subtracted), ${size} held`, 'before ns/id': parseNs.toFixed(0), 'after ns/id': '', 'speed-up (before/after)': '' });
  rows.push({
    task: `heap bytes per id, ${size} held (idsMax 100K)`,
    'before ns/id': heapPerId(LegacyDedupMemory, size),
    'after ns/id': heapPerId(DedupMemory, size),
    'speed-up (before/after)': '',
  });
}
rows.push({ task: 'hash64 alone', 'before ns/id': '', 'after ns/id': nsPerId('hash64 alone').toFixed(0), 'speed-up (before/after)': '' });

console.table(rows);
