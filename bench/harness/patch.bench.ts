/**
 * The harness's per-send patch (src/bench/encode.ts patchBatch: each
 * event's sequence digits and timestamps written into the precomputed body),
 * side by side: one TypedArray.set() call per slot (patchBatch) against a
 * byte loop (tried, not kept: no faster for protobuf and msgpack, slower
 * for JSON's 12-digit slots), on a 500-event batch of the default workload
 * in each format. The harness runs in the server's process in every documented
 * run, so its cost per send is the server's too. Alternating rounds; the
 * ratio of the medians is printed.
 *
 * Run: node dist/bench/harness/patch.bench.js [rounds=9]
 */
import { createSlotValues, encodeBatch, patchBatch, setSlotValues, SLOT_SEQ, SLOT_TS, SLOT_TS_LATE, type EncodedBatch, type SlotValues } from '../../src/bench/encode.js';
import { buildTemplate } from '../../src/bench/workload.js';
import { resolveBenchOptions } from '../../src/bench/options.js';
import type { BodyFormat } from '../../src/actors/types.js';

const ROUNDS = Number(process.argv[2] ?? 9);
const PATCHES = 2_000;

function patchByLoop(batch: EncodedBatch, values: SlotValues): void {
  const { bytes, slots } = batch;
  for (let i = 0; i < slots.length; i += 2) {
    const kind = slots[i + 1]!;
    const src = kind === SLOT_SEQ ? values.seq : kind === SLOT_TS ? values.ts : kind === SLOT_TS_LATE ? values.tsLate : values.sentAt;
    const at = slots[i]!;
    for (let j = 0; j < src.length; j++) bytes[at + j] = src[j]!;
  }
}

const median = (x: number[]): number => [...x].sort((p, q) => p - q)[x.length >> 1]!;
for (const format of ['json', 'msgpack', 'protobuf'] as BodyFormat[]) {
  const options = resolveBenchOptions({});
  const template = buildTemplate(options, 0, 'r1a2b3', 3);
  const batch = encodeBatch(template.specs, format);
  const values = createSlotValues(format);
  const now = Date.now();
  const time = (patch: (b: EncodedBatch, v: SlotValues) => void): number => {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < PATCHES; k++) {
      setSlotValues(values, format, k, now, now - 3_000, now);
      patch(batch, values);
    }
    return Number(process.hrtime.bigint() - t0) / PATCHES / template.specs.length;
  };
  // Both write the same bytes.
  setSlotValues(values, format, 42, now, now - 3_000, now);
  patchBatch(batch, values);
  const bySet = Buffer.from(batch.bytes);
  setSlotValues(values, format, 7, now, now - 3_000, now);
  patchByLoop(batch, values);
  setSlotValues(values, format, 42, now, now - 3_000, now);
  patchByLoop(batch, values);
  if (!bySet.equals(batch.bytes)) throw new Error(`${format}: the two patches differ`);
  for (let w = 0; w < 3; w++) {
    time(patchBatch);
    time(patchByLoop);
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(time(patchBatch));
    b.push(time(patchByLoop));
  }
  console.log(`${format}: set() ${median(a).toFixed(1)} ns, loop ${median(b).toFixed(1)} ns per event (${template.specs.length}-event batch): loop / set ${(median(b) / median(a)).toFixed(2)}`);
}
