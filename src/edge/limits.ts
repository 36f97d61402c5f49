/**
 * Rate limits and quotas, as the edge asks them: per key, requests per second
 * and events per second (token buckets with a burst); per owner, events per
 * UTC day. One `admit` before a request does any work, one `settle` after an
 * ingest is answered: never a call per event.
 *
 * Token bucket: a bucket holds up to `burst` tokens and refills at `rate` per
 * second. A request takes one request token; a request is refused when the
 * key's requests bucket has less than one token, or (ingest) its events bucket
 * has less than one. The edge does not parse bodies, so it cannot know how
 * many events a batch holds before the worker decodes it: events are taken
 * after the answer (`settle`), and the events bucket may go below zero, which
 * refuses the key's next batches until the debt is refilled. A key can thus
 * exceed its events/s by the batches it has in flight, never for longer.
 *
 * The daily quota counts events the owner's worker stored (accepted, late,
 * too late); a batch is refused while the day's count is at or over the quota,
 * and each refusal is counted as a dropped request for the owner to see
 * (GET /v1/usage). Days are UTC days.
 *
 * Where counters live is a backend: MemoryLimits here (per process; the
 * embedded default), RedisLimits (limits-redis.ts: shared by every edge
 * process). Both implement the same arithmetic (test/edge/limits.test.ts and
 * test/security/limits-redis.test.ts check the same cases).
 *
 * Invariants:
 * - A limit of 0 (rate) or a quota of 0 means none: it is neither checked nor
 *   shown in the headers.
 * - MemoryLimits holds at most limitsEntriesMax entries (keys and owners
 *   together); the least recently used goes first, counted in `evicted`. An
 *   evicted key starts again with a full bucket, an evicted owner with a day
 *   count of 0: eviction errs towards admitting.
 */
import { QuotaExceededError, RateLimitedError } from './errors.js';

export const DAY_MS = 86_400_000;

export interface LimitSettings {
  /** Refill per second of each key's requests bucket; 0: no limit. */
  keyRequestsPerSec: number;
  keyRequestsBurst: number;
  /** Refill per second of each key's events bucket; 0: no limit. */
  keyEventsPerSec: number;
  keyEventsBurst: number;
  /** Counters held by MemoryLimits; full: the least recently used is dropped. */
  limitsEntriesMax: number;
}

export type LimitName = 'requests' | 'events' | 'events-per-day';

/** One limit as it stands after an admission: what the RateLimit-* headers say. */
export interface LimitState {
  name: LimitName;
  /** Bucket size (or the daily quota). */
  limit: number;
  /** Whole units left now (0 when in debt). */
  remaining: number;
  /** Seconds until the limit is whole again (bucket full, or the next UTC day). */
  resetSec: number;
  /** The policy window in seconds: burst / rate for a bucket, 86400 for the quota. */
  windowSec: number;
}

export interface Admission {
  /** Undefined when admitted. */
  refusal: RateLimitedError | QuotaExceededError | undefined;
  /** Every limit that applies to this request, for the headers. */
  states: LimitState[];
}

export interface AdmitInput {
  /** The key the request is counted against (a token counts against the key that minted it). */
  keyId: string;
  owner: string;
  /** An ingest also checks the events bucket and the owner's quota. */
  ingest: boolean;
  /** The owner's events per day; 0: none. Only read for an ingest. */
  eventsPerDayMax: number;
  nowMs: number;
}

export interface SettleInput {
  keyId: string;
  owner: string;
  /** Events in the answered batch, whatever their receipt: each cost the worker. */
  events: number;
  /** Events stored (accepted, late, too late): what the quota counts. */
  stored: number;
  nowMs: number;
}

export interface Usage {
  owner: string;
  /** The UTC day counted, `YYYY-MM-DD`. */
  day: string;
  /** The owner's quota; 0: none. */
  eventsPerDayMax: number;
  /** Events stored today. */
  events: number;
  /** Events left today; null without a quota. */
  remaining: number | null;
  /** Ingest requests refused today because the quota was used up. */
  droppedRequests: number;
  /** When the day's count starts again, unix ms. */
  resetAtMs: number;
}

export interface LimitsStats {
  admitted: number;
  rateLimited: number;
  quotaRefused: number;
  /** Counters dropped because limitsEntriesMax were held. */
  evicted: number;
  /** Redis only: admissions decided in-process because Redis did not answer. */
  fallbacks: number;
  /** Redis only: settle flushes that did not reach Redis (those events went uncounted there). */
  settleFailures: number;
}

