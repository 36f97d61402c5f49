/**
 * `eventide config check` prints the resolved configuration without secrets:
 * the key secret and the metrics token hidden, passwords cut out of store URLs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

test('config check hides secrets and store passwords', () => {
  const out = execFileSync(process.execPath, [CLI, 'config', 'check', '--metrics-token', 'tok-1234567890abcdef'], {
    encoding: 'utf8',
    env: { ...process.env, MONGODB_URI: 'mongodb://user:hunter2secret@db.example:27017/ev', EVENTIDE_KEY_SECRET: 'k'.repeat(40) },
  });
  assert.ok(!out.includes('hunter2secret'), out);
  assert.ok(!out.includes('tok-1234567890abcdef'));
  assert.ok(!out.includes('k'.repeat(40)));
  const printed = JSON.parse(out) as Record<string, unknown>;
  assert.equal(printed.mongodbUri, 'mongodb://user:***@db.example:27017/ev');
  assert.equal(printed.keySecret, '(hidden)');
  assert.equal(printed.metricsToken, '(hidden)');
});
