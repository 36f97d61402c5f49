import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import type { Resolution, WindowDelta, WindowState } from '../../src/actors/types.js';
import type { LiveSource, OwnerDeltas, Router } from '../../src/runtime/router.js';
import { createHttpServer, HTTP_DEFAULTS, type Principal } from '../../src/edge/http.js';
import { LiveHub } from '../../src/edge/live.js';
import { registerStreamRoute, STREAM_DEFAULTS, type StreamStats, type StreamTimers } from '../../src/edge/ws.js';

const T0_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
const MESSAGE_BYTES_MAX = 512;

class FakeSource implements LiveSource {
  #listener: ((batch: OwnerDeltas[]) => void) | undefined;
  watch(_owner: string, _resolution: Resolution): Promise<WindowState[]> {
    return Promise.resolve([]);
  }
  unwatch(): void {}
  onDeltas(listener: (batch: OwnerDeltas[]) => void): void {
    this.#listener = listener;
  }
  emit(owner: string, delta: WindowDelta): void {
    this.#listener?.([{ owner, deltas: [delta], oldestReceivedAtMs: T0_MS }]);
  }
}

/** Timers the test fires by hand. */
class ManualTimers implements StreamTimers {
  callbacks = new Map<number, () => void>();
  #next = 0;
  setTimeout(callback: () => void): unknown {
    const id = ++this.#next;
    this.callbacks.set(id, callback);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.callbacks.delete(handle as number);
  }
  fireAll(): void {
    const pending = [...this.callbacks.values()];
    this.callbacks.clear();
    for (const callback of pending) callback();
  }
}

const KEYS: Record<string, Principal> = {
  'k-read': { owner: 'acme', scopes: ['read'] },
  'k-ingest': { owner: 'acme', scopes: ['ingest'] },
};

function delta(count: number): WindowDelta {
  return {
    resolution: '1m', startMs: T0_MS, total: count, late: 0, tooLate: 0,
    byName: { click: count }, byCategory: {}, bySeverity: {}, values: {}, uniques: 1,
  };
}

type Frame = Record<string, unknown>;

/** A ws client whose frames are awaited one by one; waiting is on events, never on a clock. */
class Client {
  readonly ws: WebSocket;
  readonly #frames: Frame[] = [];
  readonly #waiters: Array<(frame: Frame) => void> = [];
  readonly closed: Promise<number>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as Frame;
      const waiter = this.#waiters.shift();
      if (waiter) waiter(frame);
      else this.#frames.push(frame);
    });
    this.closed = new Promise((resolve) => this.ws.on('close', (code: number) => resolve(code)));
  }
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }
  next(): Promise<Frame> {
    const frame = this.#frames.shift();
    if (frame) return Promise.resolve(frame);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }
  async ask(message: unknown): Promise<Frame> {
    this.send(message);
    return this.next();
  }
}

interface Setup {
  url: string;
  source: FakeSource;
  hub: LiveHub;
  stats: StreamStats;
  timers: ManualTimers;
  connect: (query?: string, headers?: Record<string, string>) => Promise<Client>;
  /** Resolves when the server side of the next closing connection has closed. */
  serverClosed: () => Promise<void>;
}

