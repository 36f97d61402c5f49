/**
 * Worker supervision: spawns one worker thread per worker index, carries
 * request/reply over each worker's port, and restarts a worker that dies.
 *
 * A dead worker's in-flight requests fail with EVT_WORKER_UNAVAILABLE
 * (retryable): the client cannot know whether they were applied, and a resend
 * is caught by dedup when the snapshot kept the id. The new worker restores
 * its owners lazily from the snapshot store (each owner on its first message).
 * Consecutive crashes back off (workerRestartDelayMs, doubled per crash, up
 * to RESTART_DELAY_MS_MAX) so a worker that dies at start does not spin.
 *
 * Invariants: every request gets exactly one settle (reply, failure or
 * timeout); `pending` holds only requests to a worker that is up.
 */
import { EventEmitter } from 'node:events';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { writeLogRecord, type Logger } from '../log.js';
import { nextEpoch } from './wal.js';
import { RemoteError, ShardTimeoutError, WorkerUnavailableError } from './errors.js';
import type { DeltasMessage, ReplyValue, StatsMessage, WorkerData, WorkerReply, WorkerRequest } from './messages.js';

const RESTART_DELAY_MS_MAX = 10_000;
/** A worker that stayed up this long has its crash back-off reset. */
const STABLE_AFTER_MS = 10_000;
/** How often pending requests are checked for timeouts (one timer, not one per request). */
const TIMEOUT_SWEEP_MS = 250;
/** A closing worker gets this long to flush and snapshot; below the CLI's 30 s hard stop. */
const CLOSE_TIMEOUT_MS = 25_000;

/**
 * The old generation a worker gets when workerHeapMbMax is 0: V8's own limit
 * for this machine (as the main thread has it), but at most this. V8 lets an
 * old generation grow between full collections to ~4x its live data when its
 * limit is 2 GiB or more, and to at most ~2x under that (its heap controller
 * scales the factor from 1.3 at 256 MiB to 2 just under 2 GiB): with 100K
 * owners the workers' garbage took the process from 1.7 to 2.2-2.4 GiB in
 * some runs under V8's default 4 GiB, and stayed under 1.6 GiB with 2000
 * (bench/results/memory.md), for ~2.5 % more CPU per event at saturation.
 */
export const WORKER_HEAP_MB_AUTO_MAX = 2_000;

/** workerHeapMbMax as the workers get it: the setting, or for 0 V8's own limit capped at WORKER_HEAP_MB_AUTO_MAX. */
export function workerHeapMb(configured: number): number {
  if (configured > 0) return configured;
  return Math.min(WORKER_HEAP_MB_AUTO_MAX, Math.floor(getHeapStatistics().heap_size_limit / (1024 * 1024)));
}

/**
 * workerHeapInitialMb for the worker threads started from now on: V8's
 * --initial-old-space-size is process-wide and read when an isolate's heap is
 * set up, so it reaches every worker created after this (restarts included)
 * and not the main thread, whose heap exists already. 0 is V8's own start
 * (also after another server in the same process set a value).
 */
/**
 * Where the main thread's old generation should start, MiB: `npm start`,
 * `npm run bench` and the image start node with --initial-old-space-size at
 * this. It cannot be set from inside (the main thread's heap exists before
 * any code runs; v8.setFlagsFromString then changes nothing), nor through
 * NODE_OPTIONS (node refuses it there), and the `eventide` bin keeps a plain
 * `#!/usr/bin/env node` (`env -S` is not in every env, BusyBox's for one). From V8's own start, the edge thread's live heap (~35 MiB: mostly
 * code) left the old generation less headroom than the young generation
 * holds, and from ~10 s into a load V8 ran a mark-compact every ~200 ms, with
 * incremental steps of up to 18 ms on the edge thread: ack p99 at 245K
 * events/s 29.1 / 29.7 ms against 14.1 / 10.6 with this start (alternated,
 * harness in its own process; bench/RESULTS.md).
 */
export const MAIN_HEAP_INITIAL_MB = 128;

/** Whether this process was started with --initial-old-space-size (node accepts it only on its command line). */
export function mainHeapInitialGiven(execArgv: readonly string[] = process.execArgv): boolean {
  return execArgv.some((arg) => /^--initial[-_]old[-_]space[-_]size(=|$)/.test(arg));
}

export function applyWorkerHeapInitial(mb: number): void {
  setFlagsFromString(`--initial-old-space-size=${mb}`);
}

