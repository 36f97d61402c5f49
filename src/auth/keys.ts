/**
 * API keys: creation, verification, revocation and rotation.
 *
 * A key reads `evt_<prefix8>_<secret32>`, both parts base62 from
 * crypto.randomBytes (32 base62 characters carry 190 bits). The store keeps
 * the visible prefix `evt_<prefix8>` and HMAC-SHA256(serverSecret, key) in hex,
 * never the key: a copy of the database alone does not let anyone ingest.
 *
 * Invariants:
 * - A clear key exists only in createKey's / rotateKey's return value and in the requests that carry it.
 * - verify() answers a malformed key without touching the store.
 * - Hashes are compared with crypto.timingSafeEqual.
 * - A cached answer is never older than cacheTtlMs (and a positive one never
 *   outlives the key's expiresAtMs), so a revocation takes effect within cacheTtlMs.
 * - Both caches are bounded; the least recently used entry goes first, and evictions are counted.
 * - Revocation, rotation and hash migration change a record with patchKey, each
 *   under a condition, so none of them can undo another (a rotation never
 *   revives a key revoked while it ran).
 *
 * Caveats: a revoked key keeps working for up to cacheTtlMs on every process
 * that verified it in that time.
 */
import crypto from 'node:crypto';
import type { KeyRecord, KeyScope, KeyStore } from '../store/port.js';
import { KeyInactiveError, KeyInputError } from './errors.js';
import { secretIdOf, toSecrets, type SecretInput, type ServerSecrets } from './secret.js';

export { KeyInputError } from './errors.js';
export {
  loadOrCreateServerSecret,
  resolveServerSecret,
  SERVER_SECRET_BYTES,
  SERVER_SECRET_FILE,
  ServerSecretError,
} from './secret.js';

export const KEY_SCOPES: readonly KeyScope[] = ['ingest', 'read', 'admin'];
/** Owner ids: safe in URLs, file names and store keys without escaping. */
export const OWNER_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** The whole key; the first group is the stored prefix. */
export const KEY_PATTERN = /^(evt_[0-9A-Za-z]{8})_[0-9A-Za-z]{32}$/;
/** A prefix alone, as the admin routes and the CLI take it. */
export const PREFIX_PATTERN = /^evt_[0-9A-Za-z]{8}$/;
export const KEY_CHARS = 45;
/** `ingestOwners: ['*']`: the key may ingest for any owner it names. */
export const ANY_OWNER = '*';
/** Owners one multi-owner key may name; more is EVT_KEY_INVALID. A key for more should be `*`. */
export const KEY_INGEST_OWNERS_MAX = 1_000;
const PREFIX_CHARS = 8;
const SECRET_CHARS = 32;
/** HMAC-SHA256 in hex. */
const HASH_HEX_CHARS = 64;

/** Attempts at a fresh prefix before giving up; with 62^8 prefixes a second attempt is already rare. */
const PREFIX_ATTEMPTS_MAX = 5;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Random base62 text. Bytes of 248 and above are redrawn so that every character is equally likely. */
function base62(length: number): string {
  let out = '';
  while (out.length < length) {
    const bytes = crypto.randomBytes(length * 2);
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const byte = bytes[i]!;
      if (byte < 248) out += BASE62[byte % 62];
    }
  }
  return out;
}

export function isValidOwner(owner: unknown): owner is string {
  return typeof owner === 'string' && OWNER_PATTERN.test(owner);
}

/** HMAC-SHA256(secret, key) as hex: the only form of a key that is ever stored. */
export function hashKey(secret: Uint8Array, key: string): string {
  return crypto.createHmac('sha256', secret).update(key, 'utf8').digest('hex');
}

/** The stored prefix of a well-formed key, or undefined. */
export function keyPrefix(key: unknown): string | undefined {
  if (typeof key !== 'string' || key.length !== KEY_CHARS) return undefined;
  return KEY_PATTERN.exec(key)?.[1];
}

export type KeyState = 'active' | 'revoked' | 'expired';

/** What a record allows at `nowMs`. */
export function keyState(record: KeyRecord, nowMs: number): KeyState {
  if (record.revokedAtMs !== undefined && record.revokedAtMs <= nowMs) return 'revoked';
  if (record.expiresAtMs !== undefined && record.expiresAtMs <= nowMs) return 'expired';
  return 'active';
}

