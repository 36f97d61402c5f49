/**
 * The owner counts an event in its finest window only and rolls closed windows
 * up into coarser ones (owner.ts). These tests hold that against a plain model
 * that counts every event in a window of every resolution, as the design
 * describes windows: same open windows, same closed windows (rollups), same
 * deltas, across snapshots and restores (which bring `eager` windows).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnerActor, type ApplySink, type OwnerOptions } from '../../src/actors/owner.js';
import { RESOLUTIONS, RESOLUTION_MS, SEVERITIES, type EventRecord, type Resolution, type WindowDelta, type WindowState } from '../../src/actors/types.js';
import { mergeDelta, windowStartMs } from '../../src/actors/window.js';

const OPTIONS: OwnerOptions = Object.freeze({
  resolutions: [...RESOLUTIONS] as Resolution[],
  allowedLatenessMs: 5_000,
  dedupHorizonMs: 60_000,
  dedupIdsMax: 100_000,
  hllPrecision: 12,
  namesPerWindowMax: 1_000,
});
/** 23:58:30 UTC, so the run crosses a minute, an hour and a day boundary. */
const T0 = 19_675 * 86_400_000 + 86_400_000 - 90_000;

function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

interface ModelWindow {
  total: number;
  late: number;
  tooLate: number;
  byName: Map<string, number>;
  byCategory: Map<string, number>;
  bySeverity: Map<string, number>;
  values: Map<string, { count: number; sum: number; min: number; max: number }>;
  users: Set<string>;
}

/** Every event counted at every resolution, as the windows are specified. */
class Model {
  readonly open = new Map<string, ModelWindow>();
  clockMs = 0;

  private at(resolution: Resolution, startMs: number): ModelWindow {
    const key = `${resolution}@${startMs}`;
    let w = this.open.get(key);
    if (w === undefined) {
      w = { total: 0, late: 0, tooLate: 0, byName: new Map(), byCategory: new Map(), bySeverity: new Map(), values: new Map(), users: new Set() };
      this.open.set(key, w);
    }
    return w;
  }

  apply(e: EventRecord, now: number): void {
    const end1s = windowStartMs(e.timestampMs, 1_000) + 1_000;
    if (now >= end1s + OPTIONS.allowedLatenessMs) {
      for (const r of RESOLUTIONS) this.at(r, windowStartMs(now, RESOLUTION_MS[r])).tooLate++;
      return;
    }
    const late = now >= end1s;
    for (const r of RESOLUTIONS) {
      const w = this.at(r, windowStartMs(e.timestampMs, RESOLUTION_MS[r]));
      w.total++;
      if (late) w.late++;
      w.byName.set(e.name, (w.byName.get(e.name) ?? 0) + 1);
      w.byCategory.set(e.category, (w.byCategory.get(e.category) ?? 0) + 1);
      w.bySeverity.set(e.severity, (w.bySeverity.get(e.severity) ?? 0) + 1);
      if (e.value !== undefined) {
        const v = w.values.get(e.name);
        if (v === undefined) w.values.set(e.name, { count: 1, sum: e.value, min: e.value, max: e.value });
        else {
          v.count++;
          v.sum += e.value;
          v.min = Math.min(v.min, e.value);
          v.max = Math.max(v.max, e.value);
        }
      }
      if (e.userId !== undefined) w.users.add(e.userId);
    }
  }

  /** Keys of windows closed by now, removed from `open`, with their final counts. */
  close(now: number): Map<string, ModelWindow> {
    const closed = new Map<string, ModelWindow>();
    for (const [key, w] of this.open) {
      const [resolution, start] = key.split('@') as [Resolution, string];
      if (Number(start) + RESOLUTION_MS[resolution] + OPTIONS.allowedLatenessMs <= now) {
        closed.set(key, w);
        this.open.delete(key);
      }
    }
    return closed;
  }
}

