import type { Queryable } from '../db/pool.js';
import type { PoisonInfo } from './consume.js';
import type { QueueName } from './contracts.js';
import type { OutboxOwner } from './outbox.js';

/**
 * The statement both services record a poison message with, in their own `dead_letters` table (written out once
 * per schema): the queue it came from, its ids (when it had them), its body, the error and how many deliveries it
 * took.
 */
export const DEAD_LETTER_STATEMENT = {
  orders: `
INSERT INTO orders.dead_letters (queue, message_id, order_id, body, error, delivery_count)
VALUES ($1::text, $2::text, $3::uuid, $4::jsonb, $5::text, $6::int)`,
  inventory: `
INSERT INTO inventory.dead_letters (queue, message_id, order_id, body, error, delivery_count)
VALUES ($1::text, $2::text, $3::uuid, $4::jsonb, $5::text, $6::int)`,
} as const satisfies Record<OutboxOwner, string>;

/**
 * Records a poison message in the owner's `dead_letters` table, inside the caller's transaction (the repository
 * decides, in the same transaction, what the poison message means for its order).
 */
export async function recordDeadLetter(
  client: Queryable,
  owner: OutboxOwner,
  queue: QueueName,
  info: PoisonInfo,
): Promise<void> {
  await client.query(DEAD_LETTER_STATEMENT[owner], [
    queue,
    info.messageId ?? null,
    info.orderId ?? null,
    JSON.stringify(info.body ?? null),
    info.error,
    info.deliveryCount,
  ]);
}
