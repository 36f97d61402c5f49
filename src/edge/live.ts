/**
 * The live hub: between the runtime's delta stream (router.live) and ws
 * subscribers. One channel per (owner, resolution).
 *
 * Invariants:
 * - A channel has an epoch (random, new whenever the channel is created) and
 *   a sequence number. Frame `seq` n carries exactly the deltas that arrived
 *   between tick n-1 and tick n; seqs are contiguous within an epoch, so a
 *   client holding (epoch, seq) knows precisely what it has.
 * - A subscriber gets at most ONE frame per channel per tick. Deltas of one
 *   window within a tick are coalesced (mergeDelta) before the frame is built,
 *   and the frame is serialized once for all subscribers.
 * - A subscriber whose socket holds more than wsBufferedBytesMax is not sent
 *   to; its frames are merged into one pending frame (counted in `merges`)
 *   and sent as one frame covering `fromSeq..seq` once it drains. Nothing is
 *   dropped, and a slow subscriber costs memory bounded by the number of
 *   distinct windows it missed, not by the number of frames.
 * - The hub keeps each channel's current state (snapshot from watch() plus
 *   every frame applied), so a later subscriber gets a snapshot at the
 *   channel's current seq without a round trip to the worker. The uniques
 *   sketch cannot be updated from deltas (deltas carry only the estimate), so
 *   snapshots on the ws carry `uniques` and never `uniquesSketch`.
 * - A delta frame carries `oldestReceivedAtMs`: the smallest edge receive
 *   time (unix ms) of the batches whose events it reports, i.e. of those
 *   folded into the channel since its previous frame; a merged frame
 *   (`fromSeq`) carries the minimum over the frames it covers. So arrival
 *   minus the field is the latency of the frame's oldest event. It costs one
 *   compare per owner's deltas in, and one number per frame, held frame and
 *   slow subscriber. A frame reporting no events (a resume that missed
 *   nothing) has no field.
 * - A channel whose last subscriber left stays watched for liveUnwatchGraceMs
 *   (so a quick reconnect can resume), then is unwatched. At most
 *   liveChannelsMax channels exist; a new one evicts the longest-idle channel
 *   or is refused with EVT_WS_CHANNELS_FULL.
 */
import { randomBytes } from 'node:crypto';
import { mergeDelta } from '../actors/window.js';
import { RESOLUTION_MS, type Resolution, type ValueStats, type WindowDelta, type WindowState } from '../actors/types.js';
import type { LiveSource, OwnerDeltas } from '../runtime/router.js';
import { WsChannelsFullError } from './errors.js';

/** What the hub needs of a ws socket; a `ws` WebSocket fits as is. */
export interface LiveSubscriber {
  readonly bufferedAmount: number;
  send(data: string): void;
}

export interface ResumePoint {
  epoch: string;
  seq: number;
}

/** A window as sent on the ws: the stored shape without the sketch bytes. */
export type LiveWindow = Omit<WindowState, 'uniquesSketch'>;

export interface LiveHubOptions {
  source: LiveSource;
  /** Frames go out on this tick. */
  deltaTickMs: number;
  /** Frames kept per channel for resume; a resume from further back gets a reset. */
  deltaHistoryFramesMax: number;
  /** Bytes buffered on a socket above which its frames are merged instead of sent. */
  wsBufferedBytesMax: number;
  /** Channels held at once (watched or in their grace period). */
  liveChannelsMax: number;
  /** A channel without subscribers is kept this long for resumes, then unwatched. */
  liveUnwatchGraceMs: number;
  /** Windows older than their end plus this leave the channel's state (the actor closed them). */
  allowedLatenessMs: number;
  /** Unix ms. */
  clock?: () => number;
  newEpoch?: () => string;
}

export const LIVE_DEFAULTS = Object.freeze({ liveChannelsMax: 10_000, liveUnwatchGraceMs: 30_000 });

