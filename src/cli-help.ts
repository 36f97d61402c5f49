/**
 * The `eventide` command's help texts: one per command, and the settings
 * listing generated from the one options schema (config/schema.ts), so a new
 * setting shows up here without anyone writing it twice.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { defaults } from '../config/defaults.js';
import { settingsSchema, type SettingName } from '../config/schema.js';
import { ENV_CONFIG, CONFIG_FILE_DEFAULT, envName, flagName, must } from './config.js';

export const COMMANDS = ['start', 'keys', 'config', 'bench'] as const;
export type Command = (typeof COMMANDS)[number];

export const MAIN_HELP = `eventide: actor-style stream processor (ingest over HTTP and gRPC, live metrics over WebSocket)

Usage:
  eventide start [--<setting> <value> ...]   run the server (HTTP + ws + dashboard, gRPC)
  eventide keys create --owner <id>          create an ingest+read key for an owner (printed once)
  eventide keys list [--owner <id>]          list keys by prefix (never the secret)
  eventide config check [...]                validate the configuration and print it
  eventide bench [...]                       run the benchmark harness
  eventide <command> --help                  help for one command

Every setting of config/defaults.ts is a flag (--http-port 8080), an environment
variable (EVENTIDE_HTTP_PORT=8080) or a key of the JSON file given by --config.
\`eventide start --help\` lists them all. Documentation: docs/ in the package,
and the running server's /docs (API) and /dashboard (live view).
`;

const CONFIG_SOURCES = `Configuration, lowest to highest precedence: built-in defaults, a JSON file
(--config <file>, ${ENV_CONFIG}, or ./${CONFIG_FILE_DEFAULT} when present),
EVENTIDE_* environment variables, flags. Unknown settings and values out of
bounds stop the command with a message naming the setting and its source.
MONGODB_URI and REDIS_URL select the real MongoDB event store and Redis
snapshot store; without them everything runs on the embedded LMDB store.`;

/** Every setting as `--flag  ENV  default  (bounds)  description`, from the schema. */
export function settingsListing(): string {
  const names = Object.keys(settingsSchema) as SettingName[];
  const lines = names.map((name) => {
    const schema: TSchema = settingsSchema[name];
    const fallback = Object.hasOwn(defaults, name) ? JSON.stringify(defaults[name as keyof typeof defaults]) : 'unset';
    const boolean = schema[Kind] === 'Boolean';
    const flag = boolean ? `--${flagName(name)} | --no-${flagName(name)}` : `--${flagName(name)} <value>`;
    const bounds = boolean ? '' : `; must ${must(schema)}`;
    const description = typeof schema.description === 'string' ? schema.description : '';
    const env = name === 'mongodbUri' ? `${envName(name)} or MONGODB_URI` : name === 'redisUrl' ? `${envName(name)} or REDIS_URL` : envName(name);
    return `  ${flag}\n      ${env}, default ${fallback}${bounds}\n      ${description}`;
  });
  return `Settings (every one also works as a key of the JSON config file):\n\n${lines.join('\n')}\n`;
}

export function commandHelp(command: Command): string {
  switch (command) {
    case 'start':
      return `Usage: eventide start [--config <file>] [--<setting> <value> ...]

Runs the server: HTTP (ingest, reads, health, /metrics, the OpenAPI document at
/docs and the live dashboard at /dashboard) and ws /v1/stream on --http-port,
gRPC on --grpc-port. SIGTERM or SIGINT drains and stops it (bounded at 30 s).
On a first start with an empty data directory it creates the owner "dev" and
prints its key once (--no-dev-key turns that off; do so in production).

${CONFIG_SOURCES}

${settingsListing()}`;
    case 'keys':
      return `Usage:
  eventide keys create --owner <id> [--<setting> <value> ...]
  eventide keys list [--owner <id>] [--<setting> <value> ...]

create  makes a key with the ingest and read scopes for <id> and prints it on
        stdout, once: only a keyed hash is stored (HMAC-SHA256 with the server
        secret in the data directory, or --key-secret).
list    prints prefix, owner, scopes, state and creation time of each key;
        never the key itself.

The key store is the one the server uses: the same --data-dir (and the same
--key-secret, when one is set). It may run while the server runs.
`;
    case 'config':
      return `Usage: eventide config check [--config <file>] [--<setting> <value> ...]

Resolves the configuration exactly as \`eventide start\` would, validates it and
prints the result as JSON (secrets hidden). Exits 1 with every problem named
when it is not valid; nothing is started or written.

${CONFIG_SOURCES}

\`eventide start --help\` lists every setting.
`;
    case 'bench':
      // The harness prints its own, longer help (src/bench/options.ts).
      return '';
  }
}

export function isCommand(value: string | undefined): value is Command {
  return (COMMANDS as readonly string[]).includes(value ?? '');
}

/** `--help` or `-h` anywhere among a command's arguments. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}
