/**
 * Entry of a shard worker thread: opens this thread's handles on the stores,
 * builds the ShardHost and serves the edge's messages until told to close.
 */
import assert from 'node:assert/strict';
import { parentPort, workerData } from 'node:worker_threads';
import type { ResolvedConfig } from '../config.js';
import { openStores } from '../store/open.js';
import { isWorkerRequest, type WorkerData } from './messages.js';
import { ShardHost } from './shard-host.js';
import { WorkerTelemetry } from './worker-telemetry.js';

assert.ok(parentPort !== null, 'worker.ts runs only as a worker thread');
const port = parentPort;
const data = workerData as WorkerData;
const config = data.config as unknown as ResolvedConfig;

const stores = await openStores(config);
// Times the stores and adds its figures to the host's stats on their way out (worker-telemetry.ts).
const telemetry = new WorkerTelemetry({ port, workerIndex: data.workerIndex, logLevel: config.logLevel });
const timed = telemetry.timeStores(stores);
const host = new ShardHost({
  workerIndex: data.workerIndex,
  config,
  eventStore: timed.events,
  snapshotStore: timed.snapshots,
  port: telemetry.port,
  shards: data.shards,
  ...(data.walEpoch === undefined ? {} : { walEpoch: data.walEpoch, walProcessEpoch: data.walProcessEpoch ?? data.walEpoch }),
});

port.on('message', (message: unknown) => {
  assert.ok(isWorkerRequest(message), 'unknown message on a shard worker port');
  telemetry.received(message);
  if (message.t === 'close') {
    host.close().then(
      async () => {
        telemetry.close();
        await stores.close();
        port.postMessage({ t: 'reply', id: message.id, ok: true, value: null, serviceMs: 0 });
      },
      (err: unknown) => {
        port.postMessage({
          t: 'reply',
          id: message.id,
          ok: false,
          error: { code: 'EVT_INTERNAL', message: String(err), retryable: false },
          serviceMs: 0,
        });
      },
    );
    return;
  }
  host.handle(message);
});

// Replay before the timers start and before the first request (see ShardHost.recover).
const recovery = config.walEnabled ? await host.recover() : undefined;
host.startTimers();
port.postMessage(recovery === undefined ? { t: 'ready' } : { t: 'ready', recovery });
