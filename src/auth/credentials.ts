/**
 * One entry point for every credential a request may carry: an API key
 * (`evt_...`, verified against the key store through KeyVerifier's cache) or a
 * browser token (`evtt_...`, verified by signature alone). The edge asks this
 * and nothing else.
 */
import type { KeyScope } from '../store/port.js';
import type { KeyVerifier } from './keys.js';
import { isToken, type TokenVerifier } from './tokens.js';

/** Who a credential belongs to and what it may do. */
export interface Principal {
  owner: string;
  scopes: string[];
  /** A token may only read; it may not mint another token. */
  kind: 'key' | 'token';
  /** The key (or, for a token, the key that minted it): what rate limits are counted against. */
  keyPrefix: string;
  /** Present on the rare multi-owner ingest key: other owners it may name (`*`: any). */
  ingestOwners?: readonly string[];
  /** A token's expiry, unix ms. */
  expiresAtMs?: number;
}

const TOKEN_SCOPES: readonly KeyScope[] = Object.freeze(['read']);

export class Credentials {
  readonly keys: KeyVerifier;
  readonly tokens: TokenVerifier;
  readonly #clock: () => number;

  constructor(keys: KeyVerifier, tokens: TokenVerifier, clock: () => number = Date.now) {
    this.keys = keys;
    this.tokens = tokens;
    this.#clock = clock;
  }

  /** The principal of a key or token; undefined when it is not valid; throws EVT_TOKEN_EXPIRED for an expired token. */
  async authenticate(credential: string): Promise<Principal | undefined> {
    const nowMs = this.#clock();
    if (isToken(credential)) {
      const claims = this.tokens.verify(credential, nowMs);
      if (claims === undefined) return undefined;
      return { owner: claims.owner, scopes: TOKEN_SCOPES as string[], kind: 'token', keyPrefix: claims.keyPrefix, expiresAtMs: claims.expiresAtMs };
    }
    const found = await this.keys.verify(credential, nowMs);
    if (found === undefined) return undefined;
    const principal: Principal = { owner: found.owner, scopes: found.scopes as string[], kind: 'key', keyPrefix: found.prefix };
    if (found.ingestOwners !== undefined) principal.ingestOwners = found.ingestOwners;
    return principal;
  }
}
