/**
 * Key and owner records as every key-store adapter reads them back, and the
 * one meaning of a key patch. Both adapters (LMDB, MongoDB) use these, so a
 * record read from either has the same fields and the same checks.
 *
 * Invariants:
 * - A record read back is a fresh object holding only the known fields (a
 *   MongoDB `_id` or a field a later version added never leaks through).
 * - A malformed record is EVT_STORE_CORRUPT, never a partly trusted object:
 *   a key record decides who may do what.
 */
import type { KeyPatch, KeyPatchCondition, KeyRecord, KeyScope, OwnerRecord } from './port.js';
import { StoreCorruptError } from './errors.js';

const SCOPES: ReadonlySet<string> = new Set<KeyScope>(['ingest', 'read', 'admin']);
/** Fields a patch may set, in the order they are copied. */
const PATCH_FIELDS = ['revokedAtMs', 'expiresAtMs', 'rotatedTo', 'hash', 'hashPrevious', 'secretId'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function optionalNumber(value: Record<string, unknown>, field: string): number | undefined {
  const v = value[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new StoreCorruptError(`key record field ${field} is not a number`, field);
  return v;
}

function optionalString(value: Record<string, unknown>, field: string): string | undefined {
  const v = value[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new StoreCorruptError(`key record field ${field} is not a string`, field);
  return v;
}

/** A stored key record, checked and copied; EVT_STORE_CORRUPT when it is not one. */
export function readKeyRecord(value: unknown): KeyRecord {
  if (
    !isObject(value) ||
    typeof value.prefix !== 'string' ||
    typeof value.hash !== 'string' ||
    typeof value.owner !== 'string' ||
    typeof value.createdAtMs !== 'number' ||
    !isStringList(value.scopes) ||
    !value.scopes.every((scope) => SCOPES.has(scope))
  ) {
    throw new StoreCorruptError('not a key record', 'key');
  }
  const record: KeyRecord = {
    prefix: value.prefix,
    hash: value.hash,
    owner: value.owner,
    scopes: [...(value.scopes as KeyScope[])],
    createdAtMs: value.createdAtMs,
  };
  const revokedAtMs = optionalNumber(value, 'revokedAtMs');
  if (revokedAtMs !== undefined) record.revokedAtMs = revokedAtMs;
  const expiresAtMs = optionalNumber(value, 'expiresAtMs');
  if (expiresAtMs !== undefined) record.expiresAtMs = expiresAtMs;
  if (value.ingestOwners !== undefined && value.ingestOwners !== null) {
    if (!isStringList(value.ingestOwners)) throw new StoreCorruptError('key record field ingestOwners is not a list of owners', 'ingestOwners');
    record.ingestOwners = [...value.ingestOwners];
  }
  for (const field of ['rotatedTo', 'rotatedFrom', 'secretId', 'hashPrevious'] as const) {
    const v = optionalString(value, field);
    if (v !== undefined) record[field] = v;
  }
  return record;
}

/** A stored owner record, checked and copied. */
export function readOwnerRecord(value: unknown): OwnerRecord {
  if (!isObject(value) || typeof value.owner !== 'string' || typeof value.createdAtMs !== 'number') {
    throw new StoreCorruptError('not an owner record', 'owner');
  }
  const record: OwnerRecord = { owner: value.owner, createdAtMs: value.createdAtMs };
  const quota = value.eventsPerDayMax;
  if (quota !== undefined && quota !== null) {
    if (typeof quota !== 'number' || !Number.isSafeInteger(quota) || quota < 0) {
      throw new StoreCorruptError('owner record field eventsPerDayMax is not a count', 'eventsPerDayMax');
    }
    record.eventsPerDayMax = quota;
  }
  return record;
}

/** Whether `condition` holds for the stored `record`. */
export function keyPatchApplies(record: KeyRecord, condition: KeyPatchCondition | undefined): boolean {
  if (condition === undefined) return true;
  for (const field of condition.absent ?? []) if (record[field] !== undefined) return false;
  if (condition.hash !== undefined && record.hash !== condition.hash) return false;
  return true;
}

/** `record` with the patch's defined fields set; a new object. */
export function applyKeyPatch(record: KeyRecord, patch: KeyPatch): KeyRecord {
  const next: KeyRecord = { ...record };
  for (const field of PATCH_FIELDS) {
    const value = patch[field];
    if (value !== undefined) (next as unknown as Record<string, unknown>)[field] = value;
  }
  return next;
}

/** Only the fields a patch may set, without undefined ones (MongoDB `$set` and tests). */
export function patchFields(patch: KeyPatch): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of PATCH_FIELDS) if (patch[field] !== undefined) out[field] = patch[field];
  return out;
}
