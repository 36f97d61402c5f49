#!/usr/bin/env node
/**
 * The `eventide` command: start | keys | config check | bench.
 * Configuration comes from defaults < config file < EVENTIDE_* environment < flags
 * (src/config.ts); a bad setting stops the command with a message naming it.
 */
import { loadConfig, type ResolvedConfig } from './config.js';
import { EventideError } from './errors.js';
import { ADMIN_HELP, runAdmin, UsageError } from './cli-admin.js';

const HELP = `eventide: actor-style stream processor

Usage:
  eventide start [--<setting> <value> ...]   run the server (HTTP + ws, gRPC)
  eventide keys create --owner <id>          create a key for an owner (printed once; see below)
  eventide keys list [--owner <id>]          list keys by prefix (never the secret)
  eventide config check [...]                validate the configuration and print it
  eventide bench [--help]                    run the benchmark harness

Every setting of config/defaults.ts is a flag (--http-port 8080), an environment
variable (EVENTIDE_HTTP_PORT=8080) or a key of the JSON file given by --config.

${ADMIN_HELP}`;

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
    case 'owners':
    case 'secret':
      return runAdmin(command, argv.slice(1));
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


/** The configuration as `config check` prints it: secrets hidden, passwords cut out of store URLs. */
function printable(resolved: ResolvedConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...resolved, keySecret: '(hidden)', keySecretPrevious: '(hidden)' };
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
