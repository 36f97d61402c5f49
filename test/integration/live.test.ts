/**
 * Live metrics over ws against the real runtime: a snapshot, then deltas that
 * add up to what was sent, and a resume after a reconnect that misses nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { eventually, postEvents, startTestServer } from '../helpers.js';

interface Frame {
  type: string;
  epoch?: string;
  seq?: number;
  fromSeq?: number;
  code?: string;
  windows?: Array<{ total: number }>;
  deltas?: Array<{ total: number; byName: Record<string, number> }>;
}

function connect(url: string): Promise<{ ws: WebSocket; frames: Frame[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const frames: Frame[] = [];
    ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as Frame));
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

test('ws with an unknown key gets an error and is closed with 1008', async (t) => {
  const server = await startTestServer(t);
  const ws = new WebSocket(`${server.wsUrl}?key=evt_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB`);
  const frames: Frame[] = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as Frame));
  const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
  assert.equal(code, 1008);
  assert.equal(frames[0]?.code, 'EVT_UNAUTHENTICATED');
});
