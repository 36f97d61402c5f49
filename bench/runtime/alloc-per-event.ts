/**
 * Bytes a shard worker allocates per event on its hot path, by allocating
 * function: decode (the one-pass JSON reader), validate, apply (OwnerActor),
 * pack (LmdbEventStore.prepareEvents), for 500-event batches of harness-like
 * events over 50 owners. V8's sampling heap profiler, with the objects young
 * and old collections freed kept in (every allocation counts, not only what
 * survives), after a warm-up. Allocation is what the scavenger pays for: a
 * worker at saturation allocates hundreds of MB/s (--trace-gc-nvp).
 *
 * Run: node dist/bench/runtime/alloc-per-event.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { decodeBody } from '../../src/actors/decode.js';
import { createValidator } from '../../src/actors/validate.js';
import { DEFAULT_EVENT_LIMITS } from '../../src/actors/schema.js';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';
import { defaults } from '../../config/defaults.js';

const T = Date.now();
const BATCH_EVENTS = 500;
const OWNERS = 50;
const SAMPLED_BATCHES = 1_000;
let seed = 7;
const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'];
const body = (b: number): Buffer =>
  Buffer.from(
    JSON.stringify({
      events: Array.from({ length: BATCH_EVENTS }, (_, i) => ({
        id: `r1a2b3.3.${String(1e11 + b * BATCH_EVENTS + i)}-${String(i).padStart(4, '0')}`,
        name: `event_${Math.floor(random() * 20)}`,
        timestamp: T + i,
        userId: `user-${Math.floor(random() * 1000)}`,
        category: `cat${Math.floor(random() * 8)}`,
        severity: SEVERITIES[Math.floor(random() * 6)],
        tags: ['bench', `t${Math.floor(random() * 16)}`],
        properties: { plan: random() < 0.5 ? 'free' : 'pro', n: Math.floor(random() * 1000), ok: random() < 0.5, pad: 'x'.repeat(20) },
        value: Math.round(random() * 100_000) / 100,
      })),
    }),
  );
// 200 bodies sent round robin, the clock 1 ms on per batch: with a dedup horizon of 100 ms an id is
// forgotten long before its body comes round again, so every event is new (applied, stored, packed).
const bodies = Array.from({ length: 200 }, (_, b) => body(b));
const validator = createValidator(DEFAULT_EVENT_LIMITS);
const options: OwnerOptions = { resolutions: ['1s', '1m', '1h', '1d'], allowedLatenessMs: 5_000, dedupHorizonMs: 100, dedupIdsMax: 100_000, hllPrecision: 12, namesPerWindowMax: 1_000 };
const actors = Array.from({ length: OWNERS }, (_, o) => new OwnerActor(`owner-${o}`, options, T));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-alloc-'));
const store = new LmdbEventStore({ path: dir });

function batch(k: number): void {
  const decoded = decodeBody(bodies[k % bodies.length]!, 'json', 'identity', defaults);
  const validated = validator.validateBatch(decoded.events, { receivedAtMs: T, requestId: 'r' });
  const sink: ApplySink = {
    shard: 1,
    counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: validated.rejected },
    receipts: validated.receipts,
    receiptsAll: false,
    stored: [],
    storedIdWords: [],
  };
  actors[k % OWNERS]!.applyBatch(validated.records, validated.indexes, T + k, sink);
  if (sink.counts.duplicate !== 0) throw new Error('a duplicate: the bench means every event to be new');
  store.prepareEvents(sink.stored, sink.storedIdWords);
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

try {
  for (let k = 0; k < 2_000; k++) batch(k);
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4_096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  for (let k = 2_000; k < 2_000 + SAMPLED_BATCHES; k++) batch(k);
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
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
