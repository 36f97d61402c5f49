/**
 * The log's own bound: when nothing reads the process's output, lines wait in
 * a buffer of at most bufferBytesMax (LOG_BUFFER_BYTES_MAX in production),
 * then are dropped and counted, and the caller never blocks. A FIFO nobody
 * reads stands in for a stalled stdout (a full pipe answers EAGAIN, as a
 * stuck log shipper does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { createLogger, logLinesDropped } from '../../src/log.js';

const LINES = 5_000;
const LINE_BYTES = 200;
const BUFFER_BYTES_MAX = 64 * 1024;

void test('a stalled stdout: lines beyond the buffer are dropped and counted, the caller never waits', (t) => {
  // Its own directory, removed by the same hook after the stream ended (hooks run in the order they were added).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-log-'));
  const fifo = path.join(dir, 'stdout.fifo');
  execFileSync('mkfifo', [fifo]);
  // Read-write so the open does not wait for a reader (Linux); nothing ever reads it.
  const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const log = createLogger({ level: 'info', fd, bufferBytesMax: BUFFER_BYTES_MAX });
  t.after(async () => {
    // Read what is buffered so the stream can end (it closes fd itself).
    const reader = fs.createReadStream(fifo);
    reader.resume();
    const stream = (log as unknown as Record<symbol, NodeJS.EventEmitter & { end(): void }>)[pino.symbols.streamSym]!;
    await new Promise((resolve) => {
      stream.once('close', resolve);
      stream.end();
    });
    reader.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const before = logLinesDropped();
  const filler = 'x'.repeat(LINE_BYTES);
  for (let i = 0; i < LINES; i++) log.info({ i, filler }, 'line');
  const dropped = logLinesDropped() - before;
  // The pipe takes 64 KiB, the buffer BUFFER_BYTES_MAX: about 1 MB of lines cannot fit anywhere.
  assert.ok(dropped > 0, 'nothing was dropped: the buffer is not bounded');
  const keptMax = Math.ceil((2 * BUFFER_BYTES_MAX) / LINE_BYTES);
  assert.ok(dropped >= LINES - keptMax, `${dropped} dropped of ${LINES}; at most ${keptMax} can be held`);
});
