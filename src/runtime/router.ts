/**
 * What the edge may ask of the runtime. The edge authenticates and bounds a
 * request, then hands the raw bytes here; it never parses event bodies and
 * holds no window state. The implementation (shard-router.ts) routes by
 * owner hash to the worker thread that owns the shard.
 *
 * Every method rejects only with an EventideError (a stable `code`); the edge
 * maps codes to HTTP / gRPC status in src/edge/status.ts.
 */
import type {
  AckLevel,
  BatchReceipt,
  BodyEncoding,
  BodyFormat,
  Resolution,
  StoredEvent,
  WindowDelta,
  WindowState,
} from '../actors/types.js';

export interface IngestRequest {
  owner: string;
  /** Raw body as received (maybe gzip). Ownership passes to the router: the bytes are transferred, do not reuse them. */
  body: Uint8Array;
  format: BodyFormat;
  encoding: BodyEncoding;
  ack: AckLevel;
  /** List accepted receipts too, not only the others. */
  receiptsAll: boolean;
  receivedAtMs: number;
  requestId: string;
}

export interface MetricsQuery {
  owner: string;
  resolution: Resolution;
  fromMs: number;
  toMs: number;
  /** Keep only this event name in byName / values (and `total` becomes that name's count). */
  name?: string;
}

export interface MetricsWindow extends Omit<WindowState, 'uniquesSketch'> {
  endMs: number;
}

export interface MetricsResult {
  owner: string;
  resolution: Resolution;
  fromMs: number;
  toMs: number;
  windows: MetricsWindow[];
  /** Over the whole range: counts added, uniques from the merged sketches. */
  summary: { total: number; late: number; tooLate: number; uniques: number; byName: Record<string, number> };
  /** True when the range held more windows than queryWindowsMax and was cut. */
  truncated: boolean;
}

export interface EventLocation {
  /** `pending`: accepted, in memory, not yet flushed; `stored`: in the event store. */
  state: 'pending' | 'stored';
  shard: number;
  worker: number;
  event: StoredEvent;
}

/** Deltas for one owner, as produced by its actor on a delta tick. */
export interface OwnerDeltas {
  owner: string;
  deltas: WindowDelta[];
  /**
   * When the edge received the oldest batch counted in `deltas` (unix ms,
   * the edge's clock): ws delta frames carry the minimum as
   * `oldestReceivedAtMs`. One figure for all resolutions: every counted event
   * reaches a delta of each watched one.
   */
  oldestReceivedAtMs: number;
}

export interface LiveSource {
  /**
   * Start watching an owner's windows at a resolution. Resolves with the open
   * windows as they are right now; every delta delivered through onDeltas
   * after this promise resolves is newer than that snapshot, and none before
   * it is included twice.
   */
  watch(owner: string, resolution: Resolution): Promise<WindowState[]>;
  unwatch(owner: string, resolution: Resolution): void;
  /** Called once per delta tick per worker with the deltas of watched owners. */
  onDeltas(listener: (batch: OwnerDeltas[]) => void): void;
}

export interface Readiness {
  ready: boolean;
  workersUp: number;
  workersTotal: number;
  draining: boolean;
  /** Why the process is not ready (a load balancer should stop sending). */
  reasons: string[];
  /** What works worse than it should but does not stop ingest (e.g. snapshots failing). */
  degraded: string[];
  /** Age of the oldest last-good snapshot among the workers, ms: what a crash now would have to replay from. */
  snapshotAgeMsMax?: number;
}

export interface Router {
  ingest(request: IngestRequest): Promise<BatchReceipt>;
  queryMetrics(query: MetricsQuery): Promise<MetricsResult>;
  getEvent(owner: string, id: string): Promise<EventLocation | undefined>;
  readonly live: LiveSource;
  readiness(): Readiness;
  close(): Promise<void>;
}
