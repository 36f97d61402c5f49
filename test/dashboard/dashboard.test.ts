/**
 * The live dashboard end to end: a real server, a real headless Chromium, the
 * page as a user opens it. Known events go in over HTTP; the page must show
 * exactly their counts (and agree with GET /v1/metrics). A screenshot is kept
 * in test-artifacts/dashboard.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { Page } from 'playwright-core';
import { eventually, getJson, postEvents, startTestServer, type TestServer } from '../helpers.js';
import { artifactPath, launchBrowser, texts, waitForTexts } from './browser.js';

const DAY_MS = 86_400_000;

/**
 * The test reads the 1 d window that holds "now"; near midnight UTC its
 * events could straddle two days, so it starts after midnight instead.
 */
async function awayFromMidnight(marginMs = 60_000): Promise<void> {
  const toMidnightMs = DAY_MS - (Date.now() % DAY_MS);
  if (toMidnightMs < marginMs) await new Promise((resolve) => setTimeout(resolve, toMidnightMs + 500));
}

async function post(server: TestServer, events: unknown[]): Promise<Record<string, number>> {
  const answer = await postEvents(server, server.key, JSON.stringify({ events }));
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.counts as Record<string, number>;
}

async function nameRows(page: Page): Promise<string[][]> {
  const rows: string[][] = [];
  for (const row of await page.locator('#names tr').all()) rows.push(await row.locator('td').allTextContents());
  return rows;
}

async function openDashboard(page: Page, server: TestServer, resolution: string): Promise<void> {
  await page.goto(`${server.httpUrl}/dashboard?resolution=${resolution}#token=${server.key}`);
  await waitForTexts(page, { status: 'live', stream: `1s seq 0 · ${resolution} seq 0` });
}

void test('the dashboard shows, live, exactly the events sent: totals, names, uniques, late, too late, events/s', async (t) => {
  const browser = await launchBrowser(t);
  if (browser === undefined) return;
  await awayFromMidnight();
  const server = await startTestServer(t);
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const requested: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await openDashboard(page, server, '1d');
  assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar');
  assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('eventide.dashboard.credential')"), server.key);

  // Stored, counted in no total, only in the tooLate of the window they arrived in.
  const now = Date.now();
  assert.deepEqual(await post(server, [0, 1, 2].map((i) => ({ id: `old-${i}`, name: 'ancient', userId: 'u-old', timestamp: now - 10 * 60_000 }))), {
    accepted: 0, duplicate: 0, late: 0, tooLate: 3, rejected: 0,
  });
  // Their second ended a second or more ago, within allowedLatenessMs (5 s): counted, and late.
  const lateAt = Date.now() - 2_000;
  assert.deepEqual(await post(server, [0, 1].map((i) => ({ id: `late-${i}`, name: 'late-signup', userId: 'u-late', timestamp: lateAt }))), {
    accepted: 0, duplicate: 0, late: 2, tooLate: 0, rejected: 0,
  });
  // One request, no timestamps: all in the second it was received.
  const burst = [
    ...['u1', 'u2', 'u3', 'u4', 'u1', 'u2', 'u3'].map((userId, i) => ({ id: `signup-${i}`, name: 'signup', userId })),
    ...['u1', 'u5', 'u5', 'u1', 'u5'].map((userId, i) => ({ id: `click-${i}`, name: 'click', userId, value: i })),
  ];
  assert.deepEqual(await post(server, burst), { accepted: 12, duplicate: 0, late: 0, tooLate: 0, rejected: 0 });

  await waitForTexts(page, { total: '14', late: '2', 'too-late': '3', uniques: '6', 'rate-peak': '12', owner: 'acme' });
  assert.deepEqual(await nameRows(page), [
    ['signup', '7'],
    ['click', '5'],
    ['late-signup', '2'],
  ]);

  // The server's own answer for the same day agrees with the page.
  const dayStart = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const read = await getJson(`${server.httpUrl}/v1/metrics?resolution=1d&from=${dayStart}&to=${dayStart + DAY_MS - 1}`, server.key);
  const summary = read.body.summary as { total: number; late: number; tooLate: number; uniques: number; byName: Record<string, number> };
  assert.deepEqual(
    { total: summary.total, late: summary.late, tooLate: summary.tooLate, uniques: summary.uniques, byName: summary.byName },
    { total: 14, late: 2, tooLate: 3, uniques: 6, byName: { signup: 7, click: 5, 'late-signup': 2 } },
  );

  await page.screenshot({ path: artifactPath('dashboard.png'), fullPage: true });

  // Another resolution: the page moves its subscription, and says so in the URL (never the key).
  await page.click('#resolutions button[data-resolution="1m"]');
  await eventually(async () => (await texts(page, ['stream'])).stream!.includes('1m seq'));
  assert.equal(new URL(page.url()).searchParams.get('resolution'), '1m');
  assert.equal(await page.getAttribute('#resolutions button[data-resolution="1m"]', 'aria-pressed'), 'true');

  const origin = new URL(server.httpUrl).origin;
  assert.deepEqual(requested.filter((url) => !url.startsWith(origin)), [], 'nothing is fetched from another origin');
  assert.deepEqual(requested.filter((url) => url.includes(server.key)), [], 'the key is in no requested URL');
  assert.deepEqual(pageErrors, []);
});

