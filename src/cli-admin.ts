/**
 * `eventide keys | owners | secret`: administration from the command line.
 *
 * Two ways to reach the keys:
 * - the data directory (default): the key store of `--data-dir` (or MongoDB
 *   with `--key-store mongodb`), opened directly. Works while a server runs
 *   on it: LMDB takes writers from several processes, and the server sees a
 *   change within its key cache TTL.
 * - a running server (`--url http://host:port` with `--admin-key` or
 *   EVENTIDE_ADMIN_KEY): the /v1/admin routes, so the change is made and
 *   audited by the server.
 *
 * Every change writes one structured audit line to stderr (`audit: { action,
 * actor: "cli:<user>", ... }`); a clear key is printed once, on stdout, alone
 * on its line so scripts can take it.
 */
import os from 'node:os';
import { pino, type Logger as PinoLogger } from 'pino';
import { ENV_ADMIN_KEY, loadConfig, type ResolvedConfig } from './config.js';
import { EventideError } from './errors.js';
import type { KeyView } from './auth/keys.js';
import type { KeyScope, OwnerRecord } from './store/port.js';

/** The CLI's own flags, skipped by loadConfig; each takes a value except --json. */
const VALUE_FLAGS = ['owner', 'scopes', 'ttl-ms', 'expires-at', 'ingest-owners', 'overlap-ms', 'events-per-day-max', 'url', 'admin-key'] as const;
const SWITCH_FLAGS = ['json'] as const;

export const ADMIN_HELP = `Administration:
  eventide keys create --owner <id> [--scopes ingest,read,admin] [--ttl-ms <ms> | --expires-at <ISO date>]
                       [--ingest-owners <id,id,...|*>]      create a key (printed once, on stdout)
  eventide keys list [--owner <id>] [--json]                list keys by prefix (never a secret)
  eventide keys show <prefix> [--json]
  eventide keys revoke <prefix>                             every process refuses it within 1 s
  eventide keys rotate <prefix> [--overlap-ms <ms>]         successor key; the old one expires after the overlap
  eventide owners create <id> [--events-per-day-max <n|default>]
  eventide owners list [--json]
  eventide secret rotate | drop-previous                    rotate the server secret kept in dataDir

  On the data directory (--data-dir, or --key-store mongodb --mongodb-uri ...), or
  on a running server with --url http://host:port and --admin-key <key> (or ${ENV_ADMIN_KEY}).
`;

export class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string>;
  json: boolean;
  rest: string[];
}

function parse(argv: readonly string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  let json = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if ((SWITCH_FLAGS as readonly string[]).includes(name)) {
      json = true;
      continue;
    }
    if ((VALUE_FLAGS as readonly string[]).includes(name)) {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
      continue;
    }
    // A setting flag: loadConfig validates it (and its value, if any follows).
    rest.push(arg);
    if (eq === -1 && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) rest.push(argv[++i]!);
  }
  return { positional, flags, json, rest };
}

