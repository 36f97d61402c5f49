/**
 * The harness's ws subscriber against a scripted ws server: what it measures
 * from each delta frame's oldestReceivedAtMs, and what it counts instead of
 * measuring. The end-to-end figure against eventide is in smoke.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { SubscriberPool } from '../../src/bench/subscribers.js';
import { eventually } from '../helpers.js';

const AGE_MS = 5_000;
const FUTURE_MS = 60_000;

void test('ws delta latency is arrival minus oldestReceivedAtMs, one value per frame with events', async (t) => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const connected = new Promise<WebSocket>((resolve) => {
    server.on('connection', (socket) => {
      socket.once('message', () => {
        socket.send(JSON.stringify({ type: 'snapshot', windows: [{ resolution: '1s', startMs: 0, total: 2 }] }));
        resolve(socket);
      });
    });
  });
  const pool = new SubscriberPool();
  t.after(() => pool.close());
  await pool.open(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/stream`, [{ owner: 0, key: 'k' }]);
  const socket = await connected;

  const sentAtMs = Date.now();
  const frame = (fields: Record<string, unknown>, deltas: unknown[]) => JSON.stringify({ type: 'delta', seq: 1, ...fields, deltas });
  socket.send(frame({ oldestReceivedAtMs: sentAtMs - AGE_MS }, [{ resolution: '1s', startMs: 0, total: 3 }]));
  socket.send(frame({ oldestReceivedAtMs: sentAtMs - AGE_MS }, [{ resolution: '1s', startMs: 0, total: 0, tooLate: 1 }])); // too-late events are reported too
  socket.send(frame({}, [{ resolution: '1s', startMs: 0, total: 1 }])); // no field: counted, not measured
  socket.send(frame({ oldestReceivedAtMs: sentAtMs + FUTURE_MS }, [{ resolution: '1s', startMs: 0, total: 1 }])); // the clocks disagree
  socket.send(frame({ fromSeq: 2 }, [])); // a resume that missed nothing: no events, nothing to measure
  await eventually(() => pool.stats[0]!.frames === 6);
  const doneAtMs = Date.now();

  assert.equal(pool.stats[0]!.total, 2 + 3 + 1 + 1);
  assert.equal(pool.untimedFrames, 1);
  assert.equal(pool.clockBehindFrames, 1);
  const summary = pool.latency.summary();
  assert.equal(summary.count, 3);
  // Two frames AGE_MS old when sent, one recorded as 0; bounds from this test's own clock readings.
  assert.ok(summary.p50Ms >= AGE_MS && summary.maxMs <= doneAtMs - sentAtMs + AGE_MS + 1, JSON.stringify(summary));
  assert.ok(pool.latency.histogram.getValueAtPercentile(1) <= 1, 'the frame from the future is recorded as 0 (1 µs)');
});
