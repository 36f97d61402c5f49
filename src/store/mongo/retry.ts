/**
 * Bounded retries with exponential backoff and full jitter.
 *
 * Invariants:
 * - At most `attemptsMax` calls of `operation`; the last error is rethrown as is.
 * - Only errors that `isRetryable` accepts are retried; any other one is rethrown at once.
 * - The delay before retry n (from 1) is uniform in [0, min(delayMsMax, delayMsMin * 2^(n-1))].
 *
 * Full jitter (rather than a fixed doubling) because every worker thread has
 * its own adapter: when the server comes back, retries that all doubled in step
 * would arrive together; spread over the whole interval they do not.
 * The clock is injected (`sleep`, `random`) so tests never wait on the wall clock.
 */

export interface RetryPolicy {
  /** Calls of the operation in all, the first included. 1 means no retry. */
  attemptsMax: number;
  /** Upper bound of the first retry's delay. */
  delayMsMin: number;
  /** Upper bound of any retry's delay. */
  delayMsMax: number;
}

export interface RetryClock {
  sleep(delayMs: number): Promise<void>;
  /** Uniform in [0, 1), as Math.random. */
  random(): number;
}

export const realRetryClock: RetryClock = Object.freeze({
  sleep: (delayMs: number) => new Promise<void>((resolve) => setTimeout(resolve, delayMs)),
  random: Math.random,
});

/** The delay before retry `retry` (1 is the first retry), for a random draw in [0, 1). */
export function backoffDelayMs(policy: RetryPolicy, retry: number, draw: number): number {
  const ceilingMs = Math.min(policy.delayMsMax, policy.delayMsMin * 2 ** (retry - 1));
  return Math.floor(ceilingMs * draw);
}

/**
 * Runs `operation` until it succeeds, fails with an error that is not
 * retryable, or has been called `attemptsMax` times. `onRetry` is told about
 * each retry before its delay, so the caller can count them.
 */
export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  clock: RetryClock,
  isRetryable: (error: unknown) => boolean,
  onRetry: (error: unknown, retry: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= policy.attemptsMax || !isRetryable(error)) throw error;
      onRetry(error, attempt);
      await clock.sleep(backoffDelayMs(policy, attempt, clock.random()));
    }
  }
}
