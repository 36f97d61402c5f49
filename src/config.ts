/**
 * Loads eventide's configuration once, at start, from four layers in order of
 * increasing precedence:
 *
 *   defaults (config/defaults.ts)
 *   < config file (JSON; `--config <path>`, else EVENTIDE_CONFIG, else ./eventide.config.json if present)
 *   < environment (EVENTIDE_<UPPER_SNAKE>; MONGODB_URI and REDIS_URL below their EVENTIDE_ forms)
 *   < flags (`--http-port 9000`, `--http-port=9000`, `--dev-key`, `--no-dev-key`)
 *
 * Invariants:
 * - The merged settings are validated once against config/schema.ts; every
 *   problem is collected and thrown together as one ConfigError naming each
 *   setting and where its value came from.
 * - Unknown settings are errors in every layer, so a typo never passes silently.
 * - Strings from the environment and flags are coerced to the setting's type;
 *   values in the file are taken as JSON typed them (a port given as "8080" is an error).
 * - The result is frozen and has every setting; `workers: 0` is already resolved.
 * - Secret values (keySecret, the service URLs, which carry passwords) never appear in messages.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kind, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { EventideError } from './errors.js';
import { defaults } from '../config/defaults.js';
import { settingsSchema, type ResolvedConfig, type SettingName } from '../config/schema.js';

export type { ResolvedConfig } from '../config/schema.js';

export const CONFIG_FILE_DEFAULT = 'eventide.config.json';
export const ENV_PREFIX = 'EVENTIDE_';
/** Environment variable naming the config file; not a setting itself. */
export const ENV_CONFIG = 'EVENTIDE_CONFIG';
/** Environment variable the CLI reads its admin key from (`eventide keys ... --url`); not a setting either. */
export const ENV_ADMIN_KEY = 'EVENTIDE_ADMIN_KEY';

/** Unprefixed variables accepted as the conventional names of the service URLs. */
const CONVENTIONAL_ENV: Readonly<Record<string, SettingName>> = { MONGODB_URI: 'mongodbUri', REDIS_URL: 'redisUrl' };
const SECRET_SETTINGS: ReadonlySet<SettingName> = new Set(['keySecret', 'keySecretPrevious', 'mongodbUri', 'redisUrl', 'metricsToken']);

export interface ConfigIssue {
  /** The setting at fault, when the problem concerns one. */
  setting: string | undefined;
  /** Where the value came from: `EVENTIDE_HTTP_PORT`, `--http-port`, `config file /x.json`, `default`. */
  source: string;
  message: string;
}

/** The configuration is invalid. Not retryable: the same input fails the same way. */
export class ConfigError extends EventideError {
  readonly code = 'EVT_CONFIG_INVALID';
  readonly retryable = false;
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map((issue) => issue.message).join('; '), issues[0]?.setting === undefined ? undefined : { field: issues[0].setting });
  }
}

export interface LoadConfigOptions {
  /** Command-line arguments after the program (process.argv.slice(2)); positional arguments are ignored. */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Relative config paths and the default config file are resolved against this. */
  cwd: string;
  /**
   * Flags the caller handles itself (e.g. a subcommand's `owner`), without the
   * dashes; they and their value are skipped instead of failing as unknown.
   */
  ignoreFlags?: readonly string[];
}

const SETTING_NAMES = Object.keys(settingsSchema) as SettingName[];
const SETTINGS: ReadonlySet<string> = new Set(SETTING_NAMES);

function separated(name: string, separator: string): string {
  return name.replace(/[A-Z]/g, (letter) => separator + letter.toLowerCase());
}
export function flagName(setting: SettingName): string {
  return separated(setting, '-');
}
export function envName(setting: SettingName): string {
  return ENV_PREFIX + separated(setting, '_').toUpperCase();
}

const BY_FLAG = new Map(SETTING_NAMES.map((name) => [flagName(name), name]));
const BY_ENV = new Map(SETTING_NAMES.map((name) => [envName(name), name]));

