/**
 * KeyStore over LMDB: key records under their prefix, plus an [owner, prefix]
 * index so that listing one owner's keys is a range read, not a scan.
 *
 * Invariants:
 * - The record and its index entry are written in one (child) transaction, so list()
 *   never names a prefix that getByPrefix() does not find.
 * - A put() that changes a record's owner moves its index entry with it.
 * - Only the HMAC of a key is stored (src/auth/keys.ts); this file never sees a clear key.
 */
import type { KeyRecord, KeyStore } from '../port.js';
import { StoreClosedError, StoreInputError, StoreReadError, StoreWriteError } from '../errors.js';
import { acquireLmdbEnv, DB_NAMES, releaseLmdbEnv, type LmdbEnv, type LmdbEnvOptions } from './env.js';
import { readKeyRecord, settle, getChecked } from './codec.js';
import { checkOwner } from './event-store.js';
import type { Database } from 'lmdb';

/** Longest prefix accepted; real prefixes are `evt_` plus 8 characters. */
export const KEY_PREFIX_CHARS_MAX = 64;

/** Sorts after every owner-index suffix: prefixes are ASCII. */
const PREFIX_RANGE_END = '\u{10FFFF}';

const EMPTY = new Uint8Array(0);

export class LmdbKeyStore implements KeyStore {
  readonly #env: LmdbEnv;
  readonly #keys: Database;
  readonly #byOwner: Database;
  #closed = false;

  constructor(options: LmdbEnvOptions) {
    this.#env = acquireLmdbEnv(options);
    this.#keys = this.#env.db(DB_NAMES.keys);
    this.#byOwner = this.#env.db(DB_NAMES.keysByOwner);
  }

  async put(record: KeyRecord): Promise<void> {
    this.#open('put');
    if (typeof record.prefix !== 'string' || record.prefix.length === 0 || record.prefix.length > KEY_PREFIX_CHARS_MAX) {
      throw new StoreInputError(`prefix must be a string of 1..${KEY_PREFIX_CHARS_MAX} characters`, 'prefix');
    }
    checkOwner(record.owner, 'owner');
    const keys = this.#keys;
    const byOwner = this.#byOwner;
    try {
      await keys.childTransaction(() => {
        const previous = keys.get(record.prefix) as KeyRecord | undefined;
        if (previous !== undefined && previous.owner !== record.owner) {
          void byOwner.remove([previous.owner, record.prefix]);
        }
        void keys.put(record.prefix, record);
        void byOwner.put([record.owner, record.prefix], EMPTY);
      });
    } catch (cause) {
      throw new StoreWriteError('put key', { cause });
    }
  }

  getByPrefix(prefix: string): Promise<KeyRecord | undefined> {
    return settle(() => {
      this.#open('getByPrefix');
      return getChecked(this.#keys, prefix, 'getByPrefix', readKeyRecord);
    });
  }

  /** All records of `owner` (or of everyone), ordered by prefix. */
  list(owner?: string): Promise<KeyRecord[]> {
    return settle(() => {
      this.#open('list');
      const values: unknown[] = [];
      try {
        if (owner === undefined) {
          for (const entry of this.#keys.getRange()) values.push(entry.value);
        } else {
          // put() commits the record and its index entry together, so a missing
          // record here can only be a record deleted by hand; skip it.
          const keys = this.#keys;
          for (const key of this.#byOwner.getKeys({ start: [owner, ''], end: [owner, PREFIX_RANGE_END] })) {
            const prefix = (key as [string, string])[1];
            const value: unknown = keys.get(prefix);
            if (value !== undefined) values.push(value);
          }
        }
      } catch (cause) {
        throw new StoreReadError('list keys', { cause });
      }
      const out: KeyRecord[] = [];
      for (let i = 0; i < values.length; i++) out.push(readKeyRecord(values[i]));
      return out;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await releaseLmdbEnv(this.#env);
  }

  #open(operation: string): void {
    if (this.#closed) throw new StoreClosedError(operation);
  }
}
