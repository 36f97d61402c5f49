/**
 * The Dockerfile and compose.yaml, checked as far as this machine allows:
 * it has a docker CLI but no daemon, no compose plugin and no registry, so
 * nothing here builds or runs a container (docs/deploy.md says so).
 *
 * - Dockerfile: multi-stage on node:<engines major>-slim, non-root user, the
 *   data volume where the data directory points, the default ports exposed,
 *   every COPY source present in the build context; its HEALTHCHECK command
 *   is run for real against a server (and against nothing).
 * - compose.yaml: parsed; MongoDB 7 and Redis 7 with health checks, wired in
 *   through MONGODB_URI / REDIS_URL to their service names; its environment
 *   resolves through eventide's own configuration loader; the stop grace
 *   period covers the drain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { defaults } from '../config/defaults.js';
import { loadConfig } from '../src/config.js';
import { startTestServer } from './helpers.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op, ...rest] = line.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

/** Instructions per stage (a stage starts at FROM). */
function stages(all: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const instruction of all) {
    if (instruction.op === 'FROM') out.push([]);
    out.at(-1)?.push(instruction);
  }
  return out;
}

function dockerignore(): string[] {
  return read('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

const dockerfile = instructions(read('Dockerfile'));
const [buildStage, runtimeStage] = stages(dockerfile) as [Instruction[], Instruction[]];
const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;

void test('Dockerfile: two stages on node:<engines major>-slim; the runtime one runs as a user, with /data as the volume and data directory', () => {
  assert.ok(buildStage !== undefined && runtimeStage !== undefined, 'a build stage and a runtime stage');
  const nodeVersion = /^ARG NODE_VERSION=(\d+)$/m.exec(read('Dockerfile'))?.[1];
  assert.equal(nodeVersion, /(\d+)/.exec(engines)?.[1], `the image's Node major is the one package.json engines names (${engines})`);
  for (const stage of [buildStage, runtimeStage]) assert.match(stage[0]!.args, /^node:\$\{NODE_VERSION\}-slim( AS \w+)?$/);

  const users = runtimeStage.filter((i) => i.op === 'USER').map((i) => i.args);
  assert.deepEqual(users, ['node'], 'runs as the unprivileged node user');
  assert.ok(runtimeStage.some((i) => i.op === 'VOLUME' && i.args === '["/data"]'));
  const env = runtimeStage.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
  assert.match(env, /EVENTIDE_DATA_DIR=\/data\b/, 'the data directory is the volume');
  assert.match(env, /EVENTIDE_HOST=0\.0\.0\.0\b/, 'listens beyond the container');
  const exposed = runtimeStage.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map(Number);
  assert.deepEqual(exposed.sort(), [defaults.grpcPort, defaults.httpPort].sort());
  assert.match(env, new RegExp(`EVENTIDE_HTTP_PORT=${defaults.httpPort}\\b`));
  assert.ok(runtimeStage.some((i) => i.op === 'STOPSIGNAL' && i.args === 'SIGTERM'));
  assert.ok(buildStage.some((i) => i.op === 'RUN' && /npm ci\b/.test(i.args)), 'the lockfile decides the dependencies');
  assert.ok(buildStage.some((i) => i.op === 'RUN' && /npm prune --omit=dev/.test(i.args)), 'the runtime gets production dependencies only');
});

void test('Dockerfile: every COPY source is in the build context, and the runtime stage gets what the package ships', () => {
  const ignored = dockerignore();
  for (const copy of dockerfile.filter((i) => i.op === 'COPY' && !i.args.includes('--from='))) {
    const sources = copy.args.split(/\s+/).filter((word) => !word.startsWith('--')).slice(0, -1);
    for (const source of sources) {
      assert.ok(existsSync(path.join(ROOT, source)), `COPY ${source}: exists`);
      assert.ok(!ignored.includes(source.replace(/\/$/, '')), `COPY ${source}: not excluded by .dockerignore`);
    }
  }
  for (const needed of ['node_modules', 'dist', '.git', 'data']) assert.ok(ignored.includes(needed), `.dockerignore keeps ${needed} out of the context`);
  const runtimeCopies = runtimeStage.filter((i) => i.op === 'COPY').map((i) => i.args);
  for (const shipped of ['package.json', 'node_modules', 'dist/src', 'dist/config', 'proto']) {
    assert.ok(runtimeCopies.some((args) => args.split(/\s+/).some((word) => word.replace(/^\/app\//, '') === shipped)), `the runtime stage has ${shipped}`);
  }
});

void test('Dockerfile: the HEALTHCHECK command is healthy against a live server and unhealthy against none', async (t) => {
  const healthcheck = runtimeStage.find((i) => i.op === 'HEALTHCHECK');
  assert.ok(healthcheck !== undefined);
  const exec = /CMD (\[.*\])$/.exec(healthcheck.args)?.[1];
  assert.ok(exec !== undefined, 'exec form');
  const [command, ...args] = JSON.parse(exec) as string[];
  assert.equal(command, 'node');
  assert.match(args.join(' '), /\/livez/);

  const server = await startTestServer(t);
  const port = new URL(server.httpUrl).port;
  const healthy = await run(process.execPath, args, { env: { ...process.env, EVENTIDE_HTTP_PORT: port } });
  assert.equal(healthy.stderr, '');
  await server.close();
  await assert.rejects(run(process.execPath, args, { env: { ...process.env, EVENTIDE_HTTP_PORT: port } }), (err: { code?: number }) => err.code === 1);
});

interface ComposeService {
  build?: string;
  image?: string;
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  init?: boolean;
}

void test('compose.yaml: eventide with mongo:7 and redis:7, healthy first, wired through MONGODB_URI / REDIS_URL', () => {
  const compose = parse(read('compose.yaml')) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
  const { eventide, mongo, redis } = compose.services;
  assert.ok(eventide !== undefined && mongo !== undefined && redis !== undefined);
  assert.equal(eventide.build, '.');
  assert.equal(mongo.image, 'mongo:7');
  assert.equal(redis.image, 'redis:7');
  assert.ok(eventide.init, 'an init process forwards signals and reaps');

  const env = eventide.environment ?? {};
  assert.equal(new URL(env.MONGODB_URI ?? '').hostname, 'mongo', 'MongoDB by its service name');
  assert.equal(new URL(env.REDIS_URL ?? '').hostname, 'redis', 'Redis by its service name');
  // The environment as eventide itself reads it: every name known, every value valid, the real stores chosen.
  const config = loadConfig({ argv: [], env, cwd: ROOT });
  assert.equal(config.eventStore, 'mongodb');
  assert.equal(config.snapshotStore, 'redis');

  for (const name of ['mongo', 'redis']) {
    assert.equal(eventide.depends_on?.[name]?.condition, 'service_healthy', `waits for ${name}`);
    assert.ok((compose.services[name]!.healthcheck?.test.length ?? 0) > 1, `${name} has a health check`);
  }
  assert.deepEqual(eventide.ports?.map((p) => Number(p.split(':').at(-1))).sort(), [defaults.grpcPort, defaults.httpPort].sort());
  assert.ok(eventide.volumes?.some((v) => v.endsWith(':/data')), 'the data volume is mounted where the image keeps its data');
  for (const volume of [...(eventide.volumes ?? []), ...(mongo.volumes ?? []), ...(redis.volumes ?? [])]) {
    assert.ok(Object.hasOwn(compose.volumes, volume.split(':')[0]!), `${volume}: a declared volume`);
  }
  const graceS = Number(/^(\d+)s$/.exec(eventide.stop_grace_period ?? '')?.[1]);
  assert.ok(graceS > 30, 'docker waits longer than the 30 s drain before it kills');
});

void test('the docker CLI, where it works offline, accepts compose.yaml', async (t) => {
  // Here: a docker CLI without the compose plugin and without a daemon. Where both are there, this runs.
  const probe = await run('docker', ['compose', 'version']).catch(() => undefined);
  if (probe === undefined) {
    t.skip('no `docker compose` here (docker CLI without the compose plugin, or no docker at all)');
    return;
  }
  const { stdout } = await run('docker', ['compose', '-f', path.join(ROOT, 'compose.yaml'), 'config', '--quiet'], { cwd: ROOT });
  assert.equal(stdout, '');
});
