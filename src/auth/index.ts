/**
 * What other layers may use from auth: key creation, verification, rotation,
 * browser tokens and the server secret. The edge builds one Credentials (a
 * KeyVerifier and a TokenVerifier) per process.
 */
export {
  ANY_OWNER,
  createKey,
  DEV_OWNER,
  ensureDevKey,
  hashKey,
  isValidOwner,
  KEY_CACHE_ENTRIES_MAX,
  KEY_CACHE_TTL_MS,
  KEY_INGEST_OWNERS_MAX,
  KEY_NEGATIVE_CACHE_ENTRIES_MAX,
  KEY_PATTERN,
  KEY_ROTATE_OVERLAP_MS_MAX,
  KEY_SCOPES,
  keyPrefix,
  keyState,
  keyView,
  KeyVerifier,
  OWNER_PATTERN,
  PREFIX_PATTERN,
  revokeKey,
  rotateKey,
  type CreateKeyInput,
  type KeyState,
  type KeyVerifierOptions,
  type KeyView,
  type RotatedKey,
  type VerifiedKey,
} from './keys.js';
export {
  dropPreviousServerSecretFile,
  loadOrCreateServerSecret,
  resolveServerSecret,
  resolveServerSecrets,
  rotateServerSecretFile,
  secretIdOf,
  ServerSecretError,
  type SecretInput,
  type ServerSecrets,
} from './secret.js';
export { isToken, mintToken, TOKEN_CHARS_MAX, TOKEN_PREFIX, TokenVerifier, type TokenClaims } from './tokens.js';
export { Credentials, type Principal } from './credentials.js';
export { OwnerDirectory, setOwnerQuota } from './owners.js';
export { KeyInactiveError, KeyInputError, OwnerInputError, TokenExpiredError } from './errors.js';
export type { KeyRecord, KeyScope, OwnerRecord } from '../store/port.js';
