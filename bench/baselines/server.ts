/**
 * The reference pipeline of the seed designs (/work/shared/seeds/000, 001),
 * built as they describe it, for `eventide bench --compare baseline`:
 *
 * - fastify + ws on one thread; each event is validated and processed on the
 *   main thread as it is read (no worker threads, no sharding);
 * - dedup by "SETNX event id with a 10 min TTL";
 * - per event and per metric, a counter increment (HINCRBY) and a set add
 *   (SADD for unique users), in every time window (1 s, 1 min, 1 h, 1 d);
 * - events buffered and inserted in batches (10 000 or every 500 ms) into the
 *   event store;
 * - a ws delta pushed per event to every subscriber of the owner.
 *
 * Stores: the embedded ones, like eventide's embedded default. The
 * "Redis" is an in-process Map of hashes and sets (MemoryRedis below), which
 * is FASTER than a real Redis round trip per increment would be, so the
 * comparison flatters the baseline; the event store is LMDB (the `lmdb`
 * package), as in eventide. No artificial slowness anywhere: it does what
 * the seed designs do, no more.
 *
 * It answers the same wire contract as eventide for what the harness uses
 * (POST /v1/events JSON or msgpack, maybe gzip; GET /v1/metrics; ws
 * /v1/stream), with the same late / too-late rule (the 1 s window and
 * allowedLatenessMs), so the same correctness check applies to it.
 */
import { randomBytes } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import Fastify from 'fastify';
import websocket from '@fastify/websocket';
import { unpack } from 'msgpackr';
import { open, type RootDatabase } from 'lmdb';
import type WebSocket from 'ws';

const RESOLUTIONS: Array<[string, number]> = [['1s', 1_000], ['1m', 60_000], ['1h', 3_600_000], ['1d', 86_400_000]];
const ALLOWED_LATENESS_MS = 5_000;
const DEDUP_TTL_MS = 10 * 60_000;
const FLUSH_EVENTS_MAX = 10_000;
const FLUSH_INTERVAL_MS = 500;
const NAME_CHARS_MAX = 128;

/** Stands in for Redis: HINCRBY and SADD on keys, in memory. */
class MemoryRedis {
  readonly hashes = new Map<string, Map<string, number>>();
  readonly sets = new Map<string, Set<string>>();
  readonly strings = new Map<string, number>();
  hincrby(key: string, field: string, by: number): void {
    let h = this.hashes.get(key);
    if (h === undefined) this.hashes.set(key, (h = new Map<string, number>()));
    h.set(field, (h.get(field) ?? 0) + by);
  }
  sadd(key: string, member: string): void {
    let s = this.sets.get(key);
    if (s === undefined) this.sets.set(key, (s = new Set<string>()));
    s.add(member);
  }
  /** SET key NX PX ttl: true when the key was set. */
  setnx(key: string, nowMs: number, ttlMs: number): boolean {
    const exp = this.strings.get(key);
    if (exp !== undefined && exp > nowMs) return false;
    this.strings.set(key, nowMs + ttlMs);
    return true;
  }
}

interface InEvent { id?: unknown; name?: unknown; timestamp?: unknown; sentAt?: unknown; userId?: unknown; category?: unknown; severity?: unknown; value?: unknown }

export interface BaselineServer {
  httpUrl: string;
  grpcTarget: string;
  wsUrl: string;
  createKey(owner: string): Promise<string>;
  close(): Promise<void>;
}

