/**
 * DedupMemory while memories grow, two builds side by side in one process:
 * OWNERS memories go from empty to IDS ids each, a batch of 500 new ids at
 * a time to the owners in turn (as a worker's owners fill in the first
 * minutes of a run, or of a harness run: each doubling of a memory rebuilds
 * its table), then the same again with every memory full, where each new id
 * evicts the oldest (the steady state). Alternating rounds; the medians and
 * the ratio after/before are printed. Ids are hashed ahead (the columnar
 * path hashes them from the body); what is timed is touchBatch + seenHash.
 * Last, every full memory is packed for a snapshot (exportPacked), as each
 * snapshot round does for every busy owner.
 *
 * Run: node dist/bench/actors/dedup-grow.bench.js <before dist dir> [after dist dir = this build] [owners=50] [ids=100000] [rounds=5]
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Memory {
  exportPacked(nowMs: number): Uint8Array | null;
  touchBatch(hashes: Int32Array, n: number): void;
  seenHash(a: number, b: number, nowMs: number): boolean;
}
type MemoryClass = new (horizonMs: number, idsMax: number, nowMs: number) => Memory;

const here = path.dirname(fileURLToPath(import.meta.url));
const beforeDir = process.argv[2];
if (beforeDir === undefined) throw new Error('usage: dedup-grow.bench.js <before dist dir> [after dist dir] [owners] [ids] [rounds]');
const afterDir = process.argv[3] === undefined || process.argv[3] === '' ? path.resolve(here, '../..') : process.argv[3];
const OWNERS = Number(process.argv[4] ?? 50);
const IDS = Number(process.argv[5] ?? 100_000);
const ROUNDS = Number(process.argv[6] ?? 5);
const PER_CALL = 500;
const HORIZON_MS = 3_600_000;
const T0 = 1_700_000_000_000;

const load = async (dir: string): Promise<MemoryClass> =>
  ((await import(pathToFileURL(path.resolve(dir, 'src/actors/dedup.js')).href)) as { DedupMemory: MemoryClass }).DedupMemory;
const impls = { before: await load(beforeDir), after: await load(afterDir) };

/** A seeded stream of 64-bit hashes (xorshift), two int32 words per id. */
function hashes(count: number, seed: number): Int32Array {
  const out = new Int32Array(2 * count);
  let x = seed | 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

/** ns per id to fill OWNERS memories to IDS ids, to send as many again (each evicting), and to pack them all. */
function run(Impl: MemoryClass, stream: Int32Array): Record<Phase, number> {
  const memories = Array.from({ length: OWNERS }, () => new Impl(HORIZON_MS, IDS, T0));
  const batch = new Int32Array(2 * PER_CALL);
  let at = 0;
  const phase = (): number => {
    const started = process.hrtime.bigint();
    for (let b = 0; b < IDS / PER_CALL; b++) {
      for (const memory of memories) {
        batch.set(stream.subarray(at, at + 2 * PER_CALL));
        at += 2 * PER_CALL;
        memory.touchBatch(batch, PER_CALL);
        for (let k = 0; k < PER_CALL; k++) if (memory.seenHash(batch[2 * k]!, batch[2 * k + 1]!, T0)) throw new Error('a duplicate in a stream of distinct hashes');
      }
    }
    return Number(process.hrtime.bigint() - started) / (OWNERS * IDS);
  };
  const grow = phase();
  const full = phase();
  const started = process.hrtime.bigint();
  let bytes = 0;
  for (const memory of memories) bytes += memory.exportPacked(T0)?.length ?? 0;
  if (bytes !== OWNERS * (16 + 12 * IDS)) throw new Error(`packed ${bytes} bytes, not ${OWNERS * (16 + 12 * IDS)}`);
  return { grow, full, pack: Number(process.hrtime.bigint() - started) / (OWNERS * IDS) };
}

type Phase = 'grow' | 'full' | 'pack';
const PHASES: Record<Phase, string> = { grow: 'growing (empty to full)', full: 'full (each id evicts)', pack: 'exportPacked (a snapshot)' };

const stream = hashes(2 * OWNERS * IDS, 0x2545f491);
const results: Record<'before' | 'after', Record<Phase, number[]>> = { before: { grow: [], full: [], pack: [] }, after: { grow: [], full: [], pack: [] } };
run(impls.before, stream);
run(impls.after, stream);
for (let r = 0; r < ROUNDS; r++) {
  for (const label of r % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
    const times = run(impls[label], stream);
    for (const phase of Object.keys(PHASES) as Phase[]) results[label][phase].push(times[phase]);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${OWNERS} memories to ${IDS} ids, batches of ${PER_CALL}, ${ROUNDS} alternating rounds; Node ${process.version}`);
console.log('| phase | before ns/id | after ns/id | after/before |');
console.log('|---|---:|---:|---:|');
for (const phase of Object.keys(PHASES) as Phase[]) {
  const b = median(results.before[phase]);
  const a = median(results.after[phase]);
  console.log(`| ${PHASES[phase]} | ${b.toFixed(1)} | ${a.toFixed(1)} | ${(a / b).toFixed(3)} |`);
}
