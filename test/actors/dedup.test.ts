import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEDUP_FORMAT_VERSION, DedupMemory, LINEAR_IDS_MAX } from '../../src/actors/dedup.js';
import { hash64 } from '../../src/actors/hash.js';
import { SnapshotInvalidError } from '../../src/actors/state-errors.js';

const HORIZON_MS = 10_000;
const T0 = 1_700_000_000_000;

/**
 * The documented semantics on plain strings: ids in first-seen order; before
 * each lookup those past the horizon are dropped; a new id pushes out the
 * oldest once idsMax are held. The memory under test must answer the same.
 */
class Model {
  ids: Array<[string, number]> = [];
  evicted = 0;
  constructor(
    readonly horizonMs: number,
    readonly idsMax: number,
  ) {}
  seen(id: string, now: number): boolean {
    while (this.ids.length > 0 && now - this.ids[0]![1] >= this.horizonMs) this.ids.shift();
    if (this.ids.some(([x]) => x === id)) return true;
    if (this.ids.length === this.idsMax) {
      this.ids.shift();
      this.evicted++;
    }
    this.ids.push([id, now]);
    return false;
  }
}

/** A seeded generator, so a failure can be replayed. */
function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

void test('an id is a duplicate within the horizon and new again at exactly the horizon', () => {
  const memory = new DedupMemory(HORIZON_MS, 1_000, T0);
  assert.equal(memory.seen('a', T0), false);
  assert.equal(memory.seen('a', T0), true);
  assert.equal(memory.seen('a', T0 + HORIZON_MS - 1), true);
  assert.equal(memory.seen('a', T0 + HORIZON_MS), false, 'at the horizon it is new again');
  assert.equal(memory.seen('a', T0 + HORIZON_MS + 1), true, 're-seen ids start a new horizon');
});

void test('agrees with the documented model through growth, expiry, eviction and shrinking', () => {
  for (const [seed, idsMax] of [
    [1, 5],
    [2, 40],
    [3, 300],
    [4, 1_000],
  ] as const) {
    const next = lcg(seed);
    const memory = new DedupMemory(HORIZON_MS, idsMax, T0);
    const model = new Model(HORIZON_MS, idsMax);
    let now = T0;
    const universe = idsMax * 3;
    for (let step = 0; step < 20_000; step++) {
      // Bursts and pauses: the clock sometimes jumps past the horizon, so the ring empties and is released.
      const jump = next(1_000);
      now += jump < 990 ? next(3) : jump === 999 ? 2 * HORIZON_MS : next(HORIZON_MS);
      const id = `evt-${next(universe)}`;
      assert.equal(memory.seen(id, now), model.seen(id, now), `seed ${seed}, step ${step}, ${id}`);
      assert.equal(memory.size, model.ids.length, `seed ${seed}, step ${step}: size`);
    }
    assert.equal(memory.evictedEarly, model.evicted, `seed ${seed}: evictions`);
    assert.ok(model.evicted > 0 || idsMax >= 1_000, `seed ${seed} exercised the count bound`);
  }
});

void test('starts empty, grows past the linear range into a table, and gives memory back as ids expire', () => {
  const memory = new DedupMemory(HORIZON_MS, 100_000, T0);
  assert.equal(memory.dataBytes, 0, 'no id, no array');
  for (let i = 0; i < LINEAR_IDS_MAX; i++) memory.seen(`id-${i}`, T0);
  const linearBytes = memory.dataBytes;
  assert.equal(linearBytes, LINEAR_IDS_MAX * 12, 'ring only, three words per id');
  for (let i = LINEAR_IDS_MAX; i < 5_000; i++) memory.seen(`id-${i}`, T0 + 1);
  assert.equal(memory.size, 5_000);
  assert.ok(memory.dataBytes > linearBytes);
  assert.ok(memory.dataBytes <= 8_192 * 12 + 16_384 * 8, `at most a ring of the next power of two and a table of twice that many slots: ${memory.dataBytes}`);
  for (let i = 0; i < 5_000; i++) assert.equal(memory.seen(`id-${i}`, T0 + 2), true, `id-${i}`);
  // The first 32 ids expire, the rest stay.
  assert.equal(memory.seen('late-arrival', T0 + HORIZON_MS), false);
  assert.equal(memory.size, 5_000 - LINEAR_IDS_MAX + 1);
  assert.equal(memory.seen('id-0', T0 + HORIZON_MS), false, 'expired at the horizon');
  assert.equal(memory.seen('id-40', T0 + HORIZON_MS), true);
  // Everything but the last two expires: the array shrinks back to the linear range.
  assert.equal(memory.seen('last', T0 + HORIZON_MS + 1), false);
  assert.equal(memory.size, 3, 'late-arrival, id-0 (again), last');
  assert.ok(memory.dataBytes <= 8 * 12 + 0, `shrunk: ${memory.dataBytes}`);
  // And released once nothing is live.
  assert.equal(memory.seen('alone', T0 + 3 * HORIZON_MS), false);
  assert.equal(memory.size, 1);
  assert.equal(memory.exportPacked(T0 + 4 * HORIZON_MS), null);
  assert.equal(memory.dataBytes, 0);
});

