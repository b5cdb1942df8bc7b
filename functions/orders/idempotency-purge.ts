import type { Database } from '../../shared/db/database.js';
import { PRUNE_BATCH, pruneInBatches } from '../../shared/db/prune.js';

/** Deletes expired Idempotency-Key records in bounded batches (a key may be reused once its record expired). */
export function purgeExpiredIdempotencyKeys(db: Database): Promise<number> {
  // Keys are scoped to the caller: a record is (scope, key).
  return pruneInBatches(
    db,
    `DELETE FROM orders.idempotency_keys WHERE (scope, key) IN (
       SELECT scope, key FROM orders.idempotency_keys WHERE expires_at <= now() LIMIT ${PRUNE_BATCH})`,
  );
}
