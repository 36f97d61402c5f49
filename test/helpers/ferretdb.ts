/**
 * A real MongoDB-compatible server for the MongoDB adapter's tests: FerretDB
 * 1.x with its SQLite handler in a temporary directory, spawned on a loopback
 * port the server picks itself (listen on :0, port read from its log, so no
 * free-port race), its debug listener on loopback too, telemetry off.
 * Or the server at MONGODB_URI when that is set.
 *
 * Finding the binary: FERRETDB_BIN, then `ferretdb` on PATH, then where
 * .ci/install-ferretdb.sh puts it. Missing: the suite skips with a loud message
 * naming what to install or set; with CI=true the skip is a failure.
 *
 * Readiness is event-driven: the helper waits for the "Listening on" log line
 * (bounded by READY_TIMEOUT_MS), then for one answered ping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { MongoClient } from 'mongodb';

export const FERRETDB_VERSION = 'v1.24.2';
/** Longest wait for FerretDB to listen and answer a ping; a healthy start takes well under a second. */
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

export const MONGO_MISSING_MESSAGE =
  `MongoDB adapter tests need a MongoDB-compatible server. Set MONGODB_URI=mongodb://host:port, ` +
  `or build FerretDB ${FERRETDB_VERSION} with .ci/install-ferretdb.sh (needs Go) and set FERRETDB_BIN to the path it prints.`;

export function ferretdbBinary(): string | undefined {
  const candidates = [
    process.env.FERRETDB_BIN,
    ...(process.env.PATH ?? '').split(path.delimiter).map((dir) => (dir === '' ? undefined : path.join(dir, 'ferretdb'))),
    path.join(os.homedir(), '.cache', 'eventide', `ferretdb-${FERRETDB_VERSION}`, 'bin', 'ferretdb'),
  ];
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === '') continue;
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next place.
    }
  }
  return undefined;
}

export interface FerretDb {
  readonly uri: string;
  readonly port: number;
  readonly dataDir: string;
  readonly running: boolean;
  /** Stops the server (SIGTERM) and waits for it to exit. Data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops it and removes the temporary directory. */
  close(): Promise<void>;
}

async function pingOnce(uri: string): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: READY_TIMEOUT_MS });
  try {
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close();
  }
}

/** Spawns FerretDB and resolves once it answers; rejects with its output when it does not. */
function launch(binary: string, dir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    binary,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${path.join(dir, 'data')}/`,
      `--state-dir=${dir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=127.0.0.1:0',
      '--telemetry=disable',
      '--log-format=json',
      '--log-level=INFO',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`FerretDB did not listen within ${READY_TIMEOUT_MS} ms:\n${output.join('\n')}`));
    }, READY_TIMEOUT_MS);
    const onLine = (line: string): void => {
      if (output.length < 200) output.push(line);
      const match = /Listening on TCP 127\.0\.0\.1:(\d+)/.exec(line);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    };
    readline.createInterface({ input: child.stdout }).on('line', onLine);
    readline.createInterface({ input: child.stderr }).on('line', onLine);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`FerretDB exited (${code ?? signal}) before listening:\n${output.join('\n')}`));
    });
  });
}

export async function startFerretDb(binary: string): Promise<FerretDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-ferretdb-'));
  fs.mkdirSync(path.join(dir, 'data'));
  let child: ChildProcess | undefined;
  let port = 0;
  const begin = async (): Promise<void> => {
    const started = await launch(binary, dir, port);
    child = started.child;
    port = started.port;
    await pingOnce(`mongodb://127.0.0.1:${port}/`);
  };
  await begin();
  const stop = async (): Promise<void> => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    child = undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => running.kill('SIGKILL'), STOP_TIMEOUT_MS);
      running.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      running.kill('SIGTERM');
    });
  };
  return {
    get uri() {
      return `mongodb://127.0.0.1:${port}/`;
    },
    get port() {
      return port;
    },
    dataDir: dir,
    get running() {
      return child !== undefined;
    },
    stop,
    start: begin,
    async close() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface MongoTarget {
  /** Base URI without a database; tests pick their own database names. */
  uri: string;
  /** The spawned FerretDB, when the helper spawned one (undefined with MONGODB_URI). */
  ferretdb: FerretDb | undefined;
  close(): Promise<void>;
}

/**
 * The server the suite runs against: MONGODB_URI when set (unless `spawn` is
 * 'always': a fault test must be able to stop its server), else a spawned
 * FerretDB. Undefined when neither is available; the caller skips loudly.
 */
export async function mongoTarget(spawnPolicy: 'if-no-uri' | 'always' = 'if-no-uri'): Promise<MongoTarget | undefined> {
  const fromEnv = process.env.MONGODB_URI;
  if (fromEnv !== undefined && fromEnv !== '' && spawnPolicy === 'if-no-uri') {
    return { uri: fromEnv, ferretdb: undefined, close: () => Promise.resolve() };
  }
  const binary = ferretdbBinary();
  if (binary === undefined) return undefined;
  const ferretdb = await startFerretDb(binary);
  return { uri: ferretdb.uri, ferretdb, close: () => ferretdb.close() };
}

/** The message and policy for a missing server: loud skip locally, failure in CI. */
export function missingServer(t: { skip(message: string): void }, what: string): void {
  const message = `${what}: ${MONGO_MISSING_MESSAGE}`;
  if (process.env.CI === 'true') throw new Error(`CI=true and no server: ${message}`);
  console.warn(`\n!!!!! SKIPPED ${message}\n`);
  t.skip(message);
}

/** A URI naming database `dbName` on the target's server, keeping the target's query options. */
export function withDatabase(uri: string, dbName: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?]+)\/?([^?]*)(\?.*)?$/.exec(uri);
  if (match === null) throw new Error(`not a mongodb URI: ${uri}`);
  return `${match[1]}/${dbName}${match[3] ?? ''}`;
}
