/**
 * The dashboard's routes without a browser: what is served, with which
 * headers, and that the page needs no key to load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { STYLE } from '../../src/edge/dashboard/page.js';
import { startTestServer } from '../helpers.js';

void test('/ redirects to /dashboard, which serves the page and its script with a strict policy', async (t) => {
  const server = await startTestServer(t);

  const root = await fetch(`${server.httpUrl}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/dashboard');

  const page = await fetch(`${server.httpUrl}/dashboard`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  const html = await page.text();
  assert.match(html, /<script type="module" src="\/dashboard\/app.js"><\/script>/);
  assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/, 'no inline script');
  assert.doesNotMatch(html, /https?:\/\//, 'nothing from another origin');

  const csp = page.headers.get('content-security-policy') ?? '';
  const directives = new Map(csp.split(';').map((part) => {
    const [name, ...values] = part.trim().split(/\s+/);
    return [name!, values.join(' ')];
  }));
  assert.equal(directives.get('default-src'), "'none'");
  assert.equal(directives.get('script-src'), "'self'");
  assert.equal(directives.get('connect-src'), "'self'");
  assert.equal(directives.get('frame-ancestors'), "'none'");
  // The one inline stylesheet, allowed by its hash: the hash of what the page really holds.
  const inline = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1];
  assert.equal(inline, STYLE);
  assert.equal(directives.get('style-src'), `'sha256-${createHash('sha256').update(inline, 'utf8').digest('base64')}'`);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');

  const script = await fetch(`${server.httpUrl}/dashboard/app.js`);
  assert.equal(script.status, 200);
  assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
  const code = await script.text();
  assert.match(code, /new WebSocket\(/);
  assert.doesNotMatch(code, /^import |require\(/m, 'one file: it imports nothing');
});

void test('the files carry an ETag and answer 304 when unchanged', async (t) => {
  const server = await startTestServer(t);
  for (const path of ['/dashboard', '/dashboard/app.js']) {
    const first = await fetch(`${server.httpUrl}${path}`);
    const etag = first.headers.get('etag');
    assert.match(etag ?? '', /^"[\w-]+"$/, path);
    assert.equal(first.headers.get('cache-control'), 'no-cache');
    await first.arrayBuffer();
    const again = await fetch(`${server.httpUrl}${path}`, { headers: { 'if-none-match': etag! } });
    assert.equal(again.status, 304, path);
    const changed = await fetch(`${server.httpUrl}${path}`, { headers: { 'if-none-match': '"something-else"' } });
    assert.equal(changed.status, 200, path);
    await changed.arrayBuffer();
  }
});
