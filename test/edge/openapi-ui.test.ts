/**
 * Swagger UI at /docs in a real headless Chromium: it renders the document
 * with every route, and loads nothing from anywhere but this server (the
 * machines that run eventide may have no internet).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers.js';
import { artifactPath, launchBrowser, PAGE_WAIT_MS } from '../dashboard/browser.js';

void test('/docs renders the API in Swagger UI from local files only', async (t) => {
  const browser = await launchBrowser(t);
  if (browser === undefined) return;
  const server = await startTestServer(t);
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const requested: string[] = [];
  const failed: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  page.on('requestfailed', (request) => failed.push(`${request.url()}: ${request.failure()?.errorText ?? ''}`));
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });

  await page.goto(`${server.httpUrl}/docs`);
  await page.locator('.swagger-ui .info .title').waitFor({ timeout: PAGE_WAIT_MS });
  assert.match((await page.locator('.swagger-ui .info .title').textContent()) ?? '', /eventide/);
  await page.locator('.opblock').first().waitFor({ timeout: PAGE_WAIT_MS });
  const operations = (await page.locator('.opblock-summary-path').allTextContents()).map((text) => text.replace(/\u200b/g, '').trim());
  for (const path of ['/v1/events', '/v1/metrics', '/v1/events/{id}', '/livez', '/healthz', '/readyz', '/metrics', '/v1/stream']) {
    assert.ok(operations.includes(path), `${path} is shown (shown: ${operations.join(', ')})`);
  }
  await page.screenshot({ path: artifactPath('docs.png') });

  const origin = new URL(server.httpUrl).origin;
  assert.deepEqual(requested.filter((url) => !url.startsWith(origin) && !url.startsWith('data:')), [], 'nothing from another origin');
  assert.deepEqual(failed, [], 'every request succeeded');
  assert.deepEqual(consoleErrors, []);
});
