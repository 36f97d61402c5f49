/**
 * A shard worker's hot path in one thread, for the benches that take it
 * apart (alloc-per-event.ts, stages.bench.ts, ceiling.bench.ts;
 * reader-ab.bench.ts uses the bodies): decode (the one-pass JSON reader by
 * default; msgpack and protobuf bodies of the same events on request), validate, apply (OwnerActor),
 * pack (LmdbEventStore.prepareEvents), for 500-event batches of harness-like
 * events (ids, 20 names, 1,000 users, 8 categories, two tags, four
 * properties, a two-decimal value) over 50 owners.
 *
 * 200 bodies go round robin with the clock 1 ms on per batch: with a dedup
 * horizon of 100 ms an id is forgotten long before its body comes round
 * again, so every event is new (applied, stored, packed); a duplicate throws.
 *
 * Two workloads. `even` (the default, what the figures in RESULTS.md before
 * the tenth session used): 50 owners in turn, that 100 ms dedup horizon,
 * no watcher. `server`: what a worker holds under `eventide bench` (its
 * defaults): 100 owners picked by a Zipf(1) draw per batch, the server's
 * dedup memory (10 minutes, 100,000 ids per owner, so a busy owner's is full
 * and drops its oldest id per event), every owner watched at 1 s, and every
 * 250 batches (250 ms of the clock, a delta tick) deltas taken and due
 * windows closed. Its ids stay unique: prepare(k) writes batch k's number
 * into each id's digits in place. (In the server, validate and apply
 * together cost ~2.4x what the `even` workload measures: bench/levels.sh,
 * RESULTS.md, tenth session; `server` closes part of that gap.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeBody } from '../../src/actors/decode.js';
import { createValidator } from '../../src/actors/validate.js';
import { ColumnReader } from '../../src/actors/columns.js';
import { eventLimitsFrom } from '../../src/actors/schema.js';
import { DEFAULT_EVENT_LIMITS } from '../../src/actors/schema.js';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import { LmdbEventStore } from '../../src/store/lmdb/event-store.js';
import { defaults } from '../../config/defaults.js';
import { pack } from 'msgpackr';
import { IngestRequest, AckLevel } from '../../src/gen/eventide/v1/ingest.js';
import type { PropertyValue } from '../../src/gen/eventide/v1/event.js';
import type { BodyFormat } from '../../src/actors/types.js';

export const BATCH_EVENTS = 500;
const OWNERS = 50;
const BODIES = 200;
const SEVERITIES = ['debug', 'info', 'notice', 'warning', 'error', 'critical'];

/** A seeded generator (an LCG): the same bodies every run. */
export function seeded(seed: number): () => number {
  let s = seed;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** Body `b` of a run: BATCH_EVENTS harness-like events, ids unique per body, timestamps from `t0Ms`, in `format`. */
export function harnessBody(b: number, random: () => number, t0Ms: number, format: BodyFormat = 'json'): Buffer {
  const batch = {
    events: Array.from({ length: BATCH_EVENTS }, (_, i) => ({
      id: `r1a2b3.3.${String(1e11 + b * BATCH_EVENTS + i)}-${String(i).padStart(4, '0')}`,
      name: `event_${Math.floor(random() * 20)}`,
      timestamp: t0Ms + i,
      userId: `user-${Math.floor(random() * 1000)}`,
      category: `cat${Math.floor(random() * 8)}`,
      severity: SEVERITIES[Math.floor(random() * 6)],
      tags: ['bench', `t${Math.floor(random() * 16)}`],
      properties: { plan: random() < 0.5 ? 'free' : 'pro', n: Math.floor(random() * 1000), ok: random() < 0.5, pad: 'x'.repeat(20) },
      value: Math.round(random() * 100_000) / 100,
    })),
  };
  if (format === 'json') return Buffer.from(JSON.stringify(batch));
  if (format === 'msgpack') return pack(batch);
  const request: IngestRequest = {
    batchId: '',
    ack: AckLevel.ACK_LEVEL_UNSPECIFIED,
    receiptsAll: false,
    events: batch.events.map((e) => ({
      id: e.id,
      name: e.name,
      timestampMs: e.timestamp,
      userId: e.userId,
      category: e.category,
      severity: SEVERITIES.indexOf(e.severity!) + 1,
      tags: e.tags,
      properties: new Map(
        Object.entries(e.properties).map(([k, v]): [string, PropertyValue] => [
          k,
          { kind: typeof v === 'string' ? { $case: 'stringValue', value: v } : typeof v === 'number' ? { $case: 'numberValue', value: v } : { $case: 'boolValue', value: v } },
        ]),
      ),
      value: e.value,
    })),
  };
  return Buffer.from(IngestRequest.encode(request).finish());
}

export type Stage = 'decode' | 'validate' | 'apply' | 'pack';

export type Workload = 'even' | 'server';
export const WORKLOADS: readonly Workload[] = ['even', 'server'];

const SERVER_OWNERS = 100;
/** Batches between two delta ticks in the `server` workload (the clock moves 1 ms a batch; the server's tick is 250 ms). */
const TICK_BATCHES = 250;

export interface WorkerPath {
  /** Work before batch `k` that no stage is timed for: the `server` workload's ids and its delta ticks; nothing for `even`. */
  prepare(k: number): void;
  /** Runs batch `k` through every stage; `lap(stage)` is called as each one ends. */
  batch(k: number, lap?: (stage: Stage) => void): void;
  close(): Promise<void>;
}

/** Where each event's 12 id digits (`1e11 + b × BATCH_EVENTS + i`) sit in body `b`. */
function idDigitsAt(body: Buffer, b: number): Int32Array {
  const at = new Int32Array(BATCH_EVENTS);
  let from = 0;
  for (let i = 0; i < BATCH_EVENTS; i++) {
    const digits = Buffer.from(String(1e11 + b * BATCH_EVENTS + i), 'latin1');
    const found = body.indexOf(digits, from);
    if (found < 0) throw new Error(`body ${b}: the digits of event ${i}'s id are not in it`);
    at[i] = found;
    from = found + digits.length;
  }
  return at;
}

/** `records`: decode, validate, applyBatch, prepareEvents. `columns` (protobuf and msgpack): the columnar path (columns.ts), as the server takes it. */
export type PathKind = 'records' | 'columns';
export const PATH_KINDS: readonly PathKind[] = ['records', 'columns'];

export function openWorkerPath(format: BodyFormat = 'json', workload: Workload = 'even', kind: PathKind = 'records'): WorkerPath {
  if (kind === 'columns' && format === 'json') throw new Error('the columnar path reads protobuf and msgpack bodies only');
  const server = workload === 'server';
  const columnReader = new ColumnReader({ ...eventLimitsFrom(defaults), bodyDepthMax: defaults.bodyDepthMax });
  const t0Ms = Date.now();
  const random = seeded(7);
  const bodies = Array.from({ length: BODIES }, (_, b) => harnessBody(b, random, t0Ms, format));
  const digitsAt = server ? bodies.map((body, b) => idDigitsAt(body, b)) : [];
  const validator = createValidator(DEFAULT_EVENT_LIMITS);
  const options: OwnerOptions = server
    ? { resolutions: ['1s', '1m', '1h', '1d'], allowedLatenessMs: defaults.allowedLatenessMs, dedupHorizonMs: defaults.dedupHorizonMs, dedupIdsMax: defaults.dedupIdsMax, hllPrecision: defaults.hllPrecision, namesPerWindowMax: defaults.namesPerWindowMax }
    : { resolutions: ['1s', '1m', '1h', '1d'], allowedLatenessMs: 5_000, dedupHorizonMs: 100, dedupIdsMax: 100_000, hllPrecision: 12, namesPerWindowMax: 1_000 };
  const actors = Array.from({ length: server ? SERVER_OWNERS : OWNERS }, (_, o) => new OwnerActor(`owner-${o}`, options, t0Ms));
  if (server) for (const actor of actors) actor.watch('1s');
  let ownerOf = (k: number): number => k % OWNERS;
  if (server) {
    // Zipf(1) over the owners: the cumulative weights, then one seeded draw per batch.
    const cumulative = actors.map((_, o) => 1 / (o + 1));
    for (let o = 1; o < cumulative.length; o++) cumulative[o]! += cumulative[o - 1]!;
    const draw = seeded(11);
    const picks = new Uint8Array(65_536);
    for (let j = 0; j < picks.length; j++) {
      const x = draw() * cumulative[cumulative.length - 1]!;
      let o = 0;
      while (cumulative[o]! < x) o++;
      picks[j] = o;
    }
    ownerOf = (k) => picks[k % picks.length]!;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-worker-path-'));
  const store = new LmdbEventStore({ path: dir });
  const none = (): void => undefined;
  return {
    prepare(k) {
      if (!server) return;
      const body = bodies[k % bodies.length]!;
      const at = digitsAt[k % bodies.length]!;
      for (let i = 0; i < BATCH_EVENTS; i++) body.write(String(1e11 + k * BATCH_EVENTS + i), at[i]!, 'latin1');
      if (k % TICK_BATCHES === 0) {
        for (const actor of actors) {
          actor.takeOwnerDeltas();
          actor.closeDue(t0Ms + k);
        }
      }
    },
    batch(k, lap = none) {
      if (kind === 'columns') {
        const body = bodies[k % bodies.length]!;
        if (!columnReader.read(body, t0Ms, format === 'msgpack' ? 'msgpack' : 'protobuf')) throw new Error('the columnar reader gave up on a harness body');
        lap('decode');
        lap('validate');
        const cols = columnReader.columns;
        const counts = { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 };
        const owner = actors[ownerOf(k)]!;
        owner.applyColumns(cols, t0Ms + k, { counts, receipts: [], receiptsAll: false });
        lap('apply');
        if (counts.duplicate !== 0) throw new Error('a duplicate: the bench means every event to be new');
        store.prepareColumns(owner.owner, 1, cols, cols.n);
        cols.release();
        lap('pack');
        return;
      }
      const decoded = decodeBody(bodies[k % bodies.length]!, format, 'identity', defaults);
      lap('decode');
      const validated = validator.validateBatch(decoded.events, { receivedAtMs: t0Ms, requestId: 'r' });
      lap('validate');
      const sink: ApplySink = {
        shard: 1,
        counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: validated.rejected },
        receipts: validated.receipts,
        receiptsAll: false,
        stored: [],
        storedIdWords: [],
      };
      actors[ownerOf(k)]!.applyBatch(validated.records, validated.indexes, t0Ms + k, sink);
      lap('apply');
      if (sink.counts.duplicate !== 0) throw new Error('a duplicate: the bench means every event to be new');
      store.prepareEvents(sink.stored, sink.storedIdWords);
      lap('pack');
    },
    async close() {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
