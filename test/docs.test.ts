/**
 * Keeps docs/errors.md and docs/configuration.md complete and true.
 *
 * - Every EVT_* string literal in src/**\/*.ts, and every code of the status
 *   table, has exactly one row in docs/errors.md, and the row's HTTP status,
 *   gRPC status and retryability are those of src/edge/status.ts.
 * - Every code that can reach a client has a row in the status table; the few
 *   that cannot are listed below with the reason.
 * - Every setting (config/defaults.ts plus the two service URLs) has one row in
 *   docs/configuration.md with its real flag, environment variable, default
 *   and bounds.
 *
 * The sources and docs are read from the repository root: this file runs as
 * dist/test/docs.test.js, so the root is two directories up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { Kind, type TSchema } from '@sinclair/typebox';
import { defaults } from '../config/defaults.js';
import { settingsSchema, type SettingName } from '../config/schema.js';
import { envName, flagName } from '../src/config.js';
import { ALL_CODES, grpcStatusOf, httpStatusOf, isRetryable } from '../src/edge/status.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Codes that never reach a client, so they have no row in the status table
 * (an unplanned one would answer 500 / EVT_INTERNAL-like, which is right).
 * When one of these starts to reach a client, move it into src/edge/status.ts.
 */
const INTERNAL_ONLY: Readonly<Record<string, string>> = {
  EVT_BENCH_OPTION: 'raised by the `eventide bench` CLI before a run starts; printed to the operator, never sent by a server',
  EVT_BENCH_TARGET: 'raised by the bench harness about the server it measures; the harness is the client',
  EVT_BENCH_WORKER: 'raised by the bench harness when one of its own sender threads fails',
  EVT_CLIENT_OPTION: 'thrown by createClient in the application (eventide/client); no server is involved',
  EVT_CLIENT_EVENT_INVALID: 'thrown by the client SDK send() in the application, before anything is sent',
  EVT_CLIENT_NETWORK: 'the client SDK found no server answer; raised in the application',
  EVT_CLIENT_ANSWER_INVALID: 'the client SDK about an answer that is not the contract; raised in the application',
  EVT_CLIENT_RETRIES_EXHAUSTED: 'the client SDK giving up on a batch; raised in the application',
  EVT_SERVER_SECRET_INVALID: 'raised while the server starts; it refuses to start, so no request is answered',
};

/** Settings without a default that still get a row. */
const SERVICE_URLS = ['mongodbUri', 'redisUrl'] as const;

// ---- helpers ----------------------------------------------------------------

function readRepoFile(relative: string): string {
  return fs.readFileSync(path.join(ROOT, relative), 'utf8');
}

function tsFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFilesUnder(full));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** EVT_* codes written as complete string literals ('…', "…" or `…`) in the sources, with the first file of each. */
function codesInSources(): Map<string, string> {
  const found = new Map<string, string>();
  const literal = /(['"`])(EVT_[A-Z0-9_]+)\1/g;
  for (const file of tsFilesUnder(path.join(ROOT, 'src'))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(literal)) {
      if (!found.has(match[2]!)) found.set(match[2]!, path.relative(ROOT, file));
    }
  }
  return found;
}

/** The cells of every markdown table row (separator rows skipped). Pipes escaped as `\|` stay in their cell. */
function tableRows(markdown: string): string[][] {
  const rows: string[][] = [];
  for (const line of markdown.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('|') || /^\|[\s|:-]+\|$/.test(trimmed)) continue;
    rows.push(trimmed.slice(1, trimmed.endsWith('|') ? -1 : undefined).split(/(?<!\\)\|/).map((cell) => cell.trim()));
  }
  return rows;
}

/** Rows whose first cell is exactly `NAME` (in backticks) matching `pattern`, by name; a name listed twice is an error. */
function rowsByName(markdown: string, pattern: RegExp, cells: number): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const row of tableRows(markdown)) {
    const match = pattern.exec(row[0] ?? '');
    if (match === null || row.length !== cells) continue;
    assert.ok(!out.has(match[1]!), `${match[1]} has more than one row`);
    out.set(match[1]!, row);
  }
  return out;
}

const ERROR_ROW = /^`(EVT_[A-Z0-9_]+)`$/;
const ERROR_COLUMNS = 7;
const SETTING_ROW = /^`([a-z][A-Za-z0-9]*)`$/;
const SETTING_COLUMNS = 7;

function errorRows(markdown: string): Map<string, string[]> {
  return rowsByName(markdown, ERROR_ROW, ERROR_COLUMNS);
}

function settingRows(markdown: string): Map<string, string[]> {
  return rowsByName(markdown, SETTING_ROW, SETTING_COLUMNS);
}

function missing(expected: Iterable<string>, documented: Map<string, string[]>): string[] {
  return [...expected].filter((name) => !documented.has(name)).sort();
}

const errorsDoc = readRepoFile('docs/errors.md');
const configDoc = readRepoFile('docs/configuration.md');
const sourceCodes = codesInSources();

// ---- docs/errors.md -------------------------------------------------------------

void test('the source scan finds the codes of every layer', () => {
  // A scan that finds nothing would make every completeness check below pass.
  for (const code of ['EVT_MAILBOX_FULL', 'EVT_FIELD_TOO_LONG', 'EVT_UNAUTHENTICATED', 'EVT_STORE_WRITE', 'EVT_CONFIG_INVALID', 'EVT_BENCH_OPTION']) {
    assert.ok(sourceCodes.has(code), code);
  }
});

