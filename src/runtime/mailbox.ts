/**
 * Bounded mailboxes, kept on the edge thread.
 *
 * A worker's real queue is its MessagePort, which Node does not bound; so the
 * edge counts the batches it has sent to each shard and each worker and not
 * yet had answered, and refuses a new batch once either count is at its limit.
 * That keeps every queue bounded at the source: nothing is queued that was
 * not admitted here.
 *
 * Retry-After reflects the real backlog: the worker's in-flight batches times
 * the average time it spends on one (an exponentially weighted moving
 * average of what the worker reports), clamped to a sane range.
 *
 * Invariants: 0 <= shardDepth[s] <= mailboxBatchesMax; 0 <= workerDepth[w] <= workerBatchesMax;
 * workerDepth[w] equals the sum of shardDepth over w's shards.
 */
import assert from 'node:assert/strict';
import { clampRetryAfterMs } from './errors.js';

export interface MailboxOptions {
  shardCount: number;
  workerCount: number;
  /** In-flight batches per shard. Full: offer() returns false (the edge answers 429). */
  mailboxBatchesMax: number;
  /** In-flight batches per worker across its shards. Full: offer() returns false. */
  workerBatchesMax: number;
}

/** Weight of a new sample in the service-time average. */
const SERVICE_EWMA_WEIGHT = 0.1;
/** The service time assumed before the first sample, in ms. */
const SERVICE_MS_INITIAL = 1;

export class Mailboxes {
  readonly #options: MailboxOptions;
  readonly #shardDepth: Uint32Array;
  readonly #workerDepth: Uint32Array;
  readonly #serviceMs: Float64Array;
  /** Refusals per worker (by the worker's or one of its shards' limit), for /metrics. */
  readonly #refusedByWorker: Float64Array;
  #refusedCount = 0;

  constructor(options: MailboxOptions) {
    assert.ok(options.mailboxBatchesMax >= 1 && options.workerBatchesMax >= 1);
    this.#options = options;
    this.#shardDepth = new Uint32Array(options.shardCount);
    this.#workerDepth = new Uint32Array(options.workerCount);
    this.#serviceMs = new Float64Array(options.workerCount).fill(SERVICE_MS_INITIAL);
    this.#refusedByWorker = new Float64Array(options.workerCount);
  }

  /** Admit one batch for `shard` on `worker`, or refuse (and count the refusal). */
  offer(shard: number, worker: number): boolean {
    if (
      this.#shardDepth[shard]! >= this.#options.mailboxBatchesMax ||
      this.#workerDepth[worker]! >= this.#options.workerBatchesMax
    ) {
      this.#refusedCount++;
      this.#refusedByWorker[worker]!++;
      return false;
    }
    this.#shardDepth[shard]!++;
    this.#workerDepth[worker]!++;
    return true;
  }

  /** The batch was answered (or failed); `serviceMs` is what the worker spent on it, when known. */
  settle(shard: number, worker: number, serviceMs?: number): void {
    assert.ok(this.#shardDepth[shard]! > 0 && this.#workerDepth[worker]! > 0, 'settle without offer');
    this.#shardDepth[shard]!--;
    this.#workerDepth[worker]!--;
    if (serviceMs !== undefined && serviceMs >= 0) {
      this.#serviceMs[worker] = this.#serviceMs[worker]! * (1 - SERVICE_EWMA_WEIGHT) + serviceMs * SERVICE_EWMA_WEIGHT;
    }
  }

  /** How long until `worker` has worked off what it holds now. */
  retryAfterMs(worker: number): number {
    return clampRetryAfterMs(this.#workerDepth[worker]! * this.#serviceMs[worker]!);
  }

  shardDepth(shard: number): number {
    return this.#shardDepth[shard]!;
  }

  workerDepth(worker: number): number {
    return this.#workerDepth[worker]!;
  }

  get refusedCount(): number {
    return this.#refusedCount;
  }

  refusedCountOf(worker: number): number {
    return this.#refusedByWorker[worker]!;
  }
}
