/**
 * Hostile ws clients: silent peers, peers that never answer a ping, messages
 * shaped to make JSON.parse work, junk before authentication. The idle check
 * runs on timers the test fires by hand; a real server with a short
 * wsIdleTimeoutMs shows the same end to end.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import type { Router } from '../../src/runtime/router.js';
import type { LiveSource } from '../../src/runtime/router.js';
import { createHttpServer, HTTP_DEFAULTS, type Principal } from '../../src/edge/http.js';
import { LiveHub } from '../../src/edge/live.js';
import { registerStreamRoute, STREAM_DEFAULTS, type StreamStats, type StreamTimers } from '../../src/edge/ws.js';
import { startTestServer } from '../helpers.js';

const KEYS: Record<string, Principal> = { 'k-read': { owner: 'acme', scopes: ['read'] } };
const IDLE_MS = 60_000;

class ManualTimers implements StreamTimers {
  readonly callbacks = new Map<number, () => void>();
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

const source: LiveSource = {
  watch: () => Promise.resolve([]),
  unwatch: () => {},
  onDeltas: () => {},
};

type Frame = Record<string, unknown>;

/** A client whose frames are awaited one at a time, and whose close is a promise. */
function client(url: string, autoPong: boolean): { ws: WebSocket; next: () => Promise<Frame>; closed: Promise<number>; opened: Promise<void> } {
  const ws = new WebSocket(url, { autoPong });
  const frames: Frame[] = [];
  const waiters: Array<(frame: Frame) => void> = [];
  ws.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as Frame;
    const waiter = waiters.shift();
    if (waiter) waiter(frame);
    else frames.push(frame);
  });
  return {
    ws,
    next: () => {
      const frame = frames.shift();
      return frame ? Promise.resolve(frame) : new Promise((resolve) => waiters.push(resolve));
    },
    closed: new Promise((resolve) => ws.on('close', (code: number) => resolve(code))),
    opened: new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
  };
}

async function setup(t: TestContext): Promise<{ url: string; timers: ManualTimers; stats: StreamStats }> {
  const hub = new LiveHub({
    source, deltaTickMs: 250, deltaHistoryFramesMax: 8, wsBufferedBytesMax: 1 << 20,
    liveChannelsMax: 100, liveUnwatchGraceMs: 30_000, allowedLatenessMs: 5_000, clock: () => 0,
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
    config: { ...STREAM_DEFAULTS, wsClientsMax: 10, wsSubscriptionsMax: 4, wsMessageBytesMax: 64 * 1024, wsIdleTimeoutMs: IDLE_MS },
    timers,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(async () => {
    for (const socket of app.websocketServer.clients) socket.terminate();
    hub.close();
    await app.close();
  });
  const { port } = app.server.address() as { port: number };
  return { url: `ws://127.0.0.1:${port}/v1/stream`, timers, stats };
}

void test('a peer that answers pings stays; one that does not is closed with EVT_WS_IDLE_TIMEOUT and 1008', async (t) => {
  const { url, timers, stats } = await setup(t);
  const live = client(`${url}?key=k-read`, true);
  const mute = client(`${url}?key=k-read`, false);
  await Promise.all([live.opened, mute.opened]);
  // A ping message, answered in order after everything the client sent before it, proves the server has read all of it.
  const roundTrip = async (c: ReturnType<typeof client>) => {
    c.ws.send(JSON.stringify({ type: 'ping' }));
    assert.deepEqual(await c.next(), { type: 'pong' });
  };
  await roundTrip(live);
  await roundTrip(mute);

  // First check: both were heard (their ping messages); each gets a ws ping.
  const pinged = Promise.all([new Promise((r) => live.ws.once('ping', r)), new Promise((r) => mute.ws.once('ping', r))]);
  timers.fireAll();
  await pinged;
  await roundTrip(live); // its automatic pong went out before this message
  // Second check: the live one answered (and sent a message); the mute one sent nothing at all.
  timers.fireAll();
  const frame = await mute.next();
  assert.equal(frame.code, 'EVT_WS_IDLE_TIMEOUT');
  assert.equal(await mute.closed, 1008);
  assert.equal(stats.idleClosed, 1);
  assert.equal(live.ws.readyState, WebSocket.OPEN);
  await roundTrip(live);
});

void test('on a real server, a peer that never answers a ping is closed with EVT_WS_IDLE_TIMEOUT and 1008', async (t) => {
  const server = await startTestServer(t, { wsIdleTimeoutMs: 1_000 });
  const mute = client(`${server.wsUrl}?key=${server.key}`, false);
  await mute.opened;
  const frame = await mute.next();
  assert.equal(frame.code, 'EVT_WS_IDLE_TIMEOUT');
  assert.equal(await mute.closed, 1008);
});

void test('messages shaped for JSON.parse, and junk before auth, get error frames; the connection goes on', async (t) => {
  const { url } = await setup(t);
  const c = client(url, true);
  await c.opened;
  // Before auth: not JSON, too deep, too many values. Each is an error frame, not a close.
  for (const text of ['not json', '['.repeat(60_000), `{"type":"auth","junk":[${'0,'.repeat(30_000)}0]}`]) {
    c.ws.send(text);
    const frame = await c.next();
    assert.equal(frame.code, 'EVT_WS_MESSAGE_INVALID', text.slice(0, 20));
  }
  c.ws.send(JSON.stringify({ type: 'auth', key: 'k-read' }));
  c.ws.send(JSON.stringify({ type: 'subscribe', resolution: '1m', resume: { epoch: 'x'.repeat(10_000), seq: 1 } }));
  assert.equal((await c.next()).code, 'EVT_WS_MESSAGE_INVALID');
  c.ws.send(JSON.stringify({ type: 'subscribe', resolution: '1m', owner: { $ne: null } }));
  assert.equal((await c.next()).code, 'EVT_FORBIDDEN');
  // JSON.parse makes "__proto__" an own key, not the prototype: no owner is named, the key's own is used.
  c.ws.send('{"type":"subscribe","resolution":"1m","__proto__":{"owner":"other"}}');
  const snapshot = await c.next();
  assert.equal(snapshot.type, 'snapshot');
  assert.equal(snapshot.channel, 'acme/1m');
  // Binary frames are messages like text ones.
  c.ws.send(Buffer.from(JSON.stringify({ type: 'ping' })));
  assert.deepEqual(await c.next(), { type: 'pong' });
});
