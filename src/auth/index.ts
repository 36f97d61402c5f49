/**
 * What other layers may use from auth: key creation, verification and the
 * server secret. The edge builds one KeyVerifier per process.
 */
export {
  createKey,
  DEV_OWNER,
  ensureDevKey,
  hashKey,
  isValidOwner,
  KEY_CACHE_ENTRIES_MAX,
  KEY_CACHE_TTL_MS,
  KEY_NEGATIVE_CACHE_ENTRIES_MAX,
  KEY_PATTERN,
  KEY_SCOPES,
  KeyInputError,
  keyPrefix,
  KeyVerifier,
  loadOrCreateServerSecret,
  OWNER_PATTERN,
  resolveServerSecret,
  revokeKey,
  ServerSecretError,
  type CreateKeyInput,
  type KeyVerifierOptions,
  type VerifiedKey,
} from './keys.js';
export type { KeyRecord, KeyScope } from '../store/port.js';
