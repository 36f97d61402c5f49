/**
 * What a shard worker pays per ingest batch before the actor sees it: decode
 * the raw body, then validate every event. One 500-event batch of ~200-byte
 * events in each wire format, all in one run so the ratios survive a noisy
 * machine. A second run compares the hand-written validator with TypeBox's
 * compiled checker (which only checks; it neither fills the record nor names
 * the field at fault), to justify the hand-written one.
 *
 * Run: node dist/bench/actors/decode.bench.js
 */
import { gzipSync } from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';
import { Bench } from 'tinybench';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { decodeBody, type DecodeLimits } from '../../src/actors/decode.js';
import { scanJson, scanMsgpack } from '../../src/actors/scan.js';
import { readJsonFast } from '../../src/actors/json-fast.js';
import { fastReadLimits } from '../../src/actors/fast-read.js';
import { readMsgpackFast } from '../../src/actors/msgpack-fast.js';
import { createValidatedBatch, createValidator, validateBatch } from '../../src/actors/validate.js';
import { DEFAULT_EVENT_LIMITS, EventSchema } from '../../src/actors/schema.js';
import { defaults } from '../../config/defaults.js';
import { IngestRequest, AckLevel } from '../../src/gen/eventide/v1/ingest.js';
import { Severity, type Event as PbEvent, type PropertyValue } from '../../src/gen/eventide/v1/event.js';
import type { BodyEncoding, BodyFormat } from '../../src/actors/types.js';
import { generatedPlainEvents } from '../../test/actors/protobuf-oracle.js';

/** Events per batch: a typical SDK flush. */
const BATCH_EVENTS = 500;
const BENCH_TIME_MS = 2_000;
const NOW_MS = 1_700_000_000_000;

const LIMITS: DecodeLimits = {
  bodyInflatedBytesMax: defaults.bodyInflatedBytesMax,
  batchEventsMax: defaults.batchEventsMax,
  idCharsMax: defaults.idCharsMax,
  bodyDepthMax: defaults.bodyDepthMax,
  tagsMax: defaults.tagsMax,
  propertiesMax: defaults.propertiesMax,
};

const SEVERITY_NAMES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'] as const;

/** About 200 bytes as JSON: ids, a name, a timestamp, a user, tags, four properties and a value. */
function makeEvent(i: number) {
  return {
    id: `evt-${String(i).padStart(6, '0')}-5f2c9a1b`,
    name: i % 3 === 0 ? 'page_view' : 'add_to_cart',
    timestamp: NOW_MS - 1_000 + i,
    userId: `user-${i % 97}`,
    category: 'web',
    severity: SEVERITY_NAMES[i % 6]!,
    tags: ['mobile', 'eu-west'],
    properties: { path: `/products/${i}`, plan: 'pro', items: i % 7, first: i % 2 === 0 },
    value: (i % 100) / 4,
  };
}

const events = Array.from({ length: BATCH_EVENTS }, (_, i) => makeEvent(i));

function pbValue(v: string | number | boolean): PropertyValue {
  if (typeof v === 'string') return { kind: { $case: 'stringValue', value: v } };
  if (typeof v === 'number') return { kind: { $case: 'numberValue', value: v } };
  return { kind: { $case: 'boolValue', value: v } };
}

const pbEvents: PbEvent[] = events.map((e) => ({
  id: e.id,
  name: e.name,
  timestampMs: e.timestamp,
  userId: e.userId,
  category: e.category,
  severity: Severity.SEVERITY_DEBUG + SEVERITY_NAMES.indexOf(e.severity),
  tags: e.tags,
  properties: new Map(Object.entries(e.properties).map(([k, v]) => [k, pbValue(v)])),
  value: e.value,
}));

const bodies: Record<string, { bytes: Uint8Array; format: BodyFormat; encoding: BodyEncoding }> = {
  json: { bytes: new TextEncoder().encode(JSON.stringify({ events })), format: 'json', encoding: 'identity' },
  'msgpack (maps)': { bytes: new Packr({ useRecords: false }).pack({ events }), format: 'msgpack', encoding: 'identity' },
  protobuf: {
    bytes: IngestRequest.encode({ events: pbEvents, batchId: 'b', ack: AckLevel.ACK_LEVEL_UNSPECIFIED, receiptsAll: false }).finish(),
    format: 'protobuf',
    encoding: 'identity',
  },
};
bodies['json + gzip'] = { bytes: gzipSync(bodies.json!.bytes), format: 'json', encoding: 'gzip' };

const validator = createValidator(DEFAULT_EVENT_LIMITS);
const out = createValidatedBatch();

