/**
 * The dashboard's HTML and its stylesheet: one static page, its behaviour in
 * browser/app.ts. Element ids here are what app.ts and the browser test
 * (test/dashboard/dashboard.test.ts) look for.
 *
 * The stylesheet is inline so the page is one request plus its script; the
 * Content-Security-Policy allows exactly this stylesheet by its hash
 * (index.ts), and no inline script at all.
 */

export const STYLE = `
:root { color-scheme: light dark; --ink: #1d232a; --muted: #5f6b76; --line: #d7dde3; --card: #f6f8fa; --accent: #0b7a5c; --warn: #a4460b; --chart-ink: #5f6b76; --chart-line: #0b7a5c; }
@media (prefers-color-scheme: dark) { :root { --ink: #e6e9ec; --muted: #9aa6b1; --line: #33404c; --card: #1b232b; --accent: #3fc29b; --warn: #f0a060; --chart-ink: #9aa6b1; --chart-line: #3fc29b; } body { background: #11171d; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 16px 20px 32px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
h1 { font-size: 20px; margin: 0; }
h1 small { color: var(--muted); font-weight: normal; }
h2 { font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 4px; }
#status { padding: 2px 10px; border-radius: 10px; background: var(--card); border: 1px solid var(--line); font-size: 12px; }
#status[data-state="live"] { color: var(--accent); border-color: var(--accent); }
#status[data-state="refused"] { color: var(--warn); border-color: var(--warn); }
form, .controls { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 12px 0; }
input { font: inherit; padding: 5px 8px; min-width: 22em; border: 1px solid var(--line); border-radius: 6px; background: transparent; color: inherit; }
button { font: inherit; padding: 5px 12px; border: 1px solid var(--line); border-radius: 6px; background: var(--card); color: inherit; cursor: pointer; }
button[aria-pressed="true"] { border-color: var(--accent); color: var(--accent); font-weight: 600; }
#error { color: var(--warn); margin: 8px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin: 12px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card output { display: block; font-size: 28px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card small { color: var(--muted); }
canvas { display: block; width: 100%; height: 220px; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; max-width: 560px; font-variant-numeric: tabular-nums; }
td { padding: 3px 8px; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
td:last-child { text-align: right; width: 8em; }
tr.more td { color: var(--muted); font-style: italic; }
section { margin: 18px 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
`;

export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>eventide · live</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>eventide <small>live</small> <small id="owner"></small></h1>
  <span id="status" data-state="idle" role="status">not connected</span>
</header>

<form id="auth" autocomplete="off">
  <label for="credential">Read key or token</label>
  <input id="credential" name="credential" type="password" spellcheck="false" placeholder="evt_… (read scope) or evtt_…">
  <button type="submit">Connect</button>
  <button type="button" id="forget">Forget</button>
</form>
<p id="error" role="alert" hidden></p>

<div class="controls">
  <span id="resolutions" role="group" aria-label="Resolution">
    <button type="button" data-resolution="1s" aria-pressed="false">1s</button>
    <button type="button" data-resolution="1m" aria-pressed="true">1m</button>
    <button type="button" data-resolution="1h" aria-pressed="false">1h</button>
    <button type="button" data-resolution="1d" aria-pressed="false">1d</button>
  </span>
  <button type="button" id="pause">Pause</button>
</div>

<div class="cards">
  <div class="card"><h2>events/s</h2><output id="rate">0</output><small>avg 10 s <span id="rate-average">0</span> · peak <span id="rate-peak">0</span></small></div>
  <div class="card"><h2>events</h2><output id="total">0</output><small id="window"></small></div>
  <div class="card"><h2>unique users</h2><output id="uniques">0</output><small>in this window</small></div>
  <div class="card"><h2>late</h2><output id="late">0</output><small>counted after the window ended</small></div>
  <div class="card"><h2>too late</h2><output id="too-late">0</output><small>arrived now, not counted</small></div>
</div>

<section>
  <h2>events per window</h2>
  <canvas id="chart" role="img" aria-label="events per window"></canvas>
</section>

<section>
  <h2>counts by name, this window</h2>
  <table><tbody id="names"></tbody></table>
  <p id="names-empty">no events in this window</p>
</section>

<footer>
  stream <span id="stream">–</span> · resumed <span id="resumes">0</span> · reset <span id="resets">0</span> ·
  event time, UTC windows · <a href="/docs">API docs</a>
</footer>
<script type="module" src="/dashboard/app.js"></script>
</body>
</html>
`;
