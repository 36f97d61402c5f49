/**
 * Redis snapshot store: what a snapshot round costs per owner, and how long a
 * restore takes, against a real redis-server on loopback (spawned here, or
 * BENCH_REDIS_URL). Side by side in one run, reported as ratios:
 * - put 1000 owners (one MULTI pipeline): binary snapshot + readable hashes
 *   (shipped default) vs binary only (readableHashes: false) vs the embedded
 *   LMDB store;
 * - restore 1000 owners: getOwnerSnapshot one at a time (as a shard loads an
 *   owner it has not seen), 64 in flight, and the readable hashes read back
 *   the way another program would (owner index, then HGETALL + GET per window);
 * - one full write and restore of RESTORE_OWNERS owners (100K), timed once.
 *
 * Run: node dist/bench/store/redis.bench.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Bench } from 'tinybench';
import { Redis } from 'ioredis';
import { HyperLogLog } from '../../src/actors/hll.js';
import { RESOLUTION_MS, RESOLUTIONS, type OwnerSnapshot, type WindowState } from '../../src/actors/types.js';
import { LmdbSnapshotStore } from '../../src/store/lmdb/snapshot-store.js';
import { encodeSnapshot, windowFromFields } from '../../src/store/redis/codec.js';
import { parseWindowRef, RedisKeys } from '../../src/store/redis/keys.js';
import { RedisSnapshotStore } from '../../src/store/redis/snapshot-store.js';
import { RedisServer } from '../../test/helpers/redis.js';

/** Owners per putOwnerSnapshots call: one shard's dirty owners in one snapshot round. */
const OWNERS_PER_PUT = 1_000;
/** Owners restored per sample of the restore tasks. */
const OWNERS_PER_RESTORE = 1_000;
/** Owners of the one-shot full restore. */
const RESTORE_OWNERS = 100_000;
/** Owners written per call while filling Redis for the full restore. */
const FILL_OWNERS_PER_PUT = 1_000;
/** Concurrent getOwnerSnapshot calls in the "in flight" restore (ioredis pipelines them on one socket). */
const RESTORE_IN_FLIGHT = 64;
/** A typical small owner: every resolution open, a few names, a few distinct users, some recent ids. */
const NAMES_PER_WINDOW = 5;
const USERS_PER_WINDOW = 20;
const RECENT_IDS_PER_OWNER = 32;
const BENCH_TIME_MS = 3_000;
const T0_MS = 1_700_000_000_000;
const SHARD = 7;

function window(resolution: (typeof RESOLUTIONS)[number], seed: number): WindowState {
  const hll = new HyperLogLog(12);
  for (let u = 0; u < USERS_PER_WINDOW; u++) hll.addString(`user-${seed}-${u}`);
  const byName: Record<string, number> = {};
  const values: WindowState['values'] = {};
  for (let n = 0; n < NAMES_PER_WINDOW; n++) {
    byName[`event_name_${n}`] = 10 + n;
    if (n < 2) values[`event_name_${n}`] = { count: 10 + n, sum: 123.25 * n, min: 0.5, max: 99.75 };
  }
  return {
    resolution,
    startMs: T0_MS - (T0_MS % RESOLUTION_MS[resolution]),
    total: 60,
    late: 1,
    tooLate: 0,
    byName,
    byCategory: { web: 40, mobile: 20 },
    bySeverity: { info: 58, error: 2 },
    values,
    uniquesSketch: hll.serialize(),
    uniques: Math.round(hll.estimate()),
    open: true,
  };
}

function snapshot(owner: string, seed: number): OwnerSnapshot {
  const recentIds: Array<[string, number]> = [];
  for (let i = 0; i < RECENT_IDS_PER_OWNER; i++) recentIds.push([`evt-${seed}-${i}-abcdef012345`, T0_MS - i * 100]);
  return { owner, windows: RESOLUTIONS.map((r) => window(r, seed)), recentIds, takenAtMs: T0_MS };
}

function owners(prefix: string, count: number): OwnerSnapshot[] {
  const out: OwnerSnapshot[] = [];
  for (let i = 0; i < count; i++) out.push(snapshot(`${prefix}-${i}`, i));
  return out;
}

