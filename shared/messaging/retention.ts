import type { Settings } from '../config/settings.js';
import type { Database } from '../db/database.js';
import { boundedDelete, pruneInBatches } from '../db/prune.js';
import { type OutboxOwner, pruneOutbox } from './outbox.js';

/** Rows deleted per table (schema-qualified names), for the housekeeping log line and the metric. */
export type Pruned = Record<string, number>;

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
    [`${owner}.processed_messages`]: await pruneInBatches(
      db,
      boundedDelete(
        `${owner}.processed_messages`,
        'message_id',
        'processed_at < now() - make_interval(hours => $1::int)',
      ),
      [settings.retention.processedMessageHours],
    ),
    [`${owner}.dead_letters`]: await pruneInBatches(
      db,
      boundedDelete(`${owner}.dead_letters`, 'id', 'created_at < now() - make_interval(days => $1::int)'),
      [settings.retention.deadLetterDays],
    ),
  };
}