// Every body must decode to BATCH_EVENTS valid events, or the bench would time the error path.
for (const [name, body] of Object.entries(bodies)) {
  const decoded = decodeBody(body.bytes, body.format, body.encoding, LIMITS);
  validateBatch(decoded.events, { requestId: 'r', receivedAtMs: NOW_MS, validator }, out);
  if (out.records.length !== BATCH_EVENTS) throw new Error(`${name}: ${out.records.length} valid, ${JSON.stringify(out.receipts[0])}`);
}

const bench = new Bench({ time: BENCH_TIME_MS });
for (const [name, body] of Object.entries(bodies)) {
  bench.add(`decode+validate ${name}`, () => {
    const decoded = decodeBody(body.bytes, body.format, body.encoding, LIMITS);
    validateBatch(decoded.events, { requestId: 'r', receivedAtMs: NOW_MS, validator }, out);
  });
}
for (const [name, body] of Object.entries(bodies)) {
  bench.add(`decode only ${name}`, () => decodeBody(body.bytes, body.format, body.encoding, LIMITS));
}
// JSON both ways, side by side: the one-pass reader (json-fast.ts, what decodeBody runs first) and the three
// passes it replaces (scan, strict UTF-8 decode, JSON.parse), which decodeBody still runs when the reader gives up.
const STRUCTURE = fastReadLimits(LIMITS);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
function jsonThreePasses(bytes: Uint8Array): unknown[] {
  if (scanJson(bytes, STRUCTURE) !== undefined) throw new Error('scan refused the bench body');
  return (JSON.parse(strictUtf8.decode(bytes)) as { events: unknown[] }).events;
}
function jsonOnePass(bytes: Uint8Array): unknown[] {
  const value = readJsonFast(bytes, STRUCTURE) as { events: unknown[] } | undefined;
  if (value === undefined) throw new Error('the one-pass reader gave up on the bench body');
  return value.events;
}
/** Escapes and non-ASCII text in every event: the reader's slower string path. */
const wideEvents = events.map((e, i) => ({ ...e, name: i % 2 === 0 ? 'vue_page' : 'ajout_au_panier', properties: { ...e.properties, title: `Caf\u00e9 "${i}" — ünïcødé` } }));
/** Many long properties per event (scan.bench.ts's yardstick shape): objects built key by key, the reader's weak spot. */
const heavyEvents = events.map((e) => ({ ...e, properties: Object.fromEntries(Array.from({ length: 40 }, (_, j) => [`p${j}`, 'v'.repeat(40)])) }));
const jsonBodies: Record<string, Uint8Array> = {
  'json': bodies.json!.bytes,
  'json (escapes, UTF-8)': new TextEncoder().encode(JSON.stringify({ events: wideEvents })),
  'json (40 properties of 40 characters)': new TextEncoder().encode(JSON.stringify({ events: heavyEvents })),
};
for (const [name, bytes] of Object.entries(jsonBodies)) {
  if (JSON.stringify(jsonOnePass(bytes)) !== JSON.stringify(jsonThreePasses(bytes))) throw new Error(`${name}: the two ways differ`);
  bench.add(`${name}: three passes, +validate`, () => validateBatch(jsonThreePasses(bytes), { requestId: 'r', receivedAtMs: NOW_MS, validator }, out));
  bench.add(`${name}: one pass, +validate`, () => validateBatch(jsonOnePass(bytes), { requestId: 'r', receivedAtMs: NOW_MS, validator }, out));
  bench.add(`${name}: three passes`, () => jsonThreePasses(bytes));
  bench.add(`${name}: one pass`, () => jsonOnePass(bytes));
}
// msgpack both ways: the one-pass reader (msgpack-fast.ts) and the structure walk + msgpackr it stands in for.
const benchUnpackr = new Unpackr({ mapsAsObjects: true, int64AsType: 'number', structuredClone: false });
const msgpackBytes = bodies['msgpack (maps)']!.bytes;
function msgpackTwoPasses(bytes: Uint8Array): unknown[] {
  if (scanMsgpack(bytes, STRUCTURE) !== undefined) throw new Error('the walk refused the bench body');
  return (benchUnpackr.unpack(bytes) as { events: unknown[] }).events;
}
function msgpackOnePass(bytes: Uint8Array): unknown[] {
  const value = readMsgpackFast(bytes, STRUCTURE) as { events: unknown[] } | undefined;
  if (value === undefined) throw new Error('the one-pass reader gave up on the bench body');
  return value.events;
}
if (JSON.stringify(msgpackOnePass(msgpackBytes)) !== JSON.stringify(msgpackTwoPasses(msgpackBytes))) throw new Error('msgpack: the two ways differ');
bench.add('msgpack: two passes, +validate', () => validateBatch(msgpackTwoPasses(msgpackBytes), { requestId: 'r', receivedAtMs: NOW_MS, validator }, out));
bench.add('msgpack: one pass, +validate', () => validateBatch(msgpackOnePass(msgpackBytes), { requestId: 'r', receivedAtMs: NOW_MS, validator }, out));
bench.add('msgpack: two passes', () => msgpackTwoPasses(msgpackBytes));
bench.add('msgpack: one pass', () => msgpackOnePass(msgpackBytes));
// The protobuf reader before the hand-written one: the generated decoder, mapped to plain events.
bench.add('decode only protobuf (generated decoder)', () => generatedPlainEvents(bodies.protobuf!.bytes));
// The structure scans that run before JSON.parse and msgpackr (part of "decode only" above, for JSON only when the one-pass reader gives up).
bench.add('scan only json', () => scanJson(bodies.json!.bytes, STRUCTURE));
bench.add('scan only msgpack (maps)', () => scanMsgpack(bodies['msgpack (maps)']!.bytes, STRUCTURE));
await bench.run();
console.table(bench.table());
console.log(
  `protobuf decode only: hand-written ${medianMs(bench, 'decode only protobuf').toFixed(3)} ms, generated ${medianMs(bench, 'decode only protobuf (generated decoder)').toFixed(3)} ms per batch: ` +
    `${(medianMs(bench, 'decode only protobuf (generated decoder)') / medianMs(bench, 'decode only protobuf')).toFixed(2)}x`,
);

