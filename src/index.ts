/**
 * The package's main entry (`import { startServer } from 'eventide'`): run
 * eventide inside another Node.js program, with the same configuration the CLI
 * reads. The client SDK is `eventide/client`, which loads none of this.
 */
export { startServer, configWith, type StartedServer, type StartOptions } from './server.js';
export { loadConfig, ConfigError, type ConfigIssue, type LoadConfigOptions, type ResolvedConfig } from './config.js';
export { EventideError } from './errors.js';
export { ALL_CODES, httpStatusOf, grpcStatusOf, isRetryable } from './edge/status.js';
export type { AckLevel, BatchReceipt, Receipt, ReceiptStatus } from './actors/types.js';
