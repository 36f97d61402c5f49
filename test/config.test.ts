import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { ConfigError, envName, flagName, loadConfig, type ResolvedConfig } from '../src/config.js';
import { defaults } from '../config/defaults.js';
import { settingsSchema, type SettingName } from '../config/schema.js';

const dirs: string[] = [];
function tempCwd(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-config-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}
void test.after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function load(argv: string[] = [], env: Record<string, string> = {}, cwd = tempCwd()): ResolvedConfig {
  return loadConfig({ argv, env, cwd });
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'EVT_CONFIG_INVALID');
    assert.equal(error.retryable, false);
    return error;
  }
  assert.fail('expected loadConfig to throw');
}

void test('the schema names every default, and every default passes its own schema', () => {
  for (const name of Object.keys(defaults)) {
    const schema = settingsSchema[name as SettingName];
    assert.ok(schema !== undefined, `no schema for ${name}`);
    assert.ok(Value.Check(schema, defaults[name as keyof typeof defaults]), `default ${name} fails its schema`);
  }
});

void test('every number in the schema has a minimum and a maximum', () => {
  for (const [name, schema] of Object.entries(settingsSchema)) {
    if (schema.type !== 'integer') continue;
    assert.equal(typeof schema.minimum, 'number', name);
    assert.equal(typeof schema.maximum, 'number', name);
  }
});

void test('with nothing given, the result is the defaults, frozen, with workers resolved', () => {
  const config = load();
  assert.ok(Object.isFrozen(config));
  assert.equal(config.httpPort, defaults.httpPort);
  assert.equal(config.mailboxBatchesMax, defaults.mailboxBatchesMax);
  assert.equal(config.workers, Math.min(os.availableParallelism(), defaults.shardCount));
  assert.equal(config.mongodbUri, undefined);
  assert.equal(config.eventStore, 'lmdb');
  assert.throws(() => {
    (config as { httpPort: number }).httpPort = 1;
  }, TypeError);
});

void test('precedence: defaults < config file < environment < flags', () => {
  const cwd = tempCwd({ 'eventide.config.json': JSON.stringify({ httpPort: 1001, grpcPort: 1002, shardCount: 64, host: 'file' }) });
  const env = { EVENTIDE_HTTP_PORT: '2001', EVENTIDE_GRPC_PORT: '2002' };
  const config = load(['--http-port', '3001'], env, cwd);
  assert.equal(config.httpPort, 3001);
  assert.equal(config.grpcPort, 2002);
  assert.equal(config.shardCount, 64);
  assert.equal(config.host, 'file');
  assert.equal(config.logLevel, defaults.logLevel);
});

void test('the config file comes from --config, else EVENTIDE_CONFIG, relative to cwd', () => {
  const cwd = tempCwd({
    'a.json': JSON.stringify({ httpPort: 1 }),
    'b.json': JSON.stringify({ httpPort: 2 }),
    'eventide.config.json': JSON.stringify({ httpPort: 3 }),
  });
  assert.equal(load(['--config', 'a.json'], { EVENTIDE_CONFIG: 'b.json' }, cwd).httpPort, 1);
  assert.equal(load(['--config=a.json'], {}, cwd).httpPort, 1);
  assert.equal(load([], { EVENTIDE_CONFIG: path.join(cwd, 'b.json') }, cwd).httpPort, 2);
  assert.equal(load([], {}, cwd).httpPort, 3);
});

void test('flags take --name value, --name=value, bare booleans and --no- booleans', () => {
  assert.equal(load(['start', '--grpc-port=7000']).grpcPort, 7000);
  assert.equal(load(['--dev-key', 'false']).devKey, false);
  assert.equal(load(['--no-dev-key']).devKey, false);
  assert.equal(load(['--no-dev-key', '--dev-key']).devKey, true);
  assert.equal(load(['--log-level', 'debug', '--', '--http-port', 'x']).logLevel, 'debug');
});

void test('ignoreFlags skips a caller\'s own flags and their values', () => {
  const config = loadConfig({ argv: ['keys', '--owner', 'acme', '--http-port', '5'], env: {}, cwd: tempCwd(), ignoreFlags: ['owner'] });
  assert.equal(config.httpPort, 5);
});

