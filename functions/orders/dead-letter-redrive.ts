import type { Database } from '../../shared/db/database.js';
import { messageIdFor } from '../../shared/messaging/contracts.js';
import { findDeadLetter, redriveEnvelope } from '../../shared/messaging/dead-letters.js';
import {
  RELAY_GRACE,
  type WrittenOutboxRow,
  writtenMessages,
} from '../../shared/messaging/outbox-written.js';
import type { OutgoingMessage } from '../../shared/messaging/publisher.js';
import type { OrderStatus } from './order-model.js';

/**
 * A redrive of one of Orders' dead letters (a result message it could not apply), in ONE statement: the dead
 * letter is locked and marked redriven, and, if this dead letter is what failed its order, the order is reopened
 * (failed → pending; its failure moves to reopened_orders) and the message's processed-message claim released,
 * so the copy written to the outbox applies as the original would have. A StockReleased whose order still waits
 * in cancel_requested is sent again too (its claim, if an older dead letter took one, released). An order final
 * for another reason, or a
 * dead letter redriven already, is left as it is (no row marked, nothing written).
 * $1 the dead letter's id, $2 the copy to send, $3 its broker id (the outbox key), $4 the relay's grace period,
 * $5 the dead letter's public id. Returns whether it was still open, the order's status before, whether it was
 * redriven, and the outbox row written.
 */
const REDRIVE_STATUS_UPDATE = `
WITH dl AS (
  SELECT id, queue, message_id, order_id, body ->> 'type' AS type FROM orders.dead_letters
   WHERE id = $1::bigint AND redriven_at IS NULL
   FOR UPDATE
), failure AS (
  DELETE FROM orders.status_changes sc USING dl
   WHERE sc.order_id = dl.order_id AND sc.to_status = 'failed'
     AND sc.message_id = coalesce(dl.message_id, 'dead-letter:' || dl.order_id::text)
  RETURNING sc.order_id, sc.reason, sc.message_id, sc.changed_at
), reopened AS (
  UPDATE orders.orders o SET status = 'pending', reason = NULL, updated_at = now()
    FROM failure f WHERE o.id = f.order_id AND o.status = 'failed'
  RETURNING o.id
), history AS (
  INSERT INTO orders.reopened_orders (order_id, failed_reason, failed_message_id, failed_at, dead_letter)
  SELECT order_id, reason, message_id, changed_at, $5::text FROM failure
), unclaimed AS (
  DELETE FROM orders.processed_messages
   WHERE message_id = (SELECT message_id FROM failure) AND EXISTS (SELECT 1 FROM failure)
), state AS (
  SELECT dl.id, dl.queue, dl.message_id, dl.type, o.status FROM dl LEFT JOIN orders.orders o ON o.id = dl.order_id
), go AS (
  SELECT * FROM state WHERE EXISTS (SELECT 1 FROM failure) OR status IS NULL OR status = 'pending'
     OR (status = 'cancel_requested' AND type = 'StockReleased')
), cancel_unclaimed AS (
  -- A cancel waiting on its StockReleased: a claim an older dead letter took would drop the copy as a duplicate.
  DELETE FROM orders.processed_messages
   WHERE message_id = (SELECT message_id FROM go WHERE status = 'cancel_requested' AND type = 'StockReleased')
), marked AS (
  UPDATE orders.dead_letters d SET redriven_at = now(), redrive_message_id = $3::text
    FROM go WHERE d.id = go.id
), queued AS (
  INSERT INTO orders.outbox (message_id, queue, type, body, next_attempt_at)
  SELECT $3::text, go.queue, $2::jsonb ->> 'type', $2::jsonb, now() + $4::interval FROM go
  ON CONFLICT (message_id) DO NOTHING
  RETURNING id, queue, body
)
SELECT EXISTS (SELECT 1 FROM dl) AS open, (SELECT status FROM state) AS status,
       EXISTS (SELECT 1 FROM go) AS redriven, EXISTS (SELECT 1 FROM failure) AS reopened,
       q.id AS outbox_id, q.queue, q.body AS envelope
  FROM (SELECT 1) AS one LEFT JOIN queued q ON true`;

