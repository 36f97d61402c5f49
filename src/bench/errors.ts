/**
 * Errors of the benchmark harness. A run that cannot start (bad option, no
 * server, no key) raises one of these; a run that finishes but finds the
 * server's figures wrong is not an error here but a failed check in the
 * result (checker.ts), so that the report is still written.
 */
import { EventideError } from '../errors.js';

/** A flag or config-file entry has a value the harness cannot use. */
export class BenchOptionError extends EventideError {
  readonly code = 'EVT_BENCH_OPTION';
  readonly retryable = false;
  constructor(message: string, field: string) {
    super(message, { field });
  }
}

/** The target server could not be reached, or answered something that is not eventide's wire contract. */
export class BenchTargetError extends EventideError {
  readonly code = 'EVT_BENCH_TARGET';
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options);
  }
}

/** A sender worker thread died or sent something the harness does not understand. */
export class BenchWorkerError extends EventideError {
  readonly code = 'EVT_BENCH_WORKER';
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
