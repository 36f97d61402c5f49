/**
 * Worker-thread entry for a sender unit, used when one thread cannot send and
 * answer fast enough (`--sender-threads`). The unit's result goes back as
 * plain JSON and is merged in the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SenderUnit, type SenderConfig } from './sender.js';

const port = parentPort;
if (port === null) throw new Error('sender-worker.js must run in a worker thread');
const unit = new SenderUnit(workerData as SenderConfig);
port.postMessage({ type: 'ready' });
port.once('message', (msg: { type: string; startEpochMs: number }) => {
  if (msg.type !== 'start') return;
  // Progress once a second for the TTY line; cheap (a sum and one percentile).
  const ticker = setInterval(() => {
    const accepted = unit.series.accepted.reduce((a, b) => a + b, 0);
    const refused = unit.series.refused.reduce((a, b) => a + b, 0);
    port.postMessage({ type: 'progress', progress: { accepted, refused, p99Ms: unit.latency.summary().p99Ms } });
  }, 1000);
  unit.run(msg.startEpochMs).finally(() => clearInterval(ticker)).then(
    () => port.postMessage({ type: 'done', result: unit.toJSON() }),
    (err: unknown) => port.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
  );
});