export interface LiveHubCounters {
  /** Frames sent (delta, merged delta, snapshot, reset). */
  framesSent: number;
  /** Frames held back from a slow subscriber and merged into its pending frame. */
  merges: number;
  /** Resumes that could not be served from history. */
  resets: number;
  /** Subscriptions right now. */
  subscribers: number;
  /** Channels right now. */
  channels: number;
  /** Idle channels evicted early to make room for a new one. */
  channelsEvicted: number;
  /** New channels refused because all were busy. */
  channelsRefused: number;
  /** Deltas for an owner and resolution nobody watches (late after an unwatch). */
  deltasUnrouted: number;
}

interface Frame {
  seq: number;
  deltas: WindowDelta[];
  /** +Infinity when unknown; never sent as such. */
  oldestReceivedAtMs: number;
}

interface Subscription {
  subscriber: LiveSubscriber;
  /** Deltas held back while the socket is slow, by window start; undefined when caught up. */
  pending: Map<number, WindowDelta> | undefined;
  pendingFromSeq: number;
  pendingOldestReceivedAtMs: number;
}

interface Channel {
  key: string;
  name: string;
  owner: string;
  resolution: Resolution;
  epoch: string;
  seq: number;
  /** Resolves when watch() has delivered the first snapshot; deltas before that are in it. */
  ready: Promise<void>;
  watched: boolean;
  state: Map<number, LiveWindow>;
  pending: Map<number, WindowDelta>;
  /** Of the batches in `pending`; +Infinity when none. */
  pendingOldestReceivedAtMs: number;
  /** Ring of the last frames: history[(start + i) % max] holds seq (firstSeq + i). */
  history: Frame[];
  historyStart: number;
  subs: Map<LiveSubscriber, Subscription>;
  lagging: number;
  idleSinceMs: number | undefined;
}

function channelKey(owner: string, resolution: Resolution): string {
  return `${resolution}\u0000${owner}`;
}

/** The channel's wire name: `<owner>/<resolution>`. */
export function channelName(owner: string, resolution: Resolution): string {
  return `${owner}/${resolution}`;
}

function addCounts(target: Record<string, number>, source: Record<string, number>): void {
  for (const key of Object.keys(source)) {
    const add = source[key]!;
    // Names are user input: an own `__proto__` key must stay a key, never a prototype.
    if (Object.hasOwn(target, key)) target[key] = target[key]! + add;
    else Object.defineProperty(target, key, { value: add, writable: true, enumerable: true, configurable: true });
  }
}

function addValues(target: Record<string, ValueStats>, source: Record<string, ValueStats>): void {
  for (const key of Object.keys(source)) {
    const s = source[key]!;
    if (Object.hasOwn(target, key)) {
      const t = target[key]!;
      t.count += s.count;
      t.sum += s.sum;
      if (s.min < t.min) t.min = s.min;
      if (s.max > t.max) t.max = s.max;
    } else {
      const copy = { count: s.count, sum: s.sum, min: s.min, max: s.max };
      Object.defineProperty(target, key, { value: copy, writable: true, enumerable: true, configurable: true });
    }
  }
}

/** Apply one delta to a channel's state; deltas are shared with history, so they are copied, never kept. */
export function applyDelta(state: Map<number, LiveWindow>, delta: WindowDelta): void {
  let window = state.get(delta.startMs);
  if (window === undefined) {
    window = {
      resolution: delta.resolution,
      startMs: delta.startMs,
      total: 0,
      late: 0,
      tooLate: 0,
      byName: {},
      byCategory: {},
      bySeverity: {},
      values: {},
      uniques: 0,
      open: true,
    };
    state.set(delta.startMs, window);
  }
  window.total += delta.total;
  window.late += delta.late;
  window.tooLate += delta.tooLate;
  addCounts(window.byName, delta.byName);
  addCounts(window.byCategory, delta.byCategory);
  addCounts(window.bySeverity, delta.bySeverity);
  addValues(window.values, delta.values);
  window.uniques = delta.uniques;
}

function coalesce(into: Map<number, WindowDelta>, delta: WindowDelta): void {
  const before = into.get(delta.startMs);
  into.set(delta.startMs, before === undefined ? delta : mergeDelta(before, delta));
}

function byStart(a: WindowDelta, b: WindowDelta): number {
  return a.startMs - b.startMs;
}