export interface LimitsBackend {
  readonly kind: 'memory' | 'redis';
  admit(input: AdmitInput): Promise<Admission>;
  /** Fire and forget: an answer never waits for it. */
  settle(input: SettleInput): void;
  usage(owner: string, eventsPerDayMax: number, nowMs: number): Promise<Usage>;
  readonly stats: Readonly<LimitsStats>;
  close(): Promise<void>;
}

export function dayOf(nowMs: number): number {
  return Math.floor(nowMs / DAY_MS);
}

export function dayName(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export function usageOf(owner: string, eventsPerDayMax: number, nowMs: number, events: number, droppedRequests: number): Usage {
  const day = dayOf(nowMs);
  return {
    owner,
    day: dayName(day),
    eventsPerDayMax,
    events,
    remaining: eventsPerDayMax > 0 ? Math.max(0, eventsPerDayMax - events) : null,
    droppedRequests,
    resetAtMs: (day + 1) * DAY_MS,
  };
}

/** A token bucket's level: tokens (may be negative: debt) as of `atMs`. */
export interface Bucket {
  tokens: number;
  atMs: number;
}

/** Refills `bucket` to `nowMs` in place. A clock that went back refills nothing. */
export function refill(bucket: Bucket, ratePerSec: number, burst: number, nowMs: number): void {
  const elapsedMs = nowMs - bucket.atMs;
  if (elapsedMs > 0) {
    bucket.tokens = Math.min(burst, bucket.tokens + (elapsedMs * ratePerSec) / 1_000);
    bucket.atMs = nowMs;
  }
}

/** Milliseconds until the bucket holds one whole token. */
export function msUntilToken(tokens: number, ratePerSec: number): number {
  return Math.max(1, Math.ceil(((1 - tokens) * 1_000) / ratePerSec));
}

export function bucketState(name: 'requests' | 'events', tokens: number, ratePerSec: number, burst: number): LimitState {
  return {
    name,
    limit: burst,
    remaining: Math.max(0, Math.floor(tokens)),
    resetSec: Math.max(0, Math.ceil((burst - tokens) / ratePerSec)),
    windowSec: Math.max(1, Math.ceil(burst / ratePerSec)),
  };
}

export function quotaState(eventsPerDayMax: number, used: number, nowMs: number): LimitState {
  return {
    name: 'events-per-day',
    limit: eventsPerDayMax,
    remaining: Math.max(0, eventsPerDayMax - used),
    resetSec: Math.ceil(((dayOf(nowMs) + 1) * DAY_MS - nowMs) / 1_000),
    windowSec: DAY_MS / 1_000,
  };
}

interface KeyEntry {
  kind: 'key';
  requests: Bucket;
  events: Bucket;
}

interface OwnerEntry {
  kind: 'owner';
  day: number;
  used: number;
  dropped: number;
}

/** Per-process counters in one bounded LRU map. */
export class MemoryLimits implements LimitsBackend {
  readonly kind = 'memory' as const;
  readonly settings: Readonly<LimitSettings>;
  readonly #entries = new Map<string, KeyEntry | OwnerEntry>();
  readonly #stats: LimitsStats = { admitted: 0, rateLimited: 0, quotaRefused: 0, evicted: 0, fallbacks: 0, settleFailures: 0 };

  constructor(settings: LimitSettings) {
    this.settings = Object.freeze({ ...settings });
  }

  get stats(): Readonly<LimitsStats> {
    return { ...this.#stats };
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size;
  }

  admit(input: AdmitInput): Promise<Admission> {
    return Promise.resolve(this.admitNow(input));
  }

  /** The same as admit, synchronously (the Redis backend falls back to it). */
  admitNow(input: AdmitInput): Admission {
    const { keyRequestsPerSec: reqRate, keyRequestsBurst: reqBurst, keyEventsPerSec: evRate, keyEventsBurst: evBurst } = this.settings;
    const states: LimitState[] = [];
    let refusal: Admission['refusal'];
    if (reqRate > 0 || (input.ingest && evRate > 0)) {
      const entry = this.#key(input.keyId, input.nowMs);
      if (reqRate > 0) {
        refill(entry.requests, reqRate, reqBurst, input.nowMs);
        if (entry.requests.tokens >= 1) entry.requests.tokens -= 1;
        else refusal = new RateLimitedError('requests', msUntilToken(entry.requests.tokens, reqRate));
        states.push(bucketState('requests', entry.requests.tokens, reqRate, reqBurst));
      }
      if (input.ingest && evRate > 0) {
        refill(entry.events, evRate, evBurst, input.nowMs);
        if (refusal === undefined && entry.events.tokens < 1) refusal = new RateLimitedError('events', msUntilToken(entry.events.tokens, evRate));
        states.push(bucketState('events', entry.events.tokens, evRate, evBurst));
      }
    }
    if (input.ingest && input.eventsPerDayMax > 0) {
      const owner = this.#owner(input.owner, input.nowMs);
      if (refusal === undefined && owner.used >= input.eventsPerDayMax) {
        owner.dropped += 1;
        refusal = new QuotaExceededError(input.eventsPerDayMax, (owner.day + 1) * DAY_MS - input.nowMs);
      }
      states.push(quotaState(input.eventsPerDayMax, owner.used, input.nowMs));
    }
    if (refusal === undefined) this.#stats.admitted++;
    else if (refusal instanceof QuotaExceededError) this.#stats.quotaRefused++;
    else this.#stats.rateLimited++;
    return { refusal, states };
  }

  settle(input: SettleInput): void {
    const { keyEventsPerSec: evRate, keyEventsBurst: evBurst } = this.settings;
    if (evRate > 0 && input.events > 0) {
      const entry = this.#key(input.keyId, input.nowMs);
      refill(entry.events, evRate, evBurst, input.nowMs);
      entry.events.tokens -= input.events;
    }
    if (input.stored > 0) this.#owner(input.owner, input.nowMs).used += input.stored;
  }

  usage(owner: string, eventsPerDayMax: number, nowMs: number): Promise<Usage> {
    const entry = this.#entries.get(`o:${owner}`) as OwnerEntry | undefined;
    const today = entry !== undefined && entry.day === dayOf(nowMs) ? entry : undefined;
    return Promise.resolve(usageOf(owner, eventsPerDayMax, nowMs, today?.used ?? 0, today?.dropped ?? 0));
  }

  close(): Promise<void> {
    this.#entries.clear();
    return Promise.resolve();
  }

  #key(keyId: string, nowMs: number): KeyEntry {
    const id = `k:${keyId}`;
    let entry = this.#entries.get(id) as KeyEntry | undefined;
    if (entry === undefined) {
      entry = {
        kind: 'key',
        requests: { tokens: this.settings.keyRequestsBurst, atMs: nowMs },
        events: { tokens: this.settings.keyEventsBurst, atMs: nowMs },
      };
    }
    this.#touch(id, entry);
    return entry;
  }

  #owner(owner: string, nowMs: number): OwnerEntry {
    const id = `o:${owner}`;
    const day = dayOf(nowMs);
    let entry = this.#entries.get(id) as OwnerEntry | undefined;
    if (entry === undefined || entry.day !== day) entry = { kind: 'owner', day, used: 0, dropped: 0 };
    this.#touch(id, entry);
    return entry;
  }

  /** Moves (or adds) the entry to the young end of the LRU order, evicting the oldest when full. */
  #touch(id: string, entry: KeyEntry | OwnerEntry): void {
    if (!this.#entries.delete(id)) {
      while (this.#entries.size >= this.settings.limitsEntriesMax) {
        this.#entries.delete(this.#entries.keys().next().value as string);
        this.#stats.evicted++;
      }
    }
    this.#entries.set(id, entry);
  }
}

/**
 * The RateLimit-* fields of draft-ietf-httpapi-ratelimit-headers-06: the
 * three fields describe the limit closest to running out (the smallest
 * remaining share), RateLimit-Policy lists every limit that applies as
 * `<limit>;w=<window seconds>`. Empty when no limit applies.
 */
export function rateLimitHeaders(states: readonly LimitState[]): Record<string, string> {
  if (states.length === 0) return {};
  let tightest = states[0]!;
  for (let i = 1; i < states.length; i++) {
    const state = states[i]!;
    if (state.remaining / state.limit < tightest.remaining / tightest.limit) tightest = state;
  }
  return {
    'ratelimit-limit': String(tightest.limit),
    'ratelimit-remaining': String(tightest.remaining),
    'ratelimit-reset': String(tightest.resetSec),
    'ratelimit-policy': states.map((state) => `${state.limit};w=${state.windowSec};comment="${state.name}"`).join(', '),
  };
}
