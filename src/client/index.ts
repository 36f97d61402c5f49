/**
 * eventide/client: the SDK's public face. Anything not exported here is
 * internal. This module and everything it imports load without the server:
 * no fastify, lmdb, worker code or database driver (test/client/import.test.ts
 * checks it in a fresh process), and @grpc/grpc-js only once a gRPC client
 * sends its first batch.
 */
export { createClient, type Client, type ClientStats, type DroppedCounts } from './client.js';
export {
  AnswerInvalidError,
  ClientDeliveryError,
  ClientEventError,
  ClientOptionError,
  NetworkError,
  RequestFailedError,
  RequestRefusedError,
  RetriesExhaustedError,
  type LostEvent,
} from './errors.js';
export { SEVERITIES, type ClientEvent, type PropertyValue, type Severity } from './event.js';
export {
  CLIENT_DEFAULTS,
  type AckLevel,
  type ClientOptions,
  type DropPolicy,
  type GrpcMode,
  type HttpImpl,
  type RetryOptions,
  type Transport,
} from './options.js';
export { RETRYABLE_CODES, type ClientReceipt, type ReceiptStatus } from './receipts.js';
