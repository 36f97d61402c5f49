/**
 * The in-process limits: token bucket arithmetic, the events debt, the daily
 * quota, the bounded map, and the headers. Time is injected (nowMs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DAY_MS, MemoryLimits, rateLimitHeaders, type AdmitInput, type LimitSettings } from '../../src/edge/limits.js';

const T0_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
const SETTINGS: LimitSettings = { keyRequestsPerSec: 10, keyRequestsBurst: 20, keyEventsPerSec: 100, keyEventsBurst: 200, limitsEntriesMax: 1_000 };

function input(overrides: Partial<AdmitInput> = {}): AdmitInput {
  return { keyId: 'evt_AAAAAAAA', owner: 'acme', ingest: false, eventsPerDayMax: 0, nowMs: T0_MS, ...overrides };
}

void test('a key gets its burst at once, then its rate; the refusal says when to retry', () => {
  const limits = new MemoryLimits(SETTINGS);
  for (let i = 0; i < 20; i++) assert.equal(limits.admitNow(input()).refusal, undefined, `request ${i}`);
  const refused = limits.admitNow(input());
  assert.equal(refused.refusal?.code, 'EVT_RATE_LIMITED');
  assert.equal(refused.refusal?.retryAfterMs, 100, 'one token at 10/s is 100 ms away');
  assert.equal(refused.refusal?.field, 'requests');
  // 250 ms later 2.5 tokens have come back: two requests, then a refusal 50 ms from the next token.
  assert.equal(limits.admitNow(input({ nowMs: T0_MS + 250 })).refusal, undefined);
  assert.equal(limits.admitNow(input({ nowMs: T0_MS + 250 })).refusal, undefined);
  assert.equal(limits.admitNow(input({ nowMs: T0_MS + 250 })).refusal?.retryAfterMs, 50);
  assert.deepEqual(limits.stats, { admitted: 22, rateLimited: 2, quotaRefused: 0, evicted: 0, fallbacks: 0, settleFailures: 0 });
});

void test('keys have buckets of their own', () => {
  const limits = new MemoryLimits({ ...SETTINGS, keyRequestsBurst: 1 });
  assert.equal(limits.admitNow(input({ keyId: 'a' })).refusal, undefined);
  assert.equal(limits.admitNow(input({ keyId: 'a' })).refusal?.code, 'EVT_RATE_LIMITED');
  assert.equal(limits.admitNow(input({ keyId: 'b' })).refusal, undefined);
});

void test('events are taken after the answer: a batch may overdraw, then the key waits off its debt', () => {
  const limits = new MemoryLimits(SETTINGS);
  assert.equal(limits.admitNow(input({ ingest: true })).refusal, undefined);
  limits.settle({ keyId: 'evt_AAAAAAAA', owner: 'acme', events: 500, stored: 500, nowMs: T0_MS });
  const refused = limits.admitNow(input({ ingest: true, nowMs: T0_MS + 1 }));
  assert.equal(refused.refusal?.code, 'EVT_RATE_LIMITED');
  assert.equal(refused.refusal?.field, 'events');
  // 200 - 500 = -300 tokens; one whole token is 301 tokens, 3.01 s, away at 100/s (1 ms has refilled 0.1).
  assert.equal(refused.refusal?.retryAfterMs, 3_009);
  assert.equal(limits.admitNow(input({ ingest: true, nowMs: T0_MS + 3_010 })).refusal, undefined);
  // Reads do not look at the events bucket.
  assert.equal(new MemoryLimits(SETTINGS).admitNow(input()).states.some((s) => s.name === 'events'), false);
});

void test('the daily quota refuses once used up, counts the drops, and renews at 00:00 UTC', async () => {
  const limits = new MemoryLimits(SETTINGS);
  const quota = { ingest: true, eventsPerDayMax: 1_000 };
  assert.equal(limits.admitNow(input(quota)).refusal, undefined);
  limits.settle({ keyId: 'k', owner: 'acme', events: 0, stored: 999, nowMs: T0_MS });
  assert.equal(limits.admitNow(input({ ...quota, keyId: 'k2' })).refusal, undefined, '999 of 1000: still admitted');
  limits.settle({ keyId: 'k', owner: 'acme', events: 0, stored: 5, nowMs: T0_MS });
  const refused = limits.admitNow(input({ ...quota, keyId: 'k3' }));
  assert.equal(refused.refusal?.code, 'EVT_QUOTA_EXCEEDED');
  const midnight = (Math.floor(T0_MS / DAY_MS) + 1) * DAY_MS;
  assert.equal(refused.refusal?.retryAfterMs, midnight - T0_MS);
  assert.equal(limits.admitNow(input({ ...quota, keyId: 'k4', owner: 'other' })).refusal, undefined, 'another owner is unaffected');
  const usage = await limits.usage('acme', 1_000, T0_MS);
  assert.deepEqual(usage, { owner: 'acme', day: '2026-01-15', eventsPerDayMax: 1_000, events: 1_004, remaining: 0, droppedRequests: 1, resetAtMs: midnight });
  assert.equal(limits.admitNow(input({ ...quota, keyId: 'k5', nowMs: midnight })).refusal, undefined, 'a new day');
  assert.equal((await limits.usage('acme', 1_000, midnight)).events, 0);
  assert.equal(limits.stats.quotaRefused, 1);
});

void test('a limit of 0 is none: neither checked nor shown', () => {
  const limits = new MemoryLimits({ ...SETTINGS, keyRequestsPerSec: 0, keyEventsPerSec: 0 });
  for (let i = 0; i < 1_000; i++) assert.equal(limits.admitNow(input({ ingest: true })).refusal, undefined);
  assert.deepEqual(limits.admitNow(input({ ingest: true })).states, []);
  assert.deepEqual(rateLimitHeaders([]), {});
  assert.equal(limits.size, 0, 'nothing is held for limits that do not exist');
});

void test('the map holds at most limitsEntriesMax counters; the least recently used goes first and is counted', () => {
  const limits = new MemoryLimits({ ...SETTINGS, keyRequestsBurst: 1, limitsEntriesMax: 2 });
  limits.admitNow(input({ keyId: 'a' }));
  limits.admitNow(input({ keyId: 'b' }));
  assert.equal(limits.admitNow(input({ keyId: 'a' })).refusal?.code, 'EVT_RATE_LIMITED', 'a is now the most recent');
  limits.admitNow(input({ keyId: 'c' })); // evicts b
  assert.equal(limits.size, 2);
  assert.equal(limits.stats.evicted, 1);
  assert.equal(limits.admitNow(input({ keyId: 'b' })).refusal, undefined, 'an evicted key starts with a full bucket');
});

void test('a clock that steps back refills nothing and breaks nothing', () => {
  const limits = new MemoryLimits({ ...SETTINGS, keyRequestsBurst: 1 });
  assert.equal(limits.admitNow(input({ nowMs: T0_MS })).refusal, undefined);
  assert.equal(limits.admitNow(input({ nowMs: T0_MS - 60_000 })).refusal?.code, 'EVT_RATE_LIMITED');
});

void test('headers follow draft-ietf-httpapi-ratelimit-headers-06: the tightest limit, and every policy', () => {
  const limits = new MemoryLimits(SETTINGS);
  for (let i = 0; i < 15; i++) limits.admitNow(input({ ingest: true }));
  const { states } = limits.admitNow(input({ ingest: true, eventsPerDayMax: 10_000 }));
  assert.deepEqual(rateLimitHeaders(states), {
    'ratelimit-limit': '20',
    'ratelimit-remaining': '4',
    'ratelimit-reset': '2',
    'ratelimit-policy': '20;w=2;comment="requests", 200;w=2;comment="events", 10000;w=86400;comment="events-per-day"',
  });
});