/** A key record as it may be shown: everything but the hashes. */
export interface KeyView {
  prefix: string;
  owner: string;
  scopes: KeyScope[];
  state: KeyState;
  createdAtMs: number;
  expiresAtMs?: number;
  revokedAtMs?: number;
  ingestOwners?: string[];
  rotatedTo?: string;
  rotatedFrom?: string;
  secretId?: string;
}

export function keyView(record: KeyRecord, nowMs: number): KeyView {
  const view: KeyView = {
    prefix: record.prefix,
    owner: record.owner,
    scopes: [...record.scopes],
    state: keyState(record, nowMs),
    createdAtMs: record.createdAtMs,
  };
  for (const field of ['expiresAtMs', 'revokedAtMs', 'rotatedTo', 'rotatedFrom', 'secretId'] as const) {
    if (record[field] !== undefined) (view as unknown as Record<string, unknown>)[field] = record[field];
  }
  if (record.ingestOwners !== undefined) view.ingestOwners = [...record.ingestOwners];
  return view;
}

export interface CreateKeyInput {
  owner: string;
  scopes: readonly KeyScope[];
  nowMs: number;
  expiresAtMs?: number;
  /** Other owners this key may ingest for (`['*']`: any); needs the ingest scope. */
  ingestOwners?: readonly string[];
  /** Set by rotateKey. */
  rotatedFrom?: string;
}

/** Scopes in canonical order; EVT_KEY_INVALID for an empty, repeated or unknown one. */
function checkScopes(scopes: unknown): KeyScope[] {
  if (!Array.isArray(scopes)) throw new KeyInputError(`scopes must be a non-empty list of ${KEY_SCOPES.join(', ')}`, 'scopes');
  const known = KEY_SCOPES.filter((scope) => scopes.includes(scope));
  if (known.length === 0 || known.length !== scopes.length || new Set(scopes).size !== scopes.length) {
    throw new KeyInputError(`scopes must be a non-empty list of ${KEY_SCOPES.join(', ')}`, 'scopes');
  }
  return known;
}

/** The ingestOwners of a new key, checked: owners or `*` alone, at most KEY_INGEST_OWNERS_MAX, the key's own owner dropped. */
function checkIngestOwners(ingestOwners: unknown, owner: string, scopes: readonly KeyScope[]): string[] | undefined {
  if (ingestOwners === undefined) return undefined;
  if (!Array.isArray(ingestOwners) || ingestOwners.length === 0) {
    throw new KeyInputError('ingestOwners must be a non-empty list of owners, or ["*"]', 'ingestOwners');
  }
  if (!scopes.includes('ingest')) throw new KeyInputError('ingestOwners needs the ingest scope', 'ingestOwners');
  if (ingestOwners.length > KEY_INGEST_OWNERS_MAX) {
    throw new KeyInputError(`ingestOwners may name at most ${KEY_INGEST_OWNERS_MAX} owners; use ["*"] for more`, 'ingestOwners');
  }
  if (ingestOwners.includes(ANY_OWNER)) {
    if (ingestOwners.length !== 1) throw new KeyInputError('"*" stands alone in ingestOwners', 'ingestOwners');
    return [ANY_OWNER];
  }
  const out = new Set<string>();
  for (let i = 0; i < ingestOwners.length; i++) {
    const other: unknown = ingestOwners[i];
    if (!isValidOwner(other)) throw new KeyInputError('each owner must match [A-Za-z0-9_.-]{1,64}', `ingestOwners/${i}`);
    if (other !== owner) out.add(other);
  }
  if (out.size === 0) throw new KeyInputError('ingestOwners names no owner but the key\'s own', 'ingestOwners');
  return [...out].sort();
}

/**
 * Creates and stores a key (and its owner's record, when the owner has none).
 * The clear key is in the answer and nowhere else; it cannot be shown again.
 */
