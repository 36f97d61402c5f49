/**
 * The package as a consumer imports it: `eventide` (the server) and
 * `eventide/client` resolve through package.json's exports to built files that
 * exist, and what they export runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('"eventide" resolves to the built main entry and starts a server', async () => {
  const main = (await import('eventide'));
  assert.equal(typeof main.startServer, 'function');
  assert.ok(main.ALL_CODES.includes('EVT_WAL_WRITE'));
  assert.equal(main.httpStatusOf('EVT_WAL_BACKLOG'), 429);
  const config = main.configWith({ httpPort: 0 });
  assert.equal(config.ackDefault, 'applied');
});

test('"eventide/client" resolves to the client SDK', async () => {
  const client = (await import('eventide/client')) as { createClient?: unknown };
  assert.equal(typeof client.createClient, 'function');
});
