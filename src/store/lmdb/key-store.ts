/**
 * KeyStore over LMDB: key records under their prefix, plus an [owner, prefix]
 * index so that listing one owner's keys is a range read, not a scan, and
 * owner records under their id.
 *
 * Invariants:
 * - The record and its index entry are written in one (child) transaction, so list()
 *   never names a prefix that getByPrefix() does not find.
 * - A put() that changes a record's owner moves its index entry with it.
 * - patchKey() reads, checks its condition and writes in one write transaction:
 *   LMDB has one writer at a time across threads and processes, so no other
 *   write to the record can fall between the check and the write.
 * - Only the HMAC of a key is stored (src/auth/keys.ts); this file never sees a clear key.
 *
 * Several processes may open one dataDir (the server and `eventide keys` on the
 * command line): LMDB's locks make a commit of one visible to the next read
 * transaction of the others, which is what lets a revocation made by the CLI
 * reach a running server (test/security/revocation.test.ts).
 */
import type { KeyPatch, KeyPatchCondition, KeyPatchResult, KeyRecord, KeyStore, OwnerRecord } from '../port.js';
import { EventideError } from '../../errors.js';
import { StoreClosedError, StoreInputError, StoreReadError, StoreWriteError } from '../errors.js';
import { applyKeyPatch, keyPatchApplies, readKeyRecord, readOwnerRecord } from '../key-records.js';
import { acquireLmdbEnv, DB_NAMES, releaseLmdbEnv, type LmdbEnv, type LmdbEnvOptions } from './env.js';
import { settle, getChecked } from './codec.js';
import { checkOwner } from './event-store.js';
import type { Database } from 'lmdb';

/** Longest prefix accepted; real prefixes are `evt_` plus 8 characters. */
export const KEY_PREFIX_CHARS_MAX = 64;

/** Sorts after every owner-index suffix: prefixes are ASCII. */
const PREFIX_RANGE_END = '\u{10FFFF}';

const EMPTY = new Uint8Array(0);

function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > KEY_PREFIX_CHARS_MAX) {
    throw new StoreInputError(`prefix must be a string of 1..${KEY_PREFIX_CHARS_MAX} characters`, 'prefix');
  }
}

export class LmdbKeyStore implements KeyStore {
  readonly #env: LmdbEnv;
  readonly #keys: Database;
  readonly #byOwner: Database;
  readonly #owners: Database;
  #closed = false;

  constructor(options: LmdbEnvOptions) {
    this.#env = acquireLmdbEnv(options);
    this.#keys = this.#env.db(DB_NAMES.keys);
    this.#byOwner = this.#env.db(DB_NAMES.keysByOwner);
    this.#owners = this.#env.db(DB_NAMES.owners);
  }

  async put(record: KeyRecord): Promise<void> {
    this.#open('put');
    checkPrefix(record.prefix);
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

  async patchKey(prefix: string, patch: KeyPatch, condition?: KeyPatchCondition): Promise<KeyPatchResult> {
    this.#open('patchKey');
    checkPrefix(prefix);
    const keys = this.#keys;
    let result: KeyPatchResult = { record: undefined, applied: false };
    try {
      await keys.transaction(() => {
        const stored: unknown = keys.get(prefix);
        if (stored === undefined) return;
        const record = readKeyRecord(stored);
        if (!keyPatchApplies(record, condition)) {
          result = { record, applied: false };
          return;
        }
        const next = applyKeyPatch(record, patch);
        void keys.put(prefix, next);
        result = { record: next, applied: true };
      });
    } catch (cause) {
      if (cause instanceof EventideError) throw cause;
      throw new StoreWriteError('patch key', { cause });
    }
    return result;
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

  async putOwner(record: OwnerRecord): Promise<void> {
    this.#open('putOwner');
    checkOwner(record.owner, 'owner');
    try {
      await this.#owners.put(record.owner, record);
    } catch (cause) {
      throw new StoreWriteError('put owner', { cause });
    }
  }

  getOwner(owner: string): Promise<OwnerRecord | undefined> {
    return settle(() => {
      this.#open('getOwner');
      return getChecked(this.#owners, owner, 'getOwner', readOwnerRecord);
    });
  }

  listOwners(): Promise<OwnerRecord[]> {
    return settle(() => {
      this.#open('listOwners');
      const values: unknown[] = [];
      try {
        for (const entry of this.#owners.getRange()) values.push(entry.value);
      } catch (cause) {
        throw new StoreReadError('list owners', { cause });
      }
      return values.map(readOwnerRecord);
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