void test('count bound: remembered while fewer than idsMax ids came in between, evictions counted', () => {
  const idsMax = 10;
  const memory = new DedupMemory(HORIZON_MS, idsMax, T0);
  memory.seen('probe', T0);
  for (let i = 0; i < idsMax - 1; i++) memory.seen(`fill-${i}`, T0);
  assert.equal(memory.seen('probe', T0), true, 'idsMax - 1 ids after it');
  assert.equal(memory.evictedEarly, 0);
  memory.seen('one-more', T0);
  assert.equal(memory.evictedEarly, 1);
  assert.equal(memory.seen('probe', T0), false, 'idsMax ids after it: forgotten');
  assert.equal(memory.size, idsMax);
});

void test('hash collisions: equal 64-bit hashes are the same id (as documented); equal slots are not', () => {
  const memory = new DedupMemory(HORIZON_MS, 10_000, T0);
  // A full 64-bit collision is a duplicate by design: the probability for real ids is n / 2^64.
  assert.equal(memory.seenHash(0x1234_5678, 0x9abc_def0, T0), false);
  assert.equal(memory.seenHash(0x1234_5678, 0x9abc_def0, T0), true);
  // Hashes sharing every slot bit (`a`) but not `b`, and sharing `b` but not `a`, stay distinct,
  // in the linear range and in the table; deleting from the middle of a probe run keeps the rest findable.
  const now = T0 + 1;
  for (let i = 1; i <= 200; i++) assert.equal(memory.seenHash(0x0000_0100, i, now), false, `same a, b=${i}`);
  for (let i = 1; i <= 200; i++) assert.equal(memory.seenHash(i << 20, 0x0000_0100, now), false, `same b, a=${i << 20}`);
  for (let i = 1; i <= 200; i++) assert.equal(memory.seenHash(0x0000_0100, i, now), true);
  for (let i = 1; i <= 200; i++) assert.equal(memory.seenHash(i << 20, 0x0000_0100, now), true);
  // Expire the first collision group (seen at T0) while the others stay: backward-shift deletion.
  const small = new DedupMemory(HORIZON_MS, 64, T0);
  for (let i = 0; i < 40; i++) small.seenHash(0x40, i, T0 + (i < 20 ? 0 : 5));
  assert.equal(small.seenHash(0x40, 39, T0 + HORIZON_MS), true, 'seen at T0 + 5: still live');
  assert.equal(small.seenHash(0x40, 0, T0 + HORIZON_MS), false, 'seen at T0: expired');
  for (let i = 20; i < 40; i++) assert.equal(small.seenHash(0x40, i, T0 + HORIZON_MS + 1), true, `b=${i} survives the deletions before it`);
});

