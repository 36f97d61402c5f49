/**
 * Administration: the /v1/admin routes through a key's whole life, their
 * refusals, the audit line of every request, and the CLI against a running
 * server (--url) and on its data directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { call, capturingLogger, events, startSecureServer } from './helpers.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

type AuditLine = { audit: Record<string, unknown>; level: string };

function auditLines(lines: Array<Record<string, unknown>>): AuditLine[] {
  return lines.filter((line) => line.audit !== undefined) as unknown as AuditLine[];
}

void test('a key\'s life through the admin routes: create, use, list, rotate, revoke; each step audited', async (t) => {
  const { logger, lines } = capturingLogger();
  const server = await startSecureServer(t, {}, { log: logger });
  const admin = await server.createKey('ops', { scopes: ['admin'] });
  const adminPrefix = admin.slice(0, 12);

  const created = await call(server, 'POST', '/v1/admin/keys', admin, { owner: 'acme', scopes: ['ingest', 'read'], ttlMs: 3_600_000 });
  assert.equal(created.status, 201);
  const key = created.body.key as string;
  const prefix = created.body.prefix as string;
  assert.equal(key.slice(0, 12), prefix);
  assert.equal(created.body.state, 'active');
  assert.ok((created.body.expiresAtMs as number) > Date.now());
  assert.equal((await call(server, 'POST', '/v1/events', key, events('a', 2))).status, 200);

  const listed = await call(server, 'GET', '/v1/admin/keys?owner=acme', admin);
  assert.deepEqual((listed.body.keys as Array<{ prefix: string }>).map((k) => k.prefix), [prefix]);
  assert.equal(listed.body.truncated, false);
  assert.ok(!JSON.stringify(listed.body).includes(key.slice(13)), 'a listing never holds the secret part');
  assert.ok(!JSON.stringify(listed.body).includes('"hash"'), 'nor a hash');
  assert.equal((await call(server, 'GET', `/v1/admin/keys/${prefix}`, admin)).body.owner, 'acme');

  // Rotation with an overlap: both keys work; the successor has the same rights.
  const rotated = await call(server, 'POST', `/v1/admin/keys/${prefix}/rotate`, admin, { overlapMs: 60_000 });
  assert.equal(rotated.status, 201);
  const successor = rotated.body.key as string;
  assert.deepEqual(rotated.body.scopes, ['ingest', 'read']);
  assert.equal((rotated.body.previous as { rotatedTo: string }).rotatedTo, rotated.body.prefix);
  assert.equal((await call(server, 'GET', '/v1/metrics', key)).status, 200, 'the old key works through the overlap');
  assert.equal((await call(server, 'GET', '/v1/metrics', successor)).status, 200);
  const again = await call(server, 'POST', `/v1/admin/keys/${prefix}/rotate`, admin, {});
  assert.equal(again.status, 409);
  assert.equal(again.body.error?.code, 'EVT_KEY_INACTIVE');

  // A rotation without overlap ends the old key at once.
  const hard = await call(server, 'POST', `/v1/admin/keys/${rotated.body.prefix as string}/rotate`, admin, { overlapMs: 0 });
  assert.equal(hard.status, 201);
  assert.equal((await call(server, 'GET', '/v1/metrics', successor)).body.error?.code, 'EVT_UNAUTHENTICATED');
  const third = hard.body.key as string;

  // Revocation applies in this process at once.
  const revoked = await call(server, 'POST', `/v1/admin/keys/${hard.body.prefix as string}/revoke`, admin);
  assert.equal(revoked.status, 200);
  assert.equal(revoked.body.state, 'revoked');
  assert.equal((await call(server, 'GET', '/v1/metrics', third)).status, 401);
  assert.equal((await call(server, 'GET', '/v1/metrics', key)).status, 200, 'the first key still has its overlap');

  const audit = auditLines(lines);
  assert.deepEqual(
    audit.map((line) => line.audit.action),
    ['key.create', 'key.list', 'key.get', 'key.rotate', 'key.rotate', 'key.rotate', 'key.revoke'],
  );
  for (const line of audit) assert.equal(line.audit.actor, adminPrefix);
  assert.equal(audit[0]!.audit.owner, 'acme');
  assert.equal(audit[0]!.audit.prefix, prefix);
  assert.equal(audit[0]!.audit.status, 201);
  assert.equal(audit[3]!.audit.successor, rotated.body.prefix);
  assert.equal(audit[4]!.audit.code, 'EVT_KEY_INACTIVE');
  assert.equal(audit[4]!.level, 'warn');
  const logged = JSON.stringify(lines);
  for (const secret of [key, successor, third, admin]) assert.ok(!logged.includes(secret.slice(13)), 'no secret in the log');
});

void test('refused admin requests are audited with who tried and why', async (t) => {
  const { logger, lines } = capturingLogger();
  const server = await startSecureServer(t, {}, { log: logger });
  const tenant = await server.createKey('acme');
  assert.equal((await call(server, 'POST', '/v1/admin/keys', tenant, { owner: 'acme', scopes: ['admin'] })).status, 403);
  assert.equal((await call(server, 'GET', '/v1/admin/owners', undefined)).status, 401);
  const audit = auditLines(lines);
  assert.deepEqual(
    audit.map((line) => [line.audit.action, line.audit.actor, line.audit.status, line.audit.code, line.level]),
    [
      ['key.create', tenant.slice(0, 12), 403, 'EVT_FORBIDDEN', 'warn'],
      ['owner.list', 'anonymous', 401, 'EVT_UNAUTHENTICATED', 'warn'],
    ],
  );
  const forged = `evt_FORGED00_${'x'.repeat(32)}`;
  assert.equal((await call(server, 'POST', '/v1/admin/keys/evt_00000000/revoke', forged)).status, 401);
  const last = auditLines(lines).at(-1)!;
  assert.deepEqual([last.audit.actor, last.audit.presented], ['anonymous', 'evt_FORGED00']);
});

void test('bad admin input is refused with its code and field', async (t) => {
  const server = await startSecureServer(t);
  const admin = await server.createKey('ops', { scopes: ['admin'] });
  const cases: Array<[string, string, unknown, number, string, string]> = [
    ['POST', '/v1/admin/keys', { owner: 'a b' }, 400, 'EVT_KEY_INVALID', 'owner'],
    ['POST', '/v1/admin/keys', { owner: 'acme', scopes: ['root'] }, 400, 'EVT_KEY_INVALID', 'scopes'],
    ['POST', '/v1/admin/keys', { owner: 'acme', ttlMs: 10, expiresAtMs: Date.now() + 10 }, 400, 'EVT_KEY_INVALID', 'ttlMs'],
    ['POST', '/v1/admin/keys', { owner: 'acme', ttlMs: -5 }, 400, 'EVT_KEY_INVALID', 'ttlMs'],
    ['POST', '/v1/admin/keys', { owner: 'acme', expiresAtMs: 1 }, 400, 'EVT_KEY_INVALID', 'expiresAtMs'],
    ['POST', '/v1/admin/keys', { owner: 'acme', scopes: ['read'], ingestOwners: ['beta'] }, 400, 'EVT_KEY_INVALID', 'ingestOwners'],
    ['POST', '/v1/admin/keys', [1, 2], 400, 'EVT_REQUEST_MALFORMED', 'body'],
    ['GET', '/v1/admin/keys/not-a-prefix', undefined, 400, 'EVT_KEY_INVALID', 'prefix'],
    ['GET', '/v1/admin/keys/evt_00000000', undefined, 404, 'EVT_NOT_FOUND', 'prefix'],
    ['POST', '/v1/admin/keys/evt_00000000/revoke', undefined, 404, 'EVT_NOT_FOUND', 'prefix'],
    ['POST', '/v1/admin/keys/evt_00000000/rotate', { overlapMs: 31 * 86_400_000 }, 400, 'EVT_KEY_INVALID', 'overlapMs'],
    ['POST', '/v1/admin/owners', { owner: 'acme', eventsPerDayMax: -1 }, 400, 'EVT_OWNER_INVALID', 'eventsPerDayMax'],
    ['POST', '/v1/admin/owners', { owner: '' }, 400, 'EVT_OWNER_INVALID', 'owner'],
  ];
  for (const [method, url, body, status, code, field] of cases) {
    const answer = await call(server, method, url, admin, body);
    assert.equal(answer.status, status, `${method} ${url} ${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error?.code, code, `${method} ${url}`);
    assert.equal(answer.body.error?.field, field, `${method} ${url}`);
  }
  const revoked = await server.createKey('acme');
  await call(server, 'POST', `/v1/admin/keys/${revoked.slice(0, 12)}/revoke`, admin);
  const rotate = await call(server, 'POST', `/v1/admin/keys/${revoked.slice(0, 12)}/rotate`, admin, {});
  assert.equal(rotate.status, 409);
  assert.equal(rotate.body.error?.code, 'EVT_KEY_INACTIVE');
});

void test('owners: create with a quota (201), change it (200), list, and read one with today\'s usage', async (t) => {
  const server = await startSecureServer(t);
  const admin = await server.createKey('ops', { scopes: ['admin'] });
  const created = await call(server, 'POST', '/v1/admin/owners', admin, { owner: 'acme', eventsPerDayMax: 1_000 });
  assert.equal(created.status, 201);
  assert.equal(created.body.eventsPerDayMax, 1_000);
  const changed = await call(server, 'POST', '/v1/admin/owners', admin, { owner: 'acme', eventsPerDayMax: 2_000 });
  assert.equal(changed.status, 200);
  const listed = await call(server, 'GET', '/v1/admin/owners', admin);
  assert.deepEqual((listed.body.owners as Array<{ owner: string }>).map((o) => o.owner), ['acme', 'ops']);
  const acme = await server.createKey('acme');
  assert.equal((await call(server, 'POST', '/v1/events', acme, events('q', 3))).status, 200);
  const one = await call(server, 'GET', '/v1/admin/owners/acme', admin);
  assert.equal(one.body.eventsPerDayMax, 2_000);
  assert.equal((one.body.usage as { events: number }).events, 3);
  assert.equal((one.body.record as { owner: string }).owner, 'acme');
});

void test('the CLI administers a running server with --url and an admin key; the server audits it', async (t) => {
  const { logger, lines } = capturingLogger();
  const server = await startSecureServer(t, {}, { log: logger });
  const admin = await server.createKey('ops', { scopes: ['admin'] });
  const created = await cli(['keys', 'create', '--owner', 'acme', '--scopes', 'read', '--url', server.httpUrl], { EVENTIDE_ADMIN_KEY: admin });
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trim();
  assert.match(key, /^evt_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$/);
  assert.equal((await call(server, 'GET', '/v1/metrics', key)).status, 200);
  const listed = await cli(['keys', 'list', '--owner', 'acme', '--json', '--url', server.httpUrl, '--admin-key', admin]);
  assert.equal((JSON.parse(listed.stdout) as Array<{ prefix: string }>)[0]?.prefix, key.slice(0, 12));
  const revoked = await cli(['keys', 'revoke', key.slice(0, 12), '--url', server.httpUrl], { EVENTIDE_ADMIN_KEY: admin });
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal((await call(server, 'GET', '/v1/metrics', key)).status, 401);
  const refused = await cli(['keys', 'revoke', key.slice(0, 12), '--url', server.httpUrl], { EVENTIDE_ADMIN_KEY: key });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /EVT_UNAUTHENTICATED/, 'the revoked key cannot administer');
  assert.deepEqual(
    auditLines(lines).map((line) => [line.audit.action, line.audit.actor, line.audit.presented]),
    [
      ['key.create', admin.slice(0, 12), undefined],
      ['key.list', admin.slice(0, 12), undefined],
      ['key.revoke', admin.slice(0, 12), undefined],
      ['key.revoke', 'anonymous', key.slice(0, 12)],
    ],
  );
});

void test('the CLI on the data directory writes an audit line per change and prints a key once', async (t) => {
  const server = await startSecureServer(t);
  const dataArgs = ['--data-dir', server.dataDir, '--key-secret', 'test-secret-test-secret-test-secret-0123'];
  const created = await cli(['keys', 'create', '--owner', 'acme', '--scopes', 'ingest,read', '--ingest-owners', 'beta', ...dataArgs]);
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trim();
  const audit = created.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as AuditLine);
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.audit.action, 'key.create');
  assert.match(audit[0]!.audit.actor as string, /^cli:/);
  assert.ok(!created.stderr.includes(key.slice(13)), 'the key is on stdout only');
  // The running server takes the key the CLI made in its data directory.
  assert.equal((await call(server, 'POST', '/v1/events', key, events('cli', 1), { 'x-eventide-owner': 'beta' })).status, 200);
  const owners = await cli(['owners', 'list', '--json', ...dataArgs]);
  assert.deepEqual((JSON.parse(owners.stdout) as Array<{ owner: string }>).map((o) => o.owner), ['acme']);
  const usage = await cli(['keys', 'create', ...dataArgs]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /needs --owner/);
});
