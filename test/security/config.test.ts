/**
 * The security settings as loadConfig resolves them: REDIS_URL shares limits,
 * keys never follow MONGODB_URI by themselves, secrets stay hidden, and the
 * CLI's EVENTIDE_ADMIN_KEY is not taken for an unknown setting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config.js';

const load = (env: Record<string, string>, argv: string[] = []) => loadConfig({ argv, env, cwd: '/nonexistent-dir-for-tests' });

void test('REDIS_URL moves the limit counters to Redis; an explicit limitsStore wins', () => {
  assert.equal(load({}).limitsStore, 'memory');
  assert.equal(load({ REDIS_URL: 'redis://127.0.0.1:6379' }).limitsStore, 'redis');
  assert.equal(load({ REDIS_URL: 'redis://127.0.0.1:6379', EVENTIDE_LIMITS_STORE: 'memory' }).limitsStore, 'memory');
  assert.throws(() => load({ EVENTIDE_LIMITS_STORE: 'redis' }), { code: 'EVT_CONFIG_INVALID', field: 'limitsStore' });
});

void test('keys stay in the embedded store under MONGODB_URI until keyStore says mongodb, which needs the URI', () => {
  const withUri = load({ MONGODB_URI: 'mongodb://127.0.0.1:27017/eventide' });
  assert.equal(withUri.eventStore, 'mongodb');
  assert.equal(withUri.keyStore, 'lmdb');
  assert.equal(load({ MONGODB_URI: 'mongodb://127.0.0.1:27017/x', EVENTIDE_KEY_STORE: 'mongodb' }).keyStore, 'mongodb');
  assert.throws(() => load({}, ['--key-store', 'mongodb']), { code: 'EVT_CONFIG_INVALID', field: 'keyStore' });
});

void test('keySecretPrevious is bounded like keySecret and never shown in a message', () => {
  const short = 'short-previous-secret';
  assert.throws(
    () => load({ EVENTIDE_KEY_SECRET_PREVIOUS: short }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'EVT_CONFIG_INVALID');
      assert.ok(!err.message.includes(short), err.message);
      assert.match(err.message, /hidden/);
      return true;
    },
  );
  assert.equal(load({ EVENTIDE_KEY_SECRET_PREVIOUS: 'p'.repeat(32) }).keySecretPrevious, 'p'.repeat(32));
});

void test('EVENTIDE_ADMIN_KEY belongs to the CLI and is not an unknown setting; limits are bounded', () => {
  assert.equal(load({ EVENTIDE_ADMIN_KEY: 'evt_x' }).keyRequestsPerSec, 1_000);
  assert.throws(() => load({ EVENTIDE_KEY_REQUESTS_BURST: '0' }), { field: 'keyRequestsBurst' });
  assert.throws(() => load({ EVENTIDE_TOKEN_TTL_MS_MAX: '999' }), { field: 'tokenTtlMsMax' });
  assert.throws(() => load({ EVENTIDE_KEY_ROTATE_OVERLAP_MS: String(31 * 86_400_000) }), { field: 'keyRotateOverlapMs' });
});