interface Sourced {
  value: unknown;
  /** Human-readable origin, used in messages. */
  source: string;
  /** Came in as text (environment, flag) and must be coerced. */
  text: boolean;
}

/** Loads, merges, validates and freezes the configuration. Throws ConfigError. */
export function loadConfig(options: LoadConfigOptions): ResolvedConfig {
  const issues: ConfigIssue[] = [];
  const flags = parseFlags(options.argv, new Set(options.ignoreFlags ?? []), issues);
  const fromEnv = readEnv(options.env, issues);
  const file = readFile(options, flags.configPath, issues);

  const merged = new Map<SettingName, Sourced>();
  for (const name of SETTING_NAMES) {
    if (name in defaults) merged.set(name, { value: defaults[name as keyof typeof defaults], source: 'default', text: false });
  }
  for (const layer of [file, fromEnv, flags.settings]) for (const [name, sourced] of layer) merged.set(name, sourced);

  const out: Record<string, unknown> = {};
  for (const [name, sourced] of merged) {
    const schema: TSchema = settingsSchema[name];
    const value = sourced.text ? coerce(schema, sourced.value as string | true) : sourced.value;
    if (Value.Check(schema, value)) out[name] = value;
    else issues.push({ setting: name, source: sourced.source, message: `${label(name, sourced)}: must ${must(schema)}` });
  }
  if (issues.length === 0) crossCheck(out, merged, issues);
  if (issues.length > 0) throw new ConfigError(issues);

  // With no explicit choice, a service URL selects the real server (DESIGN.md: "with MONGODB_URI / REDIS_URL it uses the real servers").
  if (out.mongodbUri !== undefined && merged.get('eventStore')?.source === 'default') out.eventStore = 'mongodb';
  if (out.redisUrl !== undefined && merged.get('snapshotStore')?.source === 'default') out.snapshotStore = 'redis';
  // Limits shared through Redis hold across every edge process; keys never move on their own (keyStore is explicit).
  if (out.redisUrl !== undefined && merged.get('limitsStore')?.source === 'default') out.limitsStore = 'redis';
  // One worker per core, but never more workers than shards: a worker without a shard only costs memory.
  if (out.workers === 0) out.workers = Math.min(os.availableParallelism(), out.shardCount as number);
  return Object.freeze(out) as unknown as ResolvedConfig;
}

function label(name: SettingName, sourced: Sourced): string {
  const shown = SECRET_SETTINGS.has(name) ? '(hidden)' : JSON.stringify(sourced.value);
  if (sourced.source.startsWith('config file ')) return `${sourced.source}: ${name}=${shown}`;
  if (sourced.source === 'default') return `default ${name}=${shown}`;
  return `${sourced.source}=${shown}`;
}

/** The phrase after "must" for a setting's schema. */
export function must(schema: TSchema): string {
  const custom = (schema as { must?: unknown }).must;
  if (typeof custom === 'string') return custom;
  switch (schema[Kind]) {
    case 'Integer':
      return `be an integer ${String(schema.minimum)}..${String(schema.maximum)}`;
    case 'Boolean':
      return 'be true or false';
    case 'String':
      return `be a string of ${String(schema.minLength ?? 0)}..${String(schema.maxLength)} characters`;
    case 'Union':
      return `be one of ${(schema.anyOf as Array<{ const: unknown }>).map((option) => JSON.stringify(option.const)).join(', ')}`;
    default:
      return 'be valid';
  }
}

/** Text to the setting's type; what cannot be coerced is returned unchanged and fails validation with its own text. */
function coerce(schema: TSchema, raw: string | true): unknown {
  const kind = schema[Kind];
  if (kind === 'Boolean') {
    if (raw === true) return true;
    const lower = raw.toLowerCase();
    if (lower === 'true' || lower === '1' || lower === 'yes' || lower === 'on') return true;
    if (lower === 'false' || lower === '0' || lower === 'no' || lower === 'off') return false;
    return raw;
  }
  if (raw === true) return raw;
  if (kind === 'Integer') return /^[+-]?\d+$/.test(raw.trim()) ? Number(raw) : raw;
  return raw;
}

