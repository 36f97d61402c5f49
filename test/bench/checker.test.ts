import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRun, type ReportedMetrics } from '../../src/bench/checker.js';
import { Ledger } from '../../src/bench/ledger.js';
import { buildTemplate, eventName, type WorkloadOptions } from '../../src/bench/workload.js';

const OPTIONS: WorkloadOptions = {
  seed: 1, owners: 2, ownerZipfS: 0, usersPerOwner: 100, eventNames: 4, eventBytes: 150, batchEvents: 100,
  templateCount: 1, duplicatePct: 6, latePct: 6, invalidPct: 6, skewPct: 0, lateByMs: 3000, skewMs: 0,
};
const SEND_MS = 1_760_000_030_000;

/** A ledger after one batch for owner 0, answered exactly as injected, and the metrics a correct server reports. */
function scenario() {
  const t = buildTemplate(OPTIONS, 0, 'rt', 0);
  const m = t.meta;
  const receipts = [];
  for (let i = 0; i < m.events; i++) {
    if (m.kind[i] === 1) receipts.push({ index: i, status: 'late' as const });
    if (m.kind[i] === 2) receipts.push({ index: i, status: 'duplicate' as const });
    if (m.kind[i] === 3) receipts.push({ index: i, status: 'rejected' as const, code: 'EVT_FIELD_MISSING' });
  }
  const counts = { accepted: m.onTimeTotal, duplicate: m.duplicates, late: m.lateTotal, tooLate: 0, rejected: m.invalids };
  const ledger = new Ledger(OPTIONS.eventNames, OPTIONS.usersPerOwner);
  ledger.recordAck(0, m, SEND_MS, OPTIONS.lateByMs, counts, receipts);
  const byName: Record<string, number> = {};
  for (let i = 0; i < m.events; i++) {
    if (m.kind[i]! <= 1) byName[eventName(m.nameIdx[i]!)] = (byName[eventName(m.nameIdx[i]!)] ?? 0) + 1;
  }
  const total = m.onTimeTotal + m.lateTotal;
  const reported: ReportedMetrics = {
    windows: [{ startMs: Math.floor((SEND_MS - 3000) / 60_000) * 60_000, total: m.lateTotal }, { startMs: Math.floor(SEND_MS / 60_000) * 60_000, total: m.onTimeTotal }],
    summary: { total, late: m.lateTotal, tooLate: 0, uniques: m.countedUsers.length, byName },
  };
  return { ledger, reported, total, meta: m };
}

void test('the injected workload has every kind of fault', () => {
  const { meta } = scenario();
  assert.ok(meta.duplicates > 0 && meta.lateTotal > 0 && meta.invalids > 0);
});

void test('a correct server passes', () => {
  const { ledger, reported, total } = scenario();
  const r = checkRun({ ledger, metrics: new Map([[0, reported]]), wsTotals: new Map([[0, [total]]]), hllPrecision: 12, compareWindows: true });
  assert.deepEqual(r.failures, []);
  assert.equal(r.ok, true);
  assert.equal(r.ownersChecked, 1);
});

void test('a planted miscount of one event in one name is caught', () => {
  const { ledger, reported } = scenario();
  const name = Object.keys(reported.summary.byName)[0]!;
  reported.summary.byName[name]! += 1;
  const r = checkRun({ ledger, metrics: new Map([[0, reported]]), wsTotals: new Map(), hllPrecision: 12, compareWindows: true });
  assert.equal(r.ok, false);
  assert.match(r.failures.join('\n'), new RegExp(`byName\\[${name.replace('.', '\\.')}\\]: server \\d+, expected \\d+`));
});

void test('a total, a window, a ws total and uniques out of bounds are each caught', () => {
  const { ledger, reported, total } = scenario();
  reported.summary.total -= 1;
  reported.windows[1]!.total += 2;
  reported.summary.uniques += 10;
  const r = checkRun({ ledger, metrics: new Map([[0, reported]]), wsTotals: new Map([[0, [total, total - 1]]]), hllPrecision: 12, compareWindows: true });
  const text = r.failures.join('\n');
  assert.match(text, /total: server \d+, expected \d+ \(diff -1\)/);
  assert.match(text, /window .*: server \d+, expected \d+/);
  assert.match(text, /ws total: subscriber saw \d+, expected \d+ \(diff -1\)/);
  assert.match(text, /uniques: server/);
  assert.equal(r.failures.length, 4);
});

void test('a duplicate answered accepted is a receipt failure and counted where the server counts it', () => {
  const t = buildTemplate(OPTIONS, 0, 'rt', 0);
  const m = t.meta;
  const ledger = new Ledger(OPTIONS.eventNames, OPTIONS.usersPerOwner);
  // Only invalid and late events are listed: the duplicates were taken as new.
  const receipts = [];
  for (let i = 0; i < m.events; i++) {
    if (m.kind[i] === 1) receipts.push({ index: i, status: 'late' as const });
    if (m.kind[i] === 3) receipts.push({ index: i, status: 'rejected' as const });
  }
  ledger.recordAck(0, m, SEND_MS, 3000, { accepted: m.onTimeTotal + m.duplicates, duplicate: 0, late: m.lateTotal, tooLate: 0, rejected: m.invalids }, receipts);
  assert.equal(ledger.deviations, m.duplicates);
  assert.equal(ledger.owners.get(0)!.counted, m.onTimeTotal + m.lateTotal + m.duplicates);
  const r = checkRun({ ledger, metrics: new Map(), wsTotals: new Map(), hllPrecision: 12, compareWindows: false });
  assert.match(r.failures.join('\n'), /duplicate 0, injected \d+/);
  assert.match(r.failures.join('\n'), /no metrics from the server/);
});

void test('a too_late answer to a late event is not counted and is expected in tooLate', () => {
  const t = buildTemplate(OPTIONS, 0, 'rt', 0);
  const m = t.meta;
  const ledger = new Ledger(OPTIONS.eventNames, OPTIONS.usersPerOwner);
  const receipts = [];
  for (let i = 0; i < m.events; i++) {
    if (m.kind[i] === 1) receipts.push({ index: i, status: 'too_late' as const });
    if (m.kind[i] === 2) receipts.push({ index: i, status: 'duplicate' as const });
    if (m.kind[i] === 3) receipts.push({ index: i, status: 'rejected' as const });
  }
  ledger.recordAck(0, m, SEND_MS, 3000, { accepted: m.onTimeTotal, duplicate: m.duplicates, late: 0, tooLate: m.lateTotal, rejected: m.invalids }, receipts);
  assert.equal(ledger.deviations, 0);
  assert.equal(ledger.owners.get(0)!.counted, m.onTimeTotal);
});

void test('ledgers survive toJSON/fromJSON and merge by addition', () => {
  const { ledger } = scenario();
  const copy = Ledger.fromJSON(JSON.parse(JSON.stringify(ledger.toJSON())) as ReturnType<Ledger['toJSON']>);
  copy.merge(ledger);
  assert.equal(copy.owners.get(0)!.counted, 2 * ledger.owners.get(0)!.counted);
  assert.equal(copy.uniques(0), ledger.uniques(0));
});