void test('environment strings are coerced: integers, booleans in several spellings', () => {
  assert.equal(load([], { EVENTIDE_MAILBOX_BATCHES_MAX: '128' }).mailboxBatchesMax, 128);
  assert.equal(load([], { EVENTIDE_DEV_KEY: 'no' }).devKey, false);
  assert.equal(load([], { EVENTIDE_DEV_KEY: '0' }).devKey, false);
  assert.equal(load([], { EVENTIDE_DEV_KEY: 'TRUE' }).devKey, true);
  assert.equal(load([], { EVENTIDE_DATA_DIR: '/var/lib/eventide' }).dataDir, '/var/lib/eventide');
});

void test('names map camelCase to kebab flags and UPPER_SNAKE variables', () => {
  assert.equal(flagName('mailboxBatchesMax'), 'mailbox-batches-max');
  assert.equal(envName('httpPort'), 'EVENTIDE_HTTP_PORT');
  assert.equal(envName('mongodbUri'), 'EVENTIDE_MONGODB_URI');
});

void test('MONGODB_URI and REDIS_URL fill the service URLs and select the real stores unless a store is named', () => {
  const env = { MONGODB_URI: 'mongodb://db:27017/eventide', REDIS_URL: 'redis://cache:6379' };
  const config = load([], env);
  assert.equal(config.mongodbUri, 'mongodb://db:27017/eventide');
  assert.equal(config.redisUrl, 'redis://cache:6379');
  assert.equal(config.eventStore, 'mongodb');
  assert.equal(config.snapshotStore, 'redis');
  const pinned = load(['--event-store', 'lmdb'], { ...env, EVENTIDE_MONGODB_URI: 'mongodb+srv://other' });
  assert.equal(pinned.eventStore, 'lmdb');
  assert.equal(pinned.mongodbUri, 'mongodb+srv://other');
});

void test('workers 0 resolves to the cores, capped at shardCount; a given count is kept', () => {
  assert.equal(load(['--shard-count', '1']).workers, 1);
  assert.equal(load(['--workers', '3', '--shard-count', '8']).workers, 3);
});

void test('an invalid environment value names the variable, its text and the rule', () => {
  const error = configError(() => load([], { EVENTIDE_HTTP_PORT: 'abc' }));
  assert.equal(error.message, 'EVENTIDE_HTTP_PORT="abc": must be an integer 0..65535');
  assert.equal(error.field, 'httpPort');
  assert.equal(error.issues[0]?.source, 'EVENTIDE_HTTP_PORT');
  assert.match(configError(() => load([], { EVENTIDE_SHARD_COUNT: '70000' })).message, /^EVENTIDE_SHARD_COUNT="70000": must be an integer 1\.\.65536$/);
  assert.match(configError(() => load([], { EVENTIDE_DEV_KEY: 'maybe' })).message, /EVENTIDE_DEV_KEY="maybe": must be true or false/);
  assert.match(configError(() => load([], { EVENTIDE_HTTP_PORT: '80.5' })).message, /EVENTIDE_HTTP_PORT="80.5"/);
});

void test('an invalid flag value names the flag', () => {
  assert.equal(configError(() => load(['--log-level=loud'])).message, '--log-level="loud": must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"');
  assert.equal(configError(() => load(['--http-port'])).message, '--http-port: needs a value');
});

void test('an invalid file value names the file and the setting; files are not coerced', () => {
  const cwd = tempCwd({ 'eventide.config.json': JSON.stringify({ httpPort: '8080', hllPrecision: 30 }) });
  const error = configError(() => load([], {}, cwd));
  const file = path.join(cwd, 'eventide.config.json');
  assert.equal(error.issues.length, 2);
  assert.equal(error.issues[0]?.message, `config file ${file}: httpPort="8080": must be an integer 0..65535`);
  assert.equal(error.issues[1]?.message, `config file ${file}: hllPrecision=30: must be an integer 4..16`);
});

