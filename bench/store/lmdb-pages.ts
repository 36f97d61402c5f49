/**
 * LMDB's own page counts for an eventide data directory, per named database
 * (what `mdb_stat -a` prints): entries, tree depth, branch / leaf / overflow
 * pages, and the file's size and free pages. Read-only: it can run beside a
 * live server (LMDB allows readers in other processes).
 *
 *   npm run build && node dist/bench/store/lmdb-pages.js <dataDir>/lmdb [...]
 */
import { open } from 'lmdb';
import { fileURLToPath } from 'node:url';
import { DB_NAMES, LMDB_DBS_MAX } from '../../src/store/lmdb/env.js';

export interface DbPages {
  name: string;
  entries: number;
  depth: number;
  branch: number;
  leaf: number;
  overflow: number;
  /** (branch + leaf + overflow) × page size. */
  bytes: number;
}

export interface LmdbPageStats {
  pageSize: number;
  /** Pages the file holds (last page number + 1) × page size. */
  fileBytes: number;
  /** Pages in the named databases' trees. */
  usedBytes: number;
  /** Pages on LMDB's free list (entries of its FREE_DBI: one per transaction that freed pages). */
  freelistEntries: number;
  dbs: DbPages[];
}

/** Any name in the file, including databases of other versions (e.g. a new bucket format beside the old one). */
export function lmdbPageStats(dir: string, names: readonly string[] = Object.values(DB_NAMES)): LmdbPageStats {
  const root = open({ path: dir, maxDbs: LMDB_DBS_MAX, readOnly: true });
  try {
    const dbs: DbPages[] = [];
    let pageSize = 4096;
    for (const name of names) {
      let db;
      try {
        db = root.openDB({ name, encoding: 'binary' });
      } catch {
        continue; // not in this file (a read-only open cannot create it)
      }
      const s = db.getStats() as { pageSize: number; treeDepth: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number; entryCount: number };
      pageSize = s.pageSize;
      dbs.push({
        name, entries: s.entryCount, depth: s.treeDepth, branch: s.treeBranchPageCount, leaf: s.treeLeafPageCount, overflow: s.overflowPages,
        bytes: (s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages) * s.pageSize,
      });
    }
    const env = root.getStats() as { lastPageNumber: number; free: { entryCount: number } };
    return {
      pageSize,
      fileBytes: (env.lastPageNumber + 1) * pageSize,
      usedBytes: dbs.reduce((a, d) => a + d.bytes, 0),
      freelistEntries: env.free.entryCount,
      dbs,
    };
  } finally {
    void root.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const dir of process.argv.slice(2)) {
    const stats = lmdbPageStats(dir);
    const MiB = (b: number): number => Math.round((b / 1048576) * 10) / 10;
    console.log(`${dir}: file ${MiB(stats.fileBytes)} MiB, in trees ${MiB(stats.usedBytes)} MiB, page ${stats.pageSize} B, free-list entries ${stats.freelistEntries}`);
    console.table(stats.dbs.map((d) => ({ ...d, MiB: MiB(d.bytes), bytesPerEntry: d.entries === 0 ? 0 : Math.round(d.bytes / d.entries) })));
  }
}
