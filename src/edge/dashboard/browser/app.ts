/**
 * The live dashboard's one script (served at /dashboard/app.js). No framework,
 * no third-party code, nothing fetched from another origin.
 *
 * What it does: takes a read credential (an API key with the `read` scope, or
 * a browser token once POST /v1/tokens mints them: both go the same way),
 * opens the ws stream `/v1/stream`, authenticates with a first
 * `{ type: 'auth' }` message (browsers cannot set headers on a WebSocket, and
 * a key in the URL would end up in logs), subscribes to `1s` (for events/s)
 * and to the resolution on screen, and draws what the frames say.
 *
 * Invariants:
 * - A channel's state is its snapshot plus every delta frame after it, in
 *   `seq` order with no gap. A frame that does not follow (a gap) makes the
 *   page resubscribe with its resume point; a `reset` drops the channel's
 *   state and waits for the fresh snapshot that follows it.
 * - Open windows come only from the ws (they still change); closed windows
 *   before the page opened come from one GET /v1/metrics after each snapshot,
 *   and only those the ws did not bring, so no event is counted twice.
 * - Event names are user input: they are kept in Maps and shown with
 *   textContent, never as HTML.
 * - Everything kept is bounded: WINDOWS_SHOWN windows per channel,
 *   NAMES_SHOWN_MAX table rows, one reconnect timer.
 * - The credential is kept in sessionStorage (this tab only) and never put in
 *   a URL the page requests; a `#token=` fragment is read once and removed
 *   from the address bar.
 */

export type Resolution = '1s' | '1m' | '1h' | '1d';

