/**
 * The indexes of the MongoDB event store, created at open: one per query the
 * product makes, plus retention.
 *
 * - events: `_id` `{ o, i }` (implicit) serves getEvent and first-write-wins.
 * - rollups: `{ owner, resolution, startMs }` unique serves the upsert and the
 *   range query sorted by startMs (an index scan, no in-memory sort).
 * - events and rollups: `{ expiresAt }` with expireAfterSeconds 0: each document
 *   carries its own expiry, so retention can change without rebuilding the
 *   index (MongoDB refuses a createIndex that changes expireAfterSeconds).
 *
 * FerretDB 1.x answers a TTL index with NotImplemented (238). The same key is
 * then created as a plain index and the store deletes expired documents itself
 * (MongoEventStore.sweepExpired); `ttl` in the result says which happened.
 */
import { MongoServerError, type Collection, type Document } from 'mongodb';

export const ROLLUP_KEY_INDEX = 'owner_resolution_startMs';
export const EXPIRES_INDEX = 'expiresAt_ttl';
export const EXPIRES_PLAIN_INDEX = 'expiresAt';

/** Server codes meaning "this server cannot build a TTL index": NotImplemented, CommandNotSupported, InvalidIndexSpecificationOption. */
const TTL_UNSUPPORTED_CODES: ReadonlySet<number> = new Set([238, 115, 197]);

export type TtlMode = 'server' | 'sweep';

async function ensureExpiryIndex(collection: Collection<Document>): Promise<TtlMode> {
  try {
    await collection.createIndex({ expiresAt: 1 }, { name: EXPIRES_INDEX, expireAfterSeconds: 0 });
    return 'server';
  } catch (error) {
    if (!(error instanceof MongoServerError) || typeof error.code !== 'number' || !TTL_UNSUPPORTED_CODES.has(error.code)) throw error;
    await collection.createIndex({ expiresAt: 1 }, { name: EXPIRES_PLAIN_INDEX });
    return 'sweep';
  }
}

/** Creates every index (a no-op for those that exist) and tells whether the server enforces retention. */
export async function ensureIndexes(
  events: Collection<Document>,
  rollups: Collection<Document>,
  retention: { events: boolean; rollups: boolean },
): Promise<TtlMode> {
  await rollups.createIndex({ owner: 1, resolution: 1, startMs: 1 }, { name: ROLLUP_KEY_INDEX, unique: true });
  let mode: TtlMode = 'server';
  if (retention.events && (await ensureExpiryIndex(events)) === 'sweep') mode = 'sweep';
  if (retention.rollups && (await ensureExpiryIndex(rollups)) === 'sweep') mode = 'sweep';
  return mode;
}
