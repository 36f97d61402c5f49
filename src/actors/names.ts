/**
 * Event names and categories as small integers, shared by every window of a
 * worker thread: the windows keep ids in number arrays instead of a Map per
 * window keyed by strings, and each distinct string is held once per thread
 * instead of once per window.
 *
 * Invariants:
 * - An id, once given, names the same string for the life of the thread;
 *   ids are never reused (windows of evicted owners may still hold them).
 * - The table holds at most NAMES_INTERNED_MAX strings. Past it, intern()
 *   answers -1 and counts the refusal; the window then keeps that name under
 *   an id of its own (window.ts: a per-window overflow list), so counts stay
 *   exact and only the sharing is lost. Names are user input, so the bound is
 *   what keeps one sender of ever-new names from growing a worker's memory:
 *   NAMES_INTERNED_MAX x ~120 bytes = 7.5 MiB at most per thread.
 * - The table is per thread (module state): a worker's actors share it, and
 *   nothing crosses a thread boundary as an id (states and deltas carry names).
 */
import { CACHE_SLOTS } from './fast-read.js';

/** Distinct names and categories interned per thread; past it new ones stay per window (counted in internRefused). */
export const NAMES_INTERNED_MAX = 65_536;

const ids = new Map<string, number>();
const strings: string[] = [];
let refused = 0;

/** The id of `name`, interning it if there is room; -1 once the table is full and `name` is not in it. */
export function intern(name: string): number {
  const id = ids.get(name);
  if (id !== undefined) return id;
  if (strings.length >= NAMES_INTERNED_MAX) {
    refused++;
    return -1;
  }
  const next = strings.length;
  ids.set(name, next);
  strings.push(name);
  return next;
}

/**
 * In front of intern()'s Map for strings from the readers' caches: by cache
 * slot (fast-read.ts cachedAsciiSlot), the string that last used it and its
 * id. A slot answers only for a string equal to the one it recorded, so a
 * slot another string took since, or a wrong one, costs a Map lookup and
 * never a wrong id.
 */
const slotStrings: string[] = new Array<string>(CACHE_SLOTS).fill('');
const slotIds = new Int32Array(CACHE_SLOTS);

/** intern(name) for a name from cache slot `slot` (-1: from none). */
export function internAt(name: string, slot: number): number {
  if (slot < 0) return intern(name);
  if (slotStrings[slot] === name) return slotIds[slot]!;
  const id = intern(name);
  if (id >= 0) {
    slotStrings[slot] = name;
    slotIds[slot] = id;
  }
  return id;
}

/** The string of an id given by intern(). */
export function nameOf(id: number): string {
  return strings[id]!;
}

/** What the table holds, and how often its bound bit. */
export function internStats(): { interned: number; refused: number; max: number } {
  return { interned: strings.length, refused, max: NAMES_INTERNED_MAX };
}