export const RESOLUTIONS: readonly Resolution[] = ['1s', '1m', '1h', '1d'];
export const RESOLUTION_MS: Readonly<Record<Resolution, number>> = { '1s': 1_000, '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 };

/** Windows kept and drawn per resolution: two minutes of seconds, an hour of minutes, two days of hours, a month of days. */
export const WINDOWS_SHOWN: Readonly<Record<Resolution, number>> = { '1s': 120, '1m': 60, '1h': 48, '1d': 31 };
/** Rows of the counts-by-name table; the rest are summed in one line. */
export const NAMES_SHOWN_MAX = 50;
/** events/s "avg" is over this many complete seconds. */
export const RATE_AVERAGE_SECONDS = 10;
const RECONNECT_DELAY_MS_MIN = 500;
const RECONNECT_DELAY_MS_MAX = 10_000;
const CREDENTIAL_STORAGE_KEY = 'eventide.dashboard.credential';
/**
 * The server closes a connection whose credential it refuses with 1008 (policy
 * violation), after an error frame saying why (docs/http-api.md). Before the
 * first snapshot that can only be the credential: the page stops and asks for
 * another, whatever the code (a bad key, a missing scope, an expired token).
 */
const CLOSE_POLICY = 1008;

/** One window as the page keeps it. */
export interface PageWindow {
  startMs: number;
  total: number;
  late: number;
  tooLate: number;
  byName: Map<string, number>;
  uniques: number;
}

interface WireWindow {
  startMs: number;
  total: number;
  late: number;
  tooLate: number;
  byName: Record<string, number>;
  uniques: number;
  open?: boolean;
}

export interface ChannelState {
  readonly resolution: Resolution;
  epoch: string | undefined;
  /** Last seq applied; -1 before the first snapshot. */
  seq: number;
  /** True between a snapshot and the next reset. */
  synced: boolean;
  /** A gap was seen and a resume asked for: plain deltas wait for the resume's answer. */
  resyncing: boolean;
  windows: Map<number, PageWindow>;
}

/** What one server frame did to the state; the page acts on it. */
export type FrameOutcome =
  | { kind: 'snapshot'; resolution: Resolution }
  | { kind: 'delta'; resolution: Resolution; resumed: boolean }
  | { kind: 'reset'; resolution: Resolution; reason: string }
  | { kind: 'gap'; resolution: Resolution }
  | { kind: 'error'; code: string; message: string }
  | { kind: 'ignored' };

export interface WindowView {
  resolution: Resolution;
  /** Start of the window the cards describe. */
  startMs: number;
  total: number;
  late: number;
  tooLate: number;
  uniques: number;
  /** Names by count, most first, at most NAMES_SHOWN_MAX. */
  names: Array<[name: string, count: number]>;
  /** Names beyond the table, and their events. */
  namesHidden: number;
  eventsHidden: number;
  /** Totals of the last WINDOWS_SHOWN windows, oldest first, ending with the current one. */
  series: number[];
  seriesStartMs: number;
}

export interface RateView {
  /** Events in the last complete second. */
  last: number;
  /** Mean over the last RATE_AVERAGE_SECONDS complete seconds. */
  average: number;
  /** Busiest second among those kept (WINDOWS_SHOWN['1s']). */
  peak: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isResolution(value: unknown): value is Resolution {
  return typeof value === 'string' && (RESOLUTIONS as readonly string[]).includes(value);
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** A wire window, checked field by field: a frame is data from the network. */
function wireWindow(value: unknown): WireWindow | undefined {
  if (!isRecord(value) || typeof value.startMs !== 'number' || !Number.isFinite(value.startMs)) return undefined;
  const byName = isRecord(value.byName) ? (value.byName as Record<string, number>) : {};
  return { startMs: value.startMs, total: count(value.total), late: count(value.late), tooLate: count(value.tooLate), byName, uniques: count(value.uniques), open: value.open === true };
}

function fromWire(wire: WireWindow): PageWindow {
  const byName = new Map<string, number>();
  for (const name of Object.keys(wire.byName)) byName.set(name, count(wire.byName[name]));
  return { startMs: wire.startMs, total: wire.total, late: wire.late, tooLate: wire.tooLate, byName, uniques: wire.uniques };
}

/** Counts add; `uniques` is the window's current estimate and replaces the old one (docs/http-api.md). */
function addDelta(windows: Map<number, PageWindow>, wire: WireWindow): void {
  const window = windows.get(wire.startMs);
  if (window === undefined) {
    windows.set(wire.startMs, fromWire(wire));
    return;
  }
  window.total += wire.total;
  window.late += wire.late;
  window.tooLate += wire.tooLate;
  window.uniques = wire.uniques;
  for (const name of Object.keys(wire.byName)) window.byName.set(name, (window.byName.get(name) ?? 0) + count(wire.byName[name]));
}

function resolutionOfChannel(channel: unknown): Resolution | undefined {
  if (typeof channel !== 'string') return undefined;
  const resolution = channel.slice(channel.lastIndexOf('/') + 1);
  return isResolution(resolution) ? resolution : undefined;
}

/** The dashboard's data: channels by resolution, fed with frames; no DOM. */
export class DashboardState {
  readonly channels = new Map<Resolution, ChannelState>();
  owner: string | undefined;
  resets = 0;
  /** Resumes the server answered from its history (counted by the page, which knows what it asked for). */
  resumes = 0;

  channel(resolution: Resolution): ChannelState {
    let state = this.channels.get(resolution);
    if (state === undefined) {
      state = { resolution, epoch: undefined, seq: -1, synced: false, resyncing: false, windows: new Map() };
      this.channels.set(resolution, state);
    }
    return state;
  }

  drop(resolution: Resolution): void {
    this.channels.delete(resolution);
  }

  /** The resume point of a channel, when it has one. */
  resumePoint(resolution: Resolution): { epoch: string; seq: number } | undefined {
    const state = this.channels.get(resolution);
    return state?.synced === true && state.epoch !== undefined ? { epoch: state.epoch, seq: state.seq } : undefined;
  }

  onFrame(frame: unknown): FrameOutcome {
    if (!isRecord(frame)) return { kind: 'ignored' };
    if (frame.type === 'error') {
      return { kind: 'error', code: typeof frame.code === 'string' ? frame.code : 'EVT_INTERNAL', message: typeof frame.message === 'string' ? frame.message : '' };
    }
    const resolution = resolutionOfChannel(frame.channel);
    if (resolution === undefined) return { kind: 'ignored' };
    const state = this.channels.get(resolution);
    // A frame for a channel the page has left (an unsubscribe still in flight).
    if (state === undefined) return { kind: 'ignored' };
    if (typeof frame.channel === 'string') this.owner = frame.channel.slice(0, frame.channel.lastIndexOf('/'));

    switch (frame.type) {
      case 'snapshot': {
        if (typeof frame.epoch !== 'string' || typeof frame.seq !== 'number' || !Array.isArray(frame.windows)) return { kind: 'ignored' };
        // Open windows are replaced; closed ones the page holds stay (the snapshot lists only open windows).
        for (const item of frame.windows) {
          const wire = wireWindow(item);
          if (wire !== undefined) state.windows.set(wire.startMs, fromWire(wire));
        }
        state.epoch = frame.epoch;
        state.seq = frame.seq;
        state.synced = true;
        state.resyncing = false;
        return { kind: 'snapshot', resolution };
      }
      case 'delta': {
        if (!state.synced || frame.epoch !== state.epoch || typeof frame.seq !== 'number' || !Array.isArray(frame.deltas)) return { kind: 'ignored' };
        const resumed = typeof frame.fromSeq === 'number';
        const first = resumed ? (frame.fromSeq as number) : frame.seq;
        // Frames sent before the server took the resume: its answer covers them.
        if (state.resyncing && !resumed) return { kind: 'ignored' };
        // Already applied: a frame can only repeat what a resume already covered.
        if (frame.seq <= state.seq) return { kind: 'ignored' };
        if (first !== state.seq + 1) {
          if (state.resyncing) return { kind: 'ignored' };
          state.resyncing = true;
          return { kind: 'gap', resolution };
        }
        state.resyncing = false;
        for (const item of frame.deltas) {
          const wire = wireWindow(item);
          if (wire !== undefined) addDelta(state.windows, wire);
        }
        state.seq = frame.seq;
        return { kind: 'delta', resolution, resumed };
      }
      case 'reset': {
        // What the page holds may have missed deltas; the snapshot that follows replaces it.
        state.windows.clear();
        state.epoch = undefined;
        state.seq = -1;
        state.synced = false;
        state.resyncing = false;
        this.resets++;
        return { kind: 'reset', resolution, reason: typeof frame.reason === 'string' ? frame.reason : '' };
      }
      default:
        return { kind: 'ignored' };
    }
  }

  /**
   * Closed windows from GET /v1/metrics: taken only where the ws brought
   * nothing, and never open ones (the ws is the truth for those).
   */
  addHistory(resolution: Resolution, windows: unknown[]): number {
    const state = this.channels.get(resolution);
    if (state === undefined || !state.synced) return 0;
    let added = 0;
    for (const item of windows) {
      const wire = wireWindow(item);
      if (wire === undefined || wire.open === true || state.windows.has(wire.startMs)) continue;
      state.windows.set(wire.startMs, fromWire(wire));
      added++;
    }
    return added;
  }

  /** Forget windows older than what is shown. */
  prune(nowMs: number): void {
    for (const state of this.channels.values()) {
      const oldestMs = currentStart(state.resolution, nowMs) - (WINDOWS_SHOWN[state.resolution] - 1) * RESOLUTION_MS[state.resolution];
      for (const startMs of state.windows.keys()) if (startMs < oldestMs) state.windows.delete(startMs);
    }
  }

  view(resolution: Resolution, nowMs: number): WindowView {
    const state = this.channels.get(resolution);
    const stepMs = RESOLUTION_MS[resolution];
    const startMs = currentStart(resolution, nowMs);
    const window = state?.windows.get(startMs);
    const names = [...(window?.byName ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const shown = names.slice(0, NAMES_SHOWN_MAX);
    const hidden = names.slice(NAMES_SHOWN_MAX);
    const n = WINDOWS_SHOWN[resolution];
    const seriesStartMs = startMs - (n - 1) * stepMs;
    const series: number[] = [];
    for (let i = 0; i < n; i++) series.push(state?.windows.get(seriesStartMs + i * stepMs)?.total ?? 0);
    return {
      resolution,
      startMs,
      total: window?.total ?? 0,
      late: window?.late ?? 0,
      tooLate: window?.tooLate ?? 0,
      uniques: window?.uniques ?? 0,
      names: shown,
      namesHidden: hidden.length,
      eventsHidden: hidden.reduce((sum, [, c]) => sum + c, 0),
      series,
      seriesStartMs,
    };
  }

  rate(nowMs: number): RateView {
    const windows = this.channels.get('1s')?.windows;
    const lastStart = Math.floor(nowMs / 1_000) * 1_000 - 1_000;
    let sum = 0;
    for (let i = 0; i < RATE_AVERAGE_SECONDS; i++) sum += windows?.get(lastStart - i * 1_000)?.total ?? 0;
    let peak = 0;
    for (const window of windows?.values() ?? []) if (window.total > peak) peak = window.total;
    return { last: windows?.get(lastStart)?.total ?? 0, average: sum / RATE_AVERAGE_SECONDS, peak };
  }
}

/**
 * The window the cards describe: the one holding `nowMs`; for 1 s, the last
 * complete second (the current one is still filling).
 */
export function currentStart(resolution: Resolution, nowMs: number): number {
  const stepMs = RESOLUTION_MS[resolution];
  const start = Math.floor(nowMs / stepMs) * stepMs;
  return resolution === '1s' ? start - stepMs : start;
}

// ---- the page ----------------------------------------------------------------

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

function formatWindow(resolution: Resolution, startMs: number): string {
  const iso = new Date(startMs).toISOString();
  switch (resolution) {
    case '1s':
      return `${iso.slice(11, 19)} UTC`;
    case '1m':
      return `${iso.slice(11, 16)} UTC`;
    case '1h':
      return `${iso.slice(0, 10)} ${iso.slice(11, 13)}:00 UTC`;
    case '1d':
      return `${iso.slice(0, 10)} UTC`;
  }
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`dashboard: #${id} is missing from the page`);
  return found as T;
}

type ConnectionState = 'idle' | 'connecting' | 'live' | 'paused' | 'reconnecting' | 'refused';

class Dashboard {
  readonly state = new DashboardState();
  resolution: Resolution = '1m';
  credential: string | undefined;
  socket: WebSocket | undefined;
  connection: ConnectionState = 'idle';
  reconnectDelayMs = RECONNECT_DELAY_MS_MIN;
  reconnectTimer: number | undefined;
  renderQueued = false;
  /** Bumped per connection, so a history answer for an old connection is dropped. */
  generation = 0;
  /** The current connection has had a snapshot: the server took the credential. */
  accepted = false;
  /** The last error frame, shown when the server closes the connection. */
  lastError = '';
  /** Channels subscribed with a resume point whose answer has not come yet. */
  readonly resuming = new Set<Resolution>();

  start(): void {
    const fromFragment = new URLSearchParams(location.hash.slice(1)).get('token');
    if (fromFragment !== null && fromFragment !== '') {
      sessionStorage.setItem(CREDENTIAL_STORAGE_KEY, fromFragment);
      // Out of the address bar, the history and any screenshot of it.
      history.replaceState(null, '', location.pathname + location.search);
    }
    const resolution = new URLSearchParams(location.search).get('resolution');
    if (isResolution(resolution)) this.resolution = resolution;

    element<HTMLFormElement>('auth').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = element<HTMLInputElement>('credential');
      const value = input.value.trim();
      input.value = '';
      if (value === '') return;
      sessionStorage.setItem(CREDENTIAL_STORAGE_KEY, value);
      this.connect(value);
    });
    element('forget').addEventListener('click', () => {
      sessionStorage.removeItem(CREDENTIAL_STORAGE_KEY);
      this.credential = undefined;
      this.disconnect('idle');
      this.state.channels.clear();
      this.render();
    });
    element('pause').addEventListener('click', () => {
      if (this.connection === 'paused') {
        if (this.credential !== undefined) this.connect(this.credential, true);
      } else if (this.socket !== undefined || this.reconnectTimer !== undefined) {
        this.disconnect('paused');
      }
    });
    for (const button of document.querySelectorAll<HTMLButtonElement>('#resolutions button')) {
      button.addEventListener('click', () => {
        const chosen = button.dataset.resolution;
        if (isResolution(chosen)) this.select(chosen);
      });
    }
    window.addEventListener('resize', () => this.queueRender());
    // Time moves even when no frame comes: the current window and events/s follow the clock.
    window.setInterval(() => this.render(), 1_000);

    const stored = sessionStorage.getItem(CREDENTIAL_STORAGE_KEY);
    if (stored !== null && stored !== '') this.connect(stored);
    this.render();
  }

  /** The resolutions the page subscribes to: 1 s always (events/s), and the one on screen. */
  wanted(): Resolution[] {
    return this.resolution === '1s' ? ['1s'] : ['1s', this.resolution];
  }

  /** Open the ws. With `resume`, subscriptions resume from what the page holds. */
  connect(credential: string, resume = false): void {
    this.disconnect('connecting');
    if (!resume || credential !== this.credential) this.state.channels.clear();
    this.credential = credential;
    this.generation++;
    this.accepted = false;
    this.lastError = '';
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/v1/stream`;
    const socket = new WebSocket(url);
    this.socket = socket;
    this.setConnection('connecting');
    socket.addEventListener('open', () => {
      // Browsers cannot set Authorization on a WebSocket; the first message carries the credential.
      socket.send(JSON.stringify({ type: 'auth', key: credential }));
      for (const resolution of this.wanted()) this.subscribe(resolution);
      this.reconnectDelayMs = RECONNECT_DELAY_MS_MIN;
      this.setConnection('live');
    });
    socket.addEventListener('message', (event: MessageEvent<unknown>) => {
      if (typeof event.data !== 'string') return;
      let frame: unknown;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    socket.addEventListener('close', (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.connection === 'paused' || this.connection === 'idle') return;
      if (event.code === CLOSE_POLICY && !this.accepted) {
        this.setConnection('refused');
        this.showError(`${this.lastError || 'The server refused the credential'}. Paste another key or token.`);
        return;
      }
      this.scheduleReconnect();
    });
  }

  disconnect(next: ConnectionState): void {
    if (this.reconnectTimer !== undefined) window.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined && socket.readyState <= WebSocket.OPEN) socket.close(1000);
    this.setConnection(next);
  }

  scheduleReconnect(): void {
    const credential = this.credential;
    if (credential === undefined) return;
    // Full jitter, so many pages do not come back in step after a server restart.
    const delayMs = Math.round(this.reconnectDelayMs * (0.5 + Math.random() / 2));
    this.reconnectDelayMs = Math.min(RECONNECT_DELAY_MS_MAX, this.reconnectDelayMs * 2);
    this.setConnection('reconnecting');
    this.reconnectTimer = window.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect(credential, true);
    }, delayMs);
  }

  subscribe(resolution: Resolution): void {
    const resume = this.state.resumePoint(resolution);
    this.state.channel(resolution);
    const message: Record<string, unknown> = { type: 'subscribe', resolution };
    if (resume !== undefined) {
      message.resume = resume;
      this.resuming.add(resolution);
    }
    this.send(message);
  }

  send(message: Record<string, unknown>): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  select(resolution: Resolution): void {
    if (resolution === this.resolution) return;
    const before = this.wanted();
    this.resolution = resolution;
    const after = this.wanted();
    for (const r of before) {
      if (after.includes(r)) continue;
      this.send({ type: 'unsubscribe', resolution: r });
      this.state.drop(r);
    }
    for (const r of after) if (!before.includes(r)) this.subscribe(r);
    const url = new URL(location.href);
    url.searchParams.set('resolution', resolution);
    history.replaceState(null, '', url.pathname + url.search);
    this.render();
  }

  onFrame(frame: unknown): void {
    const outcome = this.state.onFrame(frame);
    switch (outcome.kind) {
      case 'snapshot':
        this.accepted = true;
        this.resuming.delete(outcome.resolution);
        void this.loadHistory(outcome.resolution);
        break;
      case 'delta':
        // The answer to a resume (a slow socket's merged frame also has fromSeq, and is not one).
        if (outcome.resumed && this.resuming.delete(outcome.resolution)) {
          this.accepted = true;
          this.state.resumes++;
        }
        break;
      case 'reset':
        this.resuming.delete(outcome.resolution);
        break;
      case 'gap':
        // Should not happen on one connection; resubscribing from what the page holds repairs it.
        this.send({ type: 'unsubscribe', resolution: outcome.resolution });
        this.subscribe(outcome.resolution);
        break;
      case 'error':
        this.lastError = `${outcome.code}: ${outcome.message}`;
        this.showError(this.lastError);
        break;
      default:
        break;
    }
    this.queueRender();
  }

  /** Closed windows from before the page opened, for the chart. */
  async loadHistory(resolution: Resolution): Promise<void> {
    const credential = this.credential;
    if (credential === undefined) return;
    const generation = this.generation;
    const toMs = Date.now();
    const fromMs = currentStart(resolution, toMs) - WINDOWS_SHOWN[resolution] * RESOLUTION_MS[resolution];
    try {
      const response = await fetch(`/v1/metrics?resolution=${resolution}&from=${fromMs}&to=${toMs}`, {
        headers: { authorization: `Bearer ${credential}` },
        cache: 'no-store',
      });
      if (!response.ok) return;
      const body = (await response.json()) as { windows?: unknown };
      if (generation !== this.generation || !Array.isArray(body.windows)) return;
      if (this.state.addHistory(resolution, body.windows) > 0) this.queueRender();
    } catch {
      // The chart lacks older windows; the live part does not depend on them.
    }
  }

  setConnection(next: ConnectionState): void {
    this.connection = next;
    const status = element('status');
    status.dataset.state = next;
    const labels: Record<ConnectionState, string> = {
      idle: 'not connected',
      connecting: 'connecting…',
      live: 'live',
      paused: 'paused',
      reconnecting: 'reconnecting…',
      refused: 'credential refused',
    };
    status.textContent = labels[next];
    element('pause').textContent = next === 'paused' ? 'Resume' : 'Pause';
    if (next === 'live' || next === 'connecting') this.showError('');
  }

  showError(text: string): void {
    const box = element('error');
    box.textContent = text;
    box.hidden = text === '';
  }

  queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  render(): void {
    const nowMs = Date.now();
    this.state.prune(nowMs);
    const rate = this.state.rate(nowMs);
    const view = this.state.view(this.resolution, nowMs);
    element('owner').textContent = this.state.owner ?? '';
    element('rate').textContent = numberFormat.format(rate.last);
    element('rate-average').textContent = numberFormat.format(rate.average);
    element('rate-peak').textContent = numberFormat.format(rate.peak);
    element('window').textContent = formatWindow(this.resolution, view.startMs);
    element('total').textContent = numberFormat.format(view.total);
    element('uniques').textContent = numberFormat.format(view.uniques);
    element('late').textContent = numberFormat.format(view.late);
    element('too-late').textContent = numberFormat.format(view.tooLate);
    for (const button of document.querySelectorAll<HTMLButtonElement>('#resolutions button')) {
      button.setAttribute('aria-pressed', String(button.dataset.resolution === this.resolution));
    }
    this.renderNames(view);
    this.renderStream();
    drawChart(element<HTMLCanvasElement>('chart'), view);
  }

  renderNames(view: WindowView): void {
    const body = element<HTMLTableSectionElement>('names');
    const rows: HTMLTableRowElement[] = [];
    for (const [name, n] of view.names) {
      const row = document.createElement('tr');
      const nameCell = document.createElement('td');
      nameCell.textContent = name;
      const countCell = document.createElement('td');
      countCell.textContent = numberFormat.format(n);
      row.append(nameCell, countCell);
      rows.push(row);
    }
    if (view.namesHidden > 0) {
      const row = document.createElement('tr');
      row.className = 'more';
      const nameCell = document.createElement('td');
      nameCell.textContent = `${view.namesHidden} more names`;
      const countCell = document.createElement('td');
      countCell.textContent = numberFormat.format(view.eventsHidden);
      row.append(nameCell, countCell);
      rows.push(row);
    }
    body.replaceChildren(...rows);
    element('names-empty').hidden = rows.length > 0;
  }

  renderStream(): void {
    const parts: string[] = [];
    for (const r of this.wanted()) {
      const channel = this.state.channels.get(r);
      parts.push(channel?.synced === true ? `${r} seq ${channel.seq}` : `${r} –`);
    }
    element('stream').textContent = parts.join(' · ');
    element('resumes').textContent = String(this.state.resumes);
    element('resets').textContent = String(this.state.resets);
  }
}

/** A line chart of window totals, drawn by hand: axes, a grid line, the line and the last point. */
function drawChart(canvas: HTMLCanvasElement, view: WindowView): void {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0 || height === 0) return;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const g = canvas.getContext('2d');
  if (g === null) return;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const styles = getComputedStyle(canvas);
  const ink = styles.getPropertyValue('--chart-ink').trim() || '#444';
  const line = styles.getPropertyValue('--chart-line').trim() || '#0a7';
  const left = 48;
  const right = 8;
  const top = 8;
  const bottom = 22;
  const plotWidth = Math.max(1, width - left - right);
  const plotHeight = Math.max(1, height - top - bottom);
  const max = Math.max(1, ...view.series);
  const n = view.series.length;
  const x = (i: number) => left + (n <= 1 ? plotWidth : (i / (n - 1)) * plotWidth);
  const y = (v: number) => top + plotHeight - (v / max) * plotHeight;

  g.font = '11px system-ui, sans-serif';
  g.fillStyle = ink;
  g.strokeStyle = ink;
  g.globalAlpha = 0.25;
  g.beginPath();
  g.moveTo(left, y(max));
  g.lineTo(left + plotWidth, y(max));
  g.moveTo(left, y(0));
  g.lineTo(left + plotWidth, y(0));
  g.stroke();
  g.globalAlpha = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  g.fillText(numberFormat.format(max), left - 6, y(max));
  g.fillText('0', left - 6, y(0));
  g.textBaseline = 'top';
  g.textAlign = 'left';
  g.fillText(formatWindow(view.resolution, view.seriesStartMs), left, top + plotHeight + 6);
  g.textAlign = 'right';
  g.fillText(formatWindow(view.resolution, view.startMs), left + plotWidth, top + plotHeight + 6);

  g.strokeStyle = line;
  g.lineWidth = 2;
  g.lineJoin = 'round';
  g.beginPath();
  view.series.forEach((v, i) => (i === 0 ? g.moveTo(x(i), y(v)) : g.lineTo(x(i), y(v))));
  g.stroke();
  g.fillStyle = line;
  g.beginPath();
  g.arc(x(n - 1), y(view.series[n - 1] ?? 0), 3, 0, Math.PI * 2);
  g.fill();
}

// Loaded by the page; a test may import this module for DashboardState without a DOM.
if (typeof document !== 'undefined') new Dashboard().start();
