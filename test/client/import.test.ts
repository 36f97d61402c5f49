/**
 * `eventide/client` resolves through the package's own `exports` and loads
 * none of the server: checked in a fresh process whose module loader reports
 * every module it loads (a `load` hook registered with node:module).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs in the loader thread: report each module's URL before it loads. */
const HOOKS = `
let port;
export function initialize(data) { port = data.port; }
export async function load(url, context, next) { port.postMessage(url); return next(url, context); }
`;

/**
 * The probe: register the hooks, run `body`, then load a sentinel module; the
 * port delivers in order, so once the sentinel's URL arrives every earlier one
 * has too. Prints the URLs as JSON.
 */
function probe(body: string): string {
  return `
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const urls = [];
const SENTINEL = 'data:text/javascript,export%20const%20sentinel%3D1';
const seen = new Promise((resolve) => port1.on('message', (url) => { urls.push(url); if (url === SENTINEL) resolve(); }));
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}), { data: { port: port2 }, transferList: [port2] });
${body}
await import(SENTINEL);
await seen;
port1.close();
process.stdout.write(JSON.stringify(urls));
`;
}

async function loadedBy(body: string): Promise<string[]> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe(body)], { cwd: ROOT });
  return JSON.parse(stdout) as string[];
}

/** Files of dist/src the client may load; anything else of the package is the server's. */
const CLIENT_FILES = /\/dist\/src\/(client\/[\w-]+\.js|errors\.js)$/;

function packageOf(url: string): string | undefined {
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  return m?.[1];
}

void test('import("eventide/client") loads the client files and no other package file or third-party package', async () => {
  const urls = await loadedBy(`const client = await import('eventide/client'); if (typeof client.createClient !== 'function') process.exit(3);`);
  const ours = urls.filter((u) => u.startsWith('file:') && packageOf(u) === undefined);
  // The probe sees what it should: the client's own entry came through the package's exports.
  assert.ok(ours.some((u) => u.endsWith('/dist/src/client/index.js')), `the client entry was loaded: ${ours.join(', ')}`);
  assert.deepEqual(ours.filter((u) => !CLIENT_FILES.test(u)), [], 'package files outside the client');
  const packages = [...new Set(urls.map(packageOf).filter((p): p is string => p !== undefined))].sort();
  // Not fastify, lmdb, piscina, a driver, typebox, pino, nor even @grpc/grpc-js or @bufbuild/protobuf.
  assert.deepEqual(packages, [], 'third-party packages loaded by the client');
});

void test('the probe tells a server import apart (the check can fail)', async () => {
  const urls = await loadedBy(`await import('./dist/src/edge/http.js');`);
  const packages = new Set(urls.map(packageOf));
  assert.ok(packages.has('fastify'), 'fastify is seen when the edge is imported');
  assert.ok(urls.some((u) => u.startsWith('file:') && packageOf(u) === undefined && !CLIENT_FILES.test(u)));
});

void test('@grpc/grpc-js is loaded only once a gRPC client sends', async () => {
  const urls = await loadedBy(`
const { createClient } = await import('eventide/client');
const client = createClient({ grpcTarget: '127.0.0.1:9', key: 'k', retry: { attemptsMax: 1 }, onError: () => {} });
client.send({ name: 'x' });
await client.close();
`);
  assert.ok(urls.some((u) => packageOf(u) === '@grpc/grpc-js'), 'grpc-js after a gRPC send');
  assert.ok(!urls.some((u) => /\/dist\/src\/(edge|runtime|store|actors|auth)\//.test(u)));
});
