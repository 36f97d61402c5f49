/**
 * The seeded workload: what events exist, which owner sends which batch, and
 * which events carry an injected fault. Everything here is computed before
 * the clock starts; a sender only picks a template, patches it (encode.ts)
 * and sends it.
 *
 * Batch templates are shared by all owners (the owner of a request is the
 * owner of its key, not something in the body), so the precomputed memory is
 * templateCount x batch bytes, independent of the owner count.
 *
 * Faults, by percentage of events (skew: of batches):
 * - duplicate: the event reuses the id of an earlier, fault-free event of the
 *   same batch, so the server must answer `duplicate` whatever else it has seen.
 * - late: the timestamp is lateByMs in the past (expected `late`, or
 *   `too_late` when lateByMs exceeds the allowed lateness).
 * - invalid: the name is empty (expected `rejected`).
 * - skew: the whole batch is stamped with a clock skewMs ahead, with `sentAt`
 *   set, so the server must correct it.
 */
import { SEVERITIES } from '../actors/types.js';
import { type EventSpec } from './encode.js';
import { forkSeed, mulberry32, randomInt, Zipf } from './prng.js';

export interface WorkloadOptions {
  seed: number;
  owners: number;
  /** Zipf exponent over owners; 0 is uniform. */
  ownerZipfS: number;
  usersPerOwner: number;
  eventNames: number;
  /** Approximate JSON size of one event, bytes. */
  eventBytes: number;
  batchEvents: number;
  /** Distinct batch templates; more means less repetition in names and users. */
  templateCount: number;
  duplicatePct: number;
  latePct: number;
  invalidPct: number;
  skewPct: number;
  lateByMs: number;
  skewMs: number;
}

export const EVENT_NORMAL = 0;
export const EVENT_LATE = 1;
export const EVENT_DUPLICATE = 2;
export const EVENT_INVALID = 3;

/** What the ledger needs to know about one template, indexed by event position. */
export interface TemplateMeta {
  events: number;
  kind: Uint8Array;
  nameIdx: Uint16Array;
  userIdx: Uint32Array;
  skewed: boolean;
  /** Events expected to be counted at the send time's window, by name. */
  onTimeByName: Float64Array;
  /** Late events (counted at send time - lateByMs when answered `late`), by name. */
  lateByName: Float64Array;
  onTimeTotal: number;
  lateTotal: number;
  duplicates: number;
  invalids: number;
  /** Distinct user indices of the events expected to be counted. */
  countedUsers: Uint32Array;
}

export interface Template {
  specs: EventSpec[];
  meta: TemplateMeta;
}

export function eventName(k: number): string {
  return `evt.${String(k).padStart(3, '0')}`;
}

export function userId(k: number): string {
  return `u${k}`;
}

/** Owner names of a run; the run tag keeps ids and owners of separate runs apart on a reused server. */
export function ownerName(runTag: string, k: number): string {
  return `bench-${runTag}-o${k}`;
}

