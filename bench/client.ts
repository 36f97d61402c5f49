/**
 * The client SDK against a real server in another process: node:http with a
 * keep-alive agent vs the global fetch (the question docs/client.md's default
 * rests on), and, on the same footing, JSON vs protobuf bodies, gzip, and
 * gRPC unary vs stream.
 *
 * Harness-style: each case runs for CASE_MS, repeating "send EVENTS_PER_ROUND
 * events, flush()"; the cases run in turn, ROUNDS times, in a rotated order,
 * so machine noise falls on all of them alike. Reported per case: events/s
 * and the client process's CPU per event (process.cpuUsage; the server runs
 * in its own process), medians over the rounds, and ratios taken within each
 * round.
 *
 * First, in-process, the per-event encoding send() does (tinybench): JSON,
 * the hand-written protobuf encoder, and the generated ts-proto one it replaced.
 *
 * Run: npm run build && node dist/bench/client.js
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { createClient, SEVERITIES, type ClientEvent, type ClientOptions } from '../src/client/index.js';
import { encodeEvent } from '../src/client/encode.js';
import { Event as PbEvent, type PropertyValue as PbPropertyValue } from '../src/gen/eventide/v1/event.js';

const CASE_MS = 3_000;
const ROUNDS = 3;
/** Small batches make the per-request cost show; large ones the per-event cost. */
const SMALL_BATCH_EVENTS = 10;
const LARGE_BATCH_EVENTS = 500;
const BATCHES_PER_ROUND = 8;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'dist/src/cli.js');

interface Case {
  name: string;
  batchEvents: number;
  options: Partial<ClientOptions>;
}

const CASES: Case[] = [
  { name: 'http node  json  10/batch', batchEvents: SMALL_BATCH_EVENTS, options: { transport: 'http', httpImpl: 'node' } },
  { name: 'http fetch json  10/batch', batchEvents: SMALL_BATCH_EVENTS, options: { transport: 'http', httpImpl: 'fetch' } },
  { name: 'http node  json 500/batch', batchEvents: LARGE_BATCH_EVENTS, options: { transport: 'http', httpImpl: 'node' } },
  { name: 'http fetch json 500/batch', batchEvents: LARGE_BATCH_EVENTS, options: { transport: 'http', httpImpl: 'fetch' } },
  { name: 'http node  pb   500/batch', batchEvents: LARGE_BATCH_EVENTS, options: { transport: 'http', httpImpl: 'node', format: 'protobuf' } },
  { name: 'http node  json 500 gzip', batchEvents: LARGE_BATCH_EVENTS, options: { transport: 'http', httpImpl: 'node', gzip: true } },
  { name: 'grpc unary      500/batch', batchEvents: LARGE_BATCH_EVENTS, options: { transport: 'grpc', grpcMode: 'unary' } },
  { name: 'grpc stream     500/batch', batchEvents: LARGE_BATCH_EVENTS, options: { transport: 'grpc', grpcMode: 'stream' } },
];

/** Ratios reported: [numerator case, denominator case]. */
const RATIOS: Array<[string, string]> = [
  ['http node  json  10/batch', 'http fetch json  10/batch'],
  ['http node  json 500/batch', 'http fetch json 500/batch'],
  ['http node  pb   500/batch', 'http node  json 500/batch'],
  ['http node  json 500 gzip', 'http node  json 500/batch'],
  ['grpc stream     500/batch', 'grpc unary      500/batch'],
  ['grpc unary      500/batch', 'http node  json 500/batch'],
];

function eventsFor(n: number, round: number): ClientEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    name: i % 4 === 0 ? 'signup' : 'page_view',
    userId: `user-${(i * 7919 + round) % 5_000}`,
    category: 'web',
    properties: { path: '/pricing', plan: i % 2 === 0 ? 'team' : 'solo', mobile: i % 3 === 0 },
    value: i % 100,
  }));
}

interface Server {
  httpUrl: string;
  grpcTarget: string;
  key: string;
  stop(): Promise<void>;
}

