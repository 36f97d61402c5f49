/**
 * Limits shared by every edge process through Redis: the same token buckets
 * and daily quota as MemoryLimits (limits.ts), kept in Redis and changed by
 * Lua scripts, so N edge processes sharing a key allow the key's limit in
 * all, not N times it.
 *
 * Keys (prefix `evt:lim`):
 *   `evt:lim:{k:<key prefix>}`        hash rt, rts (requests bucket), et, ets (events bucket)
 *   `evt:lim:{o:<owner>}:<UTC day>`   hash used, dropped
 * Each script touches one key, so each runs in one slot of a Redis Cluster
 * too; admit sends both scripts in one pipeline: one round trip per request.
 * Buckets expire once they would be full again anyway; day counters after two days.
 *
 * Time is Redis's own (TIME inside the scripts), so the buckets of processes
 * whose clocks disagree stay one bucket.
 *
 * Invariants:
 * - One round trip per request (admit). Settles are added up in-process and
 *   sent every LIMITS_SETTLE_FLUSH_MS in one pipeline for all keys and owners,
 *   so the events of an answered batch reach Redis at most that much later:
 *   never a call per event, and not even one per request.
 * - Redis that does not answer within LIMITS_REDIS_TIMEOUT_MS, or is down,
 *   never fails a request: that admission is decided by an in-process
 *   MemoryLimits instead (counted in `fallbacks`), so limits still hold per
 *   process while Redis is away.
 */
import type { Redis } from 'ioredis';
import { RedisConnection } from '../store/redis/connection.js';
import { QuotaExceededError, RateLimitedError } from './errors.js';
import {
  bucketState,
  dayOf,
  DAY_MS,
  MemoryLimits,
  msUntilToken,
  quotaState,
  usageOf,
  type Admission,
  type AdmitInput,
  type LimitSettings,
  type LimitsBackend,
  type LimitsStats,
  type LimitState,
  type SettleInput,
  type Usage,
} from './limits.js';

/** A limit decision waits at most this for Redis, then is made in-process. */
export const LIMITS_REDIS_TIMEOUT_MS = 250;
/** Settled events are sent to Redis this often, all keys and owners in one pipeline. */
export const LIMITS_SETTLE_FLUSH_MS = 50;
const KEY_PREFIX = 'evt:lim';
/** Day counters outlive their day by one more, for GET /v1/usage around midnight. */
const DAY_COUNTER_TTL_MS = 2 * DAY_MS;

/**
 * Refill a bucket to now (Redis TIME, ms) and return its level. ARGV for each
 * bucket: rate per second, burst; a rate of 0 means no bucket. Scaled by 1000
 * on the way out because Redis truncates Lua numbers to integers.
 */
const COMMON_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function level(key, field, rate, burst)
  local v = redis.call('HMGET', key, field, field .. 's')
  local tokens = tonumber(v[1])
  local at = tonumber(v[2])
  if tokens == nil or at == nil then return burst end
  if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end
  return tokens
end
local function ttl(rate, burst, tokens)
  return math.ceil((burst - math.min(tokens, burst)) * 1000 / rate) + 1000
end
`;

/**
 * KEYS[1] the key's hash. ARGV: reqRate, reqBurst, evRate, evBurst, checkEvents (0/1).
 * Returns { admitted, refusedBy (0 none, 1 requests, 2 events), reqTokens*1000, evTokens*1000, nowMs }.
 */
const ADMIT_LUA = `${COMMON_LUA}
local reqRate, reqBurst = tonumber(ARGV[1]), tonumber(ARGV[2])
local evRate, evBurst = tonumber(ARGV[3]), tonumber(ARGV[4])
local checkEvents = ARGV[5] == '1'
local refusedBy = 0
local req, ev = 0, 0
local pttl = 0
if reqRate > 0 then
  req = level(KEYS[1], 'rt', reqRate, reqBurst)
  if req >= 1 then req = req - 1 else refusedBy = 1 end
  redis.call('HSET', KEYS[1], 'rt', req, 'rts', now)
  pttl = math.max(pttl, ttl(reqRate, reqBurst, req))
end
if checkEvents and evRate > 0 then
  ev = level(KEYS[1], 'et', evRate, evBurst)
  if refusedBy == 0 and ev < 1 then refusedBy = 2 end
end
if pttl > 0 then
  local current = redis.call('PTTL', KEYS[1])
  if current < pttl then redis.call('PEXPIRE', KEYS[1], pttl) end
