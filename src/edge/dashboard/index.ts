/**
 * The live dashboard: a static page at `/dashboard` (and `/` redirecting to
 * it) with one script, `/dashboard/app.js` (browser/app.ts, built by
 * `npm run build` into dist/src/edge/dashboard/browser/). The page holds no
 * data and needs no key to load; everything it shows comes over the ws stream
 * and GET /v1/metrics with the credential the user gives it.
 *
 * Invariants:
 * - Both files are read and hashed once, at registration; a request costs a
 *   header comparison (ETag) or one write of a held buffer.
 * - The page runs under a Content-Security-Policy that allows its own script,
 *   its one inline stylesheet (by hash) and connections to its own origin,
 *   and nothing else: no inline script, no other origin, no framing.
 * - The routes are hidden from the OpenAPI document: they are not the API.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError } from '../errors.js';
import { PAGE, STYLE } from './page.js';

export const DASHBOARD_PATH = '/dashboard';
export const DASHBOARD_SCRIPT_PATH = '/dashboard/app.js';

interface Asset {
  body: Buffer;
  etag: string;
  type: string;
}

function asset(body: Buffer, type: string): Asset {
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, type };
}

/** The policy of the page: its script, its stylesheet by hash, its own origin for fetch and ws. */
export function dashboardCsp(): string {
  const styleHash = createHash('sha256').update(STYLE, 'utf8').digest('base64');
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'sha256-${styleHash}'`,
    // 'self' covers ws: and wss: to the same host and port (CSP Level 3).
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  // Revalidate every time (a 304 is cheap), so a new build is never hidden behind a cached old one.
  'cache-control': 'no-cache',
};

function send(request: FastifyRequest, reply: FastifyReply, file: Asset, extra: Record<string, string> = {}): FastifyReply {
  reply.headers({ ...SECURITY_HEADERS, ...extra, etag: file.etag });
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  return reply.type(file.type).send(file.body);
}

/** The script as built; undefined (and logged) when the build did not produce it. */
function loadScript(log: FastifyBaseLogger): Asset | undefined {
  const url = new URL('./browser/app.js', import.meta.url);
  try {
    return asset(readFileSync(url), 'text/javascript; charset=utf-8');
  } catch (err) {
    // A broken install must not take the API down with it: the dashboard answers 404 and says why.
    log.warn({ err, path: url.pathname }, 'dashboard script missing: run `npm run build`');
    return undefined;
  }
}

/**
 * Add GET /, /dashboard and /dashboard/app.js to `app`. Call inside a plugin
 * registered after the OpenAPI plugin (openapi.ts), like every route.
 */
export function registerDashboard(app: FastifyInstance): void {
  const page = asset(Buffer.from(PAGE, 'utf8'), 'text/html; charset=utf-8');
  const script = loadScript(app.log);
  const csp = dashboardCsp();
  const hidden = { schema: { hide: true } };

  app.get('/', hidden, (_request, reply) => reply.redirect(DASHBOARD_PATH, 302));
  const notBuilt = () => new NotFoundError('the dashboard script was not built (npm run build)');
  app.get(DASHBOARD_PATH, hidden, (request, reply) => {
    if (script === undefined) throw notBuilt();
    return send(request, reply, page, { 'content-security-policy': csp });
  });
  app.get(DASHBOARD_SCRIPT_PATH, hidden, (request, reply) => {
    if (script === undefined) throw notBuilt();
    return send(request, reply, script);
  });
}
