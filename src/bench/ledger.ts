/**
 * What the generator knows it sent and what the server acknowledged, per
 * owner, from the answers' counts and receipts. The correctness check
 * (checker.ts) compares this with what the server reports.
 *
 * Invariants:
 * - Only acknowledged batches enter the ledger. A refused batch (429,
 *   RESOURCE_EXHAUSTED, a stream batch with error_code) was not applied, so
 *   it is counted as refused and nothing else.
 * - `counted` = events the server must show in its windows' `total`: those
 *   answered `accepted` or `late`. Template expectations are added per batch
 *   in O(names); only receipts that differ from the expectation are looked at
 *   one by one, so recording an answer costs O(names + receipts), not O(events).
 * - Windows are keyed by the event time the generator stamped (send time, or
 *   send time - lateByMs for late events). A skewed batch is corrected by the
 *   server from its own receive time, so its window can differ by the network
 *   delay; the checker compares windows only when no batch was skewed.
 * - Ledgers merge by addition (worker threads each keep one); toJSON/fromJSON
 *   carry them across postMessage.
 */
import type { BatchCounts, ReceiptStatus } from '../actors/types.js';
import { EVENT_DUPLICATE, EVENT_INVALID, EVENT_LATE, EVENT_NORMAL, type TemplateMeta } from './workload.js';

const MINUTE_MS = 60_000;
const SECOND_MS = 1_000;
/** Deviating receipts kept as examples per ledger; the rest are only counted. */
export const DEVIATION_EXAMPLES_MAX = 20;

export interface WindowTally {
  total: number;
  byName: number[];
}

export interface OwnerLedger {
  ackedBatches: number;
  refusedBatches: number;
  failedBatches: number;
  sentEvents: number;
  /** From the answers' counts. */
  status: BatchCounts;
  injected: { duplicate: number; late: number; invalid: number };
  counted: number;
  byName: number[];
  /** Bitmap over user indices of counted events. */
  users: Uint8Array;
  /** 1 min windows: start ms -> tally. */
  windows1m: Map<number, WindowTally>;
  /** 1 s windows: start ms -> total. */
  windows1s: Map<number, number>;
}

/** A receipt as the senders normalize it (HTTP JSON and gRPC both). */
export interface ReceiptLite {
  index: number;
  status: ReceiptStatus;
  code?: string | undefined;
}

export interface LedgerJSON {
  eventNames: number;
  usersPerOwner: number;
  deviations: number;
  examples: string[];
  owners: Array<[number, Omit<OwnerLedger, 'windows1m' | 'windows1s' | 'users'> & { users: number[]; windows1m: Array<[number, WindowTally]>; windows1s: Array<[number, number]> }]>;
}

export class Ledger {
  readonly owners = new Map<number, OwnerLedger>();
  /** Receipts whose status is not what the injected fault (or its absence) calls for. */
  deviations = 0;
  readonly examples: string[] = [];

  constructor(
    readonly eventNames: number,
    readonly usersPerOwner: number,
  ) {}

