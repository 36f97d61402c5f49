#!/usr/bin/env node
/**
 * The `eventide` command: start | keys | config check | bench, each with
 * `--help` (cli-help.ts).
 * Configuration comes from defaults < config file < EVENTIDE_* environment < flags
 * (src/config.ts); a bad setting stops the command with a message naming it.
 */
import { commandHelp, isCommand, MAIN_HELP, wantsHelp } from './cli-help.js';
import { loadConfig, type ResolvedConfig } from './config.js';
import { EventideError } from './errors.js';
import { ADMIN_HELP, runAdmin, UsageError } from './cli-admin.js';

async function main(argv: string[]): Promise<number> {
  const [command, sub] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    // `eventide help start` is `eventide start --help`.
    if (command === 'help' && isCommand(sub)) return main([sub, '--help']);
    process.stdout.write(`${MAIN_HELP}\n${ADMIN_HELP}`);
    return 0;
  }
  // The bench harness has its own, longer help.
  if (isCommand(command) && command !== 'bench' && wantsHelp(argv.slice(1))) {
    process.stdout.write(command === 'keys' ? `${commandHelp(command)}\n${ADMIN_HELP}` : commandHelp(command));
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
  process.stderr.write(`unknown command: ${argv.join(' ')}\n\n${MAIN_HELP}`);
  return 2;
}

function config(argv: string[], ignoreFlags: string[] = []): ResolvedConfig {
  return loadConfig({ argv, env: process.env, cwd: process.cwd(), ignoreFlags });
}

async function start(resolved: ResolvedConfig): Promise<number> {
  const { startServer } = await import('./server.js');
  const server = await startServer({}, { config: resolved });
  // Bound to every interface (a container): links a browser can open say localhost.
  const browse = server.httpUrl.replace(/^http:\/\/(0\.0\.0\.0|\[::\]|::)(?=:)/, 'http://localhost');
  process.stdout.write(
    `eventide listening: HTTP ${server.httpUrl}  ws ${server.wsUrl}  gRPC ${server.grpcTarget}  (data in ${resolved.dataDir})\n` +
      `  dashboard ${browse}/dashboard   API docs ${browse}/docs\n`,
  );
  if (server.devKey !== undefined) {
    process.stdout.write(
      `\nFirst start: created owner "dev" and its key (shown once, stored hashed):\n\n  ${server.devKey}\n\n` +
        `Try:  curl -s -X POST ${browse}/v1/events -H 'authorization: Bearer ${server.devKey}' ` +
        `-H 'content-type: application/json' -d '{"name":"signup","userId":"u1"}'\n` +
        // In the fragment, which the browser never sends: the page reads it and removes it from the address bar.
        `Watch: ${browse}/dashboard#token=${server.devKey}\n\n`,
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
    else if (err instanceof UsageError) process.stderr.write(`eventide: ${err.message}\n\n${MAIN_HELP}`);
    else process.stderr.write(`eventide: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
