/**
 * GET /v1/usage: an owner's count against its daily quota, today (UTC), and
 * the ingest requests refused because it was used up. Scope `read`; a token
 * may ask. Only the credential's own owner.
 */
import type { FastifyInstance } from 'fastify';
import { DOCUMENTED_ONLY, plainRouteSchema } from './openapi-schemas.js';
import type { LimitsGuard } from './limits-guard.js';
import { ownOwnerOf } from './scope.js';

export function registerUsageRoute(app: FastifyInstance, limits: LimitsGuard): void {
  app.get('/v1/usage', { schema: plainRouteSchema({ operationId: 'getUsage', tag: 'read', summary: "The owner's count against its daily quota", description: 'Scope `read` (a token may ask).', status: 200, errors: [401, 403] }), ...DOCUMENTED_ONLY,  config: { scope: 'read' } }, async (request) => {
    const owner = ownOwnerOf(request.principal!, (request.query as { owner?: string }).owner);
    return limits.usage(owner);
  });
}
