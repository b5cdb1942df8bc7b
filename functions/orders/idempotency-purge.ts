import type { Database } from '../../shared/db/database.js';

/** Deletes expired Idempotency-Key records in bounded batches (a key may be reused once its record expired). */
export async function purgeExpiredIdempotencyKeys(db: Database): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM orders.idempotency_keys WHERE (scope, key) IN (
       SELECT scope, key FROM orders.idempotency_keys WHERE expires_at <= now() LIMIT 5000)`,
  );
  return rowCount ?? 0;
}
