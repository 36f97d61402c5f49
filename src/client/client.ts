/**
 * The client: a bounded buffer of encoded events, cut into batches by size,
 * bytes or time, sent by one transport with a bounded number of requests in
 * flight, and retried by batch until every event has a final outcome.
 *
 * Invariants:
 * - Every event taken by send() ends in exactly one of: accepted, duplicate,
 *   late, tooLate, rejected (the server's receipts), or dropped.evicted /
 *   dropped.failed / dropped.retriesExhausted (the client's). Until then it is
 *   `buffered`. So at any moment
 *   enqueued = accepted + duplicate + late + tooLate + rejected
 *            + dropped.evicted + dropped.failed + dropped.retriesExhausted + buffered
 *   (test/client/*.test.ts check it after every run).
 * - An event keeps its id and its encoded bytes across attempts; only sentAt
 *   changes, so the server deduplicates a resend of something it applied.
 * - A refusal or a request without an answer closes the gate: no request
 *   leaves before the server's hint plus a backoff with full jitter. It also
 *   halves the requests allowed in flight (down to one), which grow back by
 *   one per round of answered requests. A server that is down therefore sees
 *   one request per backoff, and a server under pressure a client that settles
 *   at what it takes.
 * - Only what may succeed later is re-sent: a refused request as a whole, and
 *   from an answered one only the events whose receipts have a retryable
 *   code. Everything else is final the moment it is answered.
 * - Events are held in seq order in every structure (the queue, each batch),
 *   so the lowest unfinished seq is the minimum of a few heads; flush() waits
 *   for that to pass its mark.
 */
import { randomBytes } from 'node:crypto';
import {
  AnswerInvalidError,
  type ClientDeliveryError,
  RetriesExhaustedError,
  type NetworkError,
  type RequestRefusedError,
} from './errors.js';
import { encodeEvent, ENVELOPE_BYTES_MAX, FRAMING_BYTES } from './encode.js';
import { checkEvent, type ClientEvent, type PendingEvent } from './event.js';
import { createGrpcTransport } from './grpc.js';
import { createHttpTransport } from './http.js';
import { resolveOptions, type ClientOptions, type ResolvedOptions } from './options.js';
import { answerProblem, isRetryableReceipt, type ClientReceipt } from './receipts.js';
import type { ClientTransport, Outcome } from './transport.js';

export interface DroppedCounts {
  /** Refused by send() because the buffer was full (dropPolicy 'reject', or nothing unsent left to evict). */
  overflow: number;
  /** Dropped from the buffer, unsent, to make room for newer events (dropPolicy 'drop-oldest'). */
  evicted: number;
  /** Refused by send() after close(). */
  closed: number;
  /** The server refused their request for good (onError: RequestFailedError or AnswerInvalidError). */
  failed: number;
  /** Their batch was refused retry.attemptsMax times (onError: RetriesExhaustedError). */
  retriesExhausted: number;
}

export interface ClientStats {
  /** Events taken by send(). */
  enqueued: number;
  /** Events put on the wire, every attempt counted. */
  sent: number;
  /** Of `sent`, the events sent again after a refusal or a retryable receipt. */
  retried: number;
  /** Requests made, every attempt counted. */
  requests: number;
  /** Requests refused for now (429, 503, RESOURCE_EXHAUSTED, UNAVAILABLE) or not answered at all. */
  refusals: number;
  /** Final receipts, as the server counted them. */
  accepted: number;
  duplicate: number;
  late: number;
  tooLate: number;
  rejected: number;
  dropped: DroppedCounts;
  /** Events held now: queued, in flight or waiting to be retried. */
  buffered: number;
  bufferedBytes: number;
  /** Requests in flight now. */
  inFlight: number;
}

interface Batch<E extends ClientEvent> {
  /** In seq order. */
  events: PendingEvent<E>[];
  /** Attempts made. */
  attempts: number;
  /** Not sent again before this, unix ms. */
  notBeforeMs: number;
  lastError: RequestRefusedError | NetworkError | undefined;
}

