/**
 * Browser tokens: short-lived, signed, read-only credentials for one owner,
 * minted by POST /v1/tokens from a key with the `read` scope, for dashboards
 * that must not hold a long-lived key.
 *
 * Form: `evtt_<payload>.<signature>`, both base64url. The payload is compact
 * JSON `{ v: 1, o: owner, k: minting key prefix, iat, exp }` (unix ms); the
 * signature is HMAC-SHA256 over `evtt_<payload>` with a key derived from the
 * server secret (secret.ts tokenSigningKey).
 *
 * Invariants:
 * - Verification needs no store lookup: signature, then expiry, then the
 *   claims' shape, in that order; nothing of an unsigned payload is parsed.
 * - A token grants `read` for its owner and nothing else: it cannot ingest,
 *   administer or mint another token (src/edge enforces the last through
 *   Principal.kind).
 * - Tokens are bounded in length (TOKEN_CHARS_MAX) before any work is done.
 *
 * Caveats: a token cannot be revoked one by one. Revoking the key that minted
 * it leaves the token valid until its expiry (at most tokenTtlMsMax); rotating
 * the server secret and dropping the previous one ends every token at once.
 */
import crypto from 'node:crypto';
import { isValidOwner } from './keys.js';
import { TokenExpiredError } from './errors.js';
import { tokenSigningKey, toSecrets, type SecretInput } from './secret.js';

export const TOKEN_PREFIX = 'evtt_';
/** Longest token accepted; a real one is about 150 characters. Longer is refused unread. */
export const TOKEN_CHARS_MAX = 512;
const VERSION = 1;
const SIGNATURE_BYTES = 32;

export interface TokenClaims {
  owner: string;
  /** Prefix of the key that minted the token; limits are counted against that key. */
  keyPrefix: string;
  issuedAtMs: number;
  expiresAtMs: number;
}

export function isToken(credential: string): boolean {
  return credential.startsWith(TOKEN_PREFIX);
}

function sign(key: Uint8Array, signed: string): Buffer {
  return crypto.createHmac('sha256', key).update(signed, 'utf8').digest();
}

/** Signs claims with the current secret's token key. */
export function mintToken(secret: SecretInput, claims: TokenClaims): string {
  const payload = Buffer.from(
    JSON.stringify({ v: VERSION, o: claims.owner, k: claims.keyPrefix, iat: claims.issuedAtMs, exp: claims.expiresAtMs }),
    'utf8',
  ).toString('base64url');
  const signed = `${TOKEN_PREFIX}${payload}`;
  return `${signed}.${sign(tokenSigningKey(toSecrets(secret).current), signed).toString('base64url')}`;
}

/**
 * Checks a token's signature under the current or previous secret, then its
 * expiry. Undefined for anything that is not a token we signed; throws
 * TokenExpiredError for one we signed that has expired.
 */
export class TokenVerifier {
  /** Tokens refused: malformed or a wrong signature. */
  refusedCount = 0;
  /** Tokens refused because they had expired. */
  expiredCount = 0;
  readonly #keys: Buffer[];

  constructor(secret: SecretInput) {
    const secrets = toSecrets(secret);
    this.#keys = [tokenSigningKey(secrets.current)];
    if (secrets.previous !== undefined) this.#keys.push(tokenSigningKey(secrets.previous));
  }

  verify(token: string, nowMs: number): TokenClaims | undefined {
    const claims = this.#claims(token);
    if (claims === undefined) {
      this.refusedCount += 1;
      return undefined;
    }
    if (claims.expiresAtMs <= nowMs) {
      this.expiredCount += 1;
      throw new TokenExpiredError(claims.expiresAtMs);
    }
    return claims;
  }

  #claims(token: string): TokenClaims | undefined {
    if (typeof token !== 'string' || token.length > TOKEN_CHARS_MAX || !token.startsWith(TOKEN_PREFIX)) return undefined;
    const dot = token.lastIndexOf('.');
    if (dot <= TOKEN_PREFIX.length) return undefined;
    const signed = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    if (given.length !== SIGNATURE_BYTES) return undefined;
    // Every key is tried, so the time taken does not tell which one (if any) matched.
    let valid = false;
    for (const key of this.#keys) if (crypto.timingSafeEqual(sign(key, signed), given)) valid = true;
    if (!valid) return undefined;
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(signed.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (typeof payload !== 'object' || payload === null) return undefined;
    const { v, o, k, iat, exp } = payload as Record<string, unknown>;
    if (v !== VERSION || !isValidOwner(o) || typeof k !== 'string' || !Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) {
      return undefined;
    }
    return { owner: o, keyPrefix: k, issuedAtMs: iat as number, expiresAtMs: exp as number };
  }
}
