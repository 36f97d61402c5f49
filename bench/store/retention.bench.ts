/**
 * What the embedded store's retention (lmdbEventsRetentionMs) does to its
 * file: events written at a steady rate on a simulated clock, swept every
 * round as worker 0 sweeps every 10 minutes. Prints the data file's size per
 * round (LMDB's last page, so what the file takes on disk) and the sweep's
 * cost per bucket removed. Once the oldest events expire, the file should
 * stop growing: LMDB reuses the pages the sweep frees.
 *
 * Per round: `owners` owners write 500-event buckets of the harness's size
 * (~57 bytes an event), `bucketsPerRound` in all; the retention is
 * `keepRounds` rounds.
 *
 * Run: node dist/bench/store/retention.bench.js [rounds=30] [keepRounds=5] [bucketsPerRound=200] [owners=100]
 *
 * `walk N` instead: N owners with one small bucket each, then the time of a
 * sweep that removes nothing (the walk over the owners, one cursor each)
 * and of one that removes them all.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';
import { acquireLmdbEnv, releaseLmdbEnv } from '../../src/store/lmdb/env.js';
import { harnessSizedEvent } from './harness-sized.js';

const ROUNDS = Number(process.argv[2] ?? 30);
const KEEP_ROUNDS = Number(process.argv[3] ?? 5);
const BUCKETS_PER_ROUND = Number(process.argv[4] ?? 200);
const OWNERS = Number(process.argv[5] ?? 100);
/** One round of the simulated clock: the sweep's interval. */
const ROUND_MS = 600_000;
const T0 = Date.UTC(2026, 10, 23);

if (process.argv[2] === 'walk') {
  const owners = Number(process.argv[3] ?? 100_000);
  const walkDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-retention-walk-'));
  let clock = T0;
  const walkStore = new LmdbEventStore({ path: walkDir, noSync: true, eventsRetentionMs: ROUND_MS, clock: () => clock });
  try {
    for (let from = 0; from < owners; from += 10_000) {
      await walkStore.writeEvents(Array.from({ length: Math.min(10_000, owners - from) }, (_, k) => harnessSizedEvent(`owner-${from + k}`, `e-${k}`, k, clock)));
    }
    for (const [label, advanceMs] of [['removes nothing', 0], ['removes all', ROUND_MS + 1]] as const) {
      clock = T0 + advanceMs;
      const t0 = process.hrtime.bigint();
      const removed = await walkStore.sweepExpired();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      console.log(`${owners} owners, a sweep that ${label}: ${ms.toFixed(0)} ms (${((ms * 1000) / owners).toFixed(2)} µs per owner), ${removed} events removed`);
    }
  } finally {
    await walkStore.close();
    fs.rmSync(walkDir, { recursive: true, force: true });
  }
  process.exit(0);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-retention-'));
let now = T0;
const store = new LmdbEventStore({ path: dir, noSync: true, eventsRetentionMs: KEEP_ROUNDS * ROUND_MS, clock: () => now });
const env = acquireLmdbEnv({ path: dir });
const fileMb = (): number => ((env.root.getStats() as { lastPageNumber: number }).lastPageNumber * 4096) / 1e6;
try {
  let seq = 0;
  let plateauFrom = 0;
  console.log(`${BUCKETS_PER_ROUND} buckets of 500 events a round over ${OWNERS} owners; retention ${KEEP_ROUNDS} rounds`);
  for (let round = 0; round < ROUNDS; round++) {
    for (let b = 0; b < BUCKETS_PER_ROUND; b++) {
      const owner = `owner-${b % OWNERS}`;
      await store.writeEvents(Array.from({ length: 500 }, (_, i) => harnessSizedEvent(owner, `e-${seq++}`, i, now)));
    }
    now += ROUND_MS;
    const t0 = process.hrtime.bigint();
    const removed = await store.sweepExpired();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const buckets = removed / 500;
    if (round === KEEP_ROUNDS + 1) plateauFrom = fileMb();
    console.log(
      `round ${String(round).padStart(3)}: file ${fileMb().toFixed(1).padStart(7)} MB; swept ${buckets} buckets in ${ms.toFixed(1)} ms` +
        (buckets > 0 ? ` (${((ms * 1000) / buckets).toFixed(1)} µs per bucket)` : ''),
    );
  }
  console.log(`file at round ${KEEP_ROUNDS + 1}: ${plateauFrom.toFixed(1)} MB; at the end: ${fileMb().toFixed(1)} MB (${(fileMb() / plateauFrom).toFixed(2)}x)`);
} finally {
  await store.close();
  await releaseLmdbEnv(env);
  fs.rmSync(dir, { recursive: true, force: true });
}