export async function createKey(store: KeyStore, secretInput: SecretInput, input: CreateKeyInput): Promise<{ key: string; record: KeyRecord }> {
  const secrets = toSecrets(secretInput);
  if (!isValidOwner(input.owner)) throw new KeyInputError('owner must match [A-Za-z0-9_.-]{1,64}', 'owner');
  const scopes = checkScopes(input.scopes);
  if (input.expiresAtMs !== undefined && !(Number.isSafeInteger(input.expiresAtMs) && input.expiresAtMs > input.nowMs)) {
    throw new KeyInputError('expiresAtMs must be a time in the future (unix ms)', 'expiresAtMs');
  }
  const ingestOwners = checkIngestOwners(input.ingestOwners, input.owner, scopes);
  if ((await store.getOwner(input.owner)) === undefined) await store.putOwner({ owner: input.owner, createdAtMs: input.nowMs });
  for (let attempt = 0; attempt < PREFIX_ATTEMPTS_MAX; attempt++) {
    const prefix = `evt_${base62(PREFIX_CHARS)}`;
    if ((await store.getByPrefix(prefix)) !== undefined) continue;
    const key = `${prefix}_${base62(SECRET_CHARS)}`;
    const record: KeyRecord = {
      prefix,
      hash: hashKey(secrets.current, key),
      owner: input.owner,
      scopes,
      createdAtMs: input.nowMs,
      secretId: secretIdOf(secrets.current),
    };
    if (input.expiresAtMs !== undefined) record.expiresAtMs = input.expiresAtMs;
    if (ingestOwners !== undefined) record.ingestOwners = ingestOwners;
    if (input.rotatedFrom !== undefined) record.rotatedFrom = input.rotatedFrom;
    await store.put(record);
    return { key, record };
  }
  // Five random 48-bit prefixes in a row already taken means the random source is broken.
  throw new Error(`no free key prefix after ${PREFIX_ATTEMPTS_MAX} attempts`);
}

/**
 * Marks a key revoked from nowMs on. Returns the record as stored, or
 * undefined when there is no such key. A key revoked already keeps its
 * earlier revocation time.
 */
export async function revokeKey(store: KeyStore, prefix: string, nowMs: number): Promise<KeyRecord | undefined> {
  const result = await store.patchKey(prefix, { revokedAtMs: nowMs }, { absent: ['revokedAtMs'] });
  return result.record;
}

/** Longest overlap a rotation may grant the old key. */
export const KEY_ROTATE_OVERLAP_MS_MAX = 30 * 86_400_000;

export interface RotatedKey {
  key: string;
  record: KeyRecord;
  /** The old key's record: rotatedTo set, expiresAtMs at most nowMs + overlapMs. */
  previous: KeyRecord;
}

/**
 * Creates a successor of an active key (same owner, scopes, ingestOwners and
 * expiry) and lets the old key expire overlapMs from now (or at its own,
 * earlier expiry). A key can be rotated once; rotate the successor next time.
 * A key that is revoked, expired or already rotated is EVT_KEY_INACTIVE, and
 * so is one revoked or rotated by someone else while this ran (the successor
 * is then revoked at once, so no second live key comes out of a race).
 */
export async function rotateKey(
  store: KeyStore,
  secretInput: SecretInput,
  prefix: string,
  nowMs: number,
  overlapMs: number,
): Promise<RotatedKey | undefined> {
  if (!Number.isSafeInteger(overlapMs) || overlapMs < 0 || overlapMs > KEY_ROTATE_OVERLAP_MS_MAX) {
    throw new KeyInputError(`overlapMs must be an integer 0..${KEY_ROTATE_OVERLAP_MS_MAX}`, 'overlapMs');
  }
  const old = await store.getByPrefix(prefix);
  if (old === undefined) return undefined;
  const state = old.rotatedTo !== undefined ? 'rotated already' : keyState(old, nowMs);
  if (state !== 'active') throw new KeyInactiveError(prefix, state);
  const input: CreateKeyInput = { owner: old.owner, scopes: old.scopes, nowMs, rotatedFrom: prefix };
  if (old.expiresAtMs !== undefined) input.expiresAtMs = old.expiresAtMs;
  if (old.ingestOwners !== undefined) input.ingestOwners = old.ingestOwners;
  const created = await createKey(store, secretInput, input);
  const expiresAtMs = Math.min(old.expiresAtMs ?? Number.POSITIVE_INFINITY, nowMs + overlapMs);
  const claimed = await store.patchKey(prefix, { rotatedTo: created.record.prefix, expiresAtMs }, { absent: ['revokedAtMs', 'rotatedTo'] });
  if (!claimed.applied || claimed.record === undefined) {
    await revokeKey(store, created.record.prefix, nowMs);
    const current = claimed.record;
    throw new KeyInactiveError(prefix, current === undefined ? 'gone' : current.revokedAtMs !== undefined ? 'revoked' : 'rotated already');
  }
  return { key: created.key, record: created.record, previous: claimed.record };
}

