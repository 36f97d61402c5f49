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
  unit.run(msg.startEpochMs).then(
    () => port.postMessage({ type: 'done', result: unit.toJSON() }),
    (err: unknown) => port.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
  );
});
