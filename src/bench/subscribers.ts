/**
 * ws subscribers of a run: each connects to `/v1/stream` with an owner's key,
 * subscribes at 1 s resolution and adds up what it is told, so the checker
 * can compare the ws-derived totals with the ledger, and measures how old
 * the events are by the time a delta reports them.
 *
 * Event-to-delta latency: a delta for the 1 s window [s, s + 1000) that
 * arrives at A reports events stamped no earlier than max(s, P), where P is
 * when the previous delta of that window arrived (the events before P were
 * in that one). A - max(s, P) is therefore the age of the OLDEST event the
 * delta can be reporting for the first time: an upper bound on its events'
 * latency, which is the figure a dashboard user cares about. It relies on
 * the generator stamping events with the send time, which it does (skewed
 * batches are corrected by the server to its receive time).
 *
 * Invariants:
 * - Subscribers connect and receive their snapshot before the load starts,
 *   so snapshot + deltas cover every event of the run.
 * - Frames are parsed whole; a frame the harness does not understand is
 *   counted in `unknownFrames`, never ignored silently.
 */
import WebSocket from 'ws';
import { LatencyRecorder } from './histogram.js';

const WINDOW_MS = 1_000;
/** How long to wait for a subscriber's first snapshot. */
export const SUBSCRIBE_TIMEOUT_MS = 10_000;

interface WindowLike {
  resolution?: string;
  startMs: number;
  total: number;
}

export interface SubscriberStats {
  owner: number;
  /** Sum over 1 s windows of snapshot totals and delta totals. */
  total: number;
  frames: number;
  unknownFrames: number;
  /** Frames that said the subscriber must take a fresh snapshot (resets), or errors. */
  resets: number;
  errors: string[];
}

export class SubscriberPool {
  readonly latency = new LatencyRecorder();
  readonly stats: SubscriberStats[] = [];
  private readonly sockets: WebSocket[] = [];

  /** Opens one subscriber per entry of `owners` (owner index, key) and resolves once all have their snapshot. */
  async open(wsUrl: string, owners: Array<{ owner: number; key: string }>): Promise<void> {
    await Promise.all(owners.map(({ owner, key }) => this.openOne(wsUrl, owner, key)));
  }

  private openOne(wsUrl: string, owner: number, key: string): Promise<void> {
    const url = new URL(wsUrl);
    url.searchParams.set('key', key);
    const socket = new WebSocket(url);
    this.sockets.push(socket);
    const s: SubscriberStats = { owner, total: 0, frames: 0, unknownFrames: 0, resets: 0, errors: [] };
    this.stats.push(s);
    const lastArrival = new Map<number, number>();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ws subscriber for owner ${owner} got no snapshot within ${SUBSCRIBE_TIMEOUT_MS} ms`)), SUBSCRIBE_TIMEOUT_MS);
      socket.on('open', () => socket.send(JSON.stringify({ type: 'subscribe', resolution: '1s' })));
      socket.on('error', (err) => {
        s.errors.push(err.message);
        clearTimeout(timer);
        reject(err);
      });
      socket.on('message', (data: Buffer) => {
        const arrival = Date.now();
        s.frames++;
        let frame: { type?: string; windows?: WindowLike[]; deltas?: WindowLike[] };
        try {
          frame = JSON.parse(data.toString('utf8')) as typeof frame;
        } catch {
          s.unknownFrames++;
          return;
        }
        if (frame.type === 'snapshot' && Array.isArray(frame.windows)) {
          for (const w of frame.windows) if (w.resolution === undefined || w.resolution === '1s') s.total += w.total;
          clearTimeout(timer);
          resolve();
        } else if (frame.type === 'delta' && Array.isArray(frame.deltas)) {
          for (const d of frame.deltas) {
            if (d.resolution !== undefined && d.resolution !== '1s') continue;
            s.total += d.total;
            if (d.total > 0) {
              const from = Math.max(d.startMs, lastArrival.get(d.startMs) ?? d.startMs);
              this.latency.recordMs(Math.max(0, arrival - from));
              lastArrival.set(d.startMs, arrival);
              // Old windows' arrival times are no longer needed once the window is long closed.
              if (lastArrival.size > 64) for (const k of lastArrival.keys()) if (k < d.startMs - 60 * WINDOW_MS) lastArrival.delete(k);
            }
          }
        } else if (frame.type === 'reset' || frame.type === 'error') {
          s.resets++;
          s.errors.push(data.toString('utf8').slice(0, 200));
        } else {
          s.unknownFrames++;
        }
      });
    });
  }

  /** ws-derived totals per owner (several subscribers of one owner must agree; the first is used, a disagreement is reported by the checker). */
  totalsByOwner(): Map<number, number[]> {
    const out = new Map<number, number[]>();
    for (const s of this.stats) {
      const list = out.get(s.owner) ?? [];
      list.push(s.total);
      out.set(s.owner, list);
    }
    return out;
  }

  close(): void {
    for (const s of this.sockets) s.terminate();
  }
}