function integerFlag(flags: Map<string, string>, name: string): number | undefined {
  const text = flags.get(name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} must be a whole number`);
  return Number(text);
}

/** What both ways (data dir, server) can do. */
interface Admin {
  createKey(body: Record<string, unknown>): Promise<KeyView & { key: string }>;
  listKeys(owner: string | undefined): Promise<KeyView[]>;
  showKey(prefix: string): Promise<KeyView>;
  revokeKey(prefix: string): Promise<KeyView>;
  rotateKey(prefix: string, overlapMs: number | undefined): Promise<KeyView & { key: string; previous: KeyView }>;
  putOwner(body: Record<string, unknown>): Promise<{ record: OwnerRecord; created: boolean }>;
  listOwners(): Promise<OwnerRecord[]>;
  close(): Promise<void>;
}

/** An error answer of a server, shown like a local one. */
class RemoteError extends EventideError {
  readonly retryable: boolean;
  constructor(
    readonly code: string,
    message: string,
    retryable: boolean,
  ) {
    super(message);
    this.retryable = retryable;
  }
}

function remoteAdmin(url: string, adminKey: string): Admin {
  const base = url.replace(/\/+$/, '');
  async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const answer = (await response.json()) as T & { error?: { code: string; message: string; retryable: boolean } };
    if (answer.error !== undefined) throw new RemoteError(answer.error.code, answer.error.message, answer.error.retryable);
    return { status: response.status, body: answer };
  }
  return {
    createKey: async (body) => (await call<KeyView & { key: string }>('POST', '/v1/admin/keys', body)).body,
    listKeys: async (owner) =>
      (await call<{ keys: KeyView[] }>('GET', `/v1/admin/keys${owner === undefined ? '' : `?owner=${encodeURIComponent(owner)}`}`)).body.keys,
    showKey: async (prefix) => (await call<KeyView>('GET', `/v1/admin/keys/${encodeURIComponent(prefix)}`)).body,
    revokeKey: async (prefix) => (await call<KeyView>('POST', `/v1/admin/keys/${encodeURIComponent(prefix)}/revoke`)).body,
    rotateKey: async (prefix, overlapMs) =>
      (await call<KeyView & { key: string; previous: KeyView }>('POST', `/v1/admin/keys/${encodeURIComponent(prefix)}/rotate`, overlapMs === undefined ? {} : { overlapMs }))
        .body,
    putOwner: async (body) => {
      const answer = await call<OwnerRecord>('POST', '/v1/admin/owners', body);
      return { record: answer.body, created: answer.status === 201 };
    },
    listOwners: async () => (await call<{ owners: OwnerRecord[] }>('GET', '/v1/admin/owners')).body.owners,
    close: () => Promise.resolve(),
  };
}

async function localAdmin(config: ResolvedConfig): Promise<Admin> {
  const { openKeyStore } = await import('./store/open.js');
  const { createKey, keyView, revokeKey, rotateKey } = await import('./auth/keys.js');
  const { resolveServerSecrets } = await import('./auth/secret.js');
  const { setOwnerQuota } = await import('./auth/owners.js');
  const { NotFoundError } = await import('./edge/errors.js');
  const store = await openKeyStore(config);
  try {
    const secrets = await resolveServerSecrets(config);
    const now = Date.now;
    return {
      async createKey(body) {
        const nowMs = now();
        const input: Parameters<typeof createKey>[2] = { owner: body.owner as string, scopes: body.scopes as KeyScope[], nowMs };
        if (typeof body.ttlMs === 'number') input.expiresAtMs = nowMs + body.ttlMs;
        if (typeof body.expiresAtMs === 'number') input.expiresAtMs = body.expiresAtMs;
        if (body.ingestOwners !== undefined) input.ingestOwners = body.ingestOwners as string[];
        const created = await createKey(store, secrets, input);
        return { key: created.key, ...keyView(created.record, nowMs) };
      },
      listKeys: async (owner) => (await store.list(owner)).map((record) => keyView(record, now())),
      async showKey(prefix) {
        const record = await store.getByPrefix(prefix);
        if (record === undefined) throw new NotFoundError(`no key ${prefix}`, 'prefix');
        return keyView(record, now());
      },
      async revokeKey(prefix) {
        const record = await revokeKey(store, prefix, now());
        if (record === undefined) throw new NotFoundError(`no key ${prefix}`, 'prefix');
        return keyView(record, now());
      },
      async rotateKey(prefix, overlapMs) {
        const nowMs = now();
        const rotated = await rotateKey(store, secrets, prefix, nowMs, overlapMs ?? config.keyRotateOverlapMs);
        if (rotated === undefined) throw new NotFoundError(`no key ${prefix}`, 'prefix');
        return { key: rotated.key, ...keyView(rotated.record, nowMs), previous: keyView(rotated.previous, nowMs) };
      },
      putOwner: (body) => setOwnerQuota(store, { owner: body.owner, eventsPerDayMax: body.eventsPerDayMax }, now()),
      listOwners: () => store.listOwners(),
      close: () => store.close(),
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

function auditLog(): PinoLogger {
  return pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

function actor(remote: boolean, adminKey: string | undefined): string {
  if (remote) return adminKey?.slice(0, 12) ?? 'unknown';
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (containers): the uid is all there is.
  }
  return `cli:${user}`;
}

function keyLine(view: KeyView): string {
  const expires = view.expiresAtMs === undefined ? '-' : new Date(view.expiresAtMs).toISOString();
  return [view.prefix, view.owner, view.scopes.join(','), view.state, new Date(view.createdAtMs).toISOString(), expires, view.rotatedTo ?? '-', view.secretId ?? '-'].join('\t');
}

/** Runs `keys`, `owners` or `secret`; the exit code. */
export async function runAdmin(command: 'keys' | 'owners' | 'secret', argv: readonly string[]): Promise<number> {
  const [sub, ...more] = argv;
  const parsed = parse(more);
  const out = (text: string): boolean => process.stdout.write(text);
  const config = (): ResolvedConfig =>
    loadConfig({ argv: parsed.rest, env: process.env, cwd: process.cwd(), ignoreFlags: [...VALUE_FLAGS, ...SWITCH_FLAGS] });

  if (command === 'secret') {
    const { rotateServerSecretFile, dropPreviousServerSecretFile } = await import('./auth/secret.js');
    const resolved = config();
    if (resolved.keySecret !== '') throw new UsageError('keySecret is set in the configuration: rotate it there (see README, Security), not in dataDir');
    const log = auditLog();
    if (sub === 'rotate') {
      const ids = await rotateServerSecretFile(resolved.dataDir);
      log.info({ audit: { action: 'secret.rotate', actor: actor(false, undefined), ...ids } }, 'admin action');
      process.stderr.write(
        `server secret rotated in ${resolved.dataDir}: current ${ids.currentId}, previous ${ids.previousId}.\n` +
          'Restart every server on this data directory; keys are re-hashed as they are used. When `eventide keys list` shows\n' +
          `no key on ${ids.previousId} you need, run \`eventide secret drop-previous\`.\n`,
      );
      return 0;
    }
    if (sub === 'drop-previous') {
      const dropped = await dropPreviousServerSecretFile(resolved.dataDir);
      log.info({ audit: { action: 'secret.drop-previous', actor: actor(false, undefined), dropped } }, 'admin action');
      process.stderr.write(dropped ? 'previous server secret deleted; restart the servers.\n' : 'there was no previous server secret.\n');
      return 0;
    }
    throw new UsageError(`unknown secret command: ${sub ?? '(none)'}`);
  }

  const url = parsed.flags.get('url');
  const adminKey = parsed.flags.get('admin-key') ?? process.env[ENV_ADMIN_KEY];
  if (url !== undefined && (adminKey === undefined || adminKey === '')) throw new UsageError(`--url needs --admin-key or ${ENV_ADMIN_KEY}`);
  const admin = url !== undefined ? remoteAdmin(url, adminKey!) : await localAdmin(config());
  const audit = url === undefined ? auditLog() : undefined;
  const record = (action: string, details: Record<string, unknown>): void => {
    audit?.info({ audit: { action, actor: actor(false, undefined), ...details } }, 'admin action');
  };
  try {
    const prefixArg = (): string => {
      const prefix = parsed.positional[0];
      if (prefix === undefined) throw new UsageError(`${command} ${sub ?? ''} needs a key prefix (evt_XXXXXXXX)`);
      return prefix;
    };
    if (command === 'keys') {
      switch (sub) {
        case 'create': {
          const owner = parsed.flags.get('owner');
          if (owner === undefined) throw new UsageError('keys create needs --owner <id>');
          const body: Record<string, unknown> = { owner, scopes: (parsed.flags.get('scopes') ?? 'ingest,read').split(',').filter((s) => s !== '') };
          const ttlMs = integerFlag(parsed.flags, 'ttl-ms');
          if (ttlMs !== undefined) body.ttlMs = ttlMs;
          const expiresAt = parsed.flags.get('expires-at');
          if (expiresAt !== undefined) {
            const ms = /^\d+$/.test(expiresAt) ? Number(expiresAt) : Date.parse(expiresAt);
            if (!Number.isSafeInteger(ms)) throw new UsageError('--expires-at must be an ISO date or unix ms');
            body.expiresAtMs = ms;
          }
          const ingestOwners = parsed.flags.get('ingest-owners');
          if (ingestOwners !== undefined) body.ingestOwners = ingestOwners.split(',').filter((s) => s !== '');
          const created = await admin.createKey(body);
          record('key.create', { owner, prefix: created.prefix, scopes: created.scopes, ingestOwners: created.ingestOwners });
          out(`${created.key}\n`);
          process.stderr.write(`key ${created.prefix} for owner ${owner} (${created.scopes.join(', ')}); this is the only time it is shown\n`);
          return 0;
        }
        case 'list': {
          const views = await admin.listKeys(parsed.flags.get('owner'));
          if (parsed.json) out(`${JSON.stringify(views, null, 2)}\n`);
          else for (const view of views) out(`${keyLine(view)}\n`);
          return 0;
        }
        case 'show': {
          const view = await admin.showKey(prefixArg());
          out(parsed.json ? `${JSON.stringify(view, null, 2)}\n` : `${keyLine(view)}\n`);
          return 0;
        }
        case 'revoke': {
          const view = await admin.revokeKey(prefixArg());
          record('key.revoke', { prefix: view.prefix, owner: view.owner });
          process.stderr.write(`key ${view.prefix} of ${view.owner} revoked; every server refuses it within a second\n`);
          return 0;
        }
        case 'rotate': {
          const rotated = await admin.rotateKey(prefixArg(), integerFlag(parsed.flags, 'overlap-ms'));
          record('key.rotate', { prefix: rotated.previous.prefix, successor: rotated.prefix, owner: rotated.owner });
          out(`${rotated.key}\n`);
          const until = rotated.previous.expiresAtMs === undefined ? 'its expiry' : new Date(rotated.previous.expiresAtMs).toISOString();
          process.stderr.write(`key ${rotated.prefix} replaces ${rotated.previous.prefix}, which works until ${until}; the new key is shown only now\n`);
          return 0;
        }
      }
      throw new UsageError(`unknown keys command: ${sub ?? '(none)'}`);
    }
    switch (sub) {
      case 'create': {
        const owner = parsed.positional[0] ?? parsed.flags.get('owner');
        if (owner === undefined) throw new UsageError('owners create needs an owner id');
        const body: Record<string, unknown> = { owner };
        const quota = parsed.flags.get('events-per-day-max');
        if (quota !== undefined) body.eventsPerDayMax = quota === 'default' ? null : integerFlag(parsed.flags, 'events-per-day-max');
        const { record: owned, created } = await admin.putOwner(body);
        record(created ? 'owner.create' : 'owner.update', { owner, eventsPerDayMax: owned.eventsPerDayMax });
        out(`${JSON.stringify(owned)}\n`);
        return 0;
      }
      case 'list': {
        const owners = await admin.listOwners();
        if (parsed.json) out(`${JSON.stringify(owners, null, 2)}\n`);
        else for (const o of owners) out(`${o.owner}\t${o.eventsPerDayMax ?? 'default'}\t${new Date(o.createdAtMs).toISOString()}\n`);
        return 0;
      }
    }
    throw new UsageError(`unknown owners command: ${sub ?? '(none)'}`);
  } finally {
    await admin.close();
    audit?.flush();
  }
}
