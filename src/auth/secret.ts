/**
 * The server secret: what key hashes and browser tokens are made with.
 *
 * Two secrets may be in use at once while the secret is rotated: `current`
 * (new hashes, new tokens) and `previous` (still accepted; a key hashed with it
 * is re-hashed with `current` the first time it is used). Each comes from the
 * configuration (keySecret, keySecretPrevious) or, when those are empty, from
 * files in dataDir (`server-secret`, `server-secret.previous`).
 *
 * Invariants:
 * - A secret file is 32 random bytes, mode 0600; one readable by others is refused.
 * - Keys and tokens never use the secret itself: key hashes use it as the
 *   HMAC key, tokens use a key derived from it for that purpose alone, so a
 *   token signature can never be replayed as a key hash or the reverse.
 * - A secret's id (secretIdOf) is an HMAC of a constant: it names the secret in
 *   records and listings without revealing anything about it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { EventideError } from '../errors.js';

export const SERVER_SECRET_FILE = 'server-secret';
export const SERVER_SECRET_PREVIOUS_FILE = 'server-secret.previous';
export const SERVER_SECRET_BYTES = 32;

const SECRET_ID_LABEL = 'eventide/secret-id/v1';
const TOKEN_KEY_LABEL = 'eventide/token-signing/v1';
/** Hex characters of a secret id: 64 bits, enough to tell a handful of secrets apart. */
const SECRET_ID_HEX_CHARS = 16;

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

export interface ServerSecrets {
  readonly current: Uint8Array;
  /** Accepted while a rotation is under way; absent otherwise. */
  readonly previous: Uint8Array | undefined;
}

/** A secret given alone, or both; the form every auth function takes. */
export type SecretInput = Uint8Array | ServerSecrets;

export function toSecrets(input: SecretInput): ServerSecrets {
  return input instanceof Uint8Array ? { current: input, previous: undefined } : input;
}

/** A short, public name of a secret: which one a key hash was made with. */
export function secretIdOf(secret: Uint8Array): string {
  return crypto.createHmac('sha256', secret).update(SECRET_ID_LABEL).digest('hex').slice(0, SECRET_ID_HEX_CHARS);
}

/** The key browser tokens are signed with, derived from a server secret. */
export function tokenSigningKey(secret: Uint8Array): Buffer {
  return crypto.createHmac('sha256', secret).update(TOKEN_KEY_LABEL).digest();
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
  await linkNewSecret(file);
  const created = await readSecret(file);
  if (created === undefined) throw new ServerSecretError(file, 'vanished while being created');
  return created;
}

/** Writes 32 random bytes to `file` unless it exists (EEXIST is not an error: another process won). */
async function linkNewSecret(file: string): Promise<void> {
  const temp = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(temp, crypto.randomBytes(SERVER_SECRET_BYTES), { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await fs.rm(temp, { force: true });
  }
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

/**
 * Both secrets: the current one as resolveServerSecret finds it, the previous
 * one from keySecretPrevious or, when that is empty and the current one is
 * the file, from dataDir/server-secret.previous when that exists.
 */
export async function resolveServerSecrets(config: { keySecret: string; keySecretPrevious: string; dataDir: string }): Promise<ServerSecrets> {
  const current = await resolveServerSecret(config);
  let previous: Uint8Array | undefined;
  if (config.keySecretPrevious !== '') previous = Buffer.from(config.keySecretPrevious, 'utf8');
  else if (config.keySecret === '') previous = await readSecret(path.join(config.dataDir, SERVER_SECRET_PREVIOUS_FILE));
  return { current, previous };
}

/**
 * Rotates the secret file of dataDir: the current secret becomes the previous
 * one (replacing an older previous one), and a new current one is made.
 * Servers pick the change up at their next start. Returns both ids.
 */
export async function rotateServerSecretFile(dataDir: string): Promise<{ currentId: string; previousId: string }> {
  const file = path.join(dataDir, SERVER_SECRET_FILE);
  const old = await loadOrCreateServerSecret(dataDir);
  // rename() replaces the target in one step, so a reader sees the old previous
  // secret or the new one, never no file.
  await fs.rename(file, path.join(dataDir, SERVER_SECRET_PREVIOUS_FILE));
  await linkNewSecret(file);
  const current = await readSecret(file);
  if (current === undefined) throw new ServerSecretError(file, 'vanished while being created');
  return { currentId: secretIdOf(current), previousId: secretIdOf(old) };
}

/** Deletes dataDir/server-secret.previous: keys still hashed with it stop working. True when there was one. */
export async function dropPreviousServerSecretFile(dataDir: string): Promise<boolean> {
  try {
    await fs.rm(path.join(dataDir, SERVER_SECRET_PREVIOUS_FILE));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
