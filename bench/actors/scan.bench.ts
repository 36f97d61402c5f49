/**
 * What the structure scans (src/actors/scan.ts) buy: for bodies built to make
 * a parser allocate or recurse, the time and heap JSON.parse / msgpackr would
 * spend on them unscanned, beside the time decodeBody takes to refuse them
 * with the scan, in one run. A valid body of the same inflated size is the
 * yardstick. Every body is as large as the default limits let it be
 * (bodyInflatedBytesMax 16 MiB of inflated JSON, bodyBytesMax 4 MiB of msgpack).
 *
 * A second table prices the scan on valid bodies: the scan alone against
 * TextDecoder + JSON.parse of the same bytes, interleaved, medians.
 *
 * Run: node --expose-gc dist/bench/actors/scan.bench.js
 */
import { Unpackr, Packr } from 'msgpackr';
import { decodeBody, type DecodeLimits } from '../../src/actors/decode.js';
import { IngestRequest } from '../../src/gen/eventide/v1/ingest.js';
import { bodyStructureLimits, scanJson } from '../../src/actors/scan.js';
import { defaults } from '../../config/defaults.js';
import type { BodyFormat } from '../../src/actors/types.js';

const LIMITS: DecodeLimits = {
  bodyInflatedBytesMax: defaults.bodyInflatedBytesMax,
  batchEventsMax: defaults.batchEventsMax,
  idCharsMax: defaults.idCharsMax,
  bodyDepthMax: defaults.bodyDepthMax,
  tagsMax: defaults.tagsMax,
  propertiesMax: defaults.propertiesMax,
};
const JSON_BYTES = defaults.bodyInflatedBytesMax - 64;
const MSGPACK_BYTES = defaults.bodyBytesMax - 64;
const RUNS = 3;

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const enc = new TextEncoder();

function fill(prefix: string, unit: string, suffix: string, bytes: number): string {
  return prefix + unit.repeat(Math.floor((bytes - prefix.length - suffix.length) / unit.length)) + suffix;
}

function validBatch(): string {
  const event = (i: number) => ({
    id: `evt-${i}`,
    name: 'page_view',
    timestamp: 1_700_000_000_000 + i,
    userId: `user-${i % 97}`,
    tags: ['mobile', 'eu-west'],
    properties: Object.fromEntries(Array.from({ length: 40 }, (_, j) => [`p${j}`, 'v'.repeat(40)])),
  });
  const events = [];
  let size = 20;
  for (let i = 0; i < LIMITS.batchEventsMax && size < JSON_BYTES - 4_000; i++) {
    const e = event(i);
    size += JSON.stringify(e).length + 1;
    events.push(e);
  }
  return JSON.stringify({ events });
}

/** IngestRequest { events: [{ tags: ['', '', ...] }] } at the inflated size limit: field 1 holding field 8 (empty string) over and over. */
const protobufTags = (() => {
  const inner = JSON_BYTES - 8;
  const out = new Uint8Array(inner + 6);
  out[0] = 0x0a;
  let n = inner;
  let pos = 1;
  while (n > 127) {
    out[pos++] = (n & 127) | 128;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  for (let i = 0; i + 1 < inner; i += 2) {
    out[pos + i] = 0x42;
    out[pos + i + 1] = 0x00;
  }
  return out.subarray(0, pos + inner - (inner % 2));
})();

interface Case {
  name: string;
  format: BodyFormat;
  bytes: Uint8Array;
  /** What the worker did before the scans. */
  unscanned: () => unknown;
}

const jsonCase = (name: string, text: string): Case => {
  const bytes = enc.encode(text);
  return { name, format: 'json', bytes, unscanned: () => JSON.parse(new TextDecoder().decode(bytes)) as unknown };
};

const unpackr = new Unpackr({ mapsAsObjects: true, int64AsType: 'number' });
const msgpackCase = (name: string, bytes: Uint8Array): Case => ({ name, format: 'msgpack', bytes, unscanned: () => unpackr.unpack(bytes) as unknown });

const cases: Case[] = [
  jsonCase('json: a valid batch (yardstick)', validBatch()),
  jsonCase('json: [{},{},...] (millions of empty events)', fill('[', '{},', '{}]', JSON_BYTES)),
  jsonCase('json: one event holding millions of {}', fill('[{"name":"a","junk":[', '{},', '{}]}]', JSON_BYTES)),
  jsonCase('json: [[[[... (8 million levels)', fill('', '[', '', JSON_BYTES / 2) + fill('', ']', '', JSON_BYTES / 2)),
  jsonCase('json: one object with a million keys', `{"name":"a",${Array.from({ length: Math.floor(JSON_BYTES / 13) }, (_, i) => `"k${i}":0`).join(',')}}`),
  msgpackCase('msgpack: a valid batch (yardstick)', new Packr({ useRecords: false }).pack({ events: (JSON.parse(validBatch()) as { events: unknown[] }).events.slice(0, 1_000) })),
  msgpackCase('msgpack: [[[[... (4 million levels)', new Uint8Array(MSGPACK_BYTES).fill(0x91)),
  {
    // Protobuf is not scanned (its events are counted; its nesting is the schema's): the worst measured here.
    name: 'protobuf: one event with 8 million empty tags',
    format: 'protobuf',
    bytes: protobufTags,
    unscanned: () => IngestRequest.decode(protobufTags),
  },
  msgpackCase('msgpack: millions of empty maps', (() => {
    const n = MSGPACK_BYTES - 5;
    const b = new Uint8Array(n + 5).fill(0x80);
    b[0] = 0xdd;
    new DataView(b.buffer).setUint32(1, n);
    return b;
  })()),
];

function measure(fn: () => unknown): { ms: number; heapMb: number; outcome: string } {
  const times: number[] = [];
  let heapMb = 0;
  let outcome = '';
  for (let r = 0; r < RUNS; r++) {
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    let kept: unknown;
    try {
      kept = fn();
      outcome = 'parsed';
    } catch (err) {
      outcome = (err as { code?: string }).code ?? (err as Error).name;
    }
    times.push(performance.now() - t0);
    heapMb = Math.max(heapMb, (process.memoryUsage().heapUsed - heap0) / 1024 / 1024);
    void kept;
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(RUNS / 2)]!, heapMb, outcome };
}