end
return { refusedBy == 0 and 1 or 0, refusedBy, math.floor(req * 1000), math.floor(ev * 1000), now }
`;

/** KEYS[1] the key's hash. ARGV: evRate, evBurst, events. Takes the events (the bucket may go below zero). */
const DEBIT_LUA = `${COMMON_LUA}
local evRate, evBurst, events = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ev = level(KEYS[1], 'et', evRate, evBurst) - events
redis.call('HSET', KEYS[1], 'et', ev, 'ets', now)
local pttl = ttl(evRate, evBurst, ev)
local current = redis.call('PTTL', KEYS[1])
if current < pttl then redis.call('PEXPIRE', KEYS[1], pttl) end
return math.floor(ev * 1000)
`;

/** KEYS[1] the owner's day hash. ARGV: quota, ttlMs. Refuses (and counts a drop) when used >= quota. Returns { admitted, used }. */
const QUOTA_LUA = `
local quota = tonumber(ARGV[1])
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
if used >= quota then
  redis.call('HINCRBY', KEYS[1], 'dropped', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return { 0, used }
end
return { 1, used }
`;

interface LimitCommands {
  evtLimAdmit(key: string, reqRate: number, reqBurst: number, evRate: number, evBurst: number, checkEvents: number): Promise<number[]>;
  evtLimDebit(key: string, evRate: number, evBurst: number, events: number): Promise<number>;
  evtLimQuota(key: string, quota: number, ttlMs: number): Promise<number[]>;
}

export interface RedisLimitsOptions extends LimitSettings {
  url: string;
  /** Default LIMITS_REDIS_TIMEOUT_MS. */
  commandTimeoutMs?: number;
}

export class RedisLimits implements LimitsBackend {
  readonly kind = 'redis' as const;
  readonly settings: Readonly<LimitSettings>;
  readonly #connection: RedisConnection;
  /** Decides while Redis does not answer; also counts what was decided there. */
  readonly #fallback: MemoryLimits;
  readonly #stats: LimitsStats = { admitted: 0, rateLimited: 0, quotaRefused: 0, evicted: 0, fallbacks: 0, settleFailures: 0 };
  #defined = false;
  /** Events to take from each key's bucket at the next flush. */
  readonly #debits = new Map<string, number>();
  /** Stored events to add to each owner's day count at the next flush, by Redis key. */
  readonly #usage = new Map<string, number>();
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(options: RedisLimitsOptions) {
    this.settings = Object.freeze({
      keyRequestsPerSec: options.keyRequestsPerSec,
      keyRequestsBurst: options.keyRequestsBurst,
      keyEventsPerSec: options.keyEventsPerSec,
      keyEventsBurst: options.keyEventsBurst,
      limitsEntriesMax: options.limitsEntriesMax,
    });
    const timeoutMs = options.commandTimeoutMs ?? LIMITS_REDIS_TIMEOUT_MS;
    this.#connection = new RedisConnection({
      url: options.url,
      commandTimeoutMs: timeoutMs,
      connectTimeoutMs: Math.max(timeoutMs, 1_000),
      reconnectDelayMsMax: 1_000,
      connectionName: 'eventide-limits',
    });
    this.#fallback = new MemoryLimits(this.settings);
  }

  get stats(): Readonly<LimitsStats> {
    return { ...this.#stats, evicted: this.#fallback.stats.evicted };
  }

  /** Resolves once the connection is up (tests, readiness). */
  whenReady(): Promise<void> {
    return this.#connection.whenReady();
  }

  async #client(): Promise<Redis & LimitCommands> {
    const client = await this.#connection.ready();
    if (!this.#defined) {
      // defineCommand sends EVALSHA and falls back to EVAL once when Redis has not seen the script.
      client.defineCommand('evtLimAdmit', { numberOfKeys: 1, lua: ADMIT_LUA });
      client.defineCommand('evtLimDebit', { numberOfKeys: 1, lua: DEBIT_LUA });
      client.defineCommand('evtLimQuota', { numberOfKeys: 1, lua: QUOTA_LUA });
      this.#defined = true;
    }
    return client as Redis & LimitCommands;
  }

  async admit(input: AdmitInput): Promise<Admission> {
    const { keyRequestsPerSec: reqRate, keyRequestsBurst: reqBurst, keyEventsPerSec: evRate, keyEventsBurst: evBurst } = this.settings;
    const checkEvents = input.ingest && evRate > 0;
    const checkQuota = input.ingest && input.eventsPerDayMax > 0;
    if (reqRate === 0 && !checkEvents && !checkQuota) {
      this.#stats.admitted++;
      return { refusal: undefined, states: [] };
    }
    let answers: Array<[Error | null, unknown]>;
    try {
      const client = await this.#client();
      const pipeline = client.pipeline() as unknown as LimitCommands & { exec(): Promise<Array<[Error | null, unknown]> | null> };
      if (reqRate > 0 || checkEvents) void pipeline.evtLimAdmit(bucketKey(input.keyId), reqRate, reqBurst, evRate, evBurst, checkEvents ? 1 : 0);
      if (checkQuota) void pipeline.evtLimQuota(dayKey(input.owner, input.nowMs), input.eventsPerDayMax, DAY_COUNTER_TTL_MS);
      answers = (await pipeline.exec()) ?? [];
      for (const [error] of answers) if (error !== null) throw error;
    } catch {
      this.#stats.fallbacks++;
      const decided = this.#fallback.admitNow(input);
      this.#count(decided);
      return decided;
    }
    const states: LimitState[] = [];
    let refusal: Admission['refusal'];
    let at = 0;
    if (reqRate > 0 || checkEvents) {
      const [, refusedBy, reqMilli, evMilli] = answers[at++]![1] as number[];
      const req = reqMilli! / 1_000;
      const ev = evMilli! / 1_000;
      if (refusedBy === 1) refusal = new RateLimitedError('requests', msUntilToken(req, reqRate));
      else if (refusedBy === 2) refusal = new RateLimitedError('events', msUntilToken(ev, evRate));
      if (reqRate > 0) states.push(bucketState('requests', req, reqRate, reqBurst));
      if (checkEvents) states.push(bucketState('events', ev, evRate, evBurst));
    }
    if (checkQuota) {
      const [admitted, used] = answers[at]![1] as number[];
      if (refusal === undefined && admitted === 0) refusal = new QuotaExceededError(input.eventsPerDayMax, (dayOf(input.nowMs) + 1) * DAY_MS - input.nowMs);
      states.push(quotaState(input.eventsPerDayMax, used!, input.nowMs));
    }
    const decided = { refusal, states };
    this.#count(decided);
    return decided;
  }

  settle(input: SettleInput): void {
    const { keyEventsPerSec: evRate } = this.settings;
    const debit = evRate > 0 && input.events > 0;
    if (!debit && input.stored <= 0) return;
    // The in-process counters follow too, so a fallback during an outage starts from what this process saw.
    this.#fallback.settle(input);
    if (debit) this.#debits.set(input.keyId, (this.#debits.get(input.keyId) ?? 0) + input.events);
    if (input.stored > 0) {
      const key = dayKey(input.owner, input.nowMs);
      this.#usage.set(key, (this.#usage.get(key) ?? 0) + input.stored);
    }
    // Bounded like the in-process counters: a burst of new keys flushes early instead of growing the maps.
    if (this.#debits.size + this.#usage.size >= this.settings.limitsEntriesMax) this.#flushNow();
    else this.#flushTimer ??= setTimeout(() => this.#flushNow(), LIMITS_SETTLE_FLUSH_MS).unref();
  }

  /** Sends every pending settle in one pipeline (not awaited by anyone but close()). */
  #flushNow(): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#debits.size === 0 && this.#usage.size === 0) return;
    const debits = [...this.#debits];
    const usage = [...this.#usage];
    this.#debits.clear();
    this.#usage.clear();
    const { keyEventsPerSec: evRate, keyEventsBurst: evBurst } = this.settings;
    const flushing = this.#client()
      .then((client) => {
        const pipeline = client.pipeline() as unknown as LimitCommands & {
          hincrby(key: string, field: string, by: number): unknown;
          pexpire(key: string, ms: number): unknown;
          exec(): Promise<Array<[Error | null, unknown]> | null>;
        };
        for (const [keyId, events] of debits) void pipeline.evtLimDebit(bucketKey(keyId), evRate, evBurst, events);
        for (const [key, stored] of usage) {
          pipeline.hincrby(key, 'used', stored);
          pipeline.pexpire(key, DAY_COUNTER_TTL_MS);
        }
        return pipeline.exec();
      })
      .then(
        (answers) => {
          if (answers?.some(([error]) => error !== null)) this.#stats.settleFailures++;
        },
        () => {
          this.#stats.settleFailures++;
        },
      );
    this.#flushing = this.#flushing.then(() => flushing);
  }

  async usage(owner: string, eventsPerDayMax: number, nowMs: number): Promise<Usage> {
    try {
      const client = await this.#client();
      const fields = await client.hmget(dayKey(owner, nowMs), 'used', 'dropped');
      return usageOf(owner, eventsPerDayMax, nowMs, Number(fields[0] ?? 0), Number(fields[1] ?? 0));
    } catch {
      this.#stats.fallbacks++;
      return this.#fallback.usage(owner, eventsPerDayMax, nowMs);
    }
  }

  async close(): Promise<void> {
    this.#flushNow();
    await this.#flushing;
    await this.#connection.close();
    await this.#fallback.close();
  }

  #count(decided: Admission): void {
    if (decided.refusal === undefined) this.#stats.admitted++;
    else if (decided.refusal instanceof QuotaExceededError) this.#stats.quotaRefused++;
    else this.#stats.rateLimited++;
  }
}

function bucketKey(keyId: string): string {
  return `${KEY_PREFIX}:{k:${keyId}}`;
}

function dayKey(owner: string, nowMs: number): string {
  return `${KEY_PREFIX}:{o:${owner}}:${dayOf(nowMs)}`;
}
