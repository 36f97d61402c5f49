/**
 * Bytes a shard worker allocates per event on its hot path, by allocating
 * function: decode (the one-pass JSON reader), validate, apply (OwnerActor),
 * pack (LmdbEventStore.prepareEvents), as worker-path.ts runs them. V8's sampling heap profiler, with the objects young
 * and old collections freed kept in (every allocation counts, not only what
 * survives), after a warm-up. Allocation is what the scavenger pays for: a
 * worker at saturation allocates hundreds of MB/s (--trace-gc-nvp).
 *
 * Run: node dist/bench/runtime/alloc-per-event.js [json|msgpack|protobuf] [even|server] [records|columns] (as stages.bench.ts)
 */
import { Session } from 'node:inspector/promises';
import { BATCH_EVENTS, openWorkerPath, type PathKind, type Workload } from './worker-path.js';
import type { BodyFormat } from '../../src/actors/types.js';

const SAMPLED_BATCHES = 1_000;
const path = openWorkerPath((process.argv[2] ?? 'json') as BodyFormat, (process.argv[3] ?? 'even') as Workload, (process.argv[4] ?? 'records') as PathKind);

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

try {
  for (let k = 0; k < 2_000; k++) {
    path.prepare(k);
    path.batch(k);
  }
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4_096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (let k = 2_000; k < 2_000 + SAMPLED_BATCHES; k++) {
    path.prepare(k);
    path.batch(k);
  }
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: ProfileNode } };
  session.disconnect();
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (node: ProfileNode): void => {
    const f = node.callFrame;
    const site = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    total += node.selfSize;
    bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const perEvent = (bytes: number): string => (bytes / SAMPLED_BATCHES / BATCH_EVENTS).toFixed(0);
  console.log(`${perEvent(total)} bytes allocated per event (sampled), by allocating function:`);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 12)) if (bytes > 0) console.log(`${perEvent(bytes).padStart(6)}  ${site}`);
  console.log(`Node ${process.version}`);
} finally {
  await path.close();
}
