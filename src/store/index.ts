/**
 * What other layers may use from the store layer: the ports, the errors, and
 * the functions that open adapters from configuration. Adapter classes are
 * exported for tests and tools that need one directly.
 */
export type {
  EventStore,
  KeyPatch,
  KeyPatchCondition,
  KeyPatchResult,
  KeyRecord,
  KeyScope,
  KeyStore,
  OwnerRecord,
  Rollup,
  RollupQuery,
  ShardCheckpoint,
  SnapshotStore,
} from './port.js';
export {
  StoreClosedError,
  StoreCorruptError,
  StoreInputError,
  StoreOpenError,
  StoreReadError,
  StoreUnsupportedError,
  StoreWriteError,
} from './errors.js';
export {
  lmdbPath,
  openEventStore,
  openKeyStore,
  openSnapshotStore,
  openStores,
  type OpenStoreOptions,
  type StoreConfig,
  type Stores,
} from './open.js';
export { LmdbEventStore, EVENT_ID_CHARS_MAX, OWNER_CHARS_MAX } from './lmdb/event-store.js';
export { LmdbSnapshotStore } from './lmdb/snapshot-store.js';
export { LmdbKeyStore } from './lmdb/key-store.js';
export { MongoEventStore } from './mongo/event-store.js';
export { MongoKeyStore } from './mongo/key-store.js';
export { RedisSnapshotStore } from './redis/snapshot-store.js';
