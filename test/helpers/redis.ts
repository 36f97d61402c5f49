/**
 * A real redis-server for tests: spawned on a free loopback port with no
 * persistence (`--save '' --appendonly no`), ready once it answers PING,
 * stopped after. The fault tests pause (SIGSTOP), kill and restart it on the
 * same port.
 *
 * Where the binary is missing, `redisAvailability()` says so: suites skip with
 * a loud message locally, and fail under CI=true (a skip there would hide that
 * the Redis adapter went untested). Install with `.ci/install-redis.sh`
 * (Debian: apt-get install redis-server) or point REDIS_SERVER_BIN at a binary.
 * TEST_REDIS_URL uses an existing server instead (contract tests only: the
 * fault tests must own the process).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';

export const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';
/** Bounds on waiting for the server; generous for a loaded CI machine, never waited out when things work. */
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const PING_RETRY_MS = 20;

export interface RedisAvailability {
  /** The binary runs (or TEST_REDIS_URL is set). */
  ok: boolean;
  /** Why not, and what to install or set. */
  reason: string;
  /** Under CI=true a missing server is a failure, not a skip. */
  mustFail: boolean;
}

export function redisAvailability(): RedisAvailability {
  const mustFail = process.env.CI === 'true';
  const probe = spawnSync(REDIS_BIN, ['--version'], { encoding: 'utf8' });
  if (probe.status === 0) return { ok: true, reason: probe.stdout.trim(), mustFail };
  return {
    ok: false,
    reason:
      `redis-server not runnable as "${REDIS_BIN}" (${probe.error?.message ?? probe.stderr.trim()}). ` +
      'Install it with .ci/install-redis.sh (apt-get install redis-server) or set REDIS_SERVER_BIN to a redis-server binary.',
    mustFail,
  };
}

/** Prints the reason so nobody mistakes a skipped suite for a passing one. */
export function warnLoudly(reason: string): void {
  const bar = '!'.repeat(78);
  process.stderr.write(`\n${bar}\n!! REDIS TESTS SKIPPED: ${reason}\n${bar}\n\n`);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** One PING over a fresh socket; true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export class RedisServer {
  readonly port: number;
  #child: ChildProcess | undefined;
  #output = '';

  private constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Spawns redis-server on a free loopback port and waits until it answers PING. */
  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.#spawn();
    return server;
  }

  async #spawn(): Promise<void> {
    this.#output = '';
    const child = spawn(
      REDIS_BIN,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    child.stdout.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    let exited = false;
    child.once('exit', () => (exited = true));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited) throw new Error(`redis-server exited on start (port ${this.port}): ${this.#output.trim()}`);
      if (await ping(this.port)) return;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server did not answer PING within ${START_TIMEOUT_MS} ms: ${this.#output.trim()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, PING_RETRY_MS));
    }
  }

  /** Freezes the process: its socket stays open and nothing answers (the worst case for a client). */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** Kills the process (SIGKILL: no goodbye to clients) and waits for it to be gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await Promise.race([
      exited,
      new Promise((_, reject) => setTimeout(() => reject(new Error('redis-server did not exit')), STOP_TIMEOUT_MS).unref()),
    ]);
    this.#child = undefined;
  }

  /** Starts a fresh (empty) server on the same port. */
  async restart(): Promise<void> {
    await this.kill();
    await this.#spawn();
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}
