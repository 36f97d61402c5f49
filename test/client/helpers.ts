/**
 * Helpers of the client SDK tests: reading the server's own count back, the
 * client's bookkeeping invariant, and a TCP proxy that counts the bytes a
 * client really put on the wire (to see gzip and batching from outside).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { TestContext } from 'node:test';
import type { ClientStats } from '../../src/client/index.js';
import { getJson } from '../helpers.js';

/** Counted events (total) and too-late ones of the key's owner around now, as GET /v1/metrics reports them. */
export async function serverTotals(server: { httpUrl: string }, key: string): Promise<{ total: number; late: number; tooLate: number }> {
  const now = Date.now();
  // 1-day windows: an hour boundary during a test would split 1-hour ones, which the summary adds anyway, but fewer windows read faster.
  const { status, body } = await getJson(`${server.httpUrl}/v1/metrics?resolution=1d&from=${now - 2 * 86_400_000}&to=${now + 86_400_000}`, key);
  assert.equal(status, 200, JSON.stringify(body));
  return (body as { summary: { total: number; late: number; tooLate: number } }).summary;
}

/** Every event taken is in exactly one place (client.ts, invariants). */
export function assertBalanced(s: ClientStats): void {
  const d = s.dropped;
  const placed = s.accepted + s.duplicate + s.late + s.tooLate + s.rejected + d.evicted + d.failed + d.retriesExhausted + s.buffered;
  assert.equal(placed, s.enqueued, `every enqueued event is accounted for: ${JSON.stringify(s)}`);
}

export interface CountingProxy {
  port: number;
  /** Bytes from clients to the target so far. */
  readonly upstreamBytes: number;
  close(): Promise<void>;
}

/** A plain TCP relay to 127.0.0.1:targetPort that counts client-to-server bytes; closed after the test. */
export async function startCountingProxy(t: TestContext, targetPort: number): Promise<CountingProxy> {
  let upstreamBytes = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const target = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(target);
    client.on('data', (chunk: Buffer) => {
      upstreamBytes += chunk.length;
    });
    client.pipe(target);
    target.pipe(client);
    const done = (): void => {
      client.destroy();
      target.destroy();
      sockets.delete(client);
      sockets.delete(target);
    };
    client.on('error', done).on('close', done);
    target.on('error', done).on('close', done);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  t.after(close);
  return {
    port,
    get upstreamBytes() {
      return upstreamBytes;
    },
    close,
  };
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function portOf(httpUrlOrTarget: string): number {
  const m = /:(\d+)\/?$/.exec(httpUrlOrTarget);
  assert.ok(m, `no port in ${httpUrlOrTarget}`);
  return Number(m[1]);
}
