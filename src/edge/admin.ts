/**
 * Key and owner administration over HTTP, under /v1/admin (scope `admin`):
 *
 *   POST /v1/admin/keys                    create a key (answered once, in clear)
 *   GET  /v1/admin/keys[?owner=]           list keys (never a secret or a hash)
 *   GET  /v1/admin/keys/:prefix            one key
 *   POST /v1/admin/keys/:prefix/revoke     revoke (every process within the key cache TTL)
 *   POST /v1/admin/keys/:prefix/rotate     successor key; the old one expires after overlapMs
 *   POST /v1/admin/owners                  create an owner or change its daily quota
 *   GET  /v1/admin/owners                  list owners
 *   GET  /v1/admin/owners/:owner           one owner, its effective quota and today's usage
 *
 * An admin key manages every owner: it is the operator's credential, not a
 * tenant's. Reading an owner's events or metrics still takes that owner's
 * own key: the admin scope grants administration, not data.
 *
 * Invariants:
 * - Every admin request, allowed or refused, writes one structured audit line
 *   (`audit: { action, actor, status, code?, ...target }`) with the acting
 *   key's prefix; never a key, a token or a hash.
 * - A change made here clears this process's key and owner caches, so it
 *   applies here at once; other processes see it within their cache TTL.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DOCUMENTED_ONLY, plainRouteSchema } from './openapi-schemas.js';
import { createKey, keyPrefix, keyView, PREFIX_PATTERN, revokeKey, rotateKey, type KeyVerifier } from '../auth/keys.js';
import { KeyInputError } from '../auth/errors.js';
import { setOwnerQuota, type OwnerDirectory } from '../auth/owners.js';
import type { SecretInput } from '../auth/secret.js';
import type { Logger } from '../log.js';
import type { KeyScope, KeyStore } from '../store/port.js';
import { NotFoundError, RequestMalformedError } from './errors.js';
import { keyFromHeaders } from './http.js';
import type { LimitsGuard } from './limits-guard.js';
import { publicErrorOf } from './status.js';

/** Largest admin request body: an ingestOwners list of 1,000 owners fits. */
export const ADMIN_BODY_BYTES_MAX = 128 * 1024;
/** Most keys or owners one list answer holds; more: `truncated: true`. */
export const ADMIN_LIST_ITEMS_MAX = 10_000;
/** Longest lifetime a key can be given with `ttlMs` (10 years). */
const KEY_TTL_MS_MAX = 3_650 * 86_400_000;

export interface AdminRoutesOptions {
  store: KeyStore;
  secrets: SecretInput;
  verifier: KeyVerifier;
  owners: OwnerDirectory;
  limits: LimitsGuard;
  /** Default overlap of a rotation (keyRotateOverlapMs). */
  keyRotateOverlapMs: number;
  /** The audit log; every admin request writes one line to it. */
  audit: Logger;
  clock?: () => number;
}

interface AuditDetails {
  [field: string]: unknown;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The audit name of an admin route (`key.create`). */
    action?: string;
  }
  interface FastifyRequest {
    auditDetails: AuditDetails | null;
    auditCode: string | null;
  }
}

type Body = Record<string, unknown>;

function bodyOf(request: FastifyRequest): Body {
  const body = request.body;
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new RequestMalformedError('the body must be a JSON object', { field: 'body' });
  return body as Body;
}

function prefixParam(request: FastifyRequest): string {
  const { prefix } = request.params as { prefix: string };
  if (!PREFIX_PATTERN.test(prefix)) throw new KeyInputError('prefix must look like evt_XXXXXXXX', 'prefix');
  return prefix;
}

function optionalInteger(body: Body, field: string, min: number, max: number, error: (message: string, field: string) => Error): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) throw error(`${field} must be an integer ${min}..${max}`, field);
  return value as number;
}

const keyInputError = (message: string, field: string): Error => new KeyInputError(message, field);