for (const what of ['', ', +validate']) {
  const before = medianMs(bench, `msgpack: two passes${what}`);
  const after = medianMs(bench, `msgpack: one pass${what}`);
  console.log(`msgpack${what}: one pass ${after.toFixed(3)} ms, two passes ${before.toFixed(3)} ms per batch: ${(after / before).toFixed(2)}x the time`);
}
for (const name of Object.keys(jsonBodies)) {
  for (const what of ['', ', +validate']) {
    const before = medianMs(bench, `${name}: three passes${what}`);
    const after = medianMs(bench, `${name}: one pass${what}`);
    console.log(`${name}${what}: one pass ${after.toFixed(3)} ms, three passes ${before.toFixed(3)} ms per batch: ${(after / before).toFixed(2)}x the time`);
  }
}

function medianMs(b: Bench, name: string): number {
  const result = b.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return result.latency.p50;
}

const baseline = medianMs(bench, 'decode+validate json');
console.table(
  Object.entries(bodies).map(([name, body]) => {
    const ms = medianMs(bench, `decode+validate ${name}`);
    return {
      format: name,
      'body bytes': body.bytes.length,
      'batch ms (median)': ms.toFixed(3),
      'events/s (one core)': Math.round((BATCH_EVENTS * 1_000) / ms).toLocaleString('en-US'),
      'speed vs json': `${(baseline / ms).toFixed(2)}x`,
      'decode share': `${((100 * medianMs(bench, `decode only ${name}`)) / ms).toFixed(0)} %`,
    };
  }),
);

// Validation alone: hand-written walk vs TypeBox's compiled Check over the same decoded events.
const decodedJson = decodeBody(bodies.json!.bytes, 'json', 'identity', LIMITS).events;
const check = TypeCompiler.Compile(EventSchema);
if (!decodedJson.every((e) => check.Check(e))) throw new Error('TypeBox rejects the bench events');
const vbench = new Bench({ time: BENCH_TIME_MS });
vbench
  .add('validate: hand-written (check + fill)', () => {
    validateBatch(decodedJson, { requestId: 'r', receivedAtMs: NOW_MS, validator }, out);
  })
  .add('validate: TypeBox compiled Check only', () => {
    let ok = 0;
    for (let i = 0; i < decodedJson.length; i++) if (check.Check(decodedJson[i])) ok++;
    if (ok !== BATCH_EVENTS) throw new Error('unexpected');
  });
await vbench.run();
console.table(vbench.table());
const hand = medianMs(vbench, 'validate: hand-written (check + fill)');
const compiled = medianMs(vbench, 'validate: TypeBox compiled Check only');
console.log(
  `validate per event: hand-written ${((hand * 1e6) / BATCH_EVENTS).toFixed(0)} ns, TypeBox Check ${((compiled * 1e6) / BATCH_EVENTS).toFixed(0)} ns; ` +
    `TypeBox / hand-written = ${(compiled / hand).toFixed(2)}x`,
);