/** Restores an owner from the readable hashes alone, as a program other than eventide would. */
async function readFromHashes(client: Redis, keys: RedisKeys, owner: string): Promise<WindowState[]> {
  const windows = await client.hget(keys.owner(SHARD, owner), 'windows');
  if (windows === null || windows === '') return [];
  const read = client.pipeline();
  const refs = windows.split(' ').map(parseWindowRef);
  for (const { resolution, startMs } of refs) {
    read.hgetall(keys.window(SHARD, resolution, startMs, owner));
    read.getBuffer(keys.sketch(SHARD, resolution, startMs, owner));
  }
  const replies = (await read.exec()) ?? [];
  const out: WindowState[] = [];
  for (let i = 0; i < refs.length; i++) {
    out.push(windowFromFields(replies[2 * i]![1] as Record<string, string>, replies[2 * i + 1]![1] as Buffer));
  }
  return out;
}

async function inFlight(count: number, limit: number, run: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lanes: Array<Promise<void>> = [];
  for (let lane = 0; lane < limit; lane++) {
    lanes.push(
      (async () => {
        while (next < count) await run(next++);
      })(),
    );
  }
  await Promise.all(lanes);
}

const server = process.env.BENCH_REDIS_URL === undefined ? await RedisServer.start() : undefined;
const url = process.env.BENCH_REDIS_URL ?? server!.url;
const lmdbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-bench-snap-'));
const readable = new RedisSnapshotStore({ url, keyPrefix: 'bench-readable' });
const blobOnly = new RedisSnapshotStore({ url, keyPrefix: 'bench-blob', readableHashes: false });
const lmdb = new LmdbSnapshotStore({ path: lmdbDir });
const reader = new Redis(url);
const readableKeys = new RedisKeys('bench-readable');

const batch = owners('owner', OWNERS_PER_PUT);
const blobBytes = encodeSnapshot(batch[0]!).length;
console.log(`owner snapshot: ${RESOLUTIONS.length} windows, ${NAMES_PER_WINDOW} names, ${USERS_PER_WINDOW} users each, ${RECENT_IDS_PER_OWNER} recent ids; binary form ${blobBytes} bytes`);

// Both Redis layouts hold the same OWNERS_PER_RESTORE owners before the restore tasks read them.
await readable.putOwnerSnapshots(SHARD, batch);
await blobOnly.putOwnerSnapshots(SHARD, batch);
const redisInfo = await reader.info('memory');
console.log(`redis used_memory after ${OWNERS_PER_PUT} owners in both layouts: ${/used_memory_human:(\S+)/.exec(redisInfo)?.[1]}`);

const bench = new Bench({ time: BENCH_TIME_MS });
bench
  .add(`put ${OWNERS_PER_PUT} owners: binary + readable hashes (default)`, () => readable.putOwnerSnapshots(SHARD, batch))
  .add(`put ${OWNERS_PER_PUT} owners: binary only`, () => blobOnly.putOwnerSnapshots(SHARD, batch))
  .add(`put ${OWNERS_PER_PUT} owners: LMDB (embedded)`, () => lmdb.putOwnerSnapshots(SHARD, batch))
  .add(`restore ${OWNERS_PER_RESTORE}: getOwnerSnapshot one at a time`, async () => {
    for (let i = 0; i < OWNERS_PER_RESTORE; i++) await readable.getOwnerSnapshot(SHARD, batch[i]!.owner);
  })
  .add(`restore ${OWNERS_PER_RESTORE}: getOwnerSnapshot, ${RESTORE_IN_FLIGHT} in flight`, () =>
    inFlight(OWNERS_PER_RESTORE, RESTORE_IN_FLIGHT, (i) => readable.getOwnerSnapshot(SHARD, batch[i]!.owner)),
  )
  .add(`restore ${OWNERS_PER_RESTORE}: readable hashes, ${RESTORE_IN_FLIGHT} in flight`, () =>
    inFlight(OWNERS_PER_RESTORE, RESTORE_IN_FLIGHT, (i) => readFromHashes(reader, readableKeys, batch[i]!.owner)),
  );
await bench.run();
console.table(bench.table());

