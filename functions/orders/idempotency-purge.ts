import type { Database } from '../../shared/db/database.js';
import { pruneInBatches } from '../../shared/db/prune.js';

/** Expired Idempotency-Key records, at most $1 of them. Keys are scoped to the caller: a record is (scope, key). */
export const PURGE_EXPIRED_IDEMPOTENCY_KEYS = `
DELETE FROM orders.idempotency_keys WHERE (scope, key) IN (
  SELECT scope, key FROM orders.idempotency_keys WHERE expires_at <= now() LIMIT $1::int)`;

/** Deletes expired Idempotency-Key records in bounded batches (a key may be reused once its record expired). */
export function purgeExpiredIdempotencyKeys(db: Database): Promise<number> {
  return pruneInBatches(db, PURGE_EXPIRED_IDEMPOTENCY_KEYS);
}
