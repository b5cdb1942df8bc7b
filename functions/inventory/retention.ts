import type { Settings } from '../../shared/config/settings.js';
import type { Database } from '../../shared/db/database.js';
import { boundedDelete, pruneInBatches } from '../../shared/db/prune.js';
import { type Pruned, pruneMessaging } from '../../shared/messaging/retention.js';

const olderThanDays = 'created_at < now() - make_interval(days => $1::int)';

/** The Inventory service's housekeeping (run by its outbox relay timer): every table that grows with traffic. */
export async function pruneInventory(db: Database, settings: Settings): Promise<Pruned> {
  const days = [settings.retention.orderHistoryDays];
  return {
    ...(await pruneMessaging(db, 'inventory', settings)),
    'inventory.reservations': await pruneInBatches(
      db,
      boundedDelete('inventory.reservations', 'order_id', olderThanDays),
      days,
    ),
    'inventory.restocks': await pruneInBatches(
      db,
      boundedDelete('inventory.restocks', 'id', olderThanDays),
      days,
    ),
  };
}