void test('exportPacked / importPacked round trip keeps answers, times and the bound; expired ids are dropped', () => {
  const memory = new DedupMemory(HORIZON_MS, 100, T0);
  for (let i = 0; i < 80; i++) memory.seen(`e${i}`, T0 + i * 100);
  const bytes = memory.exportPacked(T0 + 8_000)!;
  assert.equal(bytes[0], DEDUP_FORMAT_VERSION);
  assert.equal(bytes.length, 16 + 12 * 80);
  const restored = DedupMemory.importPacked(bytes, HORIZON_MS, 100, T0 + 8_000);
  assert.equal(restored.size, 80);
  assert.deepEqual(restored.exportPacked(T0 + 8_000), bytes, 'same ids, same times, same order');
  // e0 was seen at T0: expires at T0 + horizon; e79 at T0 + 7900.
  assert.equal(restored.seen('e0', T0 + HORIZON_MS - 1), true);
  assert.equal(restored.seen('e1', T0 + HORIZON_MS + 100), false, 'e1 expired on its own horizon');
  assert.equal(restored.seen('e79', T0 + HORIZON_MS + 7_899), true);
  // Restoring later drops what expired meanwhile; a smaller bound keeps the newest.
  assert.equal(DedupMemory.importPacked(bytes, HORIZON_MS, 100, T0 + HORIZON_MS + 3_950).size, 40);
  const bounded = DedupMemory.importPacked(bytes, HORIZON_MS, 10, T0 + 8_000);
  assert.equal(bounded.size, 10);
  assert.equal(bounded.evictedEarly, 0, 'a restore does not count as evictions');
  assert.equal(bounded.seen('e79', T0 + 8_000), true);
  assert.equal(bounded.seen('e69', T0 + 8_000), false);
});

void test('the previous snapshot format (ids as strings) restores the same answers', () => {
  const entries: Array<[string, number]> = [];
  for (let i = 0; i < 50; i++) entries.push([`id-${i}`, T0 + 49 - i]); // newest first, as any order may be
  const restored = DedupMemory.import(entries, HORIZON_MS, 20, T0 + 100);
  assert.equal(restored.size, 20);
  // The newest 20 ids are kept, whatever order they were listed in.
  for (let i = 0; i < 20; i++) assert.equal(restored.seen(`id-${i}`, T0 + 100), true, `id-${i}`);
  assert.equal(restored.seen('id-20', T0 + 100), false);
  // Old and new forms of one list merge in time order.
  const packed = DedupMemory.importPacked(restored.exportPacked(T0 + 100)!, HORIZON_MS, 100, T0 + 100);
  const merged = DedupMemory.fromHashed(
    [...DedupMemory.hashIds([['old-1', T0 + 50]]), ...DedupMemory.readPacked(packed.exportPacked(T0 + 100))],
    HORIZON_MS,
    100,
    T0 + 100,
  );
  assert.equal(merged.seen('old-1', T0 + 101), true);
  assert.equal(merged.seen('id-3', T0 + 101), true);
});

void test('exportPacked writes each live id as readPacked reads it, from a ring that has wrapped, in time order', () => {
  // 50 slots and 173 ids: the ring's head has gone round more than once, and the table is in use (past LINEAR_IDS_MAX).
  const idsMax = 50;
  const memory = new DedupMemory(HORIZON_MS, idsMax, T0);
  const sent: Array<[string, number]> = [];
  for (let i = 0; i < 173; i++) {
    const entry: [string, number] = [`w${i}`, T0 + 3 * i];
    memory.seen(entry[0], entry[1]);
    sent.push(entry);
  }
  const live = sent.slice(-idsMax);
  const bytes = memory.exportPacked(T0 + 3 * 172)!;
  assert.equal(bytes.length, 16 + 12 * idsMax);
  // readPacked goes through a DataView, little-endian, word by word: independent of how the words were written.
  assert.deepEqual(DedupMemory.readPacked(bytes), DedupMemory.hashIds(live));
  // The first offset is 0 and baseMs is the oldest id's time, so equal memories pack to equal bytes.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(view.getFloat64(8, true), live[0]![1]);
  assert.equal(view.getUint32(16 + 8, true), 0);
});

