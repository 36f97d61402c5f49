/**
 * DedupMemory.seen across many busy owners, as a worker holds them: 100
 * memories of 100K ids each (the default dedupIdsMax, full), ~300 MB, far
 * past the CPU caches, so what counts is how many cache lines a lookup and
 * the deletion of the oldest id touch. Every call sends a batch of 500 new
 * ids to the next owner (round robin); each id is looked up, remembered, and
 * evicts the owner's oldest.
 *
 * `ring index only` is the table before (bench/actors/legacy/dedup-ring.ts:
 * a slot held the ring index, so every probe read the ring too); `a + ring
 * index` is src/actors/dedup.ts called id by id (seen); `batch hashed` is
 * the same table as OwnerActor.applyBatch drives it: hashBatch hashes the
 * batch and reads the slots it will probe in one pass, then seenHash per id.
 * All run in one process, alternating.
 *
 * Run: node dist/bench/actors/dedup-many.bench.js [owners=100] [ids=100000]
 */
import { Bench } from 'tinybench';
import { DedupMemory } from '../../src/actors/dedup.js';
import { DedupMemory as RingOnlyMemory } from './legacy/dedup-ring.js';

const OWNERS = Number(process.argv[2] ?? 100);
const IDS = Number(process.argv[3] ?? 100_000);
const PER_CALL = 500;
const HORIZON_MS = 3_600_000;
const T0 = 1_700_000_000_000;

function id(n: number): string {
  return `r1a2b3.${n % 32}.${String(n).padStart(12, '0')}-${String(n % 500).padStart(4, '0')}`;
}

type Memory = DedupMemory | RingOnlyMemory;
const HASHES = new Int32Array(2 * PER_CALL);

function setup(Impl: typeof DedupMemory | typeof RingOnlyMemory, base: number, batched = false): () => void {
  const memories: Memory[] = [];
  let next = base;
  for (let o = 0; o < OWNERS; o++) {
    const memory = new Impl(HORIZON_MS, IDS, T0);
    for (let n = 0; n < IDS; n++) memory.seen(id(next++), T0);
    memories.push(memory);
  }
  // Batches of fresh ids, made ahead (strings built once; hash64 reads them either way).
  const batches = Array.from({ length: 64 }, () => Array.from({ length: PER_CALL }, () => id(next++)));
  const records = batches.map((ids) => ids.map((id) => ({ id })));
  let owner = 0;
  let batch = 0;
  let now = T0;
  return () => {
    const memory = memories[owner]!;
    const ids = batches[batch]!;
    const idRecords = records[batch]!;
    owner = owner + 1 === OWNERS ? 0 : owner + 1;
    batch = batch + 1 === batches.length ? 0 : batch + 1;
    now += 1;
    let seen = 0;
    if (batched) {
      const batchMemory = memory as DedupMemory;
      batchMemory.hashBatch(idRecords, HASHES);
      for (let i = 0; i < PER_CALL; i++) if (batchMemory.seenHash(HASHES[2 * i]!, HASHES[2 * i + 1]!, now)) seen++;
    } else {
      for (let i = 0; i < PER_CALL; i++) if (memory.seen(ids[i]!, now)) seen++;
    }
    // Batches come round again: ids may be held (a duplicate) or long evicted; both are real work.
    if (seen < 0) throw new Error('unreachable');
  };
}

const ringOnly = setup(RingOnlyMemory, 0);
const withA = setup(DedupMemory, 0);
const batched = setup(DedupMemory, 0, true);
const bench = new Bench({ time: 3_000 });
bench.add('ring index only', ringOnly);
bench.add('a + ring index', withA);
bench.add('a + ring index, batch hashed', batched);
bench.add('ring index only (again)', ringOnly);
bench.add('a + ring index (again)', withA);
bench.add('a + ring index, batch hashed (again)', batched);
await bench.run();

const perId = (name: string): number => {
  const result = bench.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return (result.latency.p50 * 1e6) / PER_CALL;
};
console.log(`${OWNERS} owners x ${IDS} ids, batches of ${PER_CALL} new ids, round robin`);
console.table(
  bench.tasks.map((t) => ({ task: t.name, 'ns per id (p50)': perId(t.name).toFixed(0) })),
);
const before = (perId('ring index only') + perId('ring index only (again)')) / 2;
const after = (perId('a + ring index') + perId('a + ring index (again)')) / 2;
const batchedTime = (perId('a + ring index, batch hashed') + perId('a + ring index, batch hashed (again)')) / 2;
console.log(`a + ring index / ring index only: ${(after / before).toFixed(2)}x the time per id`);
console.log(`batch hashed / a + ring index: ${(batchedTime / after).toFixed(2)}x the time per id`);
