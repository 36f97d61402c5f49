/**
 * Live metrics over ws against the real runtime: a snapshot, then deltas that
 * add up to what was sent, and a resume after a reconnect that misses nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { eventually, getJson, postEvents, startTestServer } from '../helpers.js';

interface Frame {
  type: string;
  channel?: string;
  epoch?: string;
  seq?: number;
  fromSeq?: number;
  oldestReceivedAtMs?: number;
  arrivedAtMs?: number;
  code?: string;
  windows?: Array<{ total: number }>;
  deltas?: Array<{ total: number; byName: Record<string, number> }>;
}

function connect(url: string): Promise<{ ws: WebSocket; frames: Frame[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const frames: Frame[] = [];
    ws.on('message', (data: Buffer) => frames.push({ ...(JSON.parse(data.toString()) as Frame), arrivedAtMs: Date.now() }));
    ws.once('open', () => resolve({ ws, frames }));
    ws.once('error', reject);
  });
}

function deltaTotal(frames: Frame[]): number {
  return frames.filter((f) => f.type === 'delta').reduce((sum, f) => sum + (f.deltas ?? []).reduce((s, d) => s + d.total, 0), 0);
}

function batch(prefix: string, count: number): string {
  const now = Date.now();
  return JSON.stringify({ events: Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, name: i % 2 ? 'a' : 'b', timestamp: now })) });
}

test('a ws subscriber gets a snapshot, then deltas that add up, and resumes after a reconnect', async (t) => {
  const server = await startTestServer(t);
  assert.equal((await postEvents(server, server.key, batch('pre', 7))).status, 200);

  const first = await connect(`${server.wsUrl}?key=${server.key}`);
  first.ws.send(JSON.stringify({ type: 'subscribe', resolution: '1h' }));
  await eventually(() => first.frames.some((f) => f.type === 'snapshot'));
  const snapshot = first.frames.find((f) => f.type === 'snapshot')!;
  assert.equal(snapshot.windows!.reduce((sum, w) => sum + w.total, 0), 7, 'the snapshot holds what was sent before');

  for (let b = 0; b < 3; b++) assert.equal((await postEvents(server, server.key, batch(`live-${b}`, 10))).status, 200);
  await eventually(() => deltaTotal(first.frames) === 30);
  const lastSeq = Math.max(...first.frames.map((f) => f.seq ?? 0));
  first.ws.close();

  // Missed while away, then picked up by resuming from the last sequence.
  assert.equal((await postEvents(server, server.key, batch('away', 12))).status, 200);
  await new Promise((resolve) => setTimeout(resolve, 200)); // let a delta tick publish while nobody listens
  const second = await connect(`${server.wsUrl}?key=${server.key}`);
  second.ws.send(JSON.stringify({ type: 'subscribe', resolution: '1h', resume: { epoch: snapshot.epoch, seq: lastSeq } }));
  await eventually(() => deltaTotal(second.frames) === 12);
  assert.equal(second.frames.some((f) => f.type === 'snapshot' || f.type === 'reset'), false, 'resumed, not reset');
  second.ws.close();
});

test('each delta frame carries the edge receive time of the oldest batch it reports, at every resolution', async (t) => {
  const server = await startTestServer(t);
  const { ws, frames } = await connect(`${server.wsUrl}?key=${server.key}`);
  t.after(() => ws.close());
  ws.send(JSON.stringify({ type: 'subscribe', resolution: '1s' }));
  ws.send(JSON.stringify({ type: 'subscribe', resolution: '1m' }));
  await eventually(() => frames.filter((f) => f.type === 'snapshot').length === 2);

  // Batches sent together, each under a name of its own, so a frame's names say which batches it reports.
  const BATCHES = 6;
  const EVENTS = 3;
  const bodies = Array.from({ length: BATCHES }, (_, b) => {
    const now = Date.now();
    return JSON.stringify({ events: Array.from({ length: EVENTS }, (_, i) => ({ id: `rt-${b}-${i}`, name: `batch${b}`, timestamp: now })) });
  });
  for (const r of await Promise.all(bodies.map((body) => postEvents(server, server.key, body)))) assert.equal(r.status, 200);
  const receivedAt = new Map<string, number>();
  for (let b = 0; b < BATCHES; b++) {
    const { status, body } = await getJson(`${server.httpUrl}/v1/events/rt-${b}-0`, server.key);
    assert.equal(status, 200);
    receivedAt.set(`batch${b}`, (body as { event: { event: { receivedAtMs: number } } }).event.event.receivedAtMs);
  }

  const deltasOf = (channel: string) => frames.filter((f) => f.type === 'delta' && f.channel === channel);
  const totalOf = (list: Frame[]) => list.reduce((sum, f) => sum + (f.deltas ?? []).reduce((s, d) => s + d.total, 0), 0);
  await eventually(() => totalOf(deltasOf('acme/1s')) === BATCHES * EVENTS && totalOf(deltasOf('acme/1m')) === BATCHES * EVENTS);
  for (const channel of ['acme/1s', 'acme/1m']) {
    for (const frame of deltasOf(channel)) {
      const names = new Set((frame.deltas ?? []).flatMap((d) => Object.keys(d.byName)));
      const expected = Math.min(...[...names].map((name) => receivedAt.get(name)!));
      assert.equal(frame.oldestReceivedAtMs, expected, `${channel} seq ${frame.seq} reports ${[...names].join(', ')}`);
      assert.ok(frame.arrivedAtMs! >= frame.oldestReceivedAtMs, 'one clock: a frame arrives after the batches it reports');
    }
  }
});

test('ws with an unknown key gets an error and is closed with 1008', async (t) => {
  const server = await startTestServer(t);
  const ws = new WebSocket(`${server.wsUrl}?key=evt_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB`);
  const frames: Frame[] = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as Frame));
  const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
  assert.equal(code, 1008);
  assert.equal(frames[0]?.code, 'EVT_UNAUTHENTICATED');
});
