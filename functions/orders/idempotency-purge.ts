import type { Database } from '../../shared/db/database.js';
import { boundedDelete, pruneInBatches } from '../../shared/db/prune.js';

/** Deletes expired Idempotency-Key records in bounded batches (a key may be reused once its record expired). */
export function purgeExpiredIdempotencyKeys(db: Database): Promise<number> {
  return pruneInBatches(db, boundedDelete('orders.idempotency_keys', 'key', 'expires_at <= now()'));
}