export interface VerifiedKey {
  readonly owner: string;
  readonly scopes: readonly KeyScope[];
  readonly prefix: string;
  /** Present on the rare multi-owner ingest key. */
  readonly ingestOwners?: readonly string[];
}

export interface KeyVerifierOptions {
  /** Keys known good, cached. Full: the least recently used is evicted (counted in evictedCount). */
  cacheEntriesMax?: number;
  /** Well-formed keys known bad, cached, so a flood of wrong keys costs one store read each per TTL at most. */
  negativeCacheEntriesMax?: number;
  /** Age at which a cached answer is asked again; bounds how long a revoked key keeps working. */
  cacheTtlMs?: number;
}

export const KEY_CACHE_ENTRIES_MAX = 10_000;
export const KEY_NEGATIVE_CACHE_ENTRIES_MAX = 10_000;
/**
 * 750 ms, not 1 s: an open ws stream is re-checked every WS_RECHECK_INTERVAL_MS
 * (250 ms, src/edge/ws-recheck.ts) through this cache, so a revocation reaches every
 * request, gRPC batch and open stream of every process within one second.
 */
export const KEY_CACHE_TTL_MS = 750;

interface CacheEntry {
  result: VerifiedKey | undefined;
  expiresAtMs: number;
}

/**
 * Verifies keys against the store through two bounded caches. Entries are
 * keyed by the key's HMAC, not the key, so the cache holds no usable secret.
 * With a previous server secret, a key hashed with it is accepted and its
 * record re-hashed with the current secret (once, in the background).
 */
export class KeyVerifier {
  readonly cacheEntriesMax: number;
  readonly negativeCacheEntriesMax: number;
  readonly cacheTtlMs: number;
  /** Answers served from a cache. */
  cacheHitCount = 0;
  /** Store reads made. */
  lookupCount = 0;
  /** Cache entries dropped because a cache was full. */
  evictedCount = 0;
  /** Keys refused for their form alone. */
  malformedCount = 0;
  /** Records re-hashed from the previous server secret to the current one. */
  migratedCount = 0;
  /** Re-hash writes that failed (the key still works; the next verification tries again). */
  migrationFailedCount = 0;

  readonly #store: KeyStore;
  readonly #secrets: ServerSecrets;
  readonly #currentId: string;
  readonly #positive = new Map<string, CacheEntry>();
  readonly #negative = new Map<string, CacheEntry>();
  readonly #migrations = new Set<Promise<void>>();

  constructor(store: KeyStore, secret: SecretInput, options: KeyVerifierOptions = {}) {
    this.#store = store;
    this.#secrets = toSecrets(secret);
    this.#currentId = secretIdOf(this.#secrets.current);
    this.cacheEntriesMax = options.cacheEntriesMax ?? KEY_CACHE_ENTRIES_MAX;
    this.negativeCacheEntriesMax = options.negativeCacheEntriesMax ?? KEY_NEGATIVE_CACHE_ENTRIES_MAX;
    this.cacheTtlMs = options.cacheTtlMs ?? KEY_CACHE_TTL_MS;
  }

  /** Entries held now, both caches together. */
  get cacheSize(): number {
    return this.#positive.size + this.#negative.size;
  }

