/**
 * What writing a file costs the machine as the page cache grows into memory
 * the process has not touched lately. On some virtual machines (this
 * project's Firecracker VM among them) memory the guest freed is handed back
 * to the host within seconds, and the guest's next first touch of such a
 * page is a fault the host serves: a write into a page-cache page that is
 * new costs several times the CPU of one into a page that was recently in
 * use. A server whose store file grows (the embedded store grows ~80 bytes
 * per event) keeps taking new page-cache pages, so its sustained rate on
 * such a machine sits below what its first seconds show (bench/RESULTS.md,
 * fourteenth session).
 *
 * Writes `total MB` in 1 MB writes, one fdatasync per 64 MB, and prints the
 * process CPU (user + system) per 64 MB for every `step MB`. On a machine
 * without the effect the figures stay flat; with it they rise once the
 * writes leave the pool of recently used memory. Run it twice in a row to
 * see the pool: the second run reuses what the first one freed (if it starts
 * within seconds).
 *
 * Run: node dist/bench/runtime/page-cache-touch.bench.js [total MB=3072] [step MB=384]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const TOTAL_MB = Number(process.argv[2] ?? 3072);
const STEP_MB = Number(process.argv[3] ?? 384);
const SYNC_MB = 64;
const chunk = Buffer.alloc(1024 * 1024, 0x5a);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-page-cache-'));
const file = path.join(dir, 'grow.bin');

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

const fd = fs.openSync(file, 'w');
try {
  const steps: string[] = [];
  let stepCpu = 0;
  let stepSyncs = 0;
  for (let mb = 0; mb < TOTAL_MB; mb += SYNC_MB) {
    const before = cpuMs();
    for (let k = 0; k < SYNC_MB; k++) fs.writeSync(fd, chunk);
    fs.fdatasyncSync(fd);
    stepCpu += cpuMs() - before;
    stepSyncs++;
    if ((mb + SYNC_MB) % STEP_MB === 0 || mb + SYNC_MB >= TOTAL_MB) {
      steps.push(`${String(mb + SYNC_MB).padStart(6)} MB: ${(stepCpu / stepSyncs).toFixed(0).padStart(4)} ms CPU per ${SYNC_MB} MB`);
      stepCpu = 0;
      stepSyncs = 0;
    }
  }
  console.log(`page-cache growth, ${TOTAL_MB} MB in 1 MB writes, fdatasync per ${SYNC_MB} MB (Node ${process.version}, ${os.cpus().length} cores)`);
  for (const line of steps) console.log(line);
} finally {
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
}