/** Builds template `t` for sender unit `unit`. Deterministic in (options, t); the unit and run tag only go into ids. */
export function buildTemplate(o: WorkloadOptions, t: number, runTag: string, unit: number): Template {
  const random = mulberry32(forkSeed(o.seed, 1_000 + t));
  const names = new Zipf(o.eventNames, 1);
  const n = o.batchEvents;
  const kind = new Uint8Array(n);
  const nameIdx = new Uint16Array(n);
  const userIdx = new Uint32Array(n);
  const skewed = random() * 100 < o.skewPct;
  const specs: EventSpec[] = [];
  const idPrefix = `${runTag}.${unit}.`;
  const clean: number[] = [];
  for (let i = 0; i < n; i++) {
    const roll = random() * 100;
    let k = EVENT_NORMAL;
    if (roll < o.invalidPct) k = EVENT_INVALID;
    else if (roll < o.invalidPct + o.latePct) k = EVENT_LATE;
    else if (roll < o.invalidPct + o.latePct + o.duplicatePct && clean.length > 0) k = EVENT_DUPLICATE;
    const dupOf = k === EVENT_DUPLICATE ? clean[randomInt(random, clean.length)]! : i;
    kind[i] = k;
    nameIdx[i] = k === EVENT_DUPLICATE ? nameIdx[dupOf]! : names.sample(random);
    userIdx[i] = k === EVENT_DUPLICATE ? userIdx[dupOf]! : randomInt(random, o.usersPerOwner);
    if (k === EVENT_NORMAL) clean.push(i);
    const spec: EventSpec = {
      idPrefix,
      idSuffix: `-${String(dupOf).padStart(4, '0')}`,
      name: k === EVENT_INVALID ? '' : eventName(nameIdx[i]!),
      userId: userId(userIdx[i]!),
      category: `cat${randomInt(random, 8)}`,
      severity: SEVERITIES[randomInt(random, SEVERITIES.length)]!,
      tags: ['bench', `t${randomInt(random, 16)}`],
      properties: { plan: random() < 0.5 ? 'free' : 'pro', n: randomInt(random, 1000), ok: random() < 0.5 },
      value: Math.round(random() * 100_000) / 100,
      late: k === EVENT_LATE,
      withSentAt: skewed,
    };
    padEvent(spec, o.eventBytes);
    specs.push(spec);
  }
  const onTimeByName = new Float64Array(o.eventNames);
  const lateByName = new Float64Array(o.eventNames);
  let onTimeTotal = 0;
  let lateTotal = 0;
  let duplicates = 0;
  let invalids = 0;
  const users = new Set<number>();
  for (let i = 0; i < n; i++) {
    const k = kind[i];
    if (k === EVENT_NORMAL) {
      onTimeByName[nameIdx[i]!]!++;
      onTimeTotal++;
      users.add(userIdx[i]!);
    } else if (k === EVENT_LATE) {
      lateByName[nameIdx[i]!]!++;
      lateTotal++;
      users.add(userIdx[i]!);
    } else if (k === EVENT_DUPLICATE) duplicates++;
    else invalids++;
  }
  const meta: TemplateMeta = {
    events: n,
    kind,
    nameIdx,
    userIdx,
    skewed,
    onTimeByName,
    lateByName,
    onTimeTotal,
    lateTotal,
    duplicates,
    invalids,
    countedUsers: Uint32Array.from(users).sort(),
  };
  return { specs, meta };
}

/** Adds a `pad` property so the event's JSON is about `eventBytes` long (ids and timestamps counted at full width). */
function padEvent(spec: EventSpec, eventBytes: number): void {
  const probe = {
    id: `${spec.idPrefix}000000000000${spec.idSuffix}`,
    name: spec.name,
    timestamp: 1_700_000_000_000,
    ...(spec.withSentAt ? { sentAt: 1_700_000_000_000 } : {}),
    userId: spec.userId,
    category: spec.category,
    severity: spec.severity,
    tags: spec.tags,
    properties: spec.properties,
    value: spec.value,
  };
  const size = JSON.stringify(probe).length;
  const padChars = eventBytes - size - ',"pad":""'.length;
  if (padChars > 0) spec.properties.pad = 'x'.repeat(Math.min(padChars, 1000));
}

/**
 * Picks owners for a sender; each sender has its own stream. With `touch`,
 * the sender first visits its share of every owner once, in order (unit u of
 * U takes u, u + U, u + 2U, …), then picks by Zipf: a run of many owners
 * makes each of them active early, where random picks reach only
 * 1 − e^(−batches/owners) of them (63 % after as many batches as owners).
 */
export function createOwnerPicker(o: WorkloadOptions, unit: number, touch?: { units: number }): () => number {
  const zipf = new Zipf(o.owners, o.ownerZipfS);
  const random = mulberry32(forkSeed(o.seed, unit));
  if (touch === undefined) return () => zipf.sample(random);
  let next = unit;
  return () => {
    if (next >= o.owners) return zipf.sample(random);
    const owner = next;
    next += touch.units;
    return owner;
  };
}