/**
 * Before one of Inventory's dead letters (an OrderPlaced it gave up on) is redriven: if Inventory's InventoryFailed
 * is what failed the order, the order is reopened (failed → pending, its failure moved to reopened_orders), and in
 * any case that InventoryFailed is claimed, so one still on its way is dropped as a duplicate and cannot fail the
 * order again. $1 the order id, $2 the InventoryFailed message id, $3 the dead letter's public id. Returns the
 * order's status before (null: unknown order) and whether it was reopened.
 */
const REOPEN_FAILED_BY_INVENTORY = `
WITH claim AS (
  INSERT INTO orders.processed_messages (message_id, type) VALUES ($2::text, 'InventoryFailed')
  ON CONFLICT DO NOTHING
), failure AS (
  DELETE FROM orders.status_changes
   WHERE order_id = $1::uuid AND to_status = 'failed' AND message_id = $2::text
  RETURNING order_id, reason, message_id, changed_at
), reopened AS (
  UPDATE orders.orders o SET status = 'pending', reason = NULL, updated_at = now()
    FROM failure f WHERE o.id = f.order_id AND o.status = 'failed'
  RETURNING o.id
), history AS (
  INSERT INTO orders.reopened_orders (order_id, failed_reason, failed_message_id, failed_at, dead_letter)
  SELECT order_id, reason, message_id, changed_at, $3::text FROM failure
)
SELECT o.status, EXISTS (SELECT 1 FROM failure) AS reopened
  FROM (SELECT 1) AS one LEFT JOIN orders.orders o ON o.id = $1::uuid`;

/** Every SQL statement of Orders' redrive (test/integration/sql-statements.test.ts prepares each one). */
export const ORDERS_REDRIVE_STATEMENTS = { REDRIVE_STATUS_UPDATE, REOPEN_FAILED_BY_INVENTORY } as const;

/** What a redrive did; `order-final` and `already-redriven` changed nothing. */
export type TableRedrive =
  | {
      outcome: 'redriven';
      brokerMessageId: string;
      reopened: boolean;
      outboxIds: number[];
      messages: OutgoingMessage[];
    }
  | { outcome: 'already-redriven' }
  | { outcome: 'order-final'; status: OrderStatus }
  | { outcome: 'not-redrivable'; detail: string }
  | { outcome: 'not-found' };

interface RedriveRow extends WrittenOutboxRow {
  open: boolean;
  status: OrderStatus | null;
  redriven: boolean;
  reopened: boolean;
}

/** Redrives Orders' dead letter `id` (REDRIVE_STATUS_UPDATE); the caller publishes what was written. */
export async function redriveOrdersDeadLetter(
  db: Database,
  id: string,
  publicId: string,
): Promise<TableRedrive> {
  const row = await findDeadLetter(db, 'orders', id);
  if (!row) return { outcome: 'not-found' };
  if (row.redriven_at) return { outcome: 'already-redriven' };
  const copy = redriveEnvelope(row.body, publicId);
  if (!copy) {
    return {
      outcome: 'not-redrivable',
      detail: 'Its body is not a message envelope: no consumer could ever use it.',
    };
  }
  const brokerMessageId = `${copy.messageId}:redrive-${publicId}`;
  const { rows } = await db.query<RedriveRow>(REDRIVE_STATUS_UPDATE, [
    id,
    JSON.stringify(copy),
    brokerMessageId,
    RELAY_GRACE,
    publicId,
  ]);
  const result = rows[0];
  if (!result?.open) return { outcome: 'already-redriven' };
  if (!result.redriven) return { outcome: 'order-final', status: result.status ?? 'failed' };
  return { outcome: 'redriven', brokerMessageId, reopened: result.reopened, ...writtenMessages(rows) };
}

/** REOPEN_FAILED_BY_INVENTORY: whether the order may take Inventory's redriven OrderPlaced. */
export async function reopenOrderFailedByInventory(
  db: Database,
  orderId: string,
  publicId: string,
): Promise<{ status: OrderStatus | null; reopened: boolean }> {
  const { rows } = await db.query<{ status: OrderStatus | null; reopened: boolean }>(
    REOPEN_FAILED_BY_INVENTORY,
    [orderId, messageIdFor('InventoryFailed', orderId), publicId],
  );
  return rows[0] ?? { status: null, reopened: false };
}
