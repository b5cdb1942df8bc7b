import type { Settings } from '../../shared/config/settings.js';
import type { Database } from '../../shared/db/database.js';
import { pruneInBatches } from '../../shared/db/prune.js';
import { type Pruned, pruneMessaging } from '../../shared/messaging/retention.js';

/** The Inventory service's retention statements: rows older than $2 days, at most $1 of them per statement. */
export const INVENTORY_RETENTION_STATEMENTS = {
  reservations: `
DELETE FROM inventory.reservations WHERE order_id IN (
  SELECT order_id FROM inventory.reservations
   WHERE created_at < now() - make_interval(days => $2::int) LIMIT $1::int)`,
  restocks: `
DELETE FROM inventory.restocks WHERE id IN (
  SELECT id FROM inventory.restocks WHERE created_at < now() - make_interval(days => $2::int) LIMIT $1::int)`,
} as const;

/** The Inventory service's housekeeping (run by its outbox relay timer): every table that grows with traffic. */
export async function pruneInventory(db: Database, settings: Settings): Promise<Pruned> {
  const days = [settings.retention.orderHistoryDays];
  return {
    ...(await pruneMessaging(db, 'inventory', settings)),
    'inventory.reservations': await pruneInBatches(db, INVENTORY_RETENTION_STATEMENTS.reservations, days),
    'inventory.restocks': await pruneInBatches(db, INVENTORY_RETENTION_STATEMENTS.restocks, days),
  };
}