/** Smallest non-zero workerHeapMbMax: a worker's code, name table and buffers alone take tens of MiB. */
export const WORKER_HEAP_MB_MIN = 64;

function crossCheck(out: Record<string, unknown>, merged: Map<SettingName, Sourced>, issues: ConfigIssue[]): void {
  const pairs: Array<[small: SettingName, large: SettingName]> = [
    ['bodyBytesMax', 'bodyInflatedBytesMax'],
    ['flushBatchEventsMax', 'flushPendingEventsMax'],
    ['workers', 'shardCount'],
    ['walSegmentBytesMax', 'walBytesMax'],
    // Node refuses a headers timeout longer than the request timeout.
    ['httpHeadersTimeoutMs', 'httpRequestTimeoutMs'],
  ];
  for (const [small, large] of pairs) {
    if ((out[small] as number) <= (out[large] as number)) continue;
    const blamed = merged.get(small)!.source === 'default' ? large : small;
    const sourced = merged.get(blamed)!;
    issues.push({
      setting: blamed,
      source: sourced.source,
      message: `${label(blamed, sourced)}: ${small} (${String(out[small])}) must not exceed ${large} (${String(out[large])})`,
    });
  }
  // V8 cannot start an isolate in a few MiB; 0 means its own default.
  const heapMb = out.workerHeapMbMax as number;
  if (heapMb !== 0 && heapMb < WORKER_HEAP_MB_MIN) {
    const sourced = merged.get('workerHeapMbMax')!;
    issues.push({ setting: 'workerHeapMbMax', source: sourced.source, message: `${label('workerHeapMbMax', sourced)}: must be 0 (V8's default) or at least ${WORKER_HEAP_MB_MIN}` });
  }
  // TLS needs a certificate and its key; a CA for client certificates only makes sense with both.
  const tls = ['tlsCertFile', 'tlsKeyFile', 'tlsCaFile'] as const;
  const [certSet, keySet, caSet] = tls.map((name) => out[name] !== '');
  if (certSet !== keySet || (caSet && !certSet)) {
    const blamed = tls.find((name) => out[name] !== '')!;
    const sourced = merged.get(blamed)!;
    issues.push({ setting: blamed, source: sourced.source, message: `${label(blamed, sourced)}: TLS needs both tlsCertFile and tlsKeyFile` });
  }
  if (out.eventStore === 'mongodb' && out.mongodbUri === undefined) {
    const sourced = merged.get('eventStore')!;
    issues.push({ setting: 'eventStore', source: sourced.source, message: `${label('eventStore', sourced)}: needs mongodbUri (MONGODB_URI)` });
  }
  if (out.snapshotStore === 'redis' && out.redisUrl === undefined) {
    const sourced = merged.get('snapshotStore')!;
    issues.push({ setting: 'snapshotStore', source: sourced.source, message: `${label('snapshotStore', sourced)}: needs redisUrl (REDIS_URL)` });
  }
  if (out.limitsStore === 'redis' && out.redisUrl === undefined) {
    const sourced = merged.get('limitsStore')!;
    issues.push({ setting: 'limitsStore', source: sourced.source, message: `${label('limitsStore', sourced)}: needs redisUrl (REDIS_URL)` });
  }
  if (out.keyStore === 'mongodb' && out.mongodbUri === undefined) {
    const sourced = merged.get('keyStore')!;
    issues.push({ setting: 'keyStore', source: sourced.source, message: `${label('keyStore', sourced)}: needs mongodbUri (MONGODB_URI)` });
  }
}

interface ParsedFlags {
  settings: Map<SettingName, Sourced>;
  configPath: string | undefined;
}