async function startServerProcess(): Promise<Server> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'eventide-bench-client-'));
  const flags = ['--data-dir', dataDir, '--log-level', 'warn', '--dev-key', 'false'];
  const key = execFileSync(process.execPath, [CLI, 'keys', 'create', '--owner', 'bench', ...flags], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  // One worker: with the client in this process, two cores are then one for the edge and one for the worker.
  const child = spawn(process.execPath, [CLI, 'start', ...flags, '--http-port', '0', '--grpc-port', '0', '--workers', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /eventide listening: .*\n/.exec(out);
      if (m) resolve(m[0]);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const httpUrl = /HTTP (http:\/\/\S+)/.exec(line)![1]!;
  const grpcTarget = /gRPC (\S+)/.exec(line)![1]!;
  return {
    httpUrl,
    grpcTarget,
    key,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => {
          rmSync(dataDir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

interface Sample {
  eventsPerSec: number;
  cpuUsPerEvent: number;
}

async function runCase(server: Server, c: Case, round: number): Promise<Sample> {
  const client = createClient({
    url: server.httpUrl,
    grpcTarget: server.grpcTarget,
    key: server.key,
    ...c.options,
    batchEventsMax: c.batchEvents,
    lingerMs: 1_000,
    onError: (err) => {
      throw err;
    },
  });
  const perRound = c.batchEvents * BATCHES_PER_ROUND;
  const events = eventsFor(perRound, round);
  // Warm the connection and the code paths.
  client.send(events);
  await client.flush();
  const before = client.stats();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < CASE_MS) {
    client.send(events);
    await client.flush();
    sent += perRound;
  }
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await client.close();
  const after = client.stats();
  const answered = after.accepted + after.late + after.duplicate - (before.accepted + before.late + before.duplicate);
  if (answered !== sent || after.refusals !== 0) throw new Error(`${c.name}: ${answered} of ${sent} answered, ${after.refusals} refusals`);
  return { eventsPerSec: (sent / elapsedMs) * 1_000, cpuUsPerEvent: (cpu.user + cpu.system) / sent };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// ---------------------------------------------------------------- encoding, in process

const ENCODE_BENCH_MS = 1_500;
const sample: ClientEvent = { ...eventsFor(1, 0)[0]!, severity: 'info', tags: ['a', 'b'] };
let sink = 0;
const encodeBench = new Bench({ time: ENCODE_BENCH_MS, warmup: true });
encodeBench
  .add('json (JSON.stringify)', () => {
    sink += encodeEvent(sample, 0, 'client-id.1a2b', 1_768_478_400_000, 'json', 0).bytes;
  })
  .add('protobuf (hand-written)', () => {
    sink += encodeEvent(sample, 0, 'client-id.1a2b', 1_768_478_400_000, 'protobuf', 0).bytes;
  })
  .add('protobuf (generated Event.encode)', () => {
    const properties = new Map<string, PbPropertyValue>();
    for (const [key, value] of Object.entries(sample.properties ?? {})) {
      properties.set(
        key,
        typeof value === 'string'
          ? { kind: { $case: 'stringValue', value } }
          : typeof value === 'number'
            ? { kind: { $case: 'numberValue', value } }
            : { kind: { $case: 'boolValue', value } },
      );
    }
    sink += PbEvent.encode({
      id: 'client-id.1a2b',
      name: sample.name,
      timestampMs: 1_768_478_400_000,
      userId: sample.userId,
      category: sample.category,
      severity: SEVERITIES.indexOf(sample.severity!) + 1,
      tags: [...(sample.tags ?? [])],
      properties,
      value: sample.value,
    }).finish().byteLength;
  });
await encodeBench.run();
console.table(encodeBench.table());
const p50 = (name: string): number => {
  const result = encodeBench.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return result.latency.p50;
};
console.log(
  `per-event encode, median: generated / hand-written protobuf ${(p50('protobuf (generated Event.encode)') / p50('protobuf (hand-written)')).toFixed(2)}x, ` +
    `hand-written protobuf / json ${(p50('protobuf (hand-written)') / p50('json (JSON.stringify)')).toFixed(2)}x (checksum ${sink})`,
);

// ---------------------------------------------------------------- against a server process

const server = await startServerProcess();
const samples = new Map<string, Sample[]>(CASES.map((c) => [c.name, []]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < CASES.length; i++) {
      const c = CASES[(i + round) % CASES.length]!;
      samples.get(c.name)!.push(await runCase(server, c, round));
    }
  }
} finally {
  await server.stop();
}

console.log(`Node ${process.version}, ${ROUNDS} rounds of ${CASE_MS} ms per case, ${BATCHES_PER_ROUND} batches per flush, requestsInFlightMax 4`);
console.table(
  CASES.map((c) => {
    const s = samples.get(c.name)!;
    return {
      case: c.name,
      'events/s (median)': Math.round(median(s.map((x) => x.eventsPerSec))),
      'events/s (rounds)': s.map((x) => Math.round(x.eventsPerSec)).join(' / '),
      'client CPU µs/event': median(s.map((x) => x.cpuUsPerEvent)).toFixed(2),
    };
  }),
);
console.table(
  RATIOS.map(([a, b]) => {
    const ra = samples.get(a)!;
    const rb = samples.get(b)!;
    const perRound = ra.map((x, i) => x.eventsPerSec / rb[i]!.eventsPerSec);
    const cpu = ra.map((x, i) => rb[i]!.cpuUsPerEvent / x.cpuUsPerEvent);
    return {
      ratio: `${a.trim()} / ${b.trim()}`,
      'throughput (median)': median(perRound).toFixed(2),
      'per round': perRound.map((r) => r.toFixed(2)).join(' / '),
      'CPU per event, inverse': median(cpu).toFixed(2),
    };
  }),
);