function meanMs(prefix: string): number {
  const result = bench.tasks.find((t) => t.name.startsWith(prefix))?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${prefix} has no result`);
  return result.latency.mean;
}
const putReadable = meanMs(`put ${OWNERS_PER_PUT} owners: binary + readable`);
const putBlob = meanMs(`put ${OWNERS_PER_PUT} owners: binary only`);
const putLmdb = meanMs(`put ${OWNERS_PER_PUT} owners: LMDB`);
const getSerial = meanMs(`restore ${OWNERS_PER_RESTORE}: getOwnerSnapshot one`);
const getParallel = meanMs(`restore ${OWNERS_PER_RESTORE}: getOwnerSnapshot, `);
const getHashes = meanMs(`restore ${OWNERS_PER_RESTORE}: readable hashes`);
const us = (ms: number, n: number) => ((ms * 1000) / n).toFixed(1);
console.table([
  { what: 'put, binary + readable hashes', 'µs/owner': us(putReadable, OWNERS_PER_PUT), 'ratio vs binary only': (putReadable / putBlob).toFixed(2) },
  { what: 'put, binary only', 'µs/owner': us(putBlob, OWNERS_PER_PUT), 'ratio vs binary only': '1.00' },
  { what: 'put, LMDB', 'µs/owner': us(putLmdb, OWNERS_PER_PUT), 'ratio vs binary only': (putLmdb / putBlob).toFixed(2) },
  { what: 'restore, one at a time', 'µs/owner': us(getSerial, OWNERS_PER_RESTORE), 'ratio vs binary only': '' },
  { what: `restore, ${RESTORE_IN_FLIGHT} in flight`, 'µs/owner': us(getParallel, OWNERS_PER_RESTORE), 'ratio vs binary only': '' },
  { what: `readable hashes, ${RESTORE_IN_FLIGHT} in flight`, 'µs/owner': us(getHashes, OWNERS_PER_RESTORE), 'ratio vs binary only': '' },
]);
console.log(`restore from readable hashes / from the binary snapshot (both ${RESTORE_IN_FLIGHT} in flight): ${(getHashes / getParallel).toFixed(2)}x`);

// One full restore of RESTORE_OWNERS owners. Filled binary-only (restore reads
// only the binary snapshot, and this keeps the fill short); only the put calls are timed.
const full = new RedisSnapshotStore({ url, keyPrefix: 'bench-full', readableHashes: false });
let fillMs = 0;
for (let done = 0; done < RESTORE_OWNERS; done += FILL_OWNERS_PER_PUT) {
  const chunk: OwnerSnapshot[] = [];
  for (let i = done; i < done + FILL_OWNERS_PER_PUT; i++) chunk.push({ ...batch[i % OWNERS_PER_PUT]!, owner: `full-${i}` });
  const putStart = performance.now();
  await full.putOwnerSnapshots(SHARD, chunk);
  fillMs += performance.now() - putStart;
}
const fullInfo = await reader.info('memory');
let restoreStart = performance.now();
await inFlight(RESTORE_OWNERS, RESTORE_IN_FLIGHT, (i) => full.getOwnerSnapshot(SHARD, `full-${i}`));
const restoreParallelMs = performance.now() - restoreStart;
restoreStart = performance.now();
for (let i = 0; i < RESTORE_OWNERS; i++) await full.getOwnerSnapshot(SHARD, `full-${i}`);
const restoreSerialMs = performance.now() - restoreStart;
console.table([
  { what: `write ${RESTORE_OWNERS} owners, binary only (${FILL_OWNERS_PER_PUT} per call)`, seconds: (fillMs / 1000).toFixed(2) },
  { what: `restore ${RESTORE_OWNERS} owners, ${RESTORE_IN_FLIGHT} in flight`, seconds: (restoreParallelMs / 1000).toFixed(2) },
  { what: `restore ${RESTORE_OWNERS} owners, one at a time`, seconds: (restoreSerialMs / 1000).toFixed(2) },
]);
console.log(`redis used_memory with ${RESTORE_OWNERS} owners more: ${/used_memory_human:(\S+)/.exec(fullInfo)?.[1]}`);

await Promise.all([readable.close(), blobOnly.close(), lmdb.close(), full.close()]);
reader.disconnect();
await server?.stop();
fs.rmSync(lmdbDir, { recursive: true, force: true });
