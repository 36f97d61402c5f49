/**
 * API keys: creation, verification and the server secret they are hashed with.
 *
 * A key reads `evt_<prefix8>_<secret32>`, both parts base62 from
 * crypto.randomBytes (32 base62 characters carry 190 bits). The store keeps
 * the visible prefix `evt_<prefix8>` and HMAC-SHA256(serverSecret, key) in hex,
 * never the key: a copy of the database alone does not let anyone ingest.
 *
 * Invariants:
 * - A clear key exists only in createKey's return value and in the requests that carry it.
 * - verify() answers a malformed key without touching the store.
 * - Hashes are compared with crypto.timingSafeEqual.
 * - A cached answer is never older than cacheTtlMs (and a positive one never
 *   outlives the key's expiresAtMs), so a revocation takes effect within cacheTtlMs.
 * - Both caches are bounded; the least recently used entry goes first, and evictions are counted.
 *
 * Caveats: a revoked key keeps working for up to cacheTtlMs on every process
 * that verified it in that time.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { EventideError } from '../errors.js';
import type { KeyRecord, KeyScope, KeyStore } from '../store/port.js';

export const KEY_SCOPES: readonly KeyScope[] = ['ingest', 'read', 'admin'];
/** Owner ids: safe in URLs, file names and store keys without escaping. */
export const OWNER_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** The whole key; the first group is the stored prefix. */
export const KEY_PATTERN = /^(evt_[0-9A-Za-z]{8})_[0-9A-Za-z]{32}$/;
export const KEY_CHARS = 45;
const PREFIX_CHARS = 8;
const SECRET_CHARS = 32;
/** HMAC-SHA256 in hex. */
const HASH_HEX_CHARS = 64;

export const SERVER_SECRET_FILE = 'server-secret';
export const SERVER_SECRET_BYTES = 32;

/** Attempts at a fresh prefix before giving up; with 62^8 prefixes a second attempt is already rare. */
const PREFIX_ATTEMPTS_MAX = 5;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The input to createKey is invalid (owner, scopes, expiry). */
export class KeyInputError extends EventideError {
  readonly code = 'EVT_KEY_INVALID';
  readonly retryable = false;
  constructor(message: string, field: string) {
    super(message, { field });
  }
}

/** The server secret file exists but cannot be used (wrong size, readable by others). */
export class ServerSecretError extends EventideError {
  readonly code = 'EVT_SERVER_SECRET_INVALID';
  readonly retryable = false;
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`server secret ${file}: ${reason}`, { field: 'keySecret' });
  }
}

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

export interface CreateKeyInput {
  owner: string;
  scopes: readonly KeyScope[];
  nowMs: number;
  expiresAtMs?: number;
}

/** Creates and stores a key. The clear key is in the answer and nowhere else; it cannot be shown again. */
export async function createKey(
  store: KeyStore,
  secret: Uint8Array,
  input: CreateKeyInput,
): Promise<{ key: string; record: KeyRecord }> {
  if (!isValidOwner(input.owner)) throw new KeyInputError('owner must match [A-Za-z0-9_.-]{1,64}', 'owner');
  const scopes = KEY_SCOPES.filter((scope) => input.scopes.includes(scope));
  if (scopes.length === 0 || scopes.length !== new Set(input.scopes).size) {
    throw new KeyInputError(`scopes must be a non-empty list of ${KEY_SCOPES.join(', ')}`, 'scopes');
  }
  if (input.expiresAtMs !== undefined && !(input.expiresAtMs > input.nowMs)) {
    throw new KeyInputError('expiresAtMs must be in the future', 'expiresAtMs');
  }
  for (let attempt = 0; attempt < PREFIX_ATTEMPTS_MAX; attempt++) {
    const prefix = `evt_${base62(PREFIX_CHARS)}`;
    if ((await store.getByPrefix(prefix)) !== undefined) continue;
    const key = `${prefix}_${base62(SECRET_CHARS)}`;
    const record: KeyRecord = { prefix, hash: hashKey(secret, key), owner: input.owner, scopes, createdAtMs: input.nowMs };
    if (input.expiresAtMs !== undefined) record.expiresAtMs = input.expiresAtMs;
    await store.put(record);
    return { key, record };
  }
  // Five random 48-bit prefixes in a row already taken means the random source is broken.
  throw new Error(`no free key prefix after ${PREFIX_ATTEMPTS_MAX} attempts`);
}

/** Marks a key revoked from nowMs on. Returns the updated record, or undefined when there is no such key. */
export async function revokeKey(store: KeyStore, prefix: string, nowMs: number): Promise<KeyRecord | undefined> {
  const record = await store.getByPrefix(prefix);
  if (record === undefined) return undefined;
  if (record.revokedAtMs !== undefined && record.revokedAtMs <= nowMs) return record;
  const revoked = { ...record, revokedAtMs: nowMs };
  await store.put(revoked);
  return revoked;
}

