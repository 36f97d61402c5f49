/**
 * The event store's index write loop (src/store/lmdb/event-store.ts,
 * writeEvents): one `[owner, id] -> [bucketTag, bucketSeq, position]` entry
 * per event, first write wins. Three ways to write it, side by side in one
 * run on one LMDB environment each (same buckets, same events):
 *
 * - `doesExist` + `put`: a B-tree read, then a put (shipped before).
 * - a `put` with `noOverwrite` (MDB_NOOVERWRITE): one B-tree descent; LMDB
 *   refuses the put when the key exists, so the first write still wins.
 * - the same, with the value pre-encoded once per bucket (`asBinary`), so the
 *   database's msgpack encoder does not run per event.
 *
 * Run: node dist/bench/store/index-write.bench.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Bench } from 'tinybench';
import { asBinary, open, type Database, type RootDatabase } from 'lmdb';
import { Packr } from 'msgpackr';

const FLUSH_EVENTS = 10_000;
const EVENTS_PER_BUCKET = 500;
const OWNERS = 16;
const BENCH_TIME_MS = 3_000;
const TAG = 0xabcdef123456;
const BUCKET_BYTES = Buffer.alloc(EVENTS_PER_BUCKET * 200, 7);
const PACKR = new Packr({ useRecords: false });

/** lmdb-js takes put options where its types say a version number. */
const NO_OVERWRITE = { noOverwrite: true } as unknown as number;

type Variant = 'exists+put' | 'noOverwrite' | 'noOverwrite+preencoded' | 'buckets only (no index)';

interface Layout {
  root: RootDatabase;
  index: Database;
  buckets: Database;
  seq: number;
}

function openLayout(dir: string): Layout {
  const root = open({ path: dir, maxDbs: 4, noSync: process.env.NO_SYNC === '1' });
  return { root, index: root.openDB({ name: 'eventIndex' }), buckets: root.openDB({ name: 'eventBuckets', encoding: 'binary' }), seq: 0 };
}

/** msgpack of [tag, seq, position] for every position of a bucket, as lmdb-js's encoder would write them. */
function pointerValues(seq: number, count: number): Buffer[] {
  const head = PACKR.pack([TAG, seq]);
  const out: Buffer[] = [];
  for (let p = 0; p < count; p++) {
    const tail = p < 128 ? Buffer.from([p]) : p < 256 ? Buffer.from([0xcc, p]) : Buffer.from([0xcd, p >> 8, p & 0xff]);
    const value = Buffer.concat([head, tail]);
    value[0] = 0x93;
    out.push(value);
  }
  return out;
}

async function write(layout: Layout, ids: readonly string[], owners: readonly string[], variant: Variant): Promise<void> {
  const { index, buckets } = layout;
  const bucketsOf: Array<{ seq: number; start: number; end: number; values?: Buffer[] }> = [];
  for (let start = 0; start < ids.length; start += EVENTS_PER_BUCKET) {
    const end = Math.min(ids.length, start + EVENTS_PER_BUCKET);
    const seq = layout.seq++;
    bucketsOf.push(variant === 'noOverwrite+preencoded' ? { seq, start, end, values: pointerValues(seq, end - start) } : { seq, start, end });
  }
  await index.childTransaction(() => {
    for (const bucket of bucketsOf) {
      void buckets.put([TAG, bucket.seq], BUCKET_BYTES);
      for (let i = bucket.start; i < bucket.end; i++) {
        const key = [owners[i]!, ids[i]!];
        const position = i - bucket.start;
        if (variant === 'buckets only (no index)') {
          continue;
        } else if (variant === 'exists+put') {
          if (!index.doesExist(key)) void index.put(key, [TAG, bucket.seq, position]);
        } else if (variant === 'noOverwrite') {
          void index.put(key, [TAG, bucket.seq, position], NO_OVERWRITE);
        } else {
          void index.put(key, asBinary(bucket.values![position]!), NO_OVERWRITE);
        }
      }
    }
  });
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eventide-bench-index-'));
try {
  const owners = Array.from({ length: FLUSH_EVENTS }, (_, i) => `owner-${i % OWNERS}`);
  const variants: Variant[] = ['exists+put', 'noOverwrite', 'noOverwrite+preencoded', 'buckets only (no index)'];
  if (process.env.REVERSE === '1') variants.reverse();
  const layouts = new Map(variants.map((v) => [v, openLayout(path.join(root, v))]));
  let round = 0;
  const bench = new Bench({ time: BENCH_TIME_MS });
  for (const variant of variants) {
    bench.add(variant, async () => {
      const r = ++round;
      const ids = Array.from({ length: FLUSH_EVENTS }, (_, i) => `r${r}-01HZX${i.toString(36).padStart(8, '0')}`);
      await write(layouts.get(variant)!, ids, owners, variant);
    });
  }
  // A replay: the same ids again must not move the pointers (first write wins), in every variant.
  for (const variant of variants) {
    const layout = layouts.get(variant)!;
    const ids = ['same-a', 'same-b'];
    await write(layout, ids, owners, variant);
    const first = layout.index.get([owners[0]!, 'same-a']) as number[];
    await write(layout, ids, owners, variant);
    const again = layout.index.get([owners[0]!, 'same-a']) as number[];
    if (variant !== 'buckets only (no index)' && (JSON.stringify(first) !== JSON.stringify(again) || first.length !== 3)) throw new Error(`${variant}: a rewrite moved the pointer ${JSON.stringify(first)} -> ${JSON.stringify(again)}`);
  }
  await bench.run();
  console.log(`node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${FLUSH_EVENTS} events per flush, ${EVENTS_PER_BUCKET} per bucket`);
  const rate = (i: number): number => {
    const result = bench.tasks[i]!.result;
    return 'throughput' in result ? result.throughput.mean * FLUSH_EVENTS : Number.NaN;
  };
  console.log('| index write | events/s | ratio |');
  console.log('|---|---:|---:|');
  for (let i = 0; i < variants.length; i++) console.log(`| ${variants[i]} | ${Math.round(rate(i)).toLocaleString('en-US')} | ${(rate(i) / rate(0)).toFixed(2)} |`);
  for (const layout of layouts.values()) await layout.root.close();
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
