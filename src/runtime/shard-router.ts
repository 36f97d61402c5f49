/**
 * The runtime's face to the edge: routes each request to the worker that owns
 * the owner's shard, behind a bounded mailbox. Implements `Router`.
 *
 * The body is transferred to the worker, not copied, when it owns its whole
 * ArrayBuffer (src/edge/raw-body.ts makes sure of that); a body that is a view
 * into a shared pool (small bodies from some paths) is copied once instead,
 * because transferring would detach the pool under other buffers.
 */
import fs from 'node:fs';
import type { BatchReceipt, Resolution, WindowState } from '../actors/types.js';
import type { Logger } from '../log.js';
import { DrainingError, MailboxFullError } from './errors.js';
import { Mailboxes } from './mailbox.js';
import { ShardMap } from './shard-map.js';
import { Supervisor } from './supervisor.js';
import { epochDir, listEpochs, walRoot } from './wal.js';
import type {
  EventLocation,
  IngestRequest,
  LiveSource,
  MetricsQuery,
  MetricsResult,
  OwnerDeltas,
  Readiness,
  Router,
} from './router.js';

export interface ShardRouterOptions {
  shardCount: number;
  workerCount: number;
  mailboxBatchesMax: number;
  workerBatchesMax: number;
  requestTimeoutMs: number;
  workerRestartDelayMs: number;
  /** Passed to every worker as plain data. */
  config: Record<string, unknown>;
  log: Logger;
  workerUrl?: URL;
}

export class ShardRouter implements Router {
  readonly shardMap: ShardMap;
  readonly mailboxes: Mailboxes;
  readonly supervisor: Supervisor;
  readonly live: LiveSource;
  readonly #log: Logger;
  readonly #config: Record<string, unknown>;
  readonly #deltaListeners: Array<(batch: OwnerDeltas[]) => void> = [];
  /** Live watches by `${owner}\n${resolution}`, with their count, to re-establish after a worker restart. */
  readonly #watches = new Map<string, { owner: string; resolution: Resolution; count: number }>();
  #draining = false;