export interface VerifiedKey {
  readonly owner: string;
  readonly scopes: readonly KeyScope[];
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
export const KEY_CACHE_TTL_MS = 1_000;

interface CacheEntry {
  result: VerifiedKey | undefined;
  expiresAtMs: number;
}

/**
 * Verifies keys against the store through two bounded caches. Entries are
 * keyed by the key's HMAC, not the key, so the cache holds no usable secret.
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

  readonly #store: KeyStore;
  readonly #secret: Uint8Array;
  readonly #positive = new Map<string, CacheEntry>();
  readonly #negative = new Map<string, CacheEntry>();

  constructor(store: KeyStore, secret: Uint8Array, options: KeyVerifierOptions = {}) {
    this.#store = store;
    this.#secret = secret;
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
    const hash = hashKey(this.#secret, key);
    const cached = this.#cached(this.#positive, hash, nowMs) ?? this.#cached(this.#negative, hash, nowMs);
    if (cached !== undefined) {
      this.cacheHitCount += 1;
      return cached.result;
    }
    this.lookupCount += 1;
    const record = await this.#store.getByPrefix(prefix);
    const result = record !== undefined && matches(hash, record) && usable(record, nowMs) ? freezeResult(record) : undefined;
    if (result === undefined) {
      this.#remember(this.#negative, this.negativeCacheEntriesMax, hash, { result, expiresAtMs: nowMs + this.cacheTtlMs });
    } else {
      const expiresAtMs = Math.min(nowMs + this.cacheTtlMs, record!.expiresAtMs ?? Number.POSITIVE_INFINITY);
      this.#remember(this.#positive, this.cacheEntriesMax, hash, { result, expiresAtMs });
    }
    return result;
  }

  /** Drops every cached answer (after an admin change in this process, so it applies at once). */
  clearCache(): void {
    this.#positive.clear();
    this.#negative.clear();
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

function matches(hash: string, record: KeyRecord): boolean {
  if (typeof record.hash !== 'string' || record.hash.length !== HASH_HEX_CHARS) return false;
  return crypto.timingSafeEqual(Buffer.from(hash, 'hex'), Buffer.from(record.hash, 'hex'));
}

function usable(record: KeyRecord, nowMs: number): boolean {
  if (record.revokedAtMs !== undefined && record.revokedAtMs <= nowMs) return false;
  if (record.expiresAtMs !== undefined && record.expiresAtMs <= nowMs) return false;
  return true;
}

function freezeResult(record: KeyRecord): VerifiedKey {
  return Object.freeze({ owner: record.owner, scopes: Object.freeze([...record.scopes]) });
}

/**
 * Reads dataDir/server-secret, creating it (32 random bytes, mode 0600) when
 * missing. Creation writes a temporary file and hard-links it into place, so
 * two processes starting at once agree on one secret and neither reads a
 * half-written file.
 */
export async function loadOrCreateServerSecret(dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, SERVER_SECRET_FILE);
  await fs.mkdir(dataDir, { recursive: true });
  const existing = await readSecret(file);
  if (existing !== undefined) return existing;
  const temp = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(temp, crypto.randomBytes(SERVER_SECRET_BYTES), { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await fs.rm(temp, { force: true });
  }
  const created = await readSecret(file);
  if (created === undefined) throw new ServerSecretError(file, 'vanished while being created');
  return created;
}

async function readSecret(file: string): Promise<Buffer | undefined> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (bytes.length !== SERVER_SECRET_BYTES) {
    throw new ServerSecretError(file, `holds ${bytes.length} bytes, expected ${SERVER_SECRET_BYTES}`);
  }
  // Like ssh with private keys: refuse a secret others can read rather than use it.
  if (process.platform !== 'win32' && ((await fs.stat(file)).mode & 0o077) !== 0) {
    throw new ServerSecretError(file, 'is readable by group or others; chmod 600 it');
  }
  return bytes;
}

/** The configured keySecret when set, else the secret kept in dataDir. */
export async function resolveServerSecret(config: { keySecret: string; dataDir: string }): Promise<Uint8Array> {
  if (config.keySecret !== '') return Buffer.from(config.keySecret, 'utf8');
  return loadOrCreateServerSecret(config.dataDir);
}

export const DEV_OWNER = 'dev';

/**
 * On a first start (no key at all), creates owner `dev` with an ingest+read
 * key and returns the clear key to print. Returns undefined once any key exists.
 */
export async function ensureDevKey(store: KeyStore, secret: Uint8Array, nowMs: number): Promise<string | undefined> {
  if ((await store.list()).length > 0) return undefined;
  const { key } = await createKey(store, secret, { owner: DEV_OWNER, scopes: ['ingest', 'read'], nowMs });
  return key;
}
