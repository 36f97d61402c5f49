/**
 * What the tests of the one-pass readers (json-fast, msgpack-fast) share: the
 * view of a body both a reader's value and the full parser's are compared in,
 * the comparison itself, and a seeded generator.
 */
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';

export const FIELDS = ['id', 'name', 'timestamp', 'sentAt', 'userId', 'category', 'severity', 'tags', 'properties', 'value'] as const;

/** An event as the validator sees it: the schema's fields only, absent ones undefined. */
function schemaView(event: unknown): unknown {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return event;
  const e = event as Record<string, unknown>;
  return Object.fromEntries(FIELDS.map((f) => [f, Object.hasOwn(e, f) ? e[f] : undefined]));
}

/** Object keys in order, all the way down (isDeepStrictEqual ignores key order). */
function keyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(keyOrder);
  if (typeof value === 'object' && value !== null) return Object.entries(value).map(([k, v]) => [k, keyOrder(v)]);
  return typeof value;
}

/** The events and the envelope's other members, in the form both sides are compared in. */
function comparable(body: unknown): { events: unknown[]; rest: unknown } {
  if (Array.isArray(body)) return { events: body.map(schemaView), rest: undefined };
  const { events, ...rest } = body as { events: unknown[] };
  return { events: events.map(schemaView), rest };
}

/** A reader's value against the full parser's: equal in everything the validator reads, keys in the same order. */
export function assertSameForValidator(fast: unknown, full: unknown, label: string): void {
  const a = comparable(fast);
  const b = comparable(full);
  assert.ok(isDeepStrictEqual(a, b), `${label}: values differ\n${JSON.stringify(a).slice(0, 400)}\n${JSON.stringify(b).slice(0, 400)}`);
  assert.deepEqual(keyOrder(a), keyOrder(b), `${label}: key order differs`);
}

/** xorshift32, seeded: the same bodies every run; values in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}
