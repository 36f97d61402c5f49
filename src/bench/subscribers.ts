/**
 * ws subscribers of a run: each connects to `/v1/stream` with an owner's key,
 * subscribes at 1 s resolution and adds up what it is told, so the checker
 * can compare the ws-derived totals with the ledger, and measures how old
 * the events are by the time a delta reports them.
 *
 * Event-to-delta latency: every delta frame carries `oldestReceivedAtMs`,
 * when the server received the oldest ingest request whose events the frame
 * reports (docs/http-api.md). Arrival minus that is the latency of the
 * frame's oldest event, from the server's receipt to this subscriber's
 * message handler; one value per frame goes into the histogram, so the
 * figures are per frame, each the worst of its events (the newest events of
 * a frame are younger by up to a tick). Time the request spent on the
 * client's side and the network before the server read it is not in it (the
 * ack latency has that).
 *
 * Caveats:
 * - Arrival is this process's Date.now() and the field is the server's: the
 *   figure assumes one clock, which holds for the in-process server and for
 *   a remote one on the same host, and is off by the clock difference
 *   otherwise (keep the machines on NTP; a negative difference is recorded
 *   as 0 and counted in `clockBehindFrames`).
 * - A delta frame with events but no `oldestReceivedAtMs` (a server from
 *   before the field) is counted in `untimedFrames` and not measured.
 *
 * Invariants:
 * - Subscribers connect and receive their snapshot before the load starts,
 *   so snapshot + deltas cover every event of the run.
 * - Frames are parsed whole; a frame the harness does not understand is
 *   counted in `unknownFrames`, never ignored silently.
 */
import WebSocket from 'ws';
import { LatencyRecorder } from './histogram.js';

/** How long to wait for a subscriber's first snapshot. */
export const SUBSCRIBE_TIMEOUT_MS = 10_000;

interface WindowLike {
  resolution?: string;
  startMs: number;
  total: number;
  /** Too-late events are stored, not counted in `total`, but a frame reports them all the same. */
  tooLate?: number;
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
  /** The same figures since the last startPhase() (a sweep's phases each report their own). */
  phaseLatency = new LatencyRecorder();
  readonly stats: SubscriberStats[] = [];
  /** Delta frames with events but no `oldestReceivedAtMs`: not measured. */
  untimedFrames = 0;
  /** Frames that arrived before their oldestReceivedAtMs by this process's clock: the clocks disagree. */
  clockBehindFrames = 0;
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
        let frame: { type?: string; windows?: WindowLike[]; deltas?: WindowLike[]; oldestReceivedAtMs?: unknown };
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
          let events = 0;
          for (const d of frame.deltas) {
            if (d.resolution !== undefined && d.resolution !== '1s') continue;
            s.total += d.total;
            events += d.total + (d.tooLate ?? 0);
          }
          if (events === 0) return;
          const oldest = frame.oldestReceivedAtMs;
          if (typeof oldest !== 'number' || !Number.isFinite(oldest)) {
            this.untimedFrames++;
            return;
          }
          if (arrival < oldest) this.clockBehindFrames++;
          this.latency.recordMs(Math.max(0, arrival - oldest));
          this.phaseLatency.recordMs(Math.max(0, arrival - oldest));
        } else if (frame.type === 'reset' || frame.type === 'error') {
          s.resets++;
          s.errors.push(data.toString('utf8').slice(0, 200));
        } else {
          s.unknownFrames++;
        }
      });
    });
  }

  /** Starts a new phaseLatency; frames still arriving from the phase before count in the new one. */
  startPhase(): void {
    this.phaseLatency = new LatencyRecorder();
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