void test('every EVT_* literal in src and every status-table code has a row in docs/errors.md', () => {
  const documented = errorRows(errorsDoc);
  const expected = new Set([...sourceCodes.keys(), ...ALL_CODES]);
  assert.deepEqual(missing(expected, documented), [], 'codes without a row in docs/errors.md');
});

void test('every row of docs/errors.md names a code the sources still use', () => {
  const known = new Set([...sourceCodes.keys(), ...ALL_CODES]);
  const stale = [...errorRows(errorsDoc).keys()].filter((code) => !known.has(code));
  assert.deepEqual(stale, [], 'rows for codes nothing raises any more');
});

void test('every code that can reach a client has a row in the status table', () => {
  const unmapped = [...sourceCodes.keys()].filter((code) => !ALL_CODES.includes(code) && !Object.hasOwn(INTERNAL_ONLY, code));
  assert.deepEqual(unmapped.sort(), [], 'add these to src/edge/status.ts, or to INTERNAL_ONLY here with a reason');
  for (const code of Object.keys(INTERNAL_ONLY)) {
    assert.ok(sourceCodes.has(code), `${code} is listed as internal but no source raises it`);
    assert.ok(!ALL_CODES.includes(code), `${code} is listed as internal but has a status row`);
  }
});

void test('statuses and retryability in docs/errors.md are those of src/edge/status.ts', () => {
  for (const [code, row] of errorRows(errorsDoc)) {
    const [, http, grpc, retryable] = row;
    if (ALL_CODES.includes(code)) {
      assert.equal(http, String(httpStatusOf(code)), `${code}: HTTP`);
      assert.equal(grpc, GrpcStatus[grpcStatusOf(code)], `${code}: gRPC`);
      assert.equal(retryable, isRetryable(code) ? 'yes' : 'no', `${code}: retryable`);
    } else {
      assert.equal(http, '—', `${code} never reaches a client: HTTP must be —`);
      assert.equal(grpc, '—', `${code} never reaches a client: gRPC must be —`);
      assert.match(retryable!, /^(yes|no)$/, `${code}: retryable`);
    }
    for (const cell of row.slice(4)) assert.notEqual(cell, '', `${code}: every column is filled in`);
  }
});

void test('a code without a row is caught (the check can fail)', () => {
  const code = 'EVT_MAILBOX_FULL';
  const without = errorsDoc
    .split('\n')
    .filter((line) => !line.trim().startsWith(`| \`${code}\``))
    .join('\n');
  assert.notEqual(without, errorsDoc);
  assert.deepEqual(missing([code, 'EVT_FIELD_TYPE'], errorRows(without)), [code]);
});

// ---- docs/configuration.md ------------------------------------------------------

function settingNames(): SettingName[] {
  return [...(Object.keys(defaults) as SettingName[]), ...SERVICE_URLS];
}

void test('every setting has a row in docs/configuration.md, and no row names a setting that is gone', () => {
  const documented = settingRows(configDoc);
  assert.deepEqual(missing(settingNames(), documented), [], 'settings without a row in docs/configuration.md');
  const stale = [...documented.keys()].filter((name) => !Object.hasOwn(settingsSchema, name));
  assert.deepEqual(stale, [], 'rows for settings that do not exist');
});

void test('flag, environment variable, default and bounds of each row are the real ones', () => {
  const documented = settingRows(configDoc);
  for (const name of settingNames()) {
    const row = documented.get(name);
    if (row === undefined) continue; // reported by the completeness test
    const [, flag, env, fallback, bounds] = row as [string, string, string, string, string];
    assert.equal(flag, `\`--${flagName(name)}\``, `${name}: flag`);
    assert.ok(env.includes(`\`${envName(name)}\``), `${name}: environment variable ${envName(name)}`);
    if (Object.hasOwn(defaults, name)) {
      const value = defaults[name as keyof typeof defaults];
      assert.ok(fallback.startsWith(`\`${JSON.stringify(value)}\``), `${name}: default ${JSON.stringify(value)}, found ${fallback}`);
    } else {
      assert.ok(fallback.startsWith('none'), `${name}: has no default`);
    }
    const schema: TSchema = settingsSchema[name];
    switch (schema[Kind]) {
      case 'Integer':
        assert.ok(bounds.includes(`${String(schema.minimum)}..${String(schema.maximum)}`), `${name}: bounds ${String(schema.minimum)}..${String(schema.maximum)}, found ${bounds}`);
        break;
      case 'Union':
        for (const option of schema.anyOf as Array<{ const: unknown }>) {
          assert.ok(bounds.includes(JSON.stringify(option.const)), `${name}: bounds list ${JSON.stringify(option.const)}`);
        }
        break;
      case 'String':
        assert.ok(bounds.includes(String(schema.maxLength)), `${name}: bounds mention maxLength ${String(schema.maxLength)}`);
        break;
      default:
        break;
    }
  }
  // The conventional names of the service URLs are documented beside their EVENTIDE_ forms.
  assert.ok(documented.get('mongodbUri')?.[2]?.includes('`MONGODB_URI`'), 'mongodbUri: MONGODB_URI');
  assert.ok(documented.get('redisUrl')?.[2]?.includes('`REDIS_URL`'), 'redisUrl: REDIS_URL');
});

void test('a setting without a row is caught (the check can fail)', () => {
  const without = configDoc
    .split('\n')
    .filter((line) => !line.trim().startsWith('| `mailboxBatchesMax`'))
    .join('\n');
  assert.notEqual(without, configDoc);
  assert.deepEqual(missing(['mailboxBatchesMax', 'shardCount'], settingRows(without)), ['mailboxBatchesMax']);
});
