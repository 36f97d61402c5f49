import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LATENCY_US_MAX, LatencyRecorder, Series } from '../../src/bench/histogram.js';

void test('summary percentiles of 1..1000 ms are within the 3-digit precision', () => {
  const r = new LatencyRecorder();
  for (let ms = 1; ms <= 1000; ms++) r.recordMs(ms);
  const s = r.summary();
  assert.equal(s.count, 1000);
  const near = (got: number, want: number): void => assert.ok(Math.abs(got - want) <= want * 0.001 + 0.001, `got ${got}, want ${want}`);
  near(s.p50Ms, 500);
  near(s.p90Ms, 900);
  near(s.p99Ms, 990);
  near(s.p999Ms, 999);
  near(s.maxMs, 1000);
  near(s.meanMs, 500.5);
});

void test('an empty recorder summarizes to zeros, and values past the maximum are clamped and counted', () => {
  const r = new LatencyRecorder();
  assert.equal(r.summary().count, 0);
  r.recordMs(LATENCY_US_MAX / 1000 + 5_000);
  r.recordMs(0);
  assert.equal(r.summary().clamped, 1);
  assert.equal(r.summary().count, 2);
});

void test('an encoded histogram adds into another', () => {
  const a = new LatencyRecorder();
  const b = new LatencyRecorder();
  for (let i = 0; i < 100; i++) a.recordMs(1);
  for (let i = 0; i < 100; i++) b.recordMs(100);
  a.addEncoded(b.encode(), b.clamped);
  const s = a.summary();
  assert.equal(s.count, 200);
  assert.ok(s.p99Ms >= 99 && s.p99Ms <= 101);
  assert.ok(s.p50Ms <= 1.01);
});

void test('series merge per second', () => {
  const a = new Series();
  a.ack(0, 500, 2);
  a.ack(2, 500, 4);
  const b = new Series();
  b.ack(1, 100, 8);
  b.refuse(1);
  a.mergeJSON(b.toJSON());
  const p = a.points();
  assert.deepEqual(p.map((x) => x.acceptedEvents), [500, 100, 500]);
  assert.deepEqual(p.map((x) => x.refusedBatches), [0, 1, 0]);
  assert.ok(p[1]!.p99Ms >= 7.9 && p[1]!.p99Ms <= 8.1);
});
