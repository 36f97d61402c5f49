/**
 * Logging: pino, structured JSON, one object per line on stdout by default.
 *
 * Every layer takes a `Logger`, which is pino's own interface (fastify's
 * logger is pino), so a pino instance, fastify's `app.log` and `silentLogger`
 * all fit. `createLogger` builds the process's one pino instance from the
 * `logLevel` setting.
 *
 * Worker threads do not write to stdout themselves: `forwardingLogger` turns
 * each line into a `LogRecord` that the worker posts to the edge thread, and
 * `writeLogRecord` hands it to the edge's logger. So every line of a process
 * leaves through one destination, in one format, and a test can capture the
 * lines of the workers with those of the edge. The level is checked in the
 * worker, before anything is built or posted: a disabled level costs a
 * comparison.
 *
 * Invariants:
 * - Nothing is logged per event; the busiest paths log per batch at most, and
 *   only at `debug` (the edge, one line per request) or `trace` (the worker,
 *   one line per batch).
 * - An `err` field is serialized with pino's error serializer before it
 *   crosses threads (structured clone keeps neither `code` nor `cause`).
 */
import { pino, type DestinationStream } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** The levels a line can have (`silent` only switches logging off). */
export type LineLevel = Exclude<LogLevel, 'silent'>;

export interface Logger {
  fatal(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  trace(obj: object, msg?: string): void;
  /** True when a line at `level` would be written; check it before building an expensive line. */
  isLevelEnabled(level: string): boolean;
  child(bindings: Record<string, unknown>): Logger;
}

const noop = (): void => {};

export const silentLogger: Logger = {
  fatal: noop,
  error: noop,
  warn: noop,
  info: noop,
  debug: noop,
  trace: noop,
  isLevelEnabled: () => false,
  child: () => silentLogger,
};

/** Numeric severities as pino has them; higher is more severe. */
const SEVERITY: Readonly<Record<LogLevel, number>> = Object.freeze({
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
});

/**
 * Bytes of log lines waiting for a slow stdout. Past it new lines are dropped
 * and counted (logLinesDropped, eventide_log_lines_dropped_total) rather than
 * held without bound or allowed to block the edge thread.
 */
export const LOG_BUFFER_BYTES_MAX = 16 * 1024 * 1024;

let linesDropped = 0;

/** Lines dropped because stdout did not keep up, since the process started (all loggers of createLogger). */
export function logLinesDropped(): number {
  return linesDropped;
}

export interface CreateLoggerOptions {
  level: LogLevel;
  /** Where lines go; when absent, file descriptor `fd` through a bounded asynchronous buffer. */
  destination?: DestinationStream;
  /** Default 1 (stdout). */
  fd?: number;
  /** Default LOG_BUFFER_BYTES_MAX. */
  bufferBytesMax?: number;
}

/**
 * The process's logger. Lines carry `level` as its name (`"info"`, not 30),
 * `time` in unix ms, `pid`, `hostname` and `msg`; errors go under `err`.
 *
 * Written asynchronously (pino's sonic-boom): the edge thread never waits for
 * stdout. The buffer is flushed on a normal exit; a hard crash can lose the
 * lines still in it.
 */
export function createLogger(options: CreateLoggerOptions): pino.Logger {
  const pinoOptions: pino.LoggerOptions = {
    level: options.level,
    // Names read better in a log pipeline than pino's numbers, and cost nothing measurable.
    formatters: { level: (label) => ({ level: label }) },
  };
  if (options.destination !== undefined) return pino(pinoOptions, options.destination);
  const destination = pino.destination({
    dest: options.fd ?? 1,
    sync: false,
    minLength: 0,
    maxLength: options.bufferBytesMax ?? LOG_BUFFER_BYTES_MAX,
  });
  destination.on('drop', () => {
    linesDropped++;
  });
  return pino(pinoOptions, destination);
}

/** One log line on its way from a worker thread to the edge's logger. Plain data (structured-clone safe). */
export interface LogRecord {
  level: LineLevel;
  msg: string;
  fields: Record<string, unknown>;
}

/** A Logger that hands each enabled line to `forward` as a LogRecord (a worker posts it to the edge). */
export function forwardingLogger(
  level: LogLevel,
  forward: (record: LogRecord) => void,
  bindings: Record<string, unknown> = {},
): Logger {
  const threshold = SEVERITY[level];
  const line =
    (lineLevel: LineLevel) =>
    (obj: object, msg = ''): void => {
      if (SEVERITY[lineLevel] < threshold) return;
      forward({ level: lineLevel, msg, fields: { ...bindings, ...plain(obj) } });
    };
  return {
    fatal: line('fatal'),
    error: line('error'),
    warn: line('warn'),
    info: line('info'),
    debug: line('debug'),
    trace: line('trace'),
    isLevelEnabled: (name) => SEVERITY[name as LogLevel] >= threshold,
    child: (more) => forwardingLogger(level, forward, { ...bindings, ...more }),
  };
}

/** Writes a forwarded line with the edge's logger; `bindings` (e.g. the worker index) are added. */
export function writeLogRecord(log: Logger, record: LogRecord, bindings: Record<string, unknown>): void {
  // A record comes from our own worker; an unknown level would be our bug, and still must not crash the edge.
  const level: LineLevel = Object.hasOwn(SEVERITY, record.level) && record.level !== ('silent' as string) ? record.level : 'error';
  log[level]({ ...record.fields, ...bindings }, record.msg);
}

/** Errors become pino's serialized shape (type, message, stack, code, cause); everything else is kept. */
function plain(obj: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    out[key] = value instanceof Error ? pino.stdSerializers.err(value) : value;
  }
  return out;
}