/** Register the admin routes on `app` (before `ready()`); the app's auth hook checks the admin scope. */
export function registerAdminRoutes(app: FastifyInstance, options: AdminRoutesOptions): void {
  const { store, secrets, verifier, owners, limits, audit } = options;
  const clock = options.clock ?? Date.now;

  void app.register((admin, _options, done) => {
    admin.decorateRequest('auditDetails', null);
    admin.decorateRequest('auditCode', null);
    admin.addHook('onError', (request, _reply, error, hookDone) => {
      request.auditCode = publicErrorOf(error).code;
      hookDone();
    });
    admin.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, hookDone) => {
      const principal = request.principal;
      const line: Record<string, unknown> = {
        action: request.routeOptions.config.action ?? 'unknown',
        actor: principal?.keyPrefix ?? (principal === null ? 'anonymous' : `owner:${principal.owner}`),
        requestId: request.id,
        status: reply.statusCode,
        ...request.auditDetails,
      };
      // Who a refused stranger claimed to be: the prefix of the key it sent, if it was shaped like one (never more of it).
      if (principal === null) {
        const presented = keyPrefix(keyFromHeaders(request.headers));
        if (presented !== undefined) line.presented = presented;
      }
      if (request.auditCode !== null) line.code = request.auditCode;
      if (reply.statusCode < 400) audit.info({ audit: line }, 'admin action');
      else audit.warn({ audit: line }, 'admin action refused');
      hookDone();
    });

    /** Changes made here apply here at once; elsewhere within the cache TTLs. */
    const changed = (): void => {
      verifier.clearCache();
      owners.clear();
    };
    const route = { bodyLimit: ADMIN_BODY_BYTES_MAX };

    admin.post('/v1/admin/keys', { schema: plainRouteSchema({ operationId: 'createKey', tag: 'admin', summary: 'Create a key for an owner (the clear key is shown this once)', description: 'Scope `admin`.', status: 201, errors: [400, 401, 403] }), ...DOCUMENTED_ONLY,  ...route, config: { scope: 'admin', action: 'key.create' } }, async (request, reply) => {
      const body = bodyOf(request);
      const nowMs = clock();
      request.auditDetails = { owner: body.owner, scopes: body.scopes, ingestOwners: body.ingestOwners };
      const ttlMs = optionalInteger(body, 'ttlMs', 1, KEY_TTL_MS_MAX, keyInputError);
      let expiresAtMs = optionalInteger(body, 'expiresAtMs', 0, Number.MAX_SAFE_INTEGER, keyInputError);
      if (ttlMs !== undefined) {
        if (expiresAtMs !== undefined) throw new KeyInputError('give ttlMs or expiresAtMs, not both', 'ttlMs');
        expiresAtMs = nowMs + ttlMs;
      }
      const input: Parameters<typeof createKey>[2] = {
        owner: body.owner as string,
        scopes: (body.scopes ?? ['ingest', 'read']) as KeyScope[],
        nowMs,
      };
      if (expiresAtMs !== undefined) input.expiresAtMs = expiresAtMs;
      if (body.ingestOwners !== undefined) input.ingestOwners = body.ingestOwners as string[];
      const created = await createKey(store, secrets, input);
      request.auditDetails = { ...request.auditDetails, prefix: created.record.prefix };
      changed();
      return reply.code(201).send({ key: created.key, ...keyView(created.record, nowMs) });
    });

    admin.get('/v1/admin/keys', { schema: plainRouteSchema({ operationId: 'listKeys', tag: 'admin', summary: 'List keys by prefix (never a secret); ?owner= filters', description: 'Scope `admin`.', status: 200, errors: [400, 401, 403] }), ...DOCUMENTED_ONLY,  config: { scope: 'admin', action: 'key.list' } }, async (request) => {
      const { owner } = request.query as { owner?: string };
      request.auditDetails = owner === undefined ? {} : { owner };
      const nowMs = clock();
      const records = await store.list(owner === undefined || owner === '' ? undefined : owner);
      return {
        keys: records.slice(0, ADMIN_LIST_ITEMS_MAX).map((record) => keyView(record, nowMs)),
        truncated: records.length > ADMIN_LIST_ITEMS_MAX,
      };
    });

    admin.get('/v1/admin/keys/:prefix', { schema: plainRouteSchema({ operationId: 'getKey', tag: 'admin', summary: "One key's view", description: 'Scope `admin`.', status: 200, params: { prefix: "The key's visible prefix (evt_…)." }, errors: [401, 403, 404] }), ...DOCUMENTED_ONLY,  config: { scope: 'admin', action: 'key.get' } }, async (request) => {
      const prefix = prefixParam(request);
      request.auditDetails = { prefix };
      const record = await store.getByPrefix(prefix);
      if (record === undefined) throw new NotFoundError(`no key ${prefix}`, 'prefix');
      return keyView(record, clock());
    });

    admin.post('/v1/admin/keys/:prefix/revoke', { schema: plainRouteSchema({ operationId: 'revokeKey', tag: 'admin', summary: 'Revoke a key; every process refuses it within a second', description: 'Scope `admin`.', status: 200, params: { prefix: "The key's visible prefix (evt_…)." }, errors: [401, 403, 404] }), ...DOCUMENTED_ONLY,  ...route, config: { scope: 'admin', action: 'key.revoke' } }, async (request) => {
      const prefix = prefixParam(request);
      request.auditDetails = { prefix };
      const nowMs = clock();
      const record = await revokeKey(store, prefix, nowMs);
      if (record === undefined) throw new NotFoundError(`no key ${prefix}`, 'prefix');
      request.auditDetails = { prefix, owner: record.owner };
      changed();
      return keyView(record, nowMs);
    });

    admin.post('/v1/admin/keys/:prefix/rotate', { schema: plainRouteSchema({ operationId: 'rotateKey', tag: 'admin', summary: 'Rotate a key: a successor now, the old one expiring after an overlap', description: 'Scope `admin`.', status: 201, params: { prefix: "The key's visible prefix (evt_…)." }, errors: [400, 401, 403, 404, 409] }), ...DOCUMENTED_ONLY,  ...route, config: { scope: 'admin', action: 'key.rotate' } }, async (request, reply) => {
      const prefix = prefixParam(request);
      request.auditDetails = { prefix };
      const body = bodyOf(request);
      const overlapMs = optionalInteger(body, 'overlapMs', 0, Number.MAX_SAFE_INTEGER, keyInputError) ?? options.keyRotateOverlapMs;
      const nowMs = clock();
      const rotated = await rotateKey(store, secrets, prefix, nowMs, overlapMs);
      if (rotated === undefined) throw new NotFoundError(`no key ${prefix}`, 'prefix');
      request.auditDetails = { prefix, owner: rotated.record.owner, successor: rotated.record.prefix, overlapMs };
      changed();
      return reply.code(201).send({ key: rotated.key, ...keyView(rotated.record, nowMs), previous: keyView(rotated.previous, nowMs) });
    });

    admin.post('/v1/admin/owners', { schema: plainRouteSchema({ operationId: 'putOwner', tag: 'admin', summary: 'Create or change an owner (its daily quota)', description: 'Scope `admin`.', status: 201, errors: [400, 401, 403] }), ...DOCUMENTED_ONLY,  ...route, config: { scope: 'admin', action: 'owner.put' } }, async (request, reply) => {
      const body = bodyOf(request);
      request.auditDetails = { owner: body.owner, eventsPerDayMax: body.eventsPerDayMax };
      const { record, created } = await setOwnerQuota(store, { owner: body.owner, eventsPerDayMax: body.eventsPerDayMax }, clock());
      changed();
      return reply.code(created ? 201 : 200).send(record);
    });

    admin.get('/v1/admin/owners', { schema: plainRouteSchema({ operationId: 'listOwners', tag: 'admin', summary: 'List owners', description: 'Scope `admin`.', status: 200, errors: [401, 403] }), ...DOCUMENTED_ONLY,  config: { scope: 'admin', action: 'owner.list' } }, async () => {
      const records = await store.listOwners();
      return { owners: records.slice(0, ADMIN_LIST_ITEMS_MAX), truncated: records.length > ADMIN_LIST_ITEMS_MAX };
    });

    admin.get('/v1/admin/owners/:owner', { schema: plainRouteSchema({ operationId: 'getOwner', tag: 'admin', summary: "One owner, its quota and today's usage", description: 'Scope `admin`.', status: 200, params: { owner: 'The owner id.' }, errors: [401, 403, 404] }), ...DOCUMENTED_ONLY,  config: { scope: 'admin', action: 'owner.get' } }, async (request) => {
      const { owner } = request.params as { owner: string };
      request.auditDetails = { owner };
      const record = await store.getOwner(owner);
      const usage = await limits.usage(owner);
      return { owner, record: record ?? null, eventsPerDayMax: usage.eventsPerDayMax, usage };
    });

    done();
  });
}
