/**
 * What limits cost per request, side by side in one run:
 *
 * 1. The limiter alone: MemoryLimits.admit vs RedisLimits.admit (one
 *    pipeline, one round trip to a local redis-server), each with and without
 *    the settle that follows an ingest, for a batch of SMALL_BATCH_EVENTS and
 *    LARGE_BATCH_EVENTS events: the cost is per request, not per event.
 * 2. End to end: the same ingest (HTTP POST of a BATCH_EVENTS-event JSON
 *    batch, CONNECTIONS concurrent requests) against three servers started in
 *    this process: limits off (rates 0), in-process, and Redis. Rounds
 *    alternate between them so that the machine's noise hits all three.
 *
 * Run: node dist/bench/edge/limits.bench.js   (needs redis-server on PATH)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { Bench } from 'tinybench';
import { MemoryLimits, type AdmitInput, type LimitSettings } from '../../src/edge/limits.js';
import { RedisLimits } from '../../src/edge/limits-redis.js';
import { startServer, type StartedServer } from '../../src/server.js';
import { silentLogger } from '../../src/log.js';

const SMALL_BATCH_EVENTS = 1;
const LARGE_BATCH_EVENTS = 500;
const BENCH_TIME_MS = 2_000;
const BATCH_EVENTS = 100;
const CONNECTIONS = 8;
const ROUNDS = 6;
const REQUESTS_PER_ROUND = 1_500;
/** High enough never to refuse: the bench measures the bookkeeping, not refusals. */
const SETTINGS: LimitSettings = {
  keyRequestsPerSec: 1_000_000,
  keyRequestsBurst: 1_000_000,
  keyEventsPerSec: 100_000_000,
  keyEventsBurst: 100_000_000,
  limitsEntriesMax: 100_000,
};

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

async function startRedis(): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const probe = new RedisLimits({ url, ...SETTINGS, commandTimeoutMs: 1_000 });
  for (let i = 0; i < 100; i++) {
    try {
      await probe.whenReady();
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await probe.close();
  return { url, stop: () => child.kill('SIGKILL') };
}

const redis = await startRedis();
const memory = new MemoryLimits(SETTINGS);
const shared = new RedisLimits({ url: redis.url, ...SETTINGS });
await shared.whenReady();
const input = (keyId: string): AdmitInput => ({ keyId, owner: 'acme', ingest: true, eventsPerDayMax: 1_000_000_000, nowMs: Date.now() });

// ---- 1. the limiter alone ------------------------------------------------------
const micro = new Bench({ time: BENCH_TIME_MS, warmup: true });
for (const [label, limits] of [
  ['memory', memory],
  ['redis', shared],
] as const) {
  micro.add(`${label} admit`, async () => {
    await limits.admit(input('k1'));
  });
  for (const events of [SMALL_BATCH_EVENTS, LARGE_BATCH_EVENTS]) {
    micro.add(`${label} admit + settle ${events} events`, async () => {
      await limits.admit(input('k2'));
      limits.settle({ keyId: 'k2', owner: 'acme', events, stored: events, nowMs: Date.now() });
    });
  }
}
await micro.run();
console.table(micro.table());
const medianUs = (name: string): number => {
  const result = micro.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`no result for ${name}`);
  return result.latency.p50 * 1_000;
};
console.log(
  `admit median: memory ${medianUs('memory admit').toFixed(2)} µs, redis ${medianUs('redis admit').toFixed(1)} µs ` +
    `(ratio ${(medianUs('redis admit') / medianUs('memory admit')).toFixed(0)}x)`,
);
console.log(
  `redis admit + settle: ${medianUs(`redis admit + settle ${SMALL_BATCH_EVENTS} events`).toFixed(1)} µs for ${SMALL_BATCH_EVENTS} event, ` +
    `${medianUs(`redis admit + settle ${LARGE_BATCH_EVENTS} events`).toFixed(1)} µs for ${LARGE_BATCH_EVENTS} events`,
);
console.log(`redis fallbacks during the run: ${shared.stats.fallbacks}, settle failures: ${shared.stats.settleFailures}`);

