/**
 * The `eventide` command as a user runs it: every command answers --help
 * (and `eventide help <command>`) without starting anything, the settings
 * listing is complete, and `start` prints where the dashboard and the docs are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { settingsSchema, type SettingName } from '../config/schema.js';
import { envName, flagName } from '../src/config.js';
import { tempDir } from './helpers.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

async function eventide(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, EVENTIDE_CONFIG: '' } });
}

void test('every command has --help, which exits 0 and starts nothing', async () => {
  assert.match((await eventide('--help')).stdout, /^eventide: /);
  assert.match((await eventide()).stdout, /eventide <command> --help/);
  const cases: Array<[string[], RegExp]> = [
    [['start', '--help'], /^Usage: eventide start/],
    [['start', '--http-port', '1', '-h'], /^Usage: eventide start/],
    [['keys', '--help'], /^Usage:\n {2}eventide keys create/],
    [['keys', 'create', '--help'], /^Usage:\n {2}eventide keys create/],
    [['config', '--help'], /^Usage: eventide config check/],
    [['config', 'check', '--help'], /^Usage: eventide config check/],
    [['help', 'config'], /^Usage: eventide config check/],
    [['bench', '--help'], /^Usage: eventide bench/],
  ];
  for (const [args, expected] of cases) {
    const { stdout } = await eventide(...args);
    assert.match(stdout, expected, args.join(' '));
  }
});

void test('start --help lists every setting with its flag and environment variable', async () => {
  const { stdout } = await eventide('start', '--help');
  for (const name of Object.keys(settingsSchema) as SettingName[]) {
    assert.ok(stdout.includes(`--${flagName(name)}`), `--${flagName(name)}`);
    assert.ok(stdout.includes(envName(name)), envName(name));
  }
  assert.match(stdout, /MONGODB_URI/);
});

void test('an unknown command is an error with the usage, exit 2', async () => {
  await assert.rejects(eventide('frobnicate'), (err: { code?: number; stderr?: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr ?? '', /unknown command: frobnicate[\s\S]*Usage:/);
    return true;
  });
});

void test('start prints the dashboard and docs URLs, and the first-start key with a dashboard link that keeps it out of the query', async (t) => {
  const dataDir = tempDir(t);
  const child = spawn(process.execPath, [CLI, 'start', '--http-port', '0', '--grpc-port', '0', '--workers', '1', '--shard-count', '8', '--log-level', 'silent', '--data-dir', dataDir], {
    env: { ...process.env, EVENTIDE_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const deadline = Date.now() + 60_000;
  while (!/Watch: /.test(out)) {
    assert.ok(Date.now() < deadline, `no start banner; got: ${out}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const http = /HTTP (http:\/\/\S+)/.exec(out)?.[1];
  assert.ok(http !== undefined);
  assert.ok(out.includes(`dashboard ${http}/dashboard`) && out.includes(`API docs ${http}/docs`));
  const key = /^ {2}(evt_\S+)$/m.exec(out)?.[1];
  assert.ok(key !== undefined, 'the dev key is printed');
  assert.ok(out.includes(`Watch: ${http}/dashboard#token=${key}`), 'the key goes in the fragment, which browsers never send');
  assert.equal((await fetch(`${http}/dashboard`)).status, 200);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, 'SIGTERM drains and exits 0');
});