async function setup(t: TestContext, limits: { clientsMax?: number; subscriptionsMax?: number } = {}): Promise<Setup> {
  const source = new FakeSource();
  const hub = new LiveHub({
    source, deltaTickMs: 250, deltaHistoryFramesMax: 8, wsBufferedBytesMax: 1 << 20,
    liveChannelsMax: 100, liveUnwatchGraceMs: 30_000, allowedLatenessMs: 5_000, clock: () => T0_MS,
  });
  const router = { live: source, readiness: () => ({ ready: true, workersUp: 1, workersTotal: 1, draining: false, reasons: [] }) } as unknown as Router;
  const app = createHttpServer({
    router,
    authenticate: (key) => Promise.resolve(KEYS[key]),
    config: { ...HTTP_DEFAULTS, ackDefault: 'applied', bodyBytesMax: 1024, idCharsMax: 128, nameCharsMax: 128 },
    log: false,
  });
  const timers = new ManualTimers();
  const stats = registerStreamRoute(app, {
    hub,
    authenticate: (key) => Promise.resolve(KEYS[key]),
    config: {
      ...STREAM_DEFAULTS,
      wsClientsMax: limits.clientsMax ?? 10,
      wsSubscriptionsMax: limits.subscriptionsMax ?? 16,
      wsMessageBytesMax: MESSAGE_BYTES_MAX,
    },
    timers,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const clients: Client[] = [];
  t.after(async () => {
    for (const client of clients) client.ws.terminate();
    hub.close();
    await app.close();
  });
  const { port } = app.server.address() as { port: number };
  const url = `ws://127.0.0.1:${port}/v1/stream`;
  return {
    url, source, hub, stats, timers,
    connect: async (query = '', headers = {}) => {
      const client = new Client(url + query, headers);
      clients.push(client);
      await client.opened();
      return client;
    },
    serverClosed: () => {
      return new Promise((resolve) => {
        app.websocketServer.clients.forEach((socket) => socket.once('close', () => resolve()));
      });
    },
  };
}

void test('a key in the query authenticates; subscribe gives a snapshot, then one delta per tick', async (t) => {
  const { connect, source, hub } = await setup(t);
  const client = await connect('?key=k-read');
  const snapshot = await client.ask({ type: 'subscribe', resolution: '1m' });
  assert.deepEqual([snapshot.type, snapshot.channel, snapshot.seq, snapshot.windows], ['snapshot', 'acme/1m', 0, []]);
  source.emit('acme', delta(2));
  source.emit('acme', delta(3));
  hub.tick();
  const frame = await client.next();
  assert.deepEqual([frame.type, frame.seq, frame.epoch], ['delta', 1, snapshot.epoch]);
  assert.equal((frame.deltas as WindowDelta[])[0]!.total, 5);
  assert.deepEqual(await client.ask({ type: 'ping' }), { type: 'pong' });
});

void test('the Authorization header authenticates too; a first auth message works for browsers', async (t) => {
  const { connect } = await setup(t);
  const byHeader = await connect('', { authorization: 'Bearer k-read' });
  assert.equal((await byHeader.ask({ type: 'subscribe', resolution: '1h' })).type, 'snapshot');
  const byMessage = await connect();
  byMessage.send({ type: 'auth', key: 'k-read' });
  assert.equal((await byMessage.ask({ type: 'subscribe', resolution: '1s' })).type, 'snapshot');
});

void test('auth failures: error frame, then close 1008', async (t) => {
  const { connect, stats, timers } = await setup(t);
  const cases: Array<[string, unknown, string]> = [
    ['?key=nope', undefined, 'EVT_UNAUTHENTICATED'],
    ['?key=k-ingest', undefined, 'EVT_FORBIDDEN'],
    ['', { type: 'subscribe', resolution: '1m' }, 'EVT_UNAUTHENTICATED'],
    ['', { type: 'auth', key: 'nope' }, 'EVT_UNAUTHENTICATED'],
  ];
  for (const [query, first, code] of cases) {
    const client = await connect(query);
    if (first !== undefined) client.send(first);
    const error = await client.next();
    assert.deepEqual([error.type, error.code], ['error', code], `${query} ${JSON.stringify(first)}`);
    assert.equal(await client.closed, 1008);
  }
  const silent = await connect();
  timers.fireAll();
  assert.equal((await silent.next()).code, 'EVT_WS_AUTH_TIMEOUT');
  assert.equal(await silent.closed, 1008);
  assert.equal(stats.authFailures, 5);
});

void test('bad messages get error frames with stable codes and the connection stays open', async (t) => {
  const { connect } = await setup(t, { subscriptionsMax: 2 });
  const client = await connect('?key=k-read');
  const cases: Array<[unknown, string, string?]> = [
    ['{not json', 'EVT_WS_MESSAGE_INVALID'],
    ['[1,2]', 'EVT_WS_MESSAGE_INVALID'],
    [{ kind: 'subscribe' }, 'EVT_WS_MESSAGE_INVALID', 'type'],
    [{ type: 'dance' }, 'EVT_WS_MESSAGE_TYPE_UNKNOWN', 'type'],
    [{ type: 'subscribe', resolution: '5m' }, 'EVT_WS_MESSAGE_INVALID', 'resolution'],
    [{ type: 'subscribe', resolution: '1m', resume: { epoch: 7 } }, 'EVT_WS_MESSAGE_INVALID', 'resume'],
    [{ type: 'subscribe', resolution: '1m', owner: 'globex' }, 'EVT_FORBIDDEN', 'owner'],
    [{ type: 'unsubscribe', resolution: '1m' }, 'EVT_WS_NOT_SUBSCRIBED', 'resolution'],
    [{ type: 'ping', pad: 'x'.repeat(MESSAGE_BYTES_MAX) }, 'EVT_WS_MESSAGE_TOO_LARGE'],
  ];
  for (const [message, code, field] of cases) {
    const error = await client.ask(message);
    assert.deepEqual([error.type, error.code, error.field], ['error', code, field], JSON.stringify(message));
  }
  assert.equal((await client.ask({ type: 'subscribe', resolution: '1s' })).type, 'snapshot');
  assert.equal((await client.ask({ type: 'subscribe', resolution: '1m', owner: 'acme' })).type, 'snapshot');
  assert.equal((await client.ask({ type: 'subscribe', resolution: '1m' })).code, 'EVT_WS_ALREADY_SUBSCRIBED');
  assert.equal((await client.ask({ type: 'subscribe', resolution: '1h' })).code, 'EVT_WS_SUBSCRIPTIONS_MAX');
  assert.deepEqual(await client.ask({ type: 'ping' }), { type: 'pong' });
});

void test('unsubscribe stops the frames; closing the socket removes its subscriptions from the hub', async (t) => {
  const { connect, source, hub, serverClosed } = await setup(t);
  const client = await connect('?key=k-read');
  await client.ask({ type: 'subscribe', resolution: '1m' });
  await client.ask({ type: 'subscribe', resolution: '1h' });
  client.send({ type: 'unsubscribe', resolution: '1m' });
  // Frames are in order: if a delta were still sent it would arrive before the pong.
  assert.deepEqual(await client.ask({ type: 'ping' }), { type: 'pong' });
  source.emit('acme', delta(1));
  hub.tick();
  assert.deepEqual(await client.ask({ type: 'ping' }), { type: 'pong' });
  assert.equal(hub.counters.subscribers, 1);
  const closed = serverClosed();
  client.ws.close();
  await closed;
  assert.equal(hub.counters.subscribers, 0);
});

void test('a reconnect resumes from its last seq', async (t) => {
  const { connect, source, hub, serverClosed } = await setup(t);
  const first = await connect('?key=k-read');
  const snapshot = await first.ask({ type: 'subscribe', resolution: '1m' });
  source.emit('acme', delta(1));
  hub.tick();
  const seen = await first.next();
  const closed = serverClosed();
  first.ws.close();
  await closed;
  source.emit('acme', delta(2));
  hub.tick();
  source.emit('acme', delta(4));
  hub.tick();
  const second = await connect('?key=k-read');
  const resumed = await second.ask({ type: 'subscribe', resolution: '1m', resume: { epoch: snapshot.epoch, seq: seen.seq } });
  assert.deepEqual([resumed.type, resumed.fromSeq, resumed.seq], ['delta', 2, 3]);
  assert.equal((resumed.deltas as WindowDelta[])[0]!.total, 6);
});

void test('over wsClientsMax a connection is told and closed with 1013', async (t) => {
  const { connect, stats } = await setup(t, { clientsMax: 1 });
  await connect('?key=k-read');
  const second = await connect('?key=k-read');
  assert.equal((await second.next()).code, 'EVT_WS_SERVER_FULL');
  assert.equal(await second.closed, 1013);
  assert.equal(stats.refusedFull, 1);
});