export interface SupervisorOptions {
  workerCount: number;
  shardsOf(worker: number): number[];
  config: Record<string, unknown>;
  requestTimeoutMs: number;
  workerRestartDelayMs: number;
  log: Logger;
  /** The worker entry; tests may pass a fixture. */
  workerUrl?: URL;
}

interface Pending {
  worker: number;
  sentAtMs: number;
  resolve(value: { value: ReplyValue; serviceMs: number }): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker | undefined;
  up: boolean;
  startedAtMs: number;
  crashes: number;
  restarts: number;
  stats: StatsMessage | undefined;
  restartTimer: NodeJS.Timeout | undefined;
}

type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class Supervisor extends EventEmitter<{
  deltas: [DeltasMessage];
  restart: [number];
  exit: [number, number];
  recovered: [number];
}> {
  readonly #options: SupervisorOptions;
  readonly #slots: Slot[];
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closing = false;
  #sweep: NodeJS.Timeout | undefined;
  /** Set by the router before start when the write-ahead log is on: each worker life gets an epoch of its own. */
  walRoot: string | undefined;
  /** The epoch of the first lives (set at start): older logs belong to earlier processes. */
  walProcessEpoch: number | undefined;

  constructor(options: SupervisorOptions) {
    super();
    this.#options = options;
    this.#slots = Array.from({ length: options.workerCount }, () => ({
      worker: undefined,
      up: false,
      startedAtMs: 0,
      crashes: 0,
      restarts: 0,
      stats: undefined,
      restartTimer: undefined,
    }));
  }

  async start(): Promise<void> {
    if (this.walRoot !== undefined) this.walProcessEpoch = nextEpoch(this.walRoot);
    const initialMb = this.#options.config.workerHeapInitialMb;
    applyWorkerHeapInitial(typeof initialMb === 'number' ? initialMb : 0);
    await Promise.all(this.#slots.map((_, index) => this.#spawn(index)));
    this.#sweep = setInterval(() => this.#sweepTimeouts(), TIMEOUT_SWEEP_MS);
    this.#sweep.unref();
  }

  get workerCount(): number {
    return this.#slots.length;
  }

  isUp(worker: number): boolean {
    return this.#slots[worker]?.up === true;
  }

  upCount(): number {
    return this.#slots.filter((slot) => slot.up).length;
  }

  restarts(worker: number): number {
    return this.#slots[worker]?.restarts ?? 0;
  }

  stats(worker: number): StatsMessage | undefined {
    return this.#slots[worker]?.stats;
  }

  /** Terminate a worker as if it crashed (tests, and a stuck worker). It is restarted like any dead worker. */
  async kill(worker: number): Promise<void> {
    await this.#slots[worker]?.worker?.terminate();
  }

  request(worker: number, body: RequestBody, transfer?: ArrayBuffer[]): Promise<{ value: ReplyValue; serviceMs: number }> {
    const slot = this.#slots[worker];
    if (slot?.worker === undefined || !slot.up) {
      return Promise.reject(new WorkerUnavailableError(worker, 'restarting', this.#restartEtaMs(worker)));
    }
    const id = this.#nextId++;
    const message = { ...body, id } as WorkerRequest;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { worker, sentAtMs: performance.now(), resolve, reject });
      slot.worker!.postMessage(message, transfer);
    });
  }

  /** Fire and forget (no reply expected); dropped when the worker is down. */
  post(worker: number, message: WorkerRequest): void {
    const slot = this.#slots[worker];
    if (slot?.worker !== undefined && slot.up) slot.worker.postMessage(message);
  }

  /**
   * Ask every worker to flush, snapshot and close its stores, then end it.
   * Bounded: a worker that has not finished within CLOSE_TIMEOUT_MS is
   * terminated anyway (what it still held is lost, and logged), so a stop
   * never hangs on a store that does not answer.
   */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweep);
    await Promise.all(
      this.#slots.map(async (slot, index) => {
        clearTimeout(slot.restartTimer);
        const worker = slot.worker;
        if (worker === undefined) return;
        if (slot.up) {
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new ShardTimeoutError(index, CLOSE_TIMEOUT_MS)), CLOSE_TIMEOUT_MS);
          });
          try {
            await Promise.race([this.request(index, { t: 'close' }), timeout]);
          } catch (err) {
            this.#options.log.error({ err, worker: index }, 'worker did not close cleanly; terminating it');
          } finally {
            clearTimeout(timer);
          }
        }
        await worker.terminate();
      }),
    );
  }

  #spawn(index: number): Promise<void> {
    const slot = this.#slots[index]!;
    // The first lives share the process epoch; a restart gets a fresh one.
    const walEpoch = this.walRoot === undefined ? undefined : slot.restarts === 0 ? this.walProcessEpoch : nextEpoch(this.walRoot);
    const data: WorkerData = {
      workerIndex: index,
      shards: this.#options.shardsOf(index),
      config: this.#options.config,
      walEpoch,
      walProcessEpoch: this.walProcessEpoch,
    };
    const configuredHeapMb = this.#options.config.workerHeapMbMax;
    const heapMbMax = workerHeapMb(typeof configuredHeapMb === 'number' ? configuredHeapMb : 0);
    const worker = new Worker(this.#options.workerUrl ?? new URL('./worker.js', import.meta.url), {
      workerData: data,
      name: `eventide-shard-worker-${index}`,
      resourceLimits: { maxOldGenerationSizeMb: heapMbMax },
    });
    slot.worker = worker;
    slot.startedAtMs = Date.now();
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: WorkerReply) => {
        switch (message.t) {
          case 'reply': {
            const pending = this.#pending.get(message.id);
            if (pending === undefined) return; // timed out already
            this.#pending.delete(message.id);
            if (message.ok) pending.resolve({ value: message.value ?? null, serviceMs: message.serviceMs });
            else pending.reject(new RemoteError(message.error ?? { code: 'EVT_INTERNAL', message: 'no error given', retryable: false }));
            return;
          }
          case 'deltas':
            this.emit('deltas', message);
            return;
          case 'stats':
            slot.stats = message;
            return;
          case 'recovered':
            this.emit('recovered', index);
            return;
          case 'log':
            writeLogRecord(this.#options.log, message, { worker: index });
            return;
          case 'ready':
            if (message.recovery !== undefined && message.recovery.records + message.recovery.damaged.length > 0) {
              const { damaged, ...figures } = message.recovery;
              const log = damaged.length > 0 ? this.#options.log.warn.bind(this.#options.log) : this.#options.log.info.bind(this.#options.log);
              log({ worker: index, ...figures, damaged }, 'shard worker replayed its write-ahead log');
            }
            ready = true;
            slot.up = true;
            resolve();
            return;
        }
      });
      worker.on('error', (err) => {
        this.#options.log.error({ err, worker: index }, 'shard worker failed');
      });
      worker.on('exit', (code) => {
        slot.up = false;
        slot.worker = undefined;
        this.#failPending(index, `exited with code ${code}`);
        this.emit('exit', index, code);
        if (!ready) reject(new Error(`shard worker ${index} exited with code ${code} before it was ready`));
        if (this.#closing) return;
        const stable = Date.now() - slot.startedAtMs > STABLE_AFTER_MS;
        slot.crashes = stable ? 1 : slot.crashes + 1;
        const delayMs = Math.min(RESTART_DELAY_MS_MAX, this.#options.workerRestartDelayMs * 2 ** (slot.crashes - 1));
        this.#options.log.warn({ worker: index, code, delayMs }, 'shard worker died; restarting');
        slot.restartTimer = setTimeout(() => {
          slot.restarts++;
          this.#spawn(index).then(
            () => this.emit('restart', index),
            (err: unknown) => this.#options.log.error({ err, worker: index }, 'shard worker restart failed'),
          );
        }, delayMs);
      });
    });
  }

  #restartEtaMs(worker: number): number {
    const slot = this.#slots[worker];
    return Math.max(this.#options.workerRestartDelayMs, 1_000 * Math.min(10, slot?.crashes ?? 1));
  }

  #failPending(worker: number, reason: string): void {
    for (const [id, pending] of this.#pending) {
      if (pending.worker !== worker) continue;
      this.#pending.delete(id);
      pending.reject(new WorkerUnavailableError(worker, reason, this.#restartEtaMs(worker)));
    }
  }

  #sweepTimeouts(): void {
    const cutoff = performance.now() - this.#options.requestTimeoutMs;
    for (const [id, pending] of this.#pending) {
      if (pending.sentAtMs > cutoff) continue;
      this.#pending.delete(id);
      pending.reject(new ShardTimeoutError(pending.worker, this.#options.requestTimeoutMs));
    }
  }
}