/** The parts of a state the model knows, in a comparable shape (values rounded: sums may add in another order). */
function comparable(w: ModelWindow | WindowState | WindowDelta): unknown {
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  if ('users' in w) {
    return {
      total: w.total,
      late: w.late,
      tooLate: w.tooLate,
      byName: Object.fromEntries([...w.byName].sort()),
      byCategory: Object.fromEntries([...w.byCategory].sort()),
      bySeverity: Object.fromEntries([...w.bySeverity].sort()),
      values: Object.fromEntries([...w.values].sort().map(([k, v]) => [k, { ...v, sum: round(v.sum) }])),
      uniques: w.users.size,
    };
  }
  return {
    total: w.total,
    late: w.late,
    tooLate: w.tooLate,
    byName: Object.fromEntries(Object.entries(w.byName).sort()),
    byCategory: Object.fromEntries(Object.entries(w.byCategory).sort()),
    bySeverity: Object.fromEntries(Object.entries(w.bySeverity).sort()),
    values: Object.fromEntries(Object.entries(w.values).sort().map(([k, v]) => [k, { ...v, sum: round(v.sum) }])),
    uniques: w.uniques,
  };
}

function sink(): ApplySink {
  return { shard: 1, counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 }, receipts: [], receiptsAll: false, stored: [] };
}

const NAMES = Array.from({ length: 15 }, (_, i) => `n${i}`);
const CATEGORIES = ['ui', 'shop', 'api', 'job', 'auth'];