const rows = cases.map((c) => {
  const before = measure(c.unscanned);
  const after = measure(() => decodeBody(c.bytes, c.format, 'identity', LIMITS));
  return {
    body: c.name,
    'MiB': (c.bytes.length / 1024 / 1024).toFixed(1),
    'unscanned ms': before.ms.toFixed(1),
    'unscanned heap MiB': before.heapMb.toFixed(0),
    'decodeBody ms': after.ms.toFixed(2),
    'decodeBody outcome': after.outcome === 'parsed' ? 'decoded' : after.outcome,
    'unscanned / decodeBody': `${(before.ms / after.ms).toFixed(0)}x`,
  };
});
console.table(rows);
console.log(`Node ${process.version}; medians of ${RUNS} runs; heap is the most any run grew (gc between runs with --expose-gc).`);

// ---- what the scan costs on valid bodies

const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'];
const shortStrings = enc.encode(
  JSON.stringify({
    events: Array.from({ length: 500 }, (_, i) => ({
      id: `evt-${String(i).padStart(6, '0')}-5f2c9a1b`,
      name: i % 3 === 0 ? 'page_view' : 'add_to_cart',
      timestamp: 1_700_000_000_000 + i,
      userId: `user-${i % 97}`,
      category: 'web',
      severity: SEVERITIES[i % 6],
      tags: ['mobile', 'eu-west'],
      properties: { path: `/products/${i}`, plan: 'pro', items: i % 7, first: i % 2 === 0 },
      value: (i % 100) / 4,
    })),
  }),
);
const longStrings = enc.encode(validBatch()).subarray(0);
const STRUCTURE = bodyStructureLimits(LIMITS);
const parse = (bytes: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(bytes));

function perCallMs(fn: () => unknown, calls: number): number {
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) fn();
  return (performance.now() - t0) / calls;
}

const ROUNDS = 15;
const costRows = [
  { body: 'a 500-event batch, short strings', bytes: shortStrings, calls: 300 },
  { body: `${LIMITS.batchEventsMax} events of 40 properties of 40 characters`, bytes: longStrings, calls: 3 },
].map(({ body, bytes, calls }) => {
  const scans: number[] = [];
  const parses: number[] = [];
  perCallMs(() => scanJson(bytes, STRUCTURE), calls);
  perCallMs(() => parse(bytes), calls);
  for (let r = 0; r < ROUNDS; r++) {
    scans.push(perCallMs(() => scanJson(bytes, STRUCTURE), calls));
    parses.push(perCallMs(() => parse(bytes), calls));
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  return {
    body,
    MiB: (bytes.length / 1024 / 1024).toFixed(2),
    'scan ms': median(scans).toFixed(3),
    'decode + JSON.parse ms': median(parses).toFixed(3),
    'scan / parse': `${(median(scans) / median(parses)).toFixed(2)}x`,
  };
});
console.table(costRows);
