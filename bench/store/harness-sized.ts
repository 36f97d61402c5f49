/**
 * A stored event about the size the harness's pack to in a bucket (~57
 * bytes: a user id, a tag, four properties, a value), for the store benches
 * whose figures depend on a bucket's bytes (get-event, retention).
 */
import type { StoredEvent } from '../../src/actors/types.js';

/** The i-th event of a batch received at `receivedAtMs`. */
export function harnessSizedEvent(owner: string, id: string, i: number, receivedAtMs: number): StoredEvent {
  return {
    owner,
    shard: 1,
    status: 'accepted',
    event: {
      id,
      name: `event-${i % 8}`,
      timestampMs: receivedAtMs + i,
      clientTimestampMs: receivedAtMs + i,
      receivedAtMs,
      userId: `user-${(i * 7919) % 5000}`,
      category: 'app',
      severity: 'info',
      tags: [`t${i % 4}`],
      properties: { plan: 'pro', region: `r-${i % 6}`, n: i * 13, ok: i % 2 === 0 },
      value: i % 10,
    },
  };
}