function run(seed: number, restores: boolean, watch: Resolution[]): void {
  const next = lcg(seed);
  const model = new Model();
  let now = T0;
  model.clockMs = now;
  let actor = new OwnerActor('o', OPTIONS, now);
  let id = 0;
  // Deltas: the state of each window when its resolution was (re)watched, plus every delta since.
  const sums = new Map<string, WindowDelta>();
  const startWatching = () => {
    for (const r of watch) {
      actor.watch(r);
      for (const w of actor.openWindows(r)) {
        const { uniquesSketch: _s, open: _o, ...base } = w;
        sums.set(`${r}@${w.startMs}`, base);
      }
    }
  };
  startWatching();
  for (let step = 0; step < 400; step++) {
    const roll = next(100);
    now += roll < 90 ? next(1_500) : roll < 97 ? 20_000 + next(60_000) : 3_600_000 + next(3_600_000);
    model.clockMs = Math.max(model.clockMs, now);
    const records: EventRecord[] = [];
    for (let k = next(12); k > 0; k--) {
      const skew = next(10);
      const ts = skew < 7 ? now - next(1_200) : skew < 9 ? now - next(9_000) : now + next(2_000);
      records.push({
        id: `e${id++}`,
        name: NAMES[next(NAMES.length)]!,
        timestampMs: ts,
        clientTimestampMs: ts,
        receivedAtMs: now,
        userId: next(5) === 0 ? undefined : `u${next(60)}`,
        category: CATEGORIES[next(CATEGORIES.length)]!,
        severity: SEVERITIES[next(SEVERITIES.length)]!,
        tags: [],
        properties: {},
        value: next(3) === 0 ? undefined : (next(2_000) - 1_000) / 8,
      });
    }
    actor.applyBatch(records, records.map((_, i) => i), now, sink());
    for (const e of records) model.apply(e, model.clockMs);

    if (next(3) === 0) {
      const closed = actor.closeDue(now);
      const expected = model.close(model.clockMs);
      assert.deepEqual(
        closed.map((w) => `${w.resolution}@${w.startMs}`).sort(),
        [...expected.keys()].sort(),
        `seed ${seed} step ${step}: closed windows`,
      );
      for (const w of closed) {
        const key = `${w.resolution}@${w.startMs}`;
        assert.deepEqual(comparable(w), comparable(expected.get(key)!), `seed ${seed} step ${step}: closed ${key}`);
        assert.equal(w.open, false);
      }
      // Closed windows of a watched resolution: their deltas add up to the rollup.
      if (watch.length > 0) {
        for (const d of actor.takeDeltas()) {
          const key = `${d.resolution}@${d.startMs}`;
          const previous = sums.get(key);
          sums.set(key, previous === undefined ? d : mergeDelta(previous, d));
        }
        for (const w of closed) {
          const key = `${w.resolution}@${w.startMs}`;
          if (!watch.includes(w.resolution)) continue;
          const sum = sums.get(key);
          assert.ok(sum !== undefined, `seed ${seed} step ${step}: deltas of ${key}`);
          assert.deepEqual({ ...(comparable(sum) as object), uniques: 0 }, { ...(comparable(w) as object), uniques: 0 }, `seed ${seed} step ${step}: deltas of closed ${key}`);
          sums.delete(key);
        }
      }
    }

    if (watch.length > 0) {
      const deltas = actor.takeDeltas();
      for (const d of deltas) {
        const key = `${d.resolution}@${d.startMs}`;
        const previous = sums.get(key);
        sums.set(key, previous === undefined ? d : mergeDelta(previous, d));
      }
      for (const r of watch) {
        for (const w of actor.openWindows(r)) {
          const key = `${r}@${w.startMs}`;
          const sum = sums.get(key);
          assert.ok(sum !== undefined || w.total + w.tooLate === 0, `seed ${seed} step ${step}: no deltas for ${key}`);
          if (sum === undefined) continue;
          // Counts add up exactly; uniques is the window's estimate when the delta was taken.
          const fresh = deltas.find((d) => d.resolution === r && d.startMs === w.startMs);
          const expectedUniques = fresh === undefined ? (comparable(sum) as { uniques: number }).uniques : w.uniques;
          assert.deepEqual(comparable(sum), { ...(comparable(w) as object), uniques: expectedUniques }, `seed ${seed} step ${step}: deltas of ${key}`);
        }
      }
    }

    if (next(4) === 0) {
      for (const r of RESOLUTIONS) {
        const actual = actor.openWindows(r).map((w) => [w.startMs, comparable(w)]);
        const expected = [...model.open]
          .filter(([key]) => key.startsWith(`${r}@`))
          .map(([key, w]) => [Number(key.split('@')[1]), comparable(w)] as const)
          .sort((a, b) => a[0] - b[0]);
        assert.deepEqual(actual, expected, `seed ${seed} step ${step}: open ${r} windows`);
      }
    }

    if (restores && next(15) === 0) {
      const snapshot = structuredClone(actor.snapshot(now));
      actor = OwnerActor.restore(snapshot, OPTIONS, now);
      assert.deepEqual(actor.snapshot(now), snapshot, `seed ${seed} step ${step}: restore gives back the snapshot`);
      sums.clear();
      startWatching();
    }
  }
  // Everything closes in the end, and equals the model.
  const endMs = model.clockMs + 2 * 86_400_000;
  const closed = actor.closeDue(endMs);
  const expected = model.close(endMs);
  assert.deepEqual(closed.map((w) => `${w.resolution}@${w.startMs}`).sort(), [...expected.keys()].sort());
  for (const w of closed) assert.deepEqual(comparable(w), comparable(expected.get(`${w.resolution}@${w.startMs}`)!));
  assert.equal(actor.snapshot(endMs).windows.length, 0);
}

void test('roll-up equals counting every event at every resolution: open windows and rollups', () => {
  for (const seed of [1, 2, 3]) run(seed, false, []);
});

void test('roll-up across snapshot and restore (eager windows) still equals the model', () => {
  for (const seed of [4, 5, 6, 7]) run(seed, true, []);
});

void test('deltas of watched coarser resolutions add up to the windows, with and without restores', () => {
  run(8, false, ['1m', '1h']);
  run(9, true, ['1s', '1m', '1d']);
});
