import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash32 } from '../../src/actors/hash.js';
import { HLL_FORMAT_VERSION, HyperLogLog, hllDenseBytes, hllSparseMax } from '../../src/actors/hll.js';
import { HllCorruptError, HllPrecisionMismatchError } from '../../src/actors/state-errors.js';

const DISTINCT_LARGE = 100_000;
const SEEDS = [1, 2, 3, 4, 5];

function standardError(precision: number): number {
  return 1.04 / Math.sqrt(2 ** precision);
}

void test('estimate is within 3 standard errors on 100K distinct values, several seeds, p = 12 and 14', () => {
  for (const precision of [12, 14]) {
    for (const seed of SEEDS) {
      const sketch = new HyperLogLog(precision);
      for (let i = 0; i < DISTINCT_LARGE; i++) sketch.add(hash32(`user-${i}`, seed));
      // Re-adding the same values must not move the estimate.
      const before = sketch.estimate();
      for (let i = 0; i < 1000; i++) sketch.add(hash32(`user-${i}`, seed));
      assert.equal(sketch.estimate(), before);
      const relativeError = Math.abs(before - DISTINCT_LARGE) / DISTINCT_LARGE;
      assert.ok(
        relativeError < 3 * standardError(precision),
        `p=${precision} seed=${seed}: estimate ${before}, error ${relativeError}`,
      );
      assert.equal(sketch.isSparse, false);
    }
  }
});

void test('estimate is within 3 standard errors in the linear counting range (2^p .. 2.5 x 2^p)', () => {
  for (const seed of SEEDS) {
    const sketch = new HyperLogLog(12);
    const n = 6_000;
    for (let i = 0; i < n; i++) sketch.addString(`u${seed}-${i}`);
    assert.ok(Math.abs(sketch.estimate() - n) / n < 3 * standardError(12), `seed ${seed}: ${sketch.estimate()}`);
  }
});

void test('a small set is counted exactly while sparse, including the hash 0', () => {
  const sketch = new HyperLogLog(12);
  assert.equal(sketch.estimate(), 0);
  assert.equal(sketch.dataBytes, 0);
  sketch.add(0);
  sketch.add(0);
  for (let i = 0; i < 300; i++) sketch.addString(`id-${i % 150}`);
  assert.equal(sketch.isSparse, true);
  assert.equal(sketch.estimate(), 151);
  assert.ok(sketch.dataBytes <= hllDenseBytes(12));
});

void test('the sparse table turns dense past hllSparseMax and never holds more bytes than dense', () => {
  for (const precision of [4, 8, 12, 16]) {
    const sketch = new HyperLogLog(precision);
    const max = hllSparseMax(precision);
    for (let i = 0; i < max; i++) sketch.add(i + 1);
    assert.equal(sketch.isSparse, true, `p=${precision}`);
    assert.equal(sketch.estimate(), max);
    assert.ok(sketch.dataBytes <= hllDenseBytes(precision), `p=${precision}: ${sketch.dataBytes}`);
    sketch.add(max + 1);
    assert.equal(sketch.isSparse, false);
    assert.equal(sketch.dataBytes, hllDenseBytes(precision));
  }
});

void test('merge of two halves equals the sketch of the whole (sparse, dense and mixed)', () => {
  for (const [leftCount, rightCount] of [[100, 200], [300, 40_000], [40_000, 50], [30_000, 30_000]] as const) {
    const whole = new HyperLogLog(12);
    const left = new HyperLogLog(12);
    const right = new HyperLogLog(12);
    for (let i = 0; i < leftCount; i++) {
      left.addString(`l${i}`);
      whole.addString(`l${i}`);
    }
    for (let i = 0; i < rightCount; i++) {
      right.addString(`r${i}`);
      whole.addString(`r${i}`);
    }
    const merged = left.clone().merge(right);
    assert.deepEqual(merged.serialize(), whole.serialize(), `${leftCount}+${rightCount}`);
    assert.equal(merged.estimate(), whole.estimate());
    // Merge does not touch its argument.
    assert.equal(right.estimate(), new HyperLogLog(12).merge(right).estimate());
  }
});

void test('after merges and a deserialize (counted lazily), adds and clones estimate as a sketch built value by value', () => {
  const whole = new HyperLogLog(12);
  const parts = [0, 1, 2].map((part) => {
    const sketch = new HyperLogLog(12);
    for (let i = 0; i < 20_000; i++) {
      sketch.addString(`p${part}-${i}`);
      whole.addString(`p${part}-${i}`);
    }
    return sketch;
  });
  const merged = parts[0]!.clone().merge(parts[1]!).merge(parts[2]!);
  // Adds after merges: the sum is updated by difference, so it must have been recounted first.
  const cloned = merged.clone();
  for (let i = 0; i < 5_000; i++) {
    merged.addString(`late-${i}`);
    cloned.addString(`late-${i}`);
    whole.addString(`late-${i}`);
  }
  assert.equal(merged.estimate(), whole.estimate());
  assert.equal(cloned.estimate(), whole.estimate());
  const restored = HyperLogLog.deserialize(parts[0]!.serialize());
  restored.addString('one more');
  const direct = parts[0]!.clone();
  direct.addString('one more');
  assert.equal(restored.estimate(), direct.estimate());
  assert.equal(HyperLogLog.mergeSerialized(parts.map((p) => p.serialize()), 12).estimate(), parts[0]!.clone().merge(parts[1]!).merge(parts[2]!).estimate());
});

void test('merge refuses a sketch of another precision', () => {
  assert.throws(() => new HyperLogLog(12).merge(new HyperLogLog(10)), (error: unknown) => {
    assert.ok(error instanceof HllPrecisionMismatchError);
    assert.equal(error.code, 'EVT_HLL_PRECISION_MISMATCH');
    return true;
  });
});