  owner(k: number): OwnerLedger {
    let o = this.owners.get(k);
    if (o === undefined) {
      o = {
        ackedBatches: 0,
        refusedBatches: 0,
        failedBatches: 0,
        sentEvents: 0,
        status: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 },
        injected: { duplicate: 0, late: 0, invalid: 0 },
        counted: 0,
        byName: new Array<number>(this.eventNames).fill(0),
        users: new Uint8Array(this.usersPerOwner),
        windows1m: new Map(),
        windows1s: new Map(),
      };
      this.owners.set(k, o);
    }
    return o;
  }

  recordRefused(owner: number): void {
    this.owner(owner).refusedBatches++;
  }

  recordFailed(owner: number): void {
    this.owner(owner).failedBatches++;
  }

  private window1m(o: OwnerLedger, tsMs: number): WindowTally {
    const start = Math.floor(tsMs / MINUTE_MS) * MINUTE_MS;
    let w = o.windows1m.get(start);
    if (w === undefined) {
      w = { total: 0, byName: new Array<number>(this.eventNames).fill(0) };
      o.windows1m.set(start, w);
    }
    return w;
  }

  private add(o: OwnerLedger, tsMs: number, nameIdx: number, n: number): void {
    o.counted += n;
    o.byName[nameIdx]! += n;
    const w = this.window1m(o, tsMs);
    w.total += n;
    w.byName[nameIdx]! += n;
    const s = Math.floor(tsMs / SECOND_MS) * SECOND_MS;
    o.windows1s.set(s, (o.windows1s.get(s) ?? 0) + n);
  }

  private deviate(owner: number, index: number, kind: number, status: string, code: string | undefined): void {
    this.deviations++;
    if (this.examples.length < DEVIATION_EXAMPLES_MAX) {
      const kinds = ['normal', 'late', 'duplicate', 'invalid'];
      this.examples.push(`owner o${owner}: event ${index} (${kinds[kind] ?? kind}) answered ${status}${code ? ` ${code}` : ''}`);
    }
  }

  /** Records one acknowledged batch sent at `tsMs` (the timestamp the generator stamped). */
  recordAck(owner: number, meta: TemplateMeta, tsMs: number, lateByMs: number, counts: BatchCounts, receipts: readonly ReceiptLite[]): void {
    const o = this.owner(owner);
    o.ackedBatches++;
    o.sentEvents += meta.events;
    o.status.accepted += counts.accepted;
    o.status.duplicate += counts.duplicate;
    o.status.late += counts.late;
    o.status.tooLate += counts.tooLate;
    o.status.rejected += counts.rejected;
    o.injected.duplicate += meta.duplicates;
    o.injected.late += meta.lateTotal;
    o.injected.invalid += meta.invalids;
    const lateTsMs = tsMs - lateByMs;
    // Expectation first, per name: on-time and late events are counted.
    const w = this.window1m(o, tsMs);
    const wl = this.window1m(o, lateTsMs);
    for (let k = 0; k < this.eventNames; k++) {
      const a = meta.onTimeByName[k]!;
      const b = meta.lateByName[k]!;
      if (a === 0 && b === 0) continue;
      o.byName[k]! += a + b;
      w.byName[k]! += a;
      wl.byName[k]! += b;
    }
    o.counted += meta.onTimeTotal + meta.lateTotal;
    w.total += meta.onTimeTotal;
    wl.total += meta.lateTotal;
    const s = Math.floor(tsMs / SECOND_MS) * SECOND_MS;
    o.windows1s.set(s, (o.windows1s.get(s) ?? 0) + meta.onTimeTotal);
    const sl = Math.floor(lateTsMs / SECOND_MS) * SECOND_MS;
    o.windows1s.set(sl, (o.windows1s.get(sl) ?? 0) + meta.lateTotal);
    for (let i = 0; i < meta.countedUsers.length; i++) o.users[meta.countedUsers[i]!] = 1;

    // Then the receipts that say otherwise. Only non-accepted ones are listed.
    let lateSeen = 0;
    let dupSeen = 0;
    let invalidSeen = 0;
    for (const r of receipts) {
      const kind = meta.kind[r.index];
      if (kind === undefined) {
        this.deviate(owner, r.index, -1, r.status, r.code);
        continue;
      }
      const name = meta.nameIdx[r.index]!;
      const expectedCounted = kind === EVENT_NORMAL || kind === EVENT_LATE;
      const counted = r.status === 'accepted' || r.status === 'late';
      const at = kind === EVENT_LATE ? lateTsMs : tsMs;
      if (expectedCounted && !counted) this.add(o, at, name, -1);
      if (!expectedCounted && counted) this.add(o, at, name, 1);
      if (kind === EVENT_NORMAL) {
        if (!counted) this.deviate(owner, r.index, kind, r.status, r.code);
      } else if (kind === EVENT_LATE) {
        if (r.status === 'late' || r.status === 'too_late') lateSeen++;
        else this.deviate(owner, r.index, kind, r.status, r.code);
      } else if (kind === EVENT_DUPLICATE) {
        if (r.status === 'duplicate') dupSeen++;
        else this.deviate(owner, r.index, kind, r.status, r.code);
      } else if (kind === EVENT_INVALID) {
        if (r.status === 'rejected') invalidSeen++;
        else this.deviate(owner, r.index, kind, r.status, r.code);
      }
    }
    // Faulty events missing from the receipts were answered `accepted`.
    if (lateSeen < meta.lateTotal) this.deviateMissing(owner, EVENT_LATE, meta.lateTotal - lateSeen);
    if (dupSeen < meta.duplicates) {
      this.deviateMissing(owner, EVENT_DUPLICATE, meta.duplicates - dupSeen);
      this.addMissingCounted(o, meta, EVENT_DUPLICATE, receipts, tsMs);
    }
    if (invalidSeen < meta.invalids) {
      this.deviateMissing(owner, EVENT_INVALID, meta.invalids - invalidSeen);
      this.addMissingCounted(o, meta, EVENT_INVALID, receipts, tsMs);
    }
  }

  /** A duplicate or invalid event the server answered `accepted` is counted by the server; count it here too, so only the receipt check fails. */
  private addMissingCounted(o: OwnerLedger, meta: TemplateMeta, kind: number, receipts: readonly ReceiptLite[], tsMs: number): void {
    const listed = new Set(receipts.map((r) => r.index));
    for (let i = 0; i < meta.events; i++) {
      if (meta.kind[i] === kind && !listed.has(i)) this.add(o, tsMs, meta.nameIdx[i]!, 1);
    }
  }

  private deviateMissing(owner: number, kind: number, n: number): void {
    this.deviations += n;
    if (this.examples.length < DEVIATION_EXAMPLES_MAX) {
      const kinds = ['normal', 'late', 'duplicate', 'invalid'];
      this.examples.push(`owner o${owner}: ${n} ${kinds[kind]} event(s) answered accepted`);
    }
  }

  merge(other: Ledger): void {
    this.deviations += other.deviations;
    for (const e of other.examples) if (this.examples.length < DEVIATION_EXAMPLES_MAX) this.examples.push(e);
    for (const [k, b] of other.owners) {
      const a = this.owner(k);
      a.ackedBatches += b.ackedBatches;
      a.refusedBatches += b.refusedBatches;
      a.failedBatches += b.failedBatches;
      a.sentEvents += b.sentEvents;
      for (const key of Object.keys(a.status) as Array<keyof BatchCounts>) a.status[key] += b.status[key];
      a.injected.duplicate += b.injected.duplicate;
      a.injected.late += b.injected.late;
      a.injected.invalid += b.injected.invalid;
      a.counted += b.counted;
      for (let i = 0; i < a.byName.length; i++) a.byName[i]! += b.byName[i] ?? 0;
      for (let i = 0; i < a.users.length; i++) a.users[i]! |= b.users[i] ?? 0;
      for (const [start, wb] of b.windows1m) {
        const wa = this.window1m(a, start);
        wa.total += wb.total;
        for (let i = 0; i < wa.byName.length; i++) wa.byName[i]! += wb.byName[i] ?? 0;
      }
      for (const [start, n] of b.windows1s) a.windows1s.set(start, (a.windows1s.get(start) ?? 0) + n);
    }
  }

  /** Distinct users among an owner's counted events. */
  uniques(owner: number): number {
    const o = this.owners.get(owner);
    if (o === undefined) return 0;
    let n = 0;
    for (let i = 0; i < o.users.length; i++) n += o.users[i]!;
    return n;
  }

  toJSON(): LedgerJSON {
    return {
      eventNames: this.eventNames,
      usersPerOwner: this.usersPerOwner,
      deviations: this.deviations,
      examples: [...this.examples],
      owners: [...this.owners].map(([k, o]) => [
        k,
        { ...o, users: [...o.users.keys()].filter((i) => o.users[i] === 1), windows1m: [...o.windows1m], windows1s: [...o.windows1s] },
      ]),
    };
  }

  static fromJSON(j: LedgerJSON): Ledger {
    const l = new Ledger(j.eventNames, j.usersPerOwner);
    l.deviations = j.deviations;
    l.examples.push(...j.examples);
    for (const [k, o] of j.owners) {
      const users = new Uint8Array(j.usersPerOwner);
      for (const u of o.users) users[u] = 1;
      l.owners.set(k, { ...o, users, windows1m: new Map(o.windows1m), windows1s: new Map(o.windows1s) });
    }
    return l;
  }
}

export { EVENT_DUPLICATE, EVENT_INVALID, EVENT_LATE, EVENT_NORMAL };