/** The queue is compacted when this many taken slots lead it and they are at least half of it. */
const QUEUE_COMPACT_MIN = 1024;
/** Bytes of randomness in a client's id prefix (base64url: 16 characters). */
const CLIENT_ID_BYTES = 12;

export interface Client<E extends ClientEvent = ClientEvent> {
  /**
   * Takes one event or several, synchronously: each is checked (a ClientEventError
   * is thrown before any is taken), given an id and a timestamp when it has none,
   * encoded and buffered. False when any was not taken: the buffer was full
   * (dropPolicy 'reject') or the client is closed; those are counted in `dropped`.
   */
  send(events: E | readonly E[]): boolean;
  /** Resolves once every event taken before the call has a final outcome (answered, or dropped). Never rejects. */
  flush(): Promise<void>;
  /** Takes no more events, flushes, then releases sockets and channels. Idempotent. */
  close(): Promise<void>;
  stats(): ClientStats;
  /** The random prefix of the ids this client assigns (`<clientId>.<seq base 36>`). */
  readonly clientId: string;
}

class EventideClient<E extends ClientEvent> implements Client<E> {
  readonly clientId: string;
  readonly #o: ResolvedOptions<E>;
  readonly #transport: ClientTransport;
  readonly #queue: PendingEvent<E>[] = [];
  #queueHead = 0;
  #queueBytes = 0;
  /** Batches waiting for their notBeforeMs, in the order they were refused. */
  readonly #retries: Batch<E>[] = [];
  readonly #inFlight = new Set<Batch<E>>();
  #gateUntilMs = 0;
  /**
   * Requests allowed in flight: halved on each refusal, grown by one per
   * window of answered requests (additive increase, multiplicative decrease),
   * so a client settles at what the server takes instead of bursting
   * requestsInFlightMax into every reopened gate.
   */
  #window: number;
  #timer: NodeJS.Timeout | undefined;
  #timerAtMs = Number.POSITIVE_INFINITY;
  #pumpScheduled = false;
  readonly #flushWaiters: Array<{ mark: number; resolve: () => void }> = [];
  #closed = false;
  #closing: Promise<void> | undefined;
  #nextSeq = 0;
  #requestSeq = 0;
  readonly #warned = new Set<string>();
  readonly #stats = {
    enqueued: 0,
    sent: 0,
    retried: 0,
    requests: 0,
    refusals: 0,
    accepted: 0,
    duplicate: 0,
    late: 0,
    tooLate: 0,
    rejected: 0,
    dropped: { overflow: 0, evicted: 0, closed: 0, failed: 0, retriesExhausted: 0 },
    buffered: 0,
    bufferedBytes: 0,
  };

  constructor(options: ResolvedOptions<E>) {
    this.#o = options;
    this.clientId = randomBytes(CLIENT_ID_BYTES).toString('base64url');
    this.#window = options.requestsInFlightMax;
    this.#transport = options.transport === 'grpc' ? createGrpcTransport(options) : createHttpTransport(options);
  }

  send(input: E | readonly E[]): boolean {
    const list: readonly E[] = Array.isArray(input) ? (input as readonly E[]) : [input as E];
    const prefixed = Array.isArray(input);
    for (let i = 0; i < list.length; i++) checkEvent(list[i], prefixed ? `events/${i}/` : '');
    if (this.#closed) {
      this.#stats.dropped.closed += list.length;
      return false;
    }
    const o = this.#o;
    const nowMs = Date.now();
    let all = true;
    for (const e of list) {
      const seq = this.#nextSeq++;
      const id = e.id ?? `${this.clientId}.${seq.toString(36)}`;
      const timestamp = e.timestamp ?? (o.stampTimestamp ? nowMs : undefined);
      // checkEvent let through only primitives where the encoders want them, so encoding cannot throw.
      const pending = encodeEvent(e, seq, id, timestamp, o.format, nowMs);
      if (!this.#makeRoom(pending.bytes)) {
        this.#stats.dropped.overflow++;
        all = false;
        continue;
      }
      this.#queue.push(pending);
      this.#queueBytes += pending.bytes;
      this.#stats.buffered++;
      this.#stats.bufferedBytes += pending.bytes;
      this.#stats.enqueued++;
    }
    this.#schedulePump();
    return all;
  }

  #fits(bytes: number): boolean {
    return this.#stats.buffered < this.#o.bufferEventsMax && this.#stats.bufferedBytes + bytes <= this.#o.bufferBytesMax;
  }

  /** True when an event of `bytes` fits, after evicting the oldest unsent events if the policy allows. */
  #makeRoom(bytes: number): boolean {
    if (this.#fits(bytes)) return true;
    if (this.#o.dropPolicy !== 'drop-oldest') return false;
    let evicted = false;
    while (!this.#fits(bytes) && this.#queueHead < this.#queue.length) {
      const old = this.#queue[this.#queueHead]!;
      this.#takeFromQueue(1);
      this.#release([old]);
      this.#stats.dropped.evicted++;
      evicted = true;
    }
    if (evicted) this.#checkFlushWaiters();
    return this.#fits(bytes);
  }

  flush(): Promise<void> {
    const mark = this.#nextSeq;
    if (this.#lowestUnfinished() >= mark) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#flushWaiters.push({ mark, resolve });
      this.#schedulePump();
    });
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      await this.flush();
      this.#clearTimer();
      await this.#transport.close();
    })();
    return this.#closing;
  }

  stats(): ClientStats {
    const s = this.#stats;
    return { ...s, dropped: { ...s.dropped }, inFlight: this.#inFlight.size };
  }

  // ---------------------------------------------------------------- dispatch

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    // A loop of send() calls in one turn is batched as a whole, not dispatched event by event.
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #queueLength(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** Sends what may go now; arms the timer for what may go later. */
  #pump(): void {
    const o = this.#o;
    const nowMs = Date.now();
    const forcing = this.#flushWaiters.length > 0 || this.#closed;
    for (;;) {
      if (this.#inFlight.size >= Math.floor(this.#window) || nowMs < this.#gateUntilMs) break;
      const retry = this.#dueRetry(nowMs);
      if (retry !== undefined) {
        this.#dispatch(retry);
        continue;
      }
      const length = this.#queueLength();
      if (length === 0) break;
      const lingerEndMs = this.#queue[this.#queueHead]!.atMs + o.lingerMs;
      const full = length >= o.batchEventsMax || this.#queueBytes + length * FRAMING_BYTES[o.format] >= o.batchBytesMax - ENVELOPE_BYTES_MAX;
      if (!forcing && !full && nowMs < lingerEndMs) break;
      this.#dispatch({ events: this.#cut(), attempts: 0, notBeforeMs: 0, lastError: undefined });
    }
    this.#armTimer(nowMs);
  }

  /** The earliest moment pump() could send something it could not send now; no timer while requests are at the limit (their answers pump). */
  #armTimer(nowMs: number): void {
    let wakeMs = Number.POSITIVE_INFINITY;
    if (this.#inFlight.size < Math.floor(this.#window)) {
      for (const b of this.#retries) wakeMs = Math.min(wakeMs, b.notBeforeMs);
      if (this.#queueLength() > 0) wakeMs = Math.min(wakeMs, this.#queue[this.#queueHead]!.atMs + this.#o.lingerMs);
      if (wakeMs !== Number.POSITIVE_INFINITY) wakeMs = Math.max(wakeMs, this.#gateUntilMs, nowMs + 1);
    }
    if (wakeMs === this.#timerAtMs) return;
    this.#clearTimer();
    if (wakeMs === Number.POSITIVE_INFINITY) return;
    this.#timerAtMs = wakeMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAtMs = Number.POSITIVE_INFINITY;
      this.#pump();
    }, wakeMs - nowMs);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAtMs = Number.POSITIVE_INFINITY;
  }

  #dueRetry(nowMs: number): Batch<E> | undefined {
    let best = -1;
    for (let i = 0; i < this.#retries.length; i++) {
      const b = this.#retries[i]!;
      if (b.notBeforeMs <= nowMs && (best === -1 || b.events[0]!.seq < this.#retries[best]!.events[0]!.seq)) best = i;
    }
    return best === -1 ? undefined : this.#retries.splice(best, 1)[0];
  }

  /** Takes the next batch off the queue: up to batchEventsMax events and a body of batchBytesMax, at least one event. */
  #cut(): PendingEvent<E>[] {
    const o = this.#o;
    const framing = FRAMING_BYTES[o.format];
    const budget = o.batchBytesMax - ENVELOPE_BYTES_MAX;
    let n = 0;
    let bytes = 0;
    const length = this.#queueLength();
    while (n < length && n < o.batchEventsMax) {
      const next = this.#queue[this.#queueHead + n]!.bytes + framing;
      if (n > 0 && bytes + next > budget) break;
      bytes += next;
      n++;
    }
    return this.#takeFromQueue(n);
  }

  #takeFromQueue(n: number): PendingEvent<E>[] {
    const taken = this.#queue.slice(this.#queueHead, this.#queueHead + n);
    this.#queueHead += n;
    for (const e of taken) this.#queueBytes -= e.bytes;
    if (this.#queueHead === this.#queue.length) {
      this.#queue.length = 0;
      this.#queueHead = 0;
    } else if (this.#queueHead >= QUEUE_COMPACT_MIN && this.#queueHead * 2 >= this.#queue.length) {
      this.#queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
    return taken;
  }

  #dispatch(batch: Batch<E>): void {
    batch.attempts++;
    this.#inFlight.add(batch);
    const n = batch.events.length;
    this.#stats.requests++;
    this.#stats.sent += n;
    if (batch.attempts > 1) this.#stats.retried += n;
    const requestId = `${this.clientId}-${this.#requestSeq++}`;
    this.#transport.send(batch.events, requestId).then(
      (outcome) => this.#settle(batch, outcome),
      // A transport resolves every outcome; a rejection is a bug of ours, reported rather than retried forever.
      (err: unknown) => this.#settle(batch, { kind: 'failed', error: new AnswerInvalidError(`the transport failed: ${String(err)}`, 0) }),
    );
  }

  // ---------------------------------------------------------------- outcomes

  #settle(batch: Batch<E>, outcome: Outcome): void {
    this.#inFlight.delete(batch);
    if (outcome.kind === 'answered') this.#answered(batch, outcome);
    else if (outcome.kind === 'refused') this.#refused(batch, outcome.error, outcome.retryAfterMs);
    else {
      this.#grow();
      this.#giveUp(batch.events, outcome.error as unknown as ClientDeliveryError<E>, 'failed');
    }
    this.#checkFlushWaiters();
    this.#pump();
  }

  #grow(): void {
    this.#window = Math.min(this.#o.requestsInFlightMax, this.#window + 1 / Math.floor(this.#window));
  }

  #answered(batch: Batch<E>, outcome: Extract<Outcome, { kind: 'answered' }>): void {
    this.#grow();
    const { counts, receipts } = outcome;
    const events = batch.events;
    const problem = answerProblem(counts, receipts, events.length);
    if (problem !== undefined) {
      this.#giveUp(events, new AnswerInvalidError(problem, 200), 'failed');
      return;
    }
    const retryIndexes = new Set<number>();
    const finals: ClientReceipt<E>[] = [];
    for (const r of receipts) {
      if (r.status === 'accepted') continue;
      if (isRetryableReceipt(r)) {
        retryIndexes.add(r.index);
        continue;
      }
      const e = events[r.index]!;
      finals.push({ id: e.id, event: e.event, status: r.status, code: r.code, field: r.field, message: r.message });
    }
    const s = this.#stats;
    s.accepted += counts.accepted;
    s.duplicate += counts.duplicate;
    s.late += counts.late;
    s.tooLate += counts.tooLate;
    s.rejected += counts.rejected - retryIndexes.size;
    if (retryIndexes.size === 0) {
      this.#release(events);
    } else {
      const again: PendingEvent<E>[] = [];
      const done: PendingEvent<E>[] = [];
      for (let i = 0; i < events.length; i++) (retryIndexes.has(i) ? again : done).push(events[i]!);
      this.#release(done);
      const retry: Batch<E> = { events: again, attempts: batch.attempts, notBeforeMs: 0, lastError: undefined };
      if (batch.attempts >= this.#o.retry.attemptsMax) {
        const code = receipts.find((r) => isRetryableReceipt(r))?.code ?? 'EVT_INTERNAL';
        this.#giveUp(again, new RetriesExhaustedError(batch.attempts, code, undefined), 'retriesExhausted');
      } else {
        retry.notBeforeMs = Date.now() + this.#backoffMs(batch.attempts, 0);
        this.#retries.push(retry);
      }
    }
    if (finals.length > 0) this.#call(() => this.#o.onReceipts?.(finals));
  }

  #refused(batch: Batch<E>, error: RequestRefusedError | NetworkError, retryAfterMs: number): void {
    this.#stats.refusals++;
    this.#window = Math.max(1, Math.floor(this.#window / 2));
    batch.lastError = error;
    if (batch.attempts >= this.#o.retry.attemptsMax) {
      this.#giveUp(batch.events, new RetriesExhaustedError(batch.attempts, error.code, error), 'retriesExhausted');
      return;
    }
    const nowMs = Date.now();
    batch.notBeforeMs = nowMs + this.#backoffMs(batch.attempts, retryAfterMs);
    this.#gateUntilMs = Math.max(this.#gateUntilMs, batch.notBeforeMs);
    this.#retries.push(batch);
  }

  /**
   * The wait before attempt `attempts + 1`: the server's hint (cut to
   * retry.retryAfterMsMax) plus full jitter over min(maxMs, baseMs * 2^(attempts-1)).
   * The hint is waited in full; the jitter spreads clients that got the same hint.
   */
  #backoffMs(attempts: number, retryAfterMs: number): number {
    const r = this.#o.retry;
    const ceilingMs = Math.min(r.maxMs, r.baseMs * 2 ** Math.min(attempts - 1, 52));
    return Math.min(retryAfterMs, r.retryAfterMsMax) + Math.random() * ceilingMs;
  }

  #giveUp(events: PendingEvent<E>[], error: ClientDeliveryError<E>, reason: 'failed' | 'retriesExhausted'): void {
    this.#stats.dropped[reason] += events.length;
    this.#release(events);
    error.events = events.map((e) => ({ id: e.id, event: e.event }));
    const onError = this.#o.onError;
    if (onError !== undefined) this.#call(() => onError(error));
    else if (!this.#warned.has(error.code)) {
      // Said once per code; the counters keep the full tally.
      this.#warned.add(error.code);
      process.emitWarning(`eventide client dropped ${events.length} events: ${error.message} (further ${error.code} drops are only counted)`, {
        code: error.code,
      });
    }
  }

  #release(events: readonly PendingEvent<E>[]): void {
    let bytes = 0;
    for (const e of events) bytes += e.bytes;
    this.#stats.buffered -= events.length;
    this.#stats.bufferedBytes -= bytes;
  }

  /** An application callback that throws is the application's bug: it surfaces as an uncaught exception, after our state is consistent. */
  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      setImmediate(() => {
        throw err;
      });
    }
  }

  // ---------------------------------------------------------------- flush

  #lowestUnfinished(): number {
    let low = this.#nextSeq;
    if (this.#queueLength() > 0) low = Math.min(low, this.#queue[this.#queueHead]!.seq);
    for (const b of this.#inFlight) low = Math.min(low, b.events[0]!.seq);
    for (const b of this.#retries) low = Math.min(low, b.events[0]!.seq);
    return low;
  }

  #checkFlushWaiters(): void {
    if (this.#flushWaiters.length === 0) return;
    const low = this.#lowestUnfinished();
    // Marks only grow, so the waiters are in mark order.
    while (this.#flushWaiters.length > 0 && this.#flushWaiters[0]!.mark <= low) this.#flushWaiters.shift()!.resolve();
  }
}

/** Creates a client. Throws ClientOptionError for a bad option; connects lazily, on the first batch. */
export function createClient<E extends ClientEvent = ClientEvent>(options: ClientOptions<E>): Client<E> {
  return new EventideClient<E>(resolveOptions(options));
}
