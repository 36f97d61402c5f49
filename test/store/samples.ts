/**
 * Builders of valid port values for the contract suites. Each returns a fresh
 * object so a test may mutate what it got.
 */
import type { OwnerSnapshot, Resolution, StoredEvent, WindowState } from '../../src/actors/types.js';
import type { KeyRecord, Rollup } from '../../src/store/port.js';
import { DedupMemory } from '../../src/actors/dedup.js';

export const T0_MS = 1_700_000_000_000;

/** A sketch holding every byte value once, so an encoding that mangles any byte is caught. */
export function sketchBytes(seed = 0): Uint8Array {
  const bytes = new Uint8Array(256);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i + seed) & 0xff;
  return bytes;
}

export function storedEvent(owner: string, id: string, overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    owner,
    shard: 7,
    status: 'accepted',
    event: {
      id,
      name: 'page_view',
      timestampMs: T0_MS,
      clientTimestampMs: T0_MS - 15,
      receivedAtMs: T0_MS + 3,
      userId: undefined,
      category: 'web',
      severity: 'info',
      tags: ['a', 'b'],
      properties: { path: '/home', ms: 12.5, ok: true },
      value: undefined,
    },
    ...overrides,
  };
}

export function windowState(resolution: Resolution, startMs: number, total = 1, seed = 0): WindowState {
  return {
    resolution,
    startMs,
    total,
    late: 1,
    tooLate: 2,
    byName: { page_view: total },
    byCategory: { web: total },
    bySeverity: { info: total },
    values: { page_view: { count: total, sum: 1.5, min: -2, max: 9 } },
    uniquesSketch: sketchBytes(seed),
    uniques: 3,
    open: false,
  };
}

export function rollup(owner: string, resolution: Resolution, startMs: number, total = 1): Rollup {
  return { owner, ...windowState(resolution, startMs, total, total) };
}

export function ownerSnapshot(owner: string, takenAtMs = T0_MS): OwnerSnapshot {
  return {
    owner,
    windows: [
      { ...windowState('1s', T0_MS, 4, 1), open: true },
      { ...windowState('1m', T0_MS - (T0_MS % 60_000), 9, 2), open: true },
    ],
    recentIds: [
      ['e1', T0_MS - 5],
      ['e2', T0_MS - 1],
    ],
    takenAtMs,
  };
}

/** Recent ids as an actor writes them (packed 64-bit hashes, src/actors/dedup.ts). */
export function recentIdHashes(): Uint8Array {
  const memory = new DedupMemory(600_000, 1_000, T0_MS - 5);
  memory.seen('e1', T0_MS - 5);
  memory.seen('e2', T0_MS - 1);
  return memory.exportPacked(T0_MS)!;
}

/** A busy owner's packed dedup memory: `count` ids over the last `count` ms. */
export function manyIdHashes(count: number): Uint8Array {
  const memory = new DedupMemory(600_000, count, T0_MS - count);
  for (let i = 0; i < count; i++) memory.seen(`busy-${i}`, T0_MS - count + i);
  return memory.exportPacked(T0_MS)!;
}

export function keyRecord(owner: string, prefix: string, overrides: Partial<KeyRecord> = {}): KeyRecord {
  return {
    prefix,
    hash: 'ab'.repeat(32),
    owner,
    scopes: ['ingest', 'read'],
    createdAtMs: T0_MS,
    ...overrides,
  };
}
