import type { Settings } from '../config/settings.js';
import type { Database } from '../db/database.js';
import { pruneInBatches } from '../db/prune.js';
import { type OutboxOwner, pruneOutbox } from './outbox.js';

/** Rows deleted per table (schema-qualified names), for the housekeeping log line and the metric. */
export type Pruned = Record<string, number>;

/**
 * Processed-message records older than $2 hours, at most $1 of them: one statement both services run, each on its
 * own table, so it is written out once per schema.
 */
export const PRUNE_PROCESSED_MESSAGES = {
  orders: `
DELETE FROM orders.processed_messages WHERE message_id IN (
  SELECT message_id FROM orders.processed_messages
   WHERE processed_at < now() - make_interval(hours => $2::int) LIMIT $1::int)`,
  inventory: `
DELETE FROM inventory.processed_messages WHERE message_id IN (
  SELECT message_id FROM inventory.processed_messages
   WHERE processed_at < now() - make_interval(hours => $2::int) LIMIT $1::int)`,
} as const satisfies Record<OutboxOwner, string>;

/** Dead letters older than $2 days, at most $1 of them, in each service's own table. */
export const PRUNE_DEAD_LETTERS = {
  orders: `
DELETE FROM orders.dead_letters WHERE id IN (
  SELECT id FROM orders.dead_letters WHERE created_at < now() - make_interval(days => $2::int) LIMIT $1::int)`,
  inventory: `
DELETE FROM inventory.dead_letters WHERE id IN (
  SELECT id FROM inventory.dead_letters WHERE created_at < now() - make_interval(days => $2::int) LIMIT $1::int)`,
} as const satisfies Record<OutboxOwner, string>;

/**
 * What every service's messaging leaves behind, past its retention: published outbox rows, processed-message
 * records and dead letters. A processed-message record outlives every copy of its message that can still arrive
 * (settings.ts checks it against the delayed-retry span), so a pruned record never lets an effect happen twice.
 */
export async function pruneMessaging(
  db: Database,
  owner: OutboxOwner,
  settings: Pick<Settings, 'outbox' | 'retention'>,
): Promise<Pruned> {
  return {
    [`${owner}.outbox`]: await pruneOutbox(db, owner, settings.outbox.retentionHours),
    [`${owner}.processed_messages`]: await pruneInBatches(db, PRUNE_PROCESSED_MESSAGES[owner], [
      settings.retention.processedMessageHours,
    ]),
    [`${owner}.dead_letters`]: await pruneInBatches(db, PRUNE_DEAD_LETTERS[owner], [
      settings.retention.deadLetterDays,
    ]),
  };
}
