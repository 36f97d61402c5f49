/**
 * Sorts what the MongoDB driver throws into the three outcomes the adapter
 * acts on: retry the call, ignore (a duplicate key, which is how
 * first-write-wins shows up), or give up on one document (dead letter).
 *
 * Invariants:
 * - A call-level error is retryable only when the server or the network may
 *   behave differently on the next try: no connection, a step-down, a write
 *   concern not yet satisfied, a server label saying so. Anything else
 *   (bad credentials, a malformed command) would fail the same way again.
 * - A per-document error is one of: duplicate (code 11000), transient (the
 *   codes below, retried with the whole call) or permanent (dead letter).
 *
 * Codes are MongoDB's (src/mongo/base/error_codes.yml); FerretDB answers with
 * the same codes for the errors it implements.
 */
import {
  MongoBulkWriteError,
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerSelectionError,
  MongoWriteConcernError,
  type WriteError,
} from 'mongodb';

export const DUPLICATE_KEY_CODE = 11000;

/** Server error codes that mean "try again": the operation met a transient state, not bad data. */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired
  64, // WriteConcernFailed
  89, // NetworkTimeout
  91, // ShutdownInProgress
  112, // WriteConflict
  133, // FailedToSatisfyReadPreference
  134, // ReadConcernMajorityNotAvailableYet
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

const RETRYABLE_LABELS = ['RetryableWriteError', 'TransientTransactionError', 'ResetPool', 'SystemOverloadedError'];

function numericCode(error: MongoError): number | undefined {
  return typeof error.code === 'number' ? error.code : undefined;
}

/** Whether a whole call may succeed if made again unchanged. */
export function isRetryableMongoError(error: unknown): boolean {
  if (!(error instanceof MongoError)) return false;
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) return true;
  if (error instanceof MongoNotConnectedError) return true;
  if (error instanceof MongoWriteConcernError) return true;
  for (const label of RETRYABLE_LABELS) if (error.hasErrorLabel(label)) return true;
  // A bulk error with any transient per-document failure (or a write concern
  // error) is worth another try of the whole call: every write is idempotent,
  // and a permanent failure fails the same way on the next try, where the
  // caller handles it per document.
  if (error instanceof MongoBulkWriteError) {
    if (error.err !== undefined) return true;
    return writeErrorsOf(error).some((failure) => documentOutcome(failure.code) === 'transient');
  }
  const code = numericCode(error);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

export type DocumentOutcome = 'duplicate' | 'transient' | 'permanent';

export function documentOutcome(code: number): DocumentOutcome {
  if (code === DUPLICATE_KEY_CODE) return 'duplicate';
  return TRANSIENT_CODES.has(code) ? 'transient' : 'permanent';
}

export function writeErrorsOf(error: MongoBulkWriteError): WriteError[] {
  const writeErrors: WriteError | WriteError[] = error.writeErrors as WriteError | WriteError[];
  return Array.isArray(writeErrors) ? writeErrors : [writeErrors];
}

/** A short code for a dead-letter record and a counter label, e.g. `mongo:2` or `MongoNetworkError`. */
export function errorCodeOf(error: unknown): string {
  if (error instanceof MongoError) {
    const code = numericCode(error);
    return code === undefined ? error.name : `mongo:${code}`;
  }
  return error instanceof Error ? error.name : 'unknown';
}
