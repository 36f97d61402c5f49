/**
 * What the log's group commit costs the machine per megabyte, by how the
 * segment file is written: appended to a new file (what src/runtime/wal.ts
 * did before it recycled segments, and still does for a worker's first
 * segments: every fdatasync also writes the inode, whose size changed)
 * against overwriting a file already written to its full size (a recycled
 * segment, as wal.ts now reuses covered ones, like PostgreSQL and RocksDB:
 * the size does not change, so the sync writes data only). Each commit writes one group of GROUP_BYTES (a
 * worker's 2 ms of records at ~450K events/s) and syncs it. Alternating
 * rounds; process CPU (user + system) and wall time per MB, medians, and the
 * ratio overwrite/append.
 *
 * Run: node dist/bench/runtime/wal-file.bench.js [rounds=6] [MB per round=48] [group KB=36]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROUNDS = Number(process.argv[2] ?? 6);
const MB = Number(process.argv[3] ?? 48);
const GROUP_BYTES = Number(process.argv[4] ?? 36) * 1024;
const groups = Math.ceil((MB * 1024 * 1024) / GROUP_BYTES);
const group = Buffer.alloc(GROUP_BYTES, 0x5a);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-wal-file-'));
const recycled = path.join(dir, 'recycled.wal');

type Mode = 'append' | 'overwrite';
const results: Record<Mode, { cpu: number[]; wall: number[] }> = { append: { cpu: [], wall: [] }, overwrite: { cpu: [], wall: [] } };

function round(mode: Mode, r: number): void {
  const file = mode === 'append' ? path.join(dir, `segment-${r}.wal`) : recycled;
  const fd = fs.openSync(file, mode === 'append' ? 'a' : 'r+');
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let g = 0; g < groups; g++) {
    if (mode === 'append') fs.writeSync(fd, group);
    else fs.writeSync(fd, group, 0, GROUP_BYTES, g * GROUP_BYTES);
    fs.fdatasyncSync(fd);
  }
  const wall = Number(process.hrtime.bigint() - started) / 1e6;
  const used = process.cpuUsage(cpu);
  fs.closeSync(fd);
  // A segment covered by a snapshot is deleted (append) or kept for reuse (overwrite).
  if (mode === 'append') fs.rmSync(file);
  results[mode].cpu.push((used.user + used.system) / 1000 / MB);
  results[mode].wall.push(wall / MB);
}

try {
  // The recycled segment, written once to its full size and synced.
  const fd = fs.openSync(recycled, 'w');
  for (let g = 0; g < groups; g++) fs.writeSync(fd, group);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  round('append', -1);
  round('overwrite', -1);
  results.append = { cpu: [], wall: [] };
  results.overwrite = { cpu: [], wall: [] };
  for (let r = 0; r < ROUNDS; r++) for (const mode of r % 2 === 0 ? (['append', 'overwrite'] as const) : (['overwrite', 'append'] as const)) round(mode, r);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`${ROUNDS} alternating rounds of ${MB} MB in ${groups} groups of ${GROUP_BYTES / 1024} KB, fdatasync after each; Node ${process.version}`);
  console.log('| | append to a new file | overwrite a written file | overwrite/append |');
  console.log('|---|---:|---:|---:|');
  for (const [label, key] of [['CPU ms per MB', 'cpu'], ['wall ms per MB', 'wall']] as const) {
    const a = median(results.append[key]);
    const o = median(results.overwrite[key]);
    console.log(`| ${label} | ${a.toFixed(2)} | ${o.toFixed(2)} | ${(o / a).toFixed(3)} |`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
