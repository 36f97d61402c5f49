/**
 * The base of every error eventide raises on purpose. Callers match on `code`,
 * never on message text; `retryable` tells a client (or a flusher) whether the
 * same request may succeed later. Each layer keeps its own `errors.ts`.
 * Every code has a row in docs/errors.md; test/docs.test.ts fails otherwise.
 */
export abstract class EventideError extends Error {
  abstract readonly code: string;
  abstract readonly retryable: boolean;
  /** The field at fault, as a JSON-pointer-like path (`events/3/name`), when there is one. */
  readonly field: string | undefined;

  constructor(message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.field = options?.field;
  }

  toJSON(): { code: string; message: string; field?: string; retryable: boolean } {
    const out: { code: string; message: string; field?: string; retryable: boolean } = {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
    };
    if (this.field !== undefined) out.field = this.field;
    return out;
  }
}
