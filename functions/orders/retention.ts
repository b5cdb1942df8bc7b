import type { Settings } from '../../shared/config/settings.js';
import type { Database } from '../../shared/db/database.js';
import { pruneInBatches } from '../../shared/db/prune.js';
import { type Pruned, pruneMessaging } from '../../shared/messaging/retention.js';
import { purgeExpiredIdempotencyKeys } from './idempotency-purge.js';

/**
 * Final orders older than $2 days (at most $1 of them), with their status changes and redrive history, in one
 * statement per batch (the status_changes foreign key is checked at its end). A pending order is never pruned, however old.
 */
export const PRUNE_ORDER_HISTORY = `
WITH old AS (
  SELECT id FROM orders.orders
   WHERE status <> 'pending' AND created_at < now() - make_interval(days => $2::int)
   ORDER BY created_at
   LIMIT $1::int
), changes AS (
  DELETE FROM orders.status_changes WHERE order_id IN (SELECT id FROM old)
), reopened AS (
  DELETE FROM orders.reopened_orders WHERE order_id IN (SELECT id FROM old)
)
DELETE FROM orders.orders WHERE id IN (SELECT id FROM old)`;

/** The Orders service's housekeeping (run by its outbox relay timer): every table that grows with traffic. */
export async function pruneOrders(db: Database, settings: Settings): Promise<Pruned> {
  return {
    ...(await pruneMessaging(db, 'orders', settings)),
    'orders.idempotency_keys': await purgeExpiredIdempotencyKeys(db),
    'orders.orders': await pruneInBatches(db, PRUNE_ORDER_HISTORY, [settings.retention.orderHistoryDays]),
  };
}