void test('pause and resume: the page resumes from its last seq, or takes the reset and a fresh snapshot', async (t) => {
  const browser = await launchBrowser(t);
  if (browser === undefined) return;
  await awayFromMidnight();
  // Three frames of history per channel: enough for a short pause, not for a long one.
  const server = await startTestServer(t, { deltaHistoryFramesMax: 3 });
  const page = await browser.newPage();
  await openDashboard(page, server, '1d');

  // A second subscriber on the same channel shows when the server has published a frame.
  const observer = new WebSocket(server.wsUrl, { headers: { authorization: `Bearer ${server.key}` } });
  t.after(() => observer.close());
  let observedSeq = 0;
  observer.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as { seq?: number };
    if (typeof frame.seq === 'number') observedSeq = Math.max(observedSeq, frame.seq);
  });
  await new Promise((resolve) => observer.once('open', resolve));
  observer.send(JSON.stringify({ type: 'subscribe', resolution: '1d' }));

  let sent = 0;
  const sendOne = async () => {
    const before = observedSeq;
    await post(server, [{ id: `e-${sent}`, name: 'tick', userId: `u${sent}` }]);
    sent++;
    await eventually(() => observedSeq > before);
  };

  await sendOne();
  await sendOne();
  await waitForTexts(page, { total: '2' });

  await page.click('#pause');
  await waitForTexts(page, { status: 'paused', pause: 'Resume' });
  await sendOne();
  await page.click('#pause');
  // Both channels (1 s for events/s, 1 d on screen) resume.
  await waitForTexts(page, { status: 'live', total: '3', uniques: '3', resumes: '2', resets: '0' });

  await page.click('#pause');
  await waitForTexts(page, { status: 'paused' });
  for (let i = 0; i < 5; i++) await sendOne(); // five frames: more than the three the server keeps
  await page.click('#pause');
  await waitForTexts(page, { status: 'live', total: '8', uniques: '8', resumes: '2', resets: '2' });
  assert.deepEqual(await nameRows(page), [['tick', '8']]);
});

void test('a credential the server refuses stops the page and says why', async (t) => {
  const browser = await launchBrowser(t);
  if (browser === undefined) return;
  const server = await startTestServer(t);
  const page = await browser.newPage();
  await page.goto(`${server.httpUrl}/dashboard#token=evt_not_a_real_key`);
  await waitForTexts(page, { status: 'credential refused' });
  assert.match((await texts(page, ['error'])).error!, /^EVT_UNAUTHENTICATED: /);

  // A key pasted in the field takes over.
  await page.fill('#credential', server.key);
  await page.click('#auth button[type="submit"]');
  await waitForTexts(page, { status: 'live' });
  assert.equal(await page.isHidden('#error'), true);
});