export async function startBaseline(overrides: Record<string, unknown> = {}): Promise<BaselineServer> {
  const dataDir = typeof overrides.dataDir === 'string' ? overrides.dataDir : './data-baseline';
  const db: RootDatabase = open({ path: dataDir, compression: false });
  const redis = new MemoryRedis();
  const keys = new Map<string, string>();
  const windowsByOwner = new Map<string, Set<string>>();
  const subscribers = new Map<string, Set<WebSocket>>();
  let buffer: Array<{ key: string; value: unknown }> = [];
  let seq = 0;

  const flush = (): void => {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    void db.batch(() => {
      for (const e of batch) void db.put(e.key, e.value);
    });
  };
  const timer = setInterval(flush, FLUSH_INTERVAL_MS);

  const app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
  await app.register(websocket);
  app.addContentTypeParser('application/msgpack', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, unpack(body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addHook('preParsing', (req, _reply, payload, done) => {
    if (req.headers['content-encoding'] === 'gzip') {
      delete req.headers['content-length'];
      done(null, payload.pipe(createGunzip()));
    } else done(null, payload);
  });
  const ownerOf = (auth: string | undefined): string | undefined => (auth?.startsWith('Bearer ') ? keys.get(auth.slice(7)) : undefined);

  const processEvent = (owner: string, e: InEvent, index: number, receivedAtMs: number, out: { counts: Record<string, number>; receipts: unknown[] }): void => {
    // Validate, as the seed's AJV schema would, one event at a time.
    if (typeof e.name !== 'string' || e.name.length === 0 || e.name.length > NAME_CHARS_MAX) {
      out.counts.rejected!++;
      out.receipts.push({ index, id: typeof e.id === 'string' ? e.id : '', status: 'rejected', code: 'EVT_FIELD_INVALID', field: 'name' });
      return;
    }
    const id = typeof e.id === 'string' ? e.id : randomBytes(8).toString('hex');
    if (!redis.setnx(`dedup:${owner}:${id}`, receivedAtMs, DEDUP_TTL_MS)) {
      out.counts.duplicate!++;
      out.receipts.push({ index, id, status: 'duplicate' });
      return;
    }
    let ts = typeof e.timestamp === 'number' ? e.timestamp : receivedAtMs;
    if (typeof e.sentAt === 'number') ts += receivedAtMs - e.sentAt;
    const finestEnd = Math.floor(ts / 1000) * 1000 + 1000;
    const status = receivedAtMs >= finestEnd + ALLOWED_LATENESS_MS ? 'too_late' : receivedAtMs >= finestEnd ? 'late' : 'accepted';
    buffer.push({ key: `${owner}:${id}`, value: { owner, id, name: e.name, timestampMs: ts, userId: e.userId, category: e.category, severity: e.severity, value: e.value, status } });
    if (buffer.length >= FLUSH_EVENTS_MAX) flush();
    const windows = windowsByOwner.get(owner) ?? new Set<string>();
    windowsByOwner.set(owner, windows);
    for (const [res, ms] of RESOLUTIONS) {
      const start = Math.floor((status === 'too_late' ? receivedAtMs : ts) / ms) * ms;
      const key = `m:${owner}:${res}:${start}`;
      windows.add(`${res}:${start}`);
      if (status === 'too_late') {
        redis.hincrby(key, 'tooLate', 1);
        continue;
      }
      redis.hincrby(key, 'total', 1);
      redis.hincrby(key, `name:${e.name}`, 1);
      redis.hincrby(key, `category:${typeof e.category === 'string' ? e.category : 'default'}`, 1);
      redis.hincrby(key, `severity:${typeof e.severity === 'string' ? e.severity : 'info'}`, 1);
      if (typeof e.value === 'number') redis.hincrby(key, `value:${e.name}`, e.value);
      if (status === 'late') redis.hincrby(key, 'late', 1);
      if (typeof e.userId === 'string') redis.sadd(`u:${owner}:${res}:${start}`, e.userId);
    }
    if (status === 'too_late') {
      out.counts.tooLate!++;
      out.receipts.push({ index, id, status });
    } else {
      out.counts[status === 'late' ? 'late' : 'accepted']!++;
      if (status === 'late') out.receipts.push({ index, id, status });
      // A delta per event, as the seed pushes a dashboard update per event.
      const subs = subscribers.get(owner);
      if (subs !== undefined && subs.size > 0) {
        const frame = JSON.stringify({ type: 'delta', seq: ++seq, oldestReceivedAtMs: receivedAtMs, deltas: [{ resolution: '1s', startMs: Math.floor(ts / 1000) * 1000, total: 1, byName: { [e.name]: 1 } }] });
        for (const ws of subs) ws.send(frame);
      }
    }
  };

  app.post('/v1/events', (req, reply) => {
    const owner = ownerOf(req.headers.authorization);
    if (owner === undefined) return reply.code(401).send({ error: { code: 'EVT_UNAUTHENTICATED' } });
    const body = req.body as { events?: InEvent[] } | InEvent[];
    const events = Array.isArray(body) ? body : (body.events ?? []);
    const out = { counts: { accepted: 0, duplicate: 0, late: 0, tooLate: 0, rejected: 0 } as Record<string, number>, receipts: [] as unknown[] };
    const now = Date.now();
    for (let i = 0; i < events.length; i++) processEvent(owner, events[i]!, i, now, out);
    return reply.code(200).send(out);
  });

  app.get('/v1/metrics', (req, reply) => {
    const owner = ownerOf(req.headers.authorization);
    if (owner === undefined) return reply.code(401).send({ error: { code: 'EVT_UNAUTHENTICATED' } });
    const q = req.query as Record<string, string>;
    const res = q.resolution ?? '1m';
    const from = Number(q.from ?? 0);
    const to = Number(q.to ?? Date.now());
    const windows: Array<{ startMs: number; total: number }> = [];
    const summary = { total: 0, late: 0, tooLate: 0, uniques: 0, byName: {} as Record<string, number> };
    const users = new Set<string>();
    for (const w of windowsByOwner.get(owner) ?? []) {
      const [r, s] = w.split(':');
      const start = Number(s);
      if (r !== res || start < from || start >= to) continue;
      const h = redis.hashes.get(`m:${owner}:${res}:${start}`) ?? new Map<string, number>();
      const total = h.get('total') ?? 0;
      windows.push({ startMs: start, total });
      summary.total += total;
      summary.late += h.get('late') ?? 0;
      summary.tooLate += h.get('tooLate') ?? 0;
      for (const [f, n] of h) if (f.startsWith('name:')) summary.byName[f.slice(5)] = (summary.byName[f.slice(5)] ?? 0) + n;
      for (const u of redis.sets.get(`u:${owner}:${res}:${start}`) ?? []) users.add(u);
    }
    summary.uniques = users.size;
    windows.sort((a, b) => a.startMs - b.startMs);
    return reply.send({ owner, resolution: res, fromMs: from, toMs: to, windows, summary, truncated: false });
  });

  app.get('/v1/stream', { websocket: true }, (socket, req) => {
    const key = new URL(req.url, 'http://x').searchParams.get('key') ?? '';
    const owner = keys.get(key);
    if (owner === undefined) return socket.close(1008, 'unauthenticated');
    socket.on('message', () => {
      const set = subscribers.get(owner) ?? new Set<WebSocket>();
      subscribers.set(owner, set);
      set.add(socket);
      socket.send(JSON.stringify({ type: 'snapshot', windows: [] }));
    });
    socket.on('close', () => subscribers.get(owner)?.delete(socket));
  });

  const address = await app.listen({ host: '127.0.0.1', port: Number(overrides.httpPort ?? 0) });
  const http = new URL(address);
  return {
    httpUrl: `http://${http.host}`,
    grpcTarget: '',
    wsUrl: `ws://${http.host}/v1/stream`,
    createKey: (owner) => {
      const key = `bl_${randomBytes(16).toString('hex')}`;
      keys.set(key, owner);
      return Promise.resolve(key);
    },
    close: async () => {
      clearInterval(timer);
      flush();
      await app.close();
      await db.flushed;
      await db.close();
    },
  };
}
