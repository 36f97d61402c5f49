/**
 * What the HTTP and gRPC edges call around a request: admit it against the
 * key's buckets and the owner's quota (reading the owner's quota through the
 * OwnerDirectory cache), and settle the events of an answered ingest.
 */
import type { BatchReceipt } from '../actors/types.js';
import type { Admission, LimitsBackend, Usage } from './limits.js';

export interface QuotaSource {
  eventsPerDayMaxOf(owner: string, nowMs: number): Promise<number>;
}

export interface LimitedPrincipal {
  owner: string;
  /** The key counted against; principals without one (tests) count against their owner. */
  keyPrefix?: string | undefined;
}

export class LimitsGuard {
  readonly backend: LimitsBackend;
  readonly #quotas: QuotaSource;
  readonly #clock: () => number;

  constructor(backend: LimitsBackend, quotas: QuotaSource, clock: () => number = Date.now) {
    this.backend = backend;
    this.#quotas = quotas;
    this.#clock = clock;
  }

  /** `owner` is the owner the request acts for (an ingest's may differ from the key's own). */
  async admit(principal: LimitedPrincipal, owner: string, ingest: boolean): Promise<Admission> {
    const nowMs = this.#clock();
    const eventsPerDayMax = ingest ? await this.#quotas.eventsPerDayMaxOf(owner, nowMs) : 0;
    return this.backend.admit({ keyId: principal.keyPrefix ?? `owner:${principal.owner}`, owner, ingest, eventsPerDayMax, nowMs });
  }

  settle(principal: LimitedPrincipal, owner: string, receipt: BatchReceipt): void {
    const { accepted, duplicate, late, tooLate, rejected } = receipt.counts;
    const events = accepted + duplicate + late + tooLate + rejected;
    if (events === 0) return;
    this.backend.settle({ keyId: principal.keyPrefix ?? `owner:${principal.owner}`, owner, events, stored: accepted + late + tooLate, nowMs: this.#clock() });
  }

  async usage(owner: string): Promise<Usage> {
    const nowMs = this.#clock();
    return this.backend.usage(owner, await this.#quotas.eventsPerDayMaxOf(owner, nowMs), nowMs);
  }
}