function parseFlags(argv: readonly string[], ignore: ReadonlySet<string>, issues: ConfigIssue[]): ParsedFlags {
  const settings = new Map<SettingName, Sourced>();
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let value: string | true | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    const next = argv[i + 1];
    const takeNext = (): string | undefined => {
      if (next === undefined || next.startsWith('--')) return undefined;
      i += 1;
      return next;
    };
    if (ignore.has(name)) {
      if (value === undefined) takeNext();
      continue;
    }
    if (name === 'config') {
      configPath = value ?? takeNext();
      if (configPath === undefined) issues.push({ setting: undefined, source: '--config', message: '--config: needs a path' });
      continue;
    }
    const setting = BY_FLAG.get(name);
    if (setting === undefined && name.startsWith('no-') && value === undefined) {
      const negated = BY_FLAG.get(name.slice(3));
      if (negated !== undefined && settingsSchema[negated][Kind] === 'Boolean') {
        settings.set(negated, { value: 'false', source: `--${name}`, text: true });
        continue;
      }
    }
    if (setting === undefined) {
      issues.push({ setting: undefined, source: arg, message: `unknown flag --${name}${suggest(name, [...BY_FLAG.keys()], '--')}` });
      continue;
    }
    const flag = `--${name}`;
    if (value === undefined) {
      if (settingsSchema[setting][Kind] === 'Boolean') {
        // A bare boolean flag means true; take the next word only when it is a boolean word.
        value = next !== undefined && /^(true|false)$/i.test(next) ? takeNext() : true;
      } else {
        value = takeNext();
        if (value === undefined) {
          issues.push({ setting, source: flag, message: `${flag}: needs a value` });
          continue;
        }
      }
    }
    settings.set(setting, { value, source: flag, text: true });
  }
  return { settings, configPath };
}

function readEnv(env: Readonly<Record<string, string | undefined>>, issues: ConfigIssue[]): Map<SettingName, Sourced> {
  const settings = new Map<SettingName, Sourced>();
  for (const [variable, setting] of Object.entries(CONVENTIONAL_ENV)) {
    const value = env[variable];
    if (value !== undefined) settings.set(setting, { value, source: variable, text: true });
  }
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith(ENV_PREFIX) || variable === ENV_CONFIG || variable === ENV_ADMIN_KEY || value === undefined) continue;
    const setting = BY_ENV.get(variable);
    if (setting === undefined) {
      issues.push({ setting: undefined, source: variable, message: `unknown environment variable ${variable}${suggest(variable, [...BY_ENV.keys()], '')}` });
      continue;
    }
    settings.set(setting, { value, source: variable, text: true });
  }
  return settings;
}

function readFile(options: LoadConfigOptions, flagPath: string | undefined, issues: ConfigIssue[]): Map<SettingName, Sourced> {
  const settings = new Map<SettingName, Sourced>();
  const envPath = options.env[ENV_CONFIG];
  const given = flagPath ?? (envPath === undefined || envPath === '' ? undefined : envPath);
  const file = path.resolve(options.cwd, given ?? CONFIG_FILE_DEFAULT);
  const source = `config file ${file}`;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    // Only the implicit default file may be missing; a named one must exist.
    if (given === undefined && (cause as NodeJS.ErrnoException).code === 'ENOENT') return settings;
    const why = flagPath !== undefined ? '--config' : ENV_CONFIG;
    issues.push({ setting: undefined, source, message: `${source} (from ${why}): cannot be read (${(cause as Error).message})` });
    return settings;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    issues.push({ setting: undefined, source, message: `${source}: is not valid JSON (${(cause as Error).message})` });
    return settings;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    issues.push({ setting: undefined, source, message: `${source}: must hold a JSON object of settings` });
    return settings;
  }
  for (const [key, value] of Object.entries(parsed)) {
    // Editors use $schema to offer completion; it is not a setting.
    if (key === '$schema') continue;
    if (!SETTINGS.has(key)) {
      issues.push({ setting: key, source, message: `${source}: unknown setting "${key}"${suggest(key, SETTING_NAMES, '')}` });
      continue;
    }
    settings.set(key as SettingName, { value, source, text: false });
  }
  return settings;
}

/** ` (did you mean --http-port?)` for a near miss, else ''. */
function suggest(given: string, known: readonly string[], prefix: string): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = candidate.toLowerCase() === given.toLowerCase() ? 0 : editDistance(given, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best === undefined ? '' : ` (did you mean ${prefix}${best}?)`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