// The edge's own CPU per admission (what it takes from the event loop), apart from the wait for Redis.
const CPU_SAMPLE_ADMITS = 20_000;
async function cpuUsPerAdmit(limits: MemoryLimits | RedisLimits): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < CPU_SAMPLE_ADMITS; i++) {
    await limits.admit(input('k3'));
    limits.settle({ keyId: 'k3', owner: 'acme', events: 100, stored: 100, nowMs: Date.now() });
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / CPU_SAMPLE_ADMITS;
}
const memoryCpu = await cpuUsPerAdmit(memory);
const redisCpu = await cpuUsPerAdmit(shared);
console.log(`edge CPU per admit + settle: memory ${memoryCpu.toFixed(2)} µs, redis ${redisCpu.toFixed(1)} µs (ratio ${(redisCpu / memoryCpu).toFixed(0)}x)`);
await shared.close();

// ---- 2. end to end ----------------------------------------------------------------
const dirs: string[] = [];
async function server(overrides: Record<string, unknown>): Promise<{ server: StartedServer; key: string }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'eventide-limits-bench-'));
  dirs.push(dataDir);
  const started = await startServer(
    { httpPort: 0, grpcPort: 0, dataDir, workers: 1, shardCount: 16, logLevel: 'silent', devKey: false, walEnabled: false, ...overrides },
    { log: silentLogger },
  );
  return { server: started, key: await started.createKey('acme') };
}
const sides = {
  off: await server({ keyRequestsPerSec: 0, keyEventsPerSec: 0 }),
  memory: await server({ ...SETTINGS, limitsStore: 'memory' }),
  redis: await server({ ...SETTINGS, redisUrl: redis.url, snapshotStore: 'lmdb' }),
};
let sequence = 0;
function body(): string {
  const now = Date.now();
  const batch = sequence++;
  return JSON.stringify({ events: Array.from({ length: BATCH_EVENTS }, (_, i) => ({ id: `b${batch}-${i}`, name: 'click', userId: `u${i}`, timestamp: now })) });
}

async function round(side: { server: StartedServer; key: string }): Promise<{ requestsPerS: number; p50Ms: number }> {
  const latencies: number[] = [];
  let next = 0;
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < REQUESTS_PER_ROUND) {
        next++;
        const payload = body();
        const t0 = performance.now();
        const response = await fetch(`${side.server.httpUrl}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${side.key}`, 'content-type': 'application/json' },
          body: payload,
        });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`status ${response.status}`);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsedS = (performance.now() - startedAt) / 1_000;
  latencies.sort((a, b) => a - b);
  return { requestsPerS: REQUESTS_PER_ROUND / elapsedS, p50Ms: latencies[Math.floor(latencies.length / 2)]! };
}

const results: Record<keyof typeof sides, Array<{ requestsPerS: number; p50Ms: number }>> = { off: [], memory: [], redis: [] };
await round(sides.off); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const name of ['off', 'memory', 'redis'] as const) results[name].push(await round(sides[name]));
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const table = Object.fromEntries(
  Object.entries(results).map(([name, rounds]) => [
    name,
    { 'requests/s': Math.round(median(rounds.map((x) => x.requestsPerS))), 'p50 ms': Number(median(rounds.map((x) => x.p50Ms)).toFixed(2)) },
  ]),
);
console.table(table);
const off = table.off!['requests/s'];
console.log(
  `end to end (${BATCH_EVENTS}-event batches, ${CONNECTIONS} connections, median of ${ROUNDS} rounds): ` +
    `memory/off ${(table.memory!['requests/s'] / off).toFixed(3)}x, redis/off ${(table.redis!['requests/s'] / off).toFixed(3)}x requests/s`,
);
console.log(`redis limiter of the server: fallbacks ${sides.redis.server.limits.stats.fallbacks}, admitted ${sides.redis.server.limits.stats.admitted}`);

for (const side of Object.values(sides)) await side.server.close();
await memory.close();
redis.stop();
for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