/** A delta frame's text; `fromSeq` only for merged frames, `oldestReceivedAtMs` only when known. */
function deltaFrame(channel: Channel, fromSeq: number | undefined, oldestReceivedAtMs: number, deltas: WindowDelta[]): string {
  return JSON.stringify({
    type: 'delta',
    channel: channel.name,
    epoch: channel.epoch,
    ...(fromSeq === undefined ? {} : { fromSeq }),
    seq: channel.seq,
    ...(Number.isFinite(oldestReceivedAtMs) ? { oldestReceivedAtMs } : {}),
    deltas,
  });
}

export class LiveHub {
  readonly #options: LiveHubOptions;
  readonly #clock: () => number;
  readonly #newEpoch: () => string;
  readonly #channels = new Map<string, Channel>();
  /** Channels with deltas waiting for the next tick. */
  readonly #dirty = new Set<Channel>();
  /** Channels with at least one slow subscriber holding merged deltas. */
  readonly #laggingChannels = new Set<Channel>();
  /** Channels without subscribers, oldest idle first (Set keeps insertion order). */
  readonly #idle = new Set<Channel>();
  readonly #counters: LiveHubCounters = {
    framesSent: 0,
    merges: 0,
    resets: 0,
    subscribers: 0,
    channels: 0,
    channelsEvicted: 0,
    channelsRefused: 0,
    deltasUnrouted: 0,
  };
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #tickScheduled = false;

  constructor(options: LiveHubOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#newEpoch = options.newEpoch ?? (() => randomBytes(8).toString('hex'));
    options.source.onDeltas((batch) => this.#onDeltas(batch));
  }

  get counters(): Readonly<LiveHubCounters> {
    this.#counters.channels = this.#channels.size;
    return this.#counters;
  }

  /** Tick on a real timer. Tests call tick() themselves instead. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#started = true;
    this.#timer = setInterval(() => this.tick(), this.#options.deltaTickMs);
    this.#timer.unref();
  }

  /**
   * Deltas arrive already coalesced per worker tick (a channel's owner lives in
   * one worker, so a channel gets at most one batch per tick). Sending them on
   * arrival rather than on the hub's own timer keeps the event-to-frame delay
   * to one tick, not two in series; the timer still drains slow subscribers.
   */
  #scheduleTick(): void {
    if (!this.#started || this.#tickScheduled) return;
    this.#tickScheduled = true;
    setImmediate(() => {
      this.#tickScheduled = false;
      this.tick();
    });
  }

  /** Stop ticking and unwatch every channel. Subscribers are not told; their sockets are the caller's. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#started = false;
    for (const channel of this.#channels.values()) this.#drop(channel);
    this.#counters.subscribers = 0;
  }

  /**
   * Add a subscriber to (owner, resolution). It gets either a snapshot, or
   * (with a resume point the history still covers) one delta frame with what
   * it missed, or a reset followed by a snapshot. Rejects with the source's
   * error when the first watch() fails, or with WsChannelsFullError.
   */
  async subscribe(subscriber: LiveSubscriber, owner: string, resolution: Resolution, resume?: ResumePoint): Promise<void> {
    const channel = this.#channelFor(owner, resolution);
    await channel.ready;
    if (channel.subs.has(subscriber)) return;
    if (resume !== undefined) {
      const missed = this.#missedSince(channel, resume);
      if (missed !== undefined) {
        this.#send(subscriber, deltaFrame(channel, resume.seq + 1, missed.oldestReceivedAtMs, missed.deltas));
        this.#attach(channel, subscriber);
        return;
      }
      this.#counters.resets++;
      const reason = resume.epoch === channel.epoch ? 'history' : 'epoch';
      this.#send(subscriber, JSON.stringify({ type: 'reset', channel: channel.name, reason }));
    }
    this.#pruneClosed(channel, this.#clock());
    const windows = [...channel.state.values()].sort((a, b) => a.startMs - b.startMs);
    this.#send(subscriber, JSON.stringify({ type: 'snapshot', channel: channel.name, epoch: channel.epoch, seq: channel.seq, windows }));
    this.#attach(channel, subscriber);
  }

  /** Remove one subscription; false when there was none. */
  unsubscribe(subscriber: LiveSubscriber, owner: string, resolution: Resolution): boolean {
    const channel = this.#channels.get(channelKey(owner, resolution));
    if (channel === undefined) return false;
    const sub = channel.subs.get(subscriber);
    if (sub === undefined) return false;
    if (sub.pending !== undefined) channel.lagging--;
    if (channel.lagging === 0) this.#laggingChannels.delete(channel);
    channel.subs.delete(subscriber);
    this.#counters.subscribers--;
    if (channel.subs.size === 0) {
      channel.idleSinceMs = this.#clock();
      this.#idle.add(channel);
    }
    return true;
  }

  /** One tick: one frame per dirty channel, merged frames for drained slow subscribers, unwatch expired idle channels. */
  tick(): void {
    const nowMs = this.#clock();
    const max = this.#options.wsBufferedBytesMax;
    for (const channel of this.#dirty) {
      const deltas = [...channel.pending.values()].sort(byStart);
      const oldestReceivedAtMs = channel.pendingOldestReceivedAtMs;
      channel.pending.clear();
      channel.pendingOldestReceivedAtMs = Number.POSITIVE_INFINITY;
      channel.seq++;
      this.#remember(channel, { seq: channel.seq, deltas, oldestReceivedAtMs });
      for (const delta of deltas) applyDelta(channel.state, delta);
      this.#pruneClosed(channel, nowMs);
      if (channel.subs.size === 0) continue;
      const frame = deltaFrame(channel, undefined, oldestReceivedAtMs, deltas);
      for (const sub of channel.subs.values()) {
        if (sub.pending === undefined && sub.subscriber.bufferedAmount <= max) {
          this.#send(sub.subscriber, frame);
          continue;
        }
        if (sub.pending === undefined) {
          sub.pending = new Map();
          sub.pendingFromSeq = channel.seq;
          sub.pendingOldestReceivedAtMs = Number.POSITIVE_INFINITY;
          channel.lagging++;
          this.#laggingChannels.add(channel);
        }
        for (const delta of deltas) coalesce(sub.pending, delta);
        if (oldestReceivedAtMs < sub.pendingOldestReceivedAtMs) sub.pendingOldestReceivedAtMs = oldestReceivedAtMs;
        this.#counters.merges++;
      }
    }
    this.#dirty.clear();

    for (const channel of this.#laggingChannels) {
      for (const sub of channel.subs.values()) {
        if (sub.pending === undefined || sub.subscriber.bufferedAmount > max) continue;
        const deltas = [...sub.pending.values()].sort(byStart);
        this.#send(sub.subscriber, deltaFrame(channel, sub.pendingFromSeq, sub.pendingOldestReceivedAtMs, deltas));
        sub.pending = undefined;
        channel.lagging--;
      }
      if (channel.lagging === 0) this.#laggingChannels.delete(channel);
    }

    for (const channel of this.#idle) {
      if (channel.idleSinceMs === undefined || nowMs - channel.idleSinceMs < this.#options.liveUnwatchGraceMs) break;
      this.#drop(channel);
    }
  }

  #onDeltas(batch: OwnerDeltas[]): void {
    for (const { owner, deltas, oldestReceivedAtMs } of batch) {
      for (const delta of deltas) {
        const channel = this.#channels.get(channelKey(owner, delta.resolution));
        // Before watch() resolves, deltas are already in the snapshot it brings.
        if (channel === undefined || !channel.watched) {
          this.#counters.deltasUnrouted++;
          continue;
        }
        coalesce(channel.pending, delta);
        // The check keeps a malformed figure from a worker off the wire (NaN compares false).
        if (oldestReceivedAtMs < channel.pendingOldestReceivedAtMs) channel.pendingOldestReceivedAtMs = oldestReceivedAtMs;
        this.#dirty.add(channel);
      }
    }
    if (this.#dirty.size > 0) this.#scheduleTick();
  }

  #channelFor(owner: string, resolution: Resolution): Channel {
    const key = channelKey(owner, resolution);
    const existing = this.#channels.get(key);
    if (existing !== undefined) return existing;
    if (this.#channels.size >= this.#options.liveChannelsMax) {
      const oldestIdle = this.#idle.values().next();
      if (oldestIdle.done === true) {
        this.#counters.channelsRefused++;
        throw new WsChannelsFullError(this.#options.liveChannelsMax);
      }
      this.#drop(oldestIdle.value);
      this.#counters.channelsEvicted++;
    }
    const channel: Channel = {
      key,
      name: channelName(owner, resolution),
      owner,
      resolution,
      epoch: this.#newEpoch(),
      seq: 0,
      ready: Promise.resolve(),
      watched: false,
      state: new Map(),
      pending: new Map(),
      pendingOldestReceivedAtMs: Number.POSITIVE_INFINITY,
      history: [],
      historyStart: 0,
      subs: new Map(),
      lagging: 0,
      idleSinceMs: undefined,
    };
    channel.ready = this.#options.source.watch(owner, resolution).then(
      (windows) => {
        if (this.#channels.get(key) !== channel) {
          // Dropped (hub closed) while the watch was in flight: give it back.
          this.#options.source.unwatch(owner, resolution);
          return;
        }
        for (const window of windows) {
          const { uniquesSketch: _sketch, ...live } = window;
          channel.state.set(live.startMs, live);
        }
        channel.watched = true;
      },
      (err: unknown) => {
        if (this.#channels.get(key) === channel) this.#channels.delete(key);
        throw err;
      },
    );
    this.#channels.set(key, channel);
    return channel;
  }

  #attach(channel: Channel, subscriber: LiveSubscriber): void {
    channel.subs.set(subscriber, { subscriber, pending: undefined, pendingFromSeq: 0, pendingOldestReceivedAtMs: Number.POSITIVE_INFINITY });
    this.#counters.subscribers++;
    channel.idleSinceMs = undefined;
    this.#idle.delete(channel);
  }

  #remember(channel: Channel, frame: Frame): void {
    const max = this.#options.deltaHistoryFramesMax;
    if (max === 0) return;
    if (channel.history.length < max) {
      channel.history.push(frame);
      return;
    }
    channel.history[channel.historyStart] = frame;
    channel.historyStart = (channel.historyStart + 1) % max;
  }

  /** Merged deltas after `resume.seq` and their oldest receive time, or undefined when the history does not reach back that far. */
  #missedSince(channel: Channel, resume: ResumePoint): { deltas: WindowDelta[]; oldestReceivedAtMs: number } | undefined {
    if (resume.epoch !== channel.epoch || !Number.isSafeInteger(resume.seq) || resume.seq < 0 || resume.seq > channel.seq) return undefined;
    const held = channel.history.length;
    const firstSeq = channel.seq - held + 1;
    if (resume.seq + 1 < firstSeq) return undefined;
    const merged = new Map<number, WindowDelta>();
    let oldestReceivedAtMs = Number.POSITIVE_INFINITY;
    for (let seq = resume.seq + 1; seq <= channel.seq; seq++) {
      const frame = channel.history[(channel.historyStart + (seq - firstSeq)) % held]!;
      for (const delta of frame.deltas) coalesce(merged, delta);
      if (frame.oldestReceivedAtMs < oldestReceivedAtMs) oldestReceivedAtMs = frame.oldestReceivedAtMs;
    }
    return { deltas: [...merged.values()].sort(byStart), oldestReceivedAtMs };
  }

  /** Closed windows leave the state: the actor has rolled them up and watch() would not list them. */
  #pruneClosed(channel: Channel, nowMs: number): void {
    const keepMs = RESOLUTION_MS[channel.resolution] + this.#options.allowedLatenessMs;
    for (const [startMs] of channel.state) {
      if (startMs + keepMs < nowMs) channel.state.delete(startMs);
    }
  }

  #drop(channel: Channel): void {
    this.#channels.delete(channel.key);
    this.#idle.delete(channel);
    this.#dirty.delete(channel);
    this.#laggingChannels.delete(channel);
    if (channel.watched) this.#options.source.unwatch(channel.owner, channel.resolution);
    channel.watched = false;
  }

  #send(subscriber: LiveSubscriber, data: string): void {
    try {
      subscriber.send(data);
      this.#counters.framesSent++;
    } catch {
      // A socket that closed under us is cleaned up by its own close handler.
    }
  }
}