void test('packed bytes are validated with the field at fault', () => {
  const good = new DedupMemory(HORIZON_MS, 100, T0);
  good.seen('a', T0);
  good.seen('b', T0 + 1);
  const bytes = good.exportPacked(T0 + 1)!;
  const outOfOrder = bytes.slice();
  new DataView(outOfOrder.buffer).setUint32(16 + 8, 5, true); // first offset after the second
  const cases: Array<[string, unknown]> = [
    ['not bytes', [1, 2, 3]],
    ['short', bytes.subarray(0, 10)],
    ['version', Uint8Array.from([9, ...bytes.subarray(1)])],
    ['reserved', Uint8Array.from([1, 1, ...bytes.subarray(2)])],
    ['length', bytes.subarray(0, bytes.length - 1)],
    ['order', outOfOrder],
  ];
  for (const [label, bad] of cases) {
    assert.throws(
      () => DedupMemory.readPacked(bad, 'recentIdHashes'),
      (error: unknown) => error instanceof SnapshotInvalidError && error.field === 'recentIdHashes',
      label,
    );
  }
});

void test('times far apart: offsets are rebased, the horizon stays exact', () => {
  const horizonMs = 1_000;
  const memory = new DedupMemory(horizonMs, 100, T0);
  let now = T0;
  // Keep one id live across more than 2^32 ms by re-seeing fresh ids just inside the horizon.
  for (let i = 0; i < 12; i++) {
    assert.equal(memory.seen(`k${i}`, now), false);
    now += 999;
    assert.equal(memory.seen(`k${i}`, now), true);
    now += 500_000_000; // 5.8 days: offsets pass 2^32 after nine steps
  }
  memory.seen('x', now);
  memory.seen('y', now + 999);
  assert.equal(memory.seen('x', now + 999), true);
  assert.equal(memory.seen('x', now + 1_000), false);
  const restored = DedupMemory.importPacked(memory.exportPacked(now + 1_000)!, horizonMs, 100, now + 1_000);
  assert.equal(restored.seen('y', now + 1_998), true);
  assert.equal(restored.seen('y', now + 1_999), false);
});

void test('hash64 feeds the memory: seen(id) is seenHash(hash64(id))', () => {
  const out = new Uint32Array(2);
  hash64('order-42', out);
  const memory = new DedupMemory(HORIZON_MS, 100, T0);
  assert.equal(memory.seenHash(out[0]!, out[1]!, T0), false);
  assert.equal(memory.seen('order-42', T0), true);
});

void test('hashBatch: hash64 of each id, and lookups after it answer as the model (repeats within a batch, eviction)', () => {
  const words = new Uint32Array(2);
  for (const [seed, idsMax] of [
    [5, 20],
    [6, 100],
    [7, 2_000],
  ] as const) {
    const next = lcg(seed);
    const memory = new DedupMemory(HORIZON_MS, idsMax, T0);
    const model = new Model(HORIZON_MS, idsMax);
    let now = T0;
    const hashes = new Int32Array(2 * 600);
    for (let batch = 0; batch < 200; batch++) {
      now += next(200);
      const size = 1 + next(500);
      // Ids from a universe a little larger than the memory: repeats within a batch and across batches.
      const records = Array.from({ length: size }, () => ({ id: `evt-${next(idsMax * 2)}` }));
      hashes.fill(0);
      memory.hashBatch(records, hashes);
      for (let k = 0; k < size; k++) {
        hash64(records[k]!.id, words);
        assert.equal(hashes[2 * k]! >>> 0, words[0], `seed ${seed}, batch ${batch}, id ${k}: a`);
        assert.equal(hashes[2 * k + 1]! >>> 0, words[1], `seed ${seed}, batch ${batch}, id ${k}: b`);
        assert.equal(memory.seenHash(hashes[2 * k]!, hashes[2 * k + 1]!, now), model.seen(records[k]!.id, now), `seed ${seed}, batch ${batch}, id ${k}`);
      }
      assert.equal(memory.size, model.ids.length, `seed ${seed}, batch ${batch}: size`);
    }
    assert.equal(memory.evictedEarly, model.evicted, `seed ${seed}: evictions`);
    assert.ok(model.evicted > 0, `seed ${seed} exercised eviction`);
  }
});

void test('bad bounds are our bug: assertions', () => {
  assert.throws(() => new DedupMemory(0, 10, T0), assert.AssertionError);
  assert.throws(() => new DedupMemory(2 ** 30 + 1, 10, T0), assert.AssertionError);
  assert.throws(() => new DedupMemory(10, 1, T0), assert.AssertionError);
});
