/**
 * POST /v1/tokens: a key with the `read` scope mints a short-lived browser
 * token for its own owner, for a dashboard that must not hold a long-lived
 * key. The token is accepted as `Authorization: Bearer` on the GET routes and
 * on the ws stream, and nowhere else (src/auth/tokens.ts).
 *
 * Invariants:
 * - Only a key mints: a token cannot mint a successor, so a token's life
 *   ends at its expiry, at most tokenTtlMsMax after its key last minted.
 * - The token is for the key's owner; a body naming another owner is refused.
 */
import type { FastifyInstance } from 'fastify';
import { DOCUMENTED_ONLY, plainRouteSchema } from './openapi-schemas.js';
import { mintToken } from '../auth/tokens.js';
import type { SecretInput } from '../auth/secret.js';
import { ForbiddenError, RequestMalformedError } from './errors.js';
import { ownOwnerOf } from './scope.js';

/** Shortest token lifetime that may be asked for. */
export const TOKEN_TTL_MS_MIN = 1_000;
const TOKEN_BODY_BYTES_MAX = 4 * 1024;

export interface TokenRouteOptions {
  secrets: SecretInput;
  /** Longest lifetime granted, and the default (tokenTtlMsMax). */
  tokenTtlMsMax: number;
  clock?: () => number;
}

export function registerTokenRoute(app: FastifyInstance, options: TokenRouteOptions): void {
  const clock = options.clock ?? Date.now;
  app.post('/v1/tokens', { schema: plainRouteSchema({ operationId: 'mintToken', tag: 'read', summary: 'Mint a short-lived read token for a browser', description: 'Scope `read`, with a key (a token cannot mint a token).', status: 201, errors: [400, 401, 403] }), ...DOCUMENTED_ONLY,  bodyLimit: TOKEN_BODY_BYTES_MAX, config: { scope: 'read' } }, async (request, reply) => {
    const principal = request.principal!;
    if (principal.kind === 'token' || principal.keyPrefix === undefined) {
      throw new ForbiddenError('a token cannot mint tokens; use a key with the read scope', 'authorization');
    }
    const body = request.body ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RequestMalformedError('the body must be a JSON object', { field: 'body' });
    const { ttlMs, owner: named } = body as { ttlMs?: unknown; owner?: unknown };
    const owner = ownOwnerOf(principal, named);
    let lifetimeMs = options.tokenTtlMsMax;
    if (ttlMs !== undefined) {
      if (!Number.isSafeInteger(ttlMs) || (ttlMs as number) < TOKEN_TTL_MS_MIN || (ttlMs as number) > options.tokenTtlMsMax) {
        throw new RequestMalformedError(`ttlMs must be an integer ${TOKEN_TTL_MS_MIN}..${options.tokenTtlMsMax} (tokenTtlMsMax)`, { field: 'ttlMs' });
      }
      lifetimeMs = ttlMs as number;
    }
    const nowMs = clock();
    const expiresAtMs = nowMs + lifetimeMs;
    const token = mintToken(options.secrets, { owner, keyPrefix: principal.keyPrefix, issuedAtMs: nowMs, expiresAtMs });
    return reply.code(201).send({ token, tokenType: 'Bearer', owner, scopes: ['read'], expiresAtMs });
  });
}