  /** The key's owner and scopes, or undefined for a malformed, unknown, wrong, revoked or expired key. */
  async verify(key: string, nowMs: number): Promise<VerifiedKey | undefined> {
    const prefix = keyPrefix(key);
    if (prefix === undefined) {
      this.malformedCount += 1;
      return undefined;
    }
    const hash = hashKey(this.#secrets.current, key);
    const cached = this.#cached(this.#positive, hash, nowMs) ?? this.#cached(this.#negative, hash, nowMs);
    if (cached !== undefined) {
      this.cacheHitCount += 1;
      return cached.result;
    }
    this.lookupCount += 1;
    const record = await this.#store.getByPrefix(prefix);
    const result = record !== undefined && this.#matches(key, hash, record) && keyState(record, nowMs) === 'active' ? freezeResult(record) : undefined;
    if (result === undefined) {
      this.#remember(this.#negative, this.negativeCacheEntriesMax, hash, { result, expiresAtMs: nowMs + this.cacheTtlMs });
    } else {
      const expiresAtMs = Math.min(nowMs + this.cacheTtlMs, record!.expiresAtMs ?? Number.POSITIVE_INFINITY);
      this.#remember(this.#positive, this.cacheEntriesMax, hash, { result, expiresAtMs });
    }
    return result;
  }

  /** Resolves once every re-hash started so far has been written (or failed); call before closing the store. */
  async settled(): Promise<void> {
    await Promise.all([...this.#migrations]);
  }

  /** Drops every cached answer (after an admin change in this process, so it applies at once). */
  clearCache(): void {
    this.#positive.clear();
    this.#negative.clear();
  }

  /** Whether `key` (whose current hash is `hash`) is the key of `record`, under either secret. */
  #matches(key: string, hash: string, record: KeyRecord): boolean {
    if (sameHash(hash, record.hash) || sameHash(hash, record.hashPrevious)) return true;
    const previous = this.#secrets.previous;
    if (previous === undefined) return false;
    const old = hashKey(previous, key);
    if (sameHash(old, record.hash)) {
      this.#migrate(record, hash);
      return true;
    }
    // Hashed with a secret newer than ours (a process not yet restarted after a rotation).
    return sameHash(old, record.hashPrevious);
  }

  /** Re-hashes with the current secret, keeping the old hash for processes that still run on it. */
  #migrate(record: KeyRecord, hash: string): void {
    const migration = this.#store
      .patchKey(record.prefix, { hash, hashPrevious: record.hash, secretId: this.#currentId }, { hash: record.hash })
      .then(
        (result) => {
          if (result.applied) this.migratedCount += 1;
        },
        () => {
          this.migrationFailedCount += 1;
        },
      )
      .finally(() => this.#migrations.delete(migration));
    this.#migrations.add(migration);
  }

  #cached(cache: Map<string, CacheEntry>, hash: string, nowMs: number): CacheEntry | undefined {
    const entry = cache.get(hash);
    if (entry === undefined) return undefined;
    cache.delete(hash);
    if (nowMs >= entry.expiresAtMs) return undefined;
    // Re-inserting moves the entry to the end: Map order is the LRU order.
    cache.set(hash, entry);
    return entry;
  }

  #remember(cache: Map<string, CacheEntry>, entriesMax: number, hash: string, entry: CacheEntry): void {
    if (entriesMax <= 0) return;
    cache.delete(hash);
    while (cache.size >= entriesMax) {
      const oldest = cache.keys().next().value as string;
      cache.delete(oldest);
      this.evictedCount += 1;
    }
    cache.set(hash, entry);
  }
}

function sameHash(hash: string, stored: string | undefined): boolean {
  if (typeof stored !== 'string' || stored.length !== HASH_HEX_CHARS) return false;
  return crypto.timingSafeEqual(Buffer.from(hash, 'hex'), Buffer.from(stored, 'hex'));
}

function freezeResult(record: KeyRecord): VerifiedKey {
  const result: VerifiedKey = { owner: record.owner, scopes: Object.freeze([...record.scopes]), prefix: record.prefix };
  if (record.ingestOwners !== undefined) (result as { ingestOwners?: readonly string[] }).ingestOwners = Object.freeze([...record.ingestOwners]);
  return Object.freeze(result);
}

export const DEV_OWNER = 'dev';

/**
 * On a first start (no key at all), creates owner `dev` with an ingest+read
 * key and returns the clear key to print. Returns undefined once any key exists.
 */
export async function ensureDevKey(store: KeyStore, secret: SecretInput, nowMs: number): Promise<string | undefined> {
  if ((await store.list()).length > 0) return undefined;
  const { key } = await createKey(store, secret, { owner: DEV_OWNER, scopes: ['ingest', 'read'], nowMs });
  return key;
}
