/**
 * A sender unit: `connections` loops that each take a precomputed batch,
 * patch its ids and timestamps, send it with the key of a Zipf-picked owner
 * and record the answer. A run has one unit per sender thread (or one in the
 * main thread); their results merge (ledger, histograms, series, counts).
 *
 * Load modes:
 * - closed: each connection sends its next batch when the previous answer
 *   arrives. Latency is measured from the actual send.
 * - open: batch i of the unit is due at start + i / rate. A due batch waits
 *   for a free slot if every one is busy, and its latency is measured from
 *   its INTENDED send time, so a stall shows up in the percentiles instead of
 *   silently lowering the offered load (no coordinated omission).
 *
 * Invariants:
 * - A ring buffer slot is patched only when no request holds it: each
 *   connection owns `RING_BATCHES` encoded batches and at most that many are
 *   in flight on it (HTTP and unary: 1; stream: up to streamDepth).
 * - The sequence number is unique per unit per send, so ids are unique
 *   across the run (the id also holds the run tag and the unit).
 */
import { createSlotValues, encodeBatch, patchBatch, setSlotValues, type EncodedBatch } from './encode.js';
import { Ledger } from './ledger.js';
import { LatencyRecorder, Series } from './histogram.js';
import { createTransport, formatOf, type Protocol, type Transport } from './transports.js';
import { buildTemplate, createOwnerPicker, type TemplateMeta, type WorkloadOptions } from './workload.js';

/** Longest a sender honours a Retry-After before sending again; a longer one would idle the run. */
export const RETRY_AFTER_MS_MAX = 1_000;

export interface SenderConfig {
  unit: number;
  runTag: string;
  protocol: Protocol;
  gzip: boolean;
  connections: number;
  /** Batches in flight per gRPC stream connection (HTTP and unary are always 1). */
  streamDepth: number;
  mode: 'closed' | 'open';
  /** Open loop only: this unit's share of the target rate, events/s. */
  rateEventsPerS: number;
  durationMs: number;
  /** Acks of batches due before startEpochMs + warmupMs stay out of the latency histogram (the series keeps them). */
  warmupMs: number;
  workload: WorkloadOptions;
  target: { httpUrl: string; grpcTarget: string };
  /** Key per owner index. */
  keys: string[];
  /** Sender units in the run; with touchOwners, this unit visits owners unit, unit + units, … first. */
  units: number;
  touchOwners: boolean;
}

export interface SenderResultJSON {
  unit: number;
  ledger: ReturnType<Ledger['toJSON']>;
  latency: [string, number];
  series: ReturnType<Series['toJSON']>;
  refusals: Record<string, number>;
  errors: Record<string, number>;
  sentBatches: number;
  /** Open loop: batches that were due but found no free slot at their intended time. */
  lateStarts: number;
}

interface Slot {
  batch: EncodedBatch;
  meta: TemplateMeta;
}

export class SenderUnit {
  readonly ledger: Ledger;
  readonly latency = new LatencyRecorder();
  readonly series = new Series();
  readonly refusals: Record<string, number> = {};
  readonly errors: Record<string, number> = {};
  sentBatches = 0;
  lateStarts = 0;
  private seq = 0;
  /** performance.timeOrigin-based ms at which second 0 of the series starts (shared by all units). */
  private startEpochMs = 0;
  private readonly pick: () => number;
  private readonly rings: Slot[][] = [];

  constructor(readonly config: SenderConfig) {
    const w = config.workload;
    this.ledger = new Ledger(w.eventNames, w.usersPerOwner);
    this.pick = createOwnerPicker(w, config.unit, config.touchOwners ? { units: config.units } : undefined);
    const format = formatOf(config.protocol);
    const depth = this.depth();
    const templates = Array.from({ length: w.templateCount }, (_, t) => buildTemplate(w, t, config.runTag, config.unit));
    const encoded = templates.map((t) => encodeBatch(t.specs, format));
    let next = config.unit;
    for (let c = 0; c < config.connections; c++) {
      const ring: Slot[] = [];
      for (let r = 0; r < depth; r++) {
        const t = next++ % templates.length;
        // Each slot owns its bytes: patching one must not touch a batch in flight elsewhere.
        ring.push({ batch: { ...encoded[t]!, bytes: encoded[t]!.bytes.slice() }, meta: templates[t]!.meta });
      }
      this.rings.push(ring);
    }
  }

  private depth(): number {
    return this.config.protocol === 'grpc-stream' ? Math.max(1, this.config.streamDepth) : 1;
  }

  private second(nowMs: number): number {
    return Math.max(0, Math.floor((nowMs - this.startEpochMs) / 1000));
  }

