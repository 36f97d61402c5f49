#!/usr/bin/env node
/**
 * The `eventide` command: start | keys | config check | bench.
 * Configuration comes from defaults < config file < EVENTIDE_* environment < flags
 * (src/config.ts); a bad setting stops the command with a message naming it.
 */
import { loadConfig, type ResolvedConfig } from './config.js';
import { EventideError } from './errors.js';

const HELP = `eventide: actor-style stream processor

Usage:
  eventide start [--<setting> <value> ...]   run the server (HTTP + ws, gRPC)
  eventide keys create --owner <id>          create an ingest+read key for an owner (printed once)
  eventide keys list [--owner <id>]          list keys by prefix (never the secret)
  eventide config check [...]                validate the configuration and print it
  eventide bench [--help]                    run the benchmark harness

Every setting of config/defaults.ts is a flag (--http-port 8080), an environment
variable (EVENTIDE_HTTP_PORT=8080) or a key of the JSON file given by --config.
`;

async function main(argv: string[]): Promise<number> {
  const [command, sub] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  switch (command) {
    case 'start':
      return start(config(argv.slice(1)));
    case 'keys':
      return keys(sub, argv.slice(2));
    case 'config':
      if (sub !== 'check') break;
      process.stdout.write(JSON.stringify(printable(config(argv.slice(2))), null, 2) + '\n');
      return 0;
    case 'bench': {
      const { runBenchCli } = await import('./bench/cli.js');
      return runBenchCli(argv.slice(1));
    }
  }
  process.stderr.write(`unknown command: ${argv.join(' ')}\n\n${HELP}`);
  return 2;
}

function config(argv: string[], ignoreFlags: string[] = []): ResolvedConfig {
  return loadConfig({ argv, env: process.env, cwd: process.cwd(), ignoreFlags });
}

async function start(resolved: ResolvedConfig): Promise<number> {
  const { startServer } = await import('./server.js');
  const server = await startServer({}, { config: resolved });
  process.stdout.write(
    `eventide listening: HTTP ${server.httpUrl}  ws ${server.wsUrl}  gRPC ${server.grpcTarget}  (data in ${resolved.dataDir})\n`,
  );
  if (server.devKey !== undefined) {
    process.stdout.write(
      `\nFirst start: created owner "dev" and its key (shown once, stored hashed):\n\n  ${server.devKey}\n\n` +
        `Try:  curl -s -X POST ${server.httpUrl}/v1/events -H 'authorization: Bearer ${server.devKey}' ` +
        `-H 'content-type: application/json' -d '{"name":"signup","userId":"u1"}'\n\n`,
    );
  }
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(`${signal}: draining and closing\n`);
      // Bounded: a close that hangs must not keep the process forever.
      const force = setTimeout(() => {
        process.stderr.write('close took too long; exiting\n');
        resolve(1);
      }, 30_000);
      force.unref();
      server.close().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`close failed: ${String(err)}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

async function keys(sub: string | undefined, argv: string[]): Promise<number> {
  const ownerAt = argv.indexOf('--owner');
  const owner = ownerAt >= 0 ? argv[ownerAt + 1] : undefined;
  const rest = ownerAt >= 0 ? [...argv.slice(0, ownerAt), ...argv.slice(ownerAt + 2)] : argv;
  const resolved = config(rest);
  const { openKeyStore } = await import('./store/open.js');
  const { createKey, loadOrCreateServerSecret } = await import('./auth/keys.js');
  const store = await openKeyStore(resolved);
  try {
    const secret = resolved.keySecret !== '' ? Buffer.from(resolved.keySecret) : await loadOrCreateServerSecret(resolved.dataDir);
    if (sub === 'create') {
      if (owner === undefined) throw new UsageError('keys create needs --owner <id>');
      const created = await createKey(store, secret, { owner, scopes: ['ingest', 'read'], nowMs: Date.now() });
      process.stdout.write(`${created.key}\n`);
      process.stderr.write(`key ${created.record.prefix} for owner ${owner} (ingest, read); this is the only time it is shown\n`);
      return 0;
    }
    if (sub === 'list') {
      for (const record of await store.list(owner)) {
        const state = record.revokedAtMs !== undefined ? 'revoked' : 'active';
        process.stdout.write(`${record.prefix}\t${record.owner}\t${record.scopes.join(',')}\t${state}\t${new Date(record.createdAtMs).toISOString()}\n`);
      }
      return 0;
    }
    throw new UsageError(`unknown keys command: ${sub ?? '(none)'}`);
  } finally {
    await store.close();
  }
}

class UsageError extends Error {}

/** The configuration as `config check` prints it: secrets hidden, passwords cut out of store URLs. */
function printable(resolved: ResolvedConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...resolved, keySecret: '(hidden)' };
  if (out.metricsToken !== undefined) out.metricsToken = '(hidden)';
  for (const name of ['mongodbUri', 'redisUrl'] as const) {
    const value = out[name];
    if (typeof value !== 'string') continue;
    try {
      const url = new URL(value);
      if (url.password !== '') url.password = '***';
      out[name] = url.toString();
    } catch {
      out[name] = '(hidden)';
    }
  }
  return out;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof EventideError) process.stderr.write(`eventide: ${err.code}: ${err.message}\n`);
    else if (err instanceof UsageError) process.stderr.write(`eventide: ${err.message}\n\n${HELP}`);
    else process.stderr.write(`eventide: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
