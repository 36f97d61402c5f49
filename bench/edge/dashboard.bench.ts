/**
 * What the live dashboard costs the browser:
 * - micro (tinybench, Node): applying one delta frame to the page state
 *   (DashboardState.onFrame, the browser module as served), and building one
 *   view for the screen (current window, names table, chart series);
 * - page (headless Chromium, when /usr/bin/chromium is there): bytes the page
 *   loads, time from navigation to "live", and the page's main-thread time
 *   per second while a real server streams deltas of a busy owner.
 *
 * Run: npm run build && node dist/bench/edge/dashboard.bench.js
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Bench } from 'tinybench';
import { chromium } from 'playwright-core';
import { startServer } from '../../src/server.js';
import { silentLogger } from '../../src/log.js';

/** Distinct event names in a busy window; the table shows at most NAMES_SHOWN_MAX of them. */
const NAMES = 200;
/** Names touched per delta frame, windows per frame: a busy owner at 1 m. */
const NAMES_PER_DELTA = 20;
const WINDOWS_PER_FRAME = 2;
/** Page run: batches per second and events per batch sent while measuring. */
const BATCHES_PER_S = 20;
const EVENTS_PER_BATCH = 50;
const PAGE_MEASURE_MS = 10_000;
const BENCH_TIME_MS = 1_500;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

interface StateLike {
  channel(resolution: string): unknown;
  onFrame(frame: unknown): { kind: string };
  view(resolution: string, nowMs: number): unknown;
}
const app = (await import(new URL('../../src/edge/dashboard/browser/app.js', import.meta.url).href)) as { DashboardState: new () => StateLike };

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

function delta(startMs: number, seed: number) {
  const byName: Record<string, number> = {};
  for (let i = 0; i < NAMES_PER_DELTA; i++) byName[`event_name_${(seed * 7 + i) % NAMES}`] = 1 + (i % 5);
  return { resolution: '1m', startMs, total: 60, late: 1, tooLate: 0, byName, byCategory: {}, bySeverity: {}, values: {}, uniques: 40 + seed };
}

async function micro(): Promise<void> {
  const state = new app.DashboardState();
  state.channel('1m');
  state.onFrame({ type: 'snapshot', channel: 'acme/1m', epoch: 'e', seq: 0, windows: [] });
  let seq = 0;
  // tinybench 6 warms every task up by itself before it measures.
  const bench = new Bench({ time: BENCH_TIME_MS });
  bench
    .add(`apply one delta frame (${WINDOWS_PER_FRAME} windows x ${NAMES_PER_DELTA} names)`, () => {
      seq++;
      const deltas = Array.from({ length: WINDOWS_PER_FRAME }, (_, w) => delta(T0 - w * 60_000, seq));
      state.onFrame({ type: 'delta', channel: 'acme/1m', epoch: 'e', seq, deltas });
    })
    .add(`build the view (${NAMES} names, 60 windows)`, () => {
      state.view('1m', T0 + 30_000);
    });
  await bench.run();
  console.table(bench.table());
}

async function page(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    console.log(`page: skipped, no Chromium at ${CHROMIUM}`);
    return;
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'eventide-dash-bench-'));
  const server = await startServer({ httpPort: 0, grpcPort: 0, dataDir, devKey: false, logLevel: 'silent' }, { log: silentLogger });
  const key = await server.createKey('acme');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, chromiumSandbox: false });
  try {
    const context = await browser.newContext();
    const tab = await context.newPage();
    let bytes = 0;
    tab.on('response', (response) => {
      void response.body().then((body) => (bytes += body.length), () => undefined);
    });
    const started = performance.now();
    await tab.goto(`${server.httpUrl}/dashboard?resolution=1m#token=${key}`);
    await tab.locator('#status[data-state="live"]').waitFor();
    await tab.locator('#stream').filter({ hasText: '1m seq' }).waitFor();
    const toLiveMs = performance.now() - started;

    const cdp = await context.newCDPSession(tab);
    await cdp.send('Performance.enable');
    const taskSeconds = async () => {
      const { metrics } = await cdp.send('Performance.getMetrics');
      return metrics.find((m) => m.name === 'TaskDuration')?.value ?? 0;
    };
    let sent = 0;
    const send = async () => {
      const events = Array.from({ length: EVENTS_PER_BATCH }, (_, i) => ({ name: `event_name_${(sent + i) % NAMES}`, userId: `u${(sent + i) % 1000}` }));
      sent += EVENTS_PER_BATCH;
      await fetch(`${server.httpUrl}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(events) });
    };
    const before = await taskSeconds();
    const t0 = performance.now();
    while (performance.now() - t0 < PAGE_MEASURE_MS) {
      const tick = performance.now();
      await send();
      const waitMs = 1_000 / BATCHES_PER_S - (performance.now() - tick);
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
    const elapsedS = (performance.now() - t0) / 1_000;
    const busy = (await taskSeconds()) - before;
    const shown = await tab.locator('#total').textContent();
    console.table([
      {
        'page bytes (HTML + script, uncompressed)': bytes,
        'navigation to live, ms': Math.round(toLiveMs),
        'events/s sent': Math.round(sent / elapsedS),
        'page main thread, ms per s': Math.round((busy / elapsedS) * 1_000),
        'events shown in the current minute': shown,
      },
    ]);
  } finally {
    await browser.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(`node ${process.version}`);
await micro();
await page();
