/**
 * Runs the micro benchmarks one after another, each in its own process (a
 * benchmark's JIT state and heap must not leak into the next), with
 * --expose-gc for the ones that measure memory. Those that need a database
 * server (bench/store/mongo, redis) are left out; run them by hand.
 *
 * Run: npm run bench:micro [-- <substring>]   e.g. `-- actors/` or `-- dedup`
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES = [
  'actors/hash.bench.js',
  'actors/hll.bench.js',
  'actors/decode.bench.js',
  'actors/window.bench.js',
  'actors/dedup.bench.js',
  'actors/owner.bench.js',
  'actors/memory.bench.js',
  'edge/live.bench.js',
  'edge/raw-body.bench.js',
  'store/event-store.bench.js',
];

const filter = process.argv[2] ?? '';
let failed = 0;
for (const bench of BENCHES.filter((b) => b.includes(filter))) {
  const path = fileURLToPath(new URL(bench, import.meta.url));
  console.log(`\n=== ${bench} (node ${process.version})`);
  const result = spawnSync(process.execPath, ['--expose-gc', path], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    console.error(`${bench} exited with ${result.status ?? result.signal}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