void test('serialize / deserialize round trip, sparse and dense, with sizes as documented', () => {
  const empty = new HyperLogLog(12);
  assert.equal(empty.serialize().length, 8);
  assert.equal(HyperLogLog.deserialize(empty.serialize()).estimate(), 0);

  const sparse = new HyperLogLog(12);
  for (let i = 0; i < 100; i++) sparse.addString(`s${i}`);
  const sparseBytes = sparse.serialize();
  assert.equal(sparseBytes.length, 8 + 4 * 100);
  assert.equal(sparseBytes[0], HLL_FORMAT_VERSION);
  const sparseBack = HyperLogLog.deserialize(sparseBytes);
  assert.equal(sparseBack.isSparse, true);
  assert.equal(sparseBack.estimate(), 100);
  assert.deepEqual(sparseBack.serialize(), sparseBytes);

  const dense = new HyperLogLog(12);
  for (let i = 0; i < 20_000; i++) dense.addString(`d${i}`);
  const denseBytes = dense.serialize();
  assert.equal(denseBytes.length, 4 + 4096);
  const denseBack = HyperLogLog.deserialize(denseBytes);
  assert.equal(denseBack.estimate(), dense.estimate());
  assert.deepEqual(denseBack.serialize(), denseBytes);
  // A Buffer view into a larger pool (as msgpack or LMDB hand back) deserializes too.
  const pooled = Buffer.concat([Buffer.alloc(3), denseBytes]).subarray(3);
  assert.equal(HyperLogLog.deserialize(pooled).estimate(), dense.estimate());
});

void test('mergeSerialized merges stored sketches and reports the index of a corrupt one', () => {
  const a = new HyperLogLog(12);
  const b = new HyperLogLog(12);
  const whole = new HyperLogLog(12);
  for (let i = 0; i < 200; i++) a.addString(`x${i}`);
  for (let i = 100; i < 300; i++) b.addString(`x${i}`);
  // Sparse union: exact.
  assert.equal(HyperLogLog.mergeSerialized([a.serialize(), b.serialize()]).estimate(), 300);
  // Past the sparse maximum: the same as one sketch fed everything.
  for (let i = 300; i < 5000; i++) b.addString(`x${i}`);
  for (let i = 0; i < 5000; i++) whole.addString(`x${i}`);
  assert.deepEqual(HyperLogLog.mergeSerialized([a.serialize(), b.serialize()]).serialize(), whole.serialize());
  assert.equal(HyperLogLog.mergeSerialized([], 10).precision, 10);
  assert.throws(() => HyperLogLog.mergeSerialized([a.serialize(), new Uint8Array([9])]), (error: unknown) => {
    assert.ok(error instanceof HllCorruptError);
    assert.equal(error.field, '1');
    return true;
  });
});

void test('corrupt input is rejected with EVT_HLL_CORRUPT', () => {
  const sparse = new HyperLogLog(12);
  for (let i = 0; i < 10; i++) sparse.add(1000 + i);
  const good = sparse.serialize();
  const denseSketch = new HyperLogLog(8);
  for (let i = 0; i < 1000; i++) denseSketch.addString(`${i}`);
  const dense = denseSketch.serialize();

  const cases: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['short header', good.slice(0, 3)],
    ['bad version', Uint8Array.from([2, ...good.subarray(1)])],
    ['precision 3', Uint8Array.from([1, 3, ...good.subarray(2)])],
    ['precision 17', Uint8Array.from([1, 17, ...good.subarray(2)])],
    ['bad mode', Uint8Array.from([1, 12, 7, ...good.subarray(3)])],
    ['reserved byte', Uint8Array.from([1, 12, 0, 1, ...good.subarray(4)])],
    ['truncated sparse', good.slice(0, good.length - 1)],
    ['sparse without count', good.slice(0, 6)],
    ['trailing bytes', Uint8Array.from([...good, 0, 0, 0, 0])],
    ['dense truncated', dense.slice(0, dense.length - 1)],
    ['dense register too high', Uint8Array.from(dense, (v, i) => (i === 10 ? 26 : v))],
  ];
  // Hashes out of order.
  const swapped = good.slice();
  swapped.set(good.subarray(8, 12), 12);
  swapped.set(good.subarray(12, 16), 8);
  cases.push(['unsorted hashes', swapped]);
  // A count above the sparse maximum.
  const tooMany = new Uint8Array(8);
  tooMany.set([1, 4, 0, 0]);
  new DataView(tooMany.buffer).setUint32(4, 3, true);
  cases.push(['sparse count above max', tooMany]);

  for (const [label, bytes] of cases) {
    assert.throws(() => HyperLogLog.deserialize(bytes, 'uniquesSketch'), (error: unknown) => {
      assert.ok(error instanceof HllCorruptError, label);
      assert.equal(error.code, 'EVT_HLL_CORRUPT');
      assert.equal(error.retryable, false);
      assert.equal(error.field, 'uniquesSketch');
      return true;
    }, label);
  }
  // Register 25 is the largest valid one at p = 8 (33 - 8).
  assert.doesNotThrow(() => HyperLogLog.deserialize(Uint8Array.from(dense, (v, i) => (i === 10 ? 25 : v))));
});

void test('precision outside 4..16 is refused', () => {
  assert.throws(() => new HyperLogLog(3), RangeError);
  assert.throws(() => new HyperLogLog(17), RangeError);
  assert.throws(() => new HyperLogLog(12.5), RangeError);
  assert.equal(new HyperLogLog(4).precision, 4);
  assert.equal(new HyperLogLog().precision, 12);
});