  /** Patches and sends one slot; records the answer. `intendedMs` is when the batch was due (performance.timeOrigin-based). */
  private async sendOne(transport: Transport, slot: Slot, intendedMs: number, values: ReturnType<typeof createSlotValues>): Promise<number> {
    const cfg = this.config;
    const owner = this.pick();
    const nowEpoch = Date.now();
    const skew = slot.meta.skewed ? cfg.workload.skewMs : 0;
    setSlotValues(values, slot.batch.format, ++this.seq, nowEpoch + skew, nowEpoch + skew - cfg.workload.lateByMs, nowEpoch + skew);
    patchBatch(slot.batch, values);
    this.sentBatches++;
    const answer = await transport.send(slot.batch.bytes, cfg.keys[owner]!);
    const doneMs = performance.timeOrigin + performance.now();
    const latencyMs = doneMs - intendedMs;
    const second = this.second(doneMs);
    if (answer.kind === 'ack') {
      if (intendedMs >= this.startEpochMs + cfg.warmupMs) this.latency.recordMs(latencyMs);
      this.series.ack(second, answer.counts.accepted + answer.counts.late, latencyMs);
      this.ledger.recordAck(owner, slot.meta, nowEpoch, cfg.workload.lateByMs, answer.counts, answer.receipts);
      return 0;
    }
    if (answer.kind === 'refused') {
      this.refusals[answer.code] = (this.refusals[answer.code] ?? 0) + 1;
      this.series.refuse(second);
      this.ledger.recordRefused(owner);
      return Math.min(answer.retryAfterMs, RETRY_AFTER_MS_MAX);
    }
    this.errors[answer.code] = (this.errors[answer.code] ?? 0) + 1;
    this.ledger.recordFailed(owner);
    return 0;
  }

  /** Runs until startEpochMs + durationMs; startEpochMs is shared by all units of a run so their seconds line up. */
  async run(startEpochMs: number): Promise<void> {
    const cfg = this.config;
    this.startEpochMs = startEpochMs;
    const transports = this.rings.map(() => createTransport(cfg.protocol, cfg.target, cfg.gzip));
    const endMs = startEpochMs + cfg.durationMs;
    const now = (): number => performance.timeOrigin + performance.now();
    try {
      if (cfg.mode === 'closed') {
        await Promise.all(
          this.rings.flatMap((ring, c) =>
            ring.map(async (slot) => {
              const values = createSlotValues(slot.batch.format);
              while (now() < endMs) {
                const waitMs = await this.sendOne(transports[c]!, slot, now(), values);
                if (waitMs > 0) await sleep(Math.min(waitMs, endMs - now()));
              }
            }),
          ),
        );
      } else {
        await this.runOpen(transports, endMs, now);
      }
    } finally {
      await Promise.all(transports.map((t) => t.close()));
    }
  }

  private async runOpen(transports: Transport[], endMs: number, now: () => number): Promise<void> {
    const cfg = this.config;
    const intervalMs = (cfg.workload.batchEvents / cfg.rateEventsPerS) * 1000;
    const free: Array<[number, Slot]> = [];
    this.rings.forEach((ring, c) => ring.forEach((slot) => free.push([c, slot])));
    const valuesBySlot = new Map<Slot, ReturnType<typeof createSlotValues>>();
    let i = 0;
    const inFlight = new Set<Promise<void>>();
    let wake: (() => void) | undefined;
    while (true) {
      const due = this.startEpochMs + i * intervalMs;
      if (due >= endMs) break;
      const t = now();
      if (due > t) await sleep(due - t);
      if (free.length === 0) {
        this.lateStarts++;
        await new Promise<void>((resolve) => (wake = resolve));
      }
      const [c, slot] = free.pop()!;
      let values = valuesBySlot.get(slot);
      if (values === undefined) valuesBySlot.set(slot, (values = createSlotValues(slot.batch.format)));
      const p = this.sendOne(transports[c]!, slot, due, values).then(() => {
        free.push([c, slot]);
        inFlight.delete(p);
        const w = wake;
        wake = undefined;
        w?.();
      });
      inFlight.add(p);
      i++;
    }
    await Promise.all(inFlight);
  }

  toJSON(): SenderResultJSON {
    return {
      unit: this.config.unit,
      ledger: this.ledger.toJSON(),
      latency: [this.latency.encode(), this.latency.clamped],
      series: this.series.toJSON(),
      refusals: this.refusals,
      errors: this.errors,
      sentBatches: this.sentBatches,
      lateStarts: this.lateStarts,
    };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