void test('unknown settings are errors in the file, the environment and the flags, with a suggestion', () => {
  const cwd = tempCwd({ 'eventide.config.json': JSON.stringify({ $schema: './schema.json', htpPort: 1 }) });
  assert.match(configError(() => load([], {}, cwd)).message, /unknown setting "htpPort" \(did you mean httpPort\?\)/);
  assert.match(configError(() => load([], { EVENTIDE_HTTP_PROT: '1' })).message, /unknown environment variable EVENTIDE_HTTP_PROT \(did you mean EVENTIDE_HTTP_PORT\?\)/);
  assert.match(configError(() => load(['--htp-port', '1'])).message, /unknown flag --htp-port \(did you mean --http-port\?\)/);
  assert.match(configError(() => load(['--frobnicate'])).message, /^unknown flag --frobnicate$/);
});

void test('a named config file that is missing, not JSON, or not an object is an error', () => {
  const cwd = tempCwd({ 'bad.json': '{ httpPort: 1', 'list.json': '[1]' });
  assert.match(configError(() => load(['--config', 'missing.json'], {}, cwd)).message, /missing\.json \(from --config\): cannot be read/);
  assert.match(configError(() => load([], { EVENTIDE_CONFIG: 'missing.json' }, cwd)).message, /\(from EVENTIDE_CONFIG\): cannot be read/);
  assert.match(configError(() => load(['--config', 'bad.json'], {}, cwd)).message, /bad\.json: is not valid JSON/);
  assert.match(configError(() => load(['--config', 'list.json'], {}, cwd)).message, /list\.json: must hold a JSON object of settings/);
});

void test('settings that contradict each other are errors naming the one that was set', () => {
  const error = configError(() => load(['--body-bytes-max', String(32 * 1024 * 1024)]));
  assert.equal(error.field, 'bodyBytesMax');
  assert.match(error.message, /bodyBytesMax \(33554432\) must not exceed bodyInflatedBytesMax \(16777216\)/);
  assert.equal(configError(() => load(['--flush-pending-events-max', '10'])).field, 'flushPendingEventsMax');
  assert.equal(configError(() => load(['--workers', '9', '--shard-count', '8'])).field, 'workers');
  assert.match(configError(() => load(['--event-store', 'mongodb'])).message, /needs mongodbUri/);
  assert.match(configError(() => load(['--snapshot-store', 'redis'])).message, /needs redisUrl/);
});

void test('workerHeapMbMax is 0 (V8 decides) or at least 64 MiB', () => {
  assert.equal(load().workerHeapMbMax, 0);
  assert.equal(load(['--worker-heap-mb-max', '64']).workerHeapMbMax, 64);
  const error = configError(() => load([], { EVENTIDE_WORKER_HEAP_MB_MAX: '63' }));
  assert.equal(error.field, 'workerHeapMbMax');
  assert.match(error.message, /EVENTIDE_WORKER_HEAP_MB_MAX="63": must be 0 \(V8's default\) or at least 64/);
});

void test('workerHeapInitialMb is 128 MiB unless the command line or the environment says otherwise', () => {
  assert.equal(load().workerHeapInitialMb, 128);
  assert.equal(load(['--worker-heap-initial-mb', '0']).workerHeapInitialMb, 0);
  assert.equal(load([], { EVENTIDE_WORKER_HEAP_INITIAL_MB: '64' }).workerHeapInitialMb, 64);
  assert.equal(configError(() => load(['--worker-heap-initial-mb', '-1'])).field, 'workerHeapInitialMb');
});

void test('secrets never appear in messages', () => {
  const error = configError(() => load([], { MONGODB_URI: 'http://user:hunter2@db', EVENTIDE_KEY_SECRET: 'short-secret' }));
  assert.doesNotMatch(error.message, /hunter2|short-secret/);
  assert.match(error.message, /MONGODB_URI=\(hidden\): must be a mongodb:\/\/ or mongodb\+srv:\/\/ URI/);
  assert.match(error.message, /EVENTIDE_KEY_SECRET=\(hidden\): must be empty or a string of 32\.\.1024 characters/);
  assert.equal(load([], { EVENTIDE_KEY_SECRET: 'k'.repeat(32) }).keySecret, 'k'.repeat(32));
});

void test('all problems are reported together', () => {
  const error = configError(() => load(['--http-port=x', '--nope'], { EVENTIDE_GRPC_PORT: '-1' }));
  assert.equal(error.issues.length, 3);
});
