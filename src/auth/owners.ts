/**
 * Owners as administered: creating one (or changing its daily quota), and a
 * cached view of each owner's quota for the limiter.
 *
 * Invariants:
 * - An owner record is never required: an owner with keys but no record (keys
 *   made before owners were recorded) has the default quota.
 * - OwnerDirectory answers from a bounded cache no older than its TTL, so a
 *   quota change reaches every process within OWNER_CACHE_TTL_MS.
 * - A store that cannot answer never blocks ingest here: the last known quota
 *   (or the default) stands until it answers again, and the failure is counted.
 */
import type { KeyStore, OwnerRecord } from '../store/port.js';
import { OwnerInputError } from './errors.js';
import { isValidOwner } from './keys.js';

/** Largest daily quota that can be set: far beyond any single owner, and exact in a double. */
export const OWNER_EVENTS_PER_DAY_MAX_LIMIT = 1_000_000_000_000;
export const OWNER_CACHE_ENTRIES_MAX = 10_000;
export const OWNER_CACHE_TTL_MS = 1_000;

export interface OwnerInput {
  owner: unknown;
  /** A count (0: no quota), null to drop the owner's own quota (back to the default), undefined to keep it. */
  eventsPerDayMax?: unknown;
}

/** Creates an owner, or changes its quota. `created` tells which. */
export async function setOwnerQuota(store: KeyStore, input: OwnerInput, nowMs: number): Promise<{ record: OwnerRecord; created: boolean }> {
  if (!isValidOwner(input.owner)) throw new OwnerInputError('owner must match [A-Za-z0-9_.-]{1,64}', 'owner');
  const quota = input.eventsPerDayMax;
  if (quota !== undefined && quota !== null && !(Number.isSafeInteger(quota) && (quota as number) >= 0 && (quota as number) <= OWNER_EVENTS_PER_DAY_MAX_LIMIT)) {
    throw new OwnerInputError(`eventsPerDayMax must be an integer 0..${OWNER_EVENTS_PER_DAY_MAX_LIMIT} (0: no quota), or null for the default`, 'eventsPerDayMax');
  }
  const existing = await store.getOwner(input.owner);
  const record: OwnerRecord = { owner: input.owner, createdAtMs: existing?.createdAtMs ?? nowMs };
  const kept = quota === undefined ? existing?.eventsPerDayMax : quota;
  if (typeof kept === 'number') record.eventsPerDayMax = kept;
  await store.putOwner(record);
  return { record, created: existing === undefined };
}

interface Entry {
  quota: number;
  expiresAtMs: number;
}

/** Each owner's events-per-day quota (0: none), read through a bounded TTL cache. */
export class OwnerDirectory {
  /** Store reads made. */
  lookupCount = 0;
  /** Entries dropped because the cache was full. */
  evictedCount = 0;
  /** Reads that failed; the last known quota (or the default) was used. */
  failedCount = 0;
  readonly #store: KeyStore;
  readonly #defaultQuota: number;
  readonly #ttlMs: number;
  readonly #entriesMax: number;
  readonly #cache = new Map<string, Entry>();

  constructor(store: KeyStore, options: { defaultEventsPerDayMax: number; ttlMs?: number; entriesMax?: number }) {
    this.#store = store;
    this.#defaultQuota = options.defaultEventsPerDayMax;
    this.#ttlMs = options.ttlMs ?? OWNER_CACHE_TTL_MS;
    this.#entriesMax = options.entriesMax ?? OWNER_CACHE_ENTRIES_MAX;
  }

  get defaultEventsPerDayMax(): number {
    return this.#defaultQuota;
  }

  async eventsPerDayMaxOf(owner: string, nowMs: number): Promise<number> {
    const cached = this.#cache.get(owner);
    if (cached !== undefined && nowMs < cached.expiresAtMs) return cached.quota;
    this.lookupCount += 1;
    let quota: number;
    try {
      quota = (await this.#store.getOwner(owner))?.eventsPerDayMax ?? this.#defaultQuota;
    } catch {
      this.failedCount += 1;
      quota = cached?.quota ?? this.#defaultQuota;
    }
    this.#cache.delete(owner);
    while (this.#cache.size >= this.#entriesMax) {
      this.#cache.delete(this.#cache.keys().next().value as string);
      this.evictedCount += 1;
    }
    this.#cache.set(owner, { quota, expiresAtMs: nowMs + this.#ttlMs });
    return quota;
  }

  /** Forget cached quotas (after a change made in this process, so it applies at once). */
  clear(): void {
    this.#cache.clear();
  }
}