  constructor(options: ShardRouterOptions) {
    this.#log = options.log;
    this.#config = options.config;
    this.shardMap = new ShardMap(options.shardCount, options.workerCount);
    this.mailboxes = new Mailboxes(options);
    const supervisorOptions = {
      workerCount: options.workerCount,
      shardsOf: (worker: number) => this.shardMap.shardsOf(worker),
      config: options.config,
      requestTimeoutMs: options.requestTimeoutMs,
      workerRestartDelayMs: options.workerRestartDelayMs,
      log: options.log,
      ...(options.workerUrl === undefined ? {} : { workerUrl: options.workerUrl }),
    };
    this.supervisor = new Supervisor(supervisorOptions);
    this.supervisor.on('deltas', (message) => {
      for (const listener of this.#deltaListeners) listener(message.batch);
    });
    this.supervisor.on('restart', (worker) => this.#rewatch(worker));
    this.live = {
      watch: (owner, resolution) => this.#watch(owner, resolution),
      unwatch: (owner, resolution) => this.#unwatch(owner, resolution),
      onDeltas: (listener) => {
        this.#deltaListeners.push(listener);
      },
    };
  }

  async start(): Promise<void> {
    const config = this.#config;
    if (config.walEnabled === true) {
      const root = walRoot(String(config.dataDir));
      this.supervisor.walRoot = root;
      // Logs of earlier epochs go once every worker has replayed them and a
      // snapshot round covers what they held; until then a crash replays them again.
      const recovered = new Set<number>();
      const onRecovered = (worker: number) => {
        recovered.add(worker);
        if (recovered.size < this.supervisor.workerCount) return;
        this.supervisor.off('recovered', onRecovered);
        const processEpoch = this.supervisor.walProcessEpoch ?? 0;
        for (const old of listEpochs(root)) {
          if (old < processEpoch) fs.rmSync(epochDir(root, old), { recursive: true, force: true });
        }
      };
      this.supervisor.on('recovered', onRecovered);
    }
    await this.supervisor.start();
  }

  /** Stop admitting new work; what is in flight finishes. */
  drain(): void {
    this.#draining = true;
  }

  async ingest(request: IngestRequest): Promise<BatchReceipt> {
    if (this.#draining) throw new DrainingError(1_000);
    const shard = this.shardMap.shardOf(request.owner);
    const worker = this.shardMap.workerOf(shard);
    if (!this.mailboxes.offer(shard, worker)) {
      throw new MailboxFullError(shard, this.mailboxes.shardDepth(shard), this.mailboxes.retryAfterMs(worker));
    }
    const body = ownsWholeBuffer(request.body) ? request.body : new Uint8Array(request.body);
    let serviceMs: number | undefined;
    try {
      const reply = await this.supervisor.request(
        worker,
        { ...request, t: 'ingest', shard, body },
        [body.buffer as ArrayBuffer],
      );
      serviceMs = reply.serviceMs;
      return reply.value as BatchReceipt;
    } finally {
      this.mailboxes.settle(shard, worker, serviceMs);
    }
  }

  async queryMetrics(query: MetricsQuery): Promise<MetricsResult> {
    const shard = this.shardMap.shardOf(query.owner);
    const reply = await this.supervisor.request(this.shardMap.workerOf(shard), { t: 'query', shard, query });
    return reply.value as MetricsResult;
  }

  async getEvent(owner: string, id: string): Promise<EventLocation | undefined> {
    const shard = this.shardMap.shardOf(owner);
    const worker = this.shardMap.workerOf(shard);
    const reply = await this.supervisor.request(worker, { t: 'getEvent', shard, owner, eventId: id });
    if (reply.value === null) return undefined;
    return { ...(reply.value as Omit<EventLocation, 'worker'>), worker };
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    const degraded: string[] = [];
    let snapshotAgeMsMax = 0;
    const workersUp = this.supervisor.upCount();
    const workersTotal = this.supervisor.workerCount;
    if (workersUp < workersTotal) reasons.push(`${workersTotal - workersUp} of ${workersTotal} workers restarting`);
    if (this.#draining) reasons.push('draining');
    for (let worker = 0; worker < workersTotal; worker++) {
      const stats = this.supervisor.stats(worker);
      if (stats?.lastFlushErrorCode !== undefined) reasons.push(`worker ${worker}: event store failing (${stats.lastFlushErrorCode})`);
      // Degraded, not unready: ingest goes on without snapshots (a crash would lose more).
      if (stats?.lastSnapshotErrorCode !== undefined) {
        degraded.push(`worker ${worker}: snapshots failing (${stats.lastSnapshotErrorCode}), last good one ${Math.round(stats.snapshotAgeMs / 1000)} s ago`);
      }
      // A log that cannot be written refuses durable batches: unready, so a balancer sends them elsewhere.
      if (stats?.wal?.lastErrorCode !== undefined) reasons.push(`worker ${worker}: write-ahead log failing (${stats.wal.lastErrorCode})`);
      if (stats !== undefined) snapshotAgeMsMax = Math.max(snapshotAgeMsMax, stats.snapshotAgeMs);
    }
    return { ready: reasons.length === 0, workersUp, workersTotal, draining: this.#draining, reasons, degraded, snapshotAgeMsMax };
  }

  async close(): Promise<void> {
    this.#draining = true;
    await this.supervisor.close();
  }

  async #watch(owner: string, resolution: Resolution): Promise<WindowState[]> {
    const key = `${owner}\n${resolution}`;
    const entry = this.#watches.get(key);
    if (entry === undefined) this.#watches.set(key, { owner, resolution, count: 1 });
    else entry.count++;
    const shard = this.shardMap.shardOf(owner);
    try {
      const reply = await this.supervisor.request(this.shardMap.workerOf(shard), { t: 'watch', shard, owner, resolution });
      return reply.value as WindowState[];
    } catch (err) {
      this.#unwatch(owner, resolution);
      throw err;
    }
  }

  #unwatch(owner: string, resolution: Resolution): void {
    const key = `${owner}\n${resolution}`;
    const entry = this.#watches.get(key);
    if (entry === undefined) return;
    if (--entry.count <= 0) this.#watches.delete(key);
    const shard = this.shardMap.shardOf(owner);
    this.supervisor.post(this.shardMap.workerOf(shard), { t: 'unwatch', shard, owner, resolution });
  }

  /**
   * A restarted worker knows no watches. Re-establish them so deltas keep
   * flowing; the snapshot it answers with is dropped, because subscribers
   * already hold state (the counts since the last snapshot that the crash
   * lost are the documented loss of a crash).
   */
  #rewatch(worker: number): void {
    for (const { owner, resolution, count } of this.#watches.values()) {
      const shard = this.shardMap.shardOf(owner);
      if (this.shardMap.workerOf(shard) !== worker) continue;
      for (let i = 0; i < count; i++) {
        this.supervisor.request(worker, { t: 'watch', shard, owner, resolution }).catch((err: unknown) => {
          this.#log.warn({ err, owner, resolution }, 're-watch after worker restart failed');
        });
      }
    }
  }
}

function ownsWholeBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
}
