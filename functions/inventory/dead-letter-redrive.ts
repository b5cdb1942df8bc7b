import type { Database } from '../../shared/db/database.js';
import { type DeadLetterRow, findDeadLetter, redriveEnvelope } from '../../shared/messaging/dead-letters.js';
import {
  RELAY_GRACE,
  type WrittenOutboxRow,
  writtenMessages,
} from '../../shared/messaging/outbox-written.js';
import type { OutgoingMessage } from '../../shared/messaging/publisher.js';

/**
 * The stock work a redrive of a dead letter of type $2 would repeat, for order $1: an OrderPlaced's reservation,
 * an OrderCancelled's release (a reservation released, or the tombstone of a cancel that came first). No row: the
 * redrive may go.
 */
const RESERVATION_OF = `
SELECT CASE WHEN released_at IS NOT NULL OR result = 'cancelled' THEN 'released' ELSE result END AS result
  FROM inventory.reservations
 WHERE order_id = $1::uuid
   AND ($2::text IS DISTINCT FROM 'OrderCancelled' OR released_at IS NOT NULL OR result = 'cancelled')`;

/**
 * A redrive of one of Inventory's dead letters (an OrderPlaced it gave up on), in ONE statement: the dead letter
 * is locked and marked redriven, the claim its dead letter took in processed_messages released (so the copy
 * reserves stock, once, like the original would have), and the copy written to the outbox. An order whose
 * reservation exists already, or a dead letter redriven already, is left as it is.
 * $1 the dead letter's id, $2 the copy, $3 its broker id (the outbox key), $4 the relay's grace period.
 */
const REDRIVE_RESERVATION = `
WITH dl AS (
  SELECT id, queue, message_id, order_id, body ->> 'type' AS type FROM inventory.dead_letters
   WHERE id = $1::bigint AND redriven_at IS NULL
   FOR UPDATE
), decided AS (
  -- An OrderCancelled is decided once its stock is back; a reservation alone is what it is there to release.
  SELECT r.result FROM inventory.reservations r JOIN dl ON r.order_id = dl.order_id
   WHERE dl.type IS DISTINCT FROM 'OrderCancelled' OR r.released_at IS NOT NULL OR r.result = 'cancelled'
), go AS (
  SELECT dl.* FROM dl WHERE NOT EXISTS (SELECT 1 FROM decided)
), unclaimed AS (
  DELETE FROM inventory.processed_messages WHERE message_id = (SELECT message_id FROM go)
), marked AS (
  UPDATE inventory.dead_letters d SET redriven_at = now(), redrive_message_id = $3::text
    FROM go WHERE d.id = go.id
), queued AS (
  INSERT INTO inventory.outbox (message_id, queue, type, body, next_attempt_at)
  SELECT $3::text, go.queue, $2::jsonb ->> 'type', $2::jsonb, now() + $4::interval FROM go
  ON CONFLICT (message_id) DO NOTHING
  RETURNING id, queue, body
)
SELECT EXISTS (SELECT 1 FROM dl) AS open, (SELECT result FROM decided LIMIT 1) AS decided,
       EXISTS (SELECT 1 FROM go) AS redriven, q.id AS outbox_id, q.queue, q.body AS envelope
  FROM (SELECT 1) AS one LEFT JOIN queued q ON true`;

/** Every SQL statement of Inventory's redrive (test/integration/sql-statements.test.ts prepares each one). */
export const INVENTORY_REDRIVE_STATEMENTS = { RESERVATION_OF, REDRIVE_RESERVATION } as const;

/** An Inventory dead letter that may be redriven: open, an envelope, and its order's stock not yet decided. */
export type RedriveCheck =
  | { outcome: 'ready'; row: DeadLetterRow }
  | { outcome: 'not-found' }
  | { outcome: 'already-redriven' }
  | { outcome: 'already-reserved'; result: string }
  | { outcome: 'not-redrivable'; detail: string };

export async function checkInventoryRedrive(db: Database, id: string): Promise<RedriveCheck> {
  const row = await findDeadLetter(db, 'inventory', id);
  if (!row) return { outcome: 'not-found' };
  if (row.redriven_at) return { outcome: 'already-redriven' };
  if (!redriveEnvelope(row.body, 'check')) {
    return {
      outcome: 'not-redrivable',
      detail: 'Its body is not a message envelope: no consumer could ever use it.',
    };
  }
  if (row.order_id) {
    const type = (row.body as { type?: unknown }).type;
    const { rows } = await db.query<{ result: string }>(RESERVATION_OF, [
      row.order_id,
      typeof type === 'string' ? type : null,
    ]);
    if (rows[0]) return { outcome: 'already-reserved', result: rows[0].result };
  }
  return { outcome: 'ready', row };
}

export type InventoryRedrive =
  | { outcome: 'redriven'; brokerMessageId: string; outboxIds: number[]; messages: OutgoingMessage[] }
  | { outcome: 'already-redriven' }
  | { outcome: 'already-reserved'; result: string };

interface RedriveRow extends WrittenOutboxRow {
  open: boolean;
  decided: string | null;
  redriven: boolean;
}

/** Redrives a dead letter `checkInventoryRedrive` found ready (REDRIVE_RESERVATION); the caller publishes. */
export async function redriveInventoryDeadLetter(
  db: Database,
  row: DeadLetterRow,
  publicId: string,
): Promise<InventoryRedrive> {
  const copy = redriveEnvelope(row.body, publicId);
  if (!copy) throw new Error(`dead letter ${publicId} is not an envelope`);
  const brokerMessageId = `${copy.messageId}:redrive-${publicId}`;
  const { rows } = await db.query<RedriveRow>(REDRIVE_RESERVATION, [
    row.id,
    JSON.stringify(copy),
    brokerMessageId,
    RELAY_GRACE,
  ]);
  const result = rows[0];
  if (!result?.open) return { outcome: 'already-redriven' };
  if (!result.redriven) return { outcome: 'already-reserved', result: result.decided ?? 'decided' };
  return { outcome: 'redriven', brokerMessageId, ...writtenMessages(rows) };
}
