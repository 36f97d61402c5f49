/**
 * Shared test helpers: a real server on free ports with a temporary data
 * directory (closed and removed after the test), and small HTTP helpers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { startServer, type StartedServer } from '../src/server.js';
import { silentLogger } from '../src/log.js';

/** Small, fast settings for tests: few shards, two workers, quick timers. */
export const TEST_OVERRIDES = {
  httpPort: 0,
  grpcPort: 0,
  shardCount: 16,
  workers: 2,
  logLevel: 'silent',
  flushIntervalMs: 50,
  snapshotIntervalMs: 200,
  deltaTickMs: 50,
  closeIntervalMs: 50,
  workerRestartDelayMs: 20,
} as const;

export function tempDir(t: TestContext, prefix = 'eventide-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestServer extends StartedServer {
  dataDir: string;
  key: string;
}

/** Starts a real server; `t.after` closes it. `dataDir` may be shared to test restarts. */
export async function startTestServer(
  t: TestContext,
  overrides: Record<string, unknown> = {},
  dataDir: string = tempDir(t),
): Promise<TestServer> {
  const server = await startServer({ ...TEST_OVERRIDES, dataDir, devKey: false, ...overrides }, { log: silentLogger });
  // server.close is idempotent; keep the original, since Object.assign below replaces it.
  const closeServer = server.close.bind(server);
  const close = () => closeServer();
  t.after(close);
  const key = await server.createKey('acme');
  return Object.assign(server, { dataDir, key, close });
}

export interface PostResult {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export async function postEvents(
  server: { httpUrl: string },
  key: string | undefined,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
  query = '',
): Promise<PostResult> {
  const response = await fetch(`${server.httpUrl}/v1/events${query}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      ...headers,
    },
    body,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

export async function getJson(url: string, key: string | undefined): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes (for effects of background timers). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
