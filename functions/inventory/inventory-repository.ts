import { BatchingQueue } from '../../shared/concurrency/batching-queue.js';
import type { Database } from '../../shared/db/database.js';
import { sqlState } from '../../shared/db/errors.js';
import { runStatement } from '../../shared/db/statement.js';
import type { PoisonInfo } from '../../shared/messaging/consume.js';
import {
  type Envelope,
  envelope,
  type OrderPlaced,
  QUEUES,
  type QueueName,
  type RejectionReason,
} from '../../shared/messaging/contracts.js';
import { recordDeadLetter } from '../../shared/messaging/dead-letters.js';
import {
  RELAY_GRACE,
  type WrittenOutboxRow,
  writtenMessages,
} from '../../shared/messaging/outbox-written.js';
import type { OutgoingMessage } from '../../shared/messaging/publisher.js';

export interface Product {
  productId: string;
  name: string;
  available: number;
  updatedAt: string;
}

interface ProductRow {
  product_id: string;
  name: string;
  available: number;
  updated_at: Date;
}

const toProduct = (r: ProductRow): Product => ({
  productId: r.product_id,
  name: r.name,
  available: r.available,
  updatedAt: r.updated_at.toISOString(),
});

export type ReservationResult = 'reserved' | RejectionReason;

export type ReserveOutcome =
  | {
      outcome: 'processed';
      result: ReservationResult;
      remaining: number | null;
      outboxIds: number[];
      messages: OutgoingMessage[];
    }
  | { outcome: 'duplicate' };

/**
 * The reservation rule, in ONE statement (so one transaction) for a batch of OrderPlaced messages; a single
 * delivery is a batch of one (see `reserveStock`).
 * - Each message is claimed in Inventory's processed-message records: a message id seen before, or twice in the
 *   batch, is a duplicate and gets no row back.
 * - Every product involved is locked in a fixed order, and its claimed orders are served smallest first while stock
 *   lasts (docs/adr/0004): the outcome of processing them one after another in that order, which is as valid as any
 *   other order concurrent deliveries could take. Stock moves once per product, never below 0.
 * - Each order gets its reservation row (keyed by order id: a second message for an order already decided fails
 *   the whole statement with reservations_pkey) and its result message in Inventory's outbox.
 *
 * $1 the batch (`reserveInput`): each row's `results` holds the message each possible result sends, built by
 *    `envelope()`; the statement keeps the one that matches and fills in the stock left after a reservation.
 * $2 the relay's grace period (RELAY_GRACE).
 * Returns a row per claimed message: its result, the stock left, and the outbox row it wrote (null when that
 * message id was in the outbox already).
 */
const RESERVE = `
WITH input AS (
  SELECT DISTINCT ON (message_id) *
    FROM jsonb_to_recordset($1::jsonb)
      AS i(n int, order_id uuid, product_id text, quantity int, message_id text, type text, results jsonb)
   ORDER BY message_id, n
), claim AS (
  INSERT INTO inventory.processed_messages (message_id, type)
  SELECT message_id, type FROM input
  ON CONFLICT DO NOTHING
  RETURNING message_id
), claimed AS (
  SELECT input.* FROM input JOIN claim USING (message_id)
), locked AS (
  SELECT product_id, available FROM inventory.products
   WHERE product_id IN (SELECT product_id FROM claimed)
   ORDER BY product_id
   FOR UPDATE
), ranked AS (
  SELECT c.*, sum(c.quantity) OVER (PARTITION BY c.product_id ORDER BY c.quantity, c.n) AS cumulative
    FROM claimed c
), decided AS (
  SELECT r.n, r.order_id, r.product_id, r.quantity, r.message_id, r.results, v.result,
         CASE WHEN v.result = 'reserved' THEN (l.available - r.cumulative)::int END AS remaining
    FROM ranked r
    LEFT JOIN locked l USING (product_id)
    CROSS JOIN LATERAL (
      SELECT CASE WHEN l.product_id IS NULL THEN 'unknown_product'
                  WHEN r.cumulative <= l.available THEN 'reserved'
                  ELSE 'out_of_stock' END AS result) v
), taken AS (
  SELECT product_id, sum(quantity)::int AS quantity FROM decided WHERE result = 'reserved' GROUP BY product_id
), decremented AS (
  UPDATE inventory.products p SET available = p.available - t.quantity, updated_at = now()
    FROM taken t WHERE p.product_id = t.product_id
), reserved AS (
  INSERT INTO inventory.reservations (order_id, product_id, quantity, result, message_id)
  SELECT order_id, product_id, quantity, result, message_id FROM decided
), chosen AS (
  SELECT d.n, d.result, d.remaining, m.queue,
         CASE WHEN d.result = 'reserved'
              THEN jsonb_set(m.body, '{data,remaining}', to_jsonb(d.remaining))
              ELSE m.body END AS body
    FROM decided d
    CROSS JOIN LATERAL jsonb_to_record(d.results -> d.result) AS m(queue text, body jsonb)
), queued AS (
  INSERT INTO inventory.outbox (message_id, queue, type, body, next_attempt_at)
  SELECT body ->> 'messageId', queue, body ->> 'type', body, now() + $2::interval FROM chosen
  ON CONFLICT (message_id) DO NOTHING
  RETURNING id, message_id, queue, body
)
SELECT c.n, c.result, c.remaining, q.id AS outbox_id, q.queue, q.body
  FROM chosen c LEFT JOIN queued q ON q.message_id = c.body ->> 'messageId'`;

/**
 * A poison OrderPlaced for a known order, in one statement after its dead letter: the order is told it failed
 * (InventoryFailed in the outbox) — unless its stock work already happened. The processed-message record
 * arbitrates: if this message was processed (say it crashed after its commit on the last delivery), its real
 * result is already in the outbox and wins; otherwise claiming the record here guarantees it never moves stock
 * later. An order already decided under another message id keeps its decision too.
 * $1 the poison message's id (null: it had none, nothing to claim), $2 the order id, $3 the InventoryFailed
 * envelope, $4 its queue, $5 the relay's grace period (RELAY_GRACE). Returns the outbox row written, if any.
 */
const GIVE_UP = `
WITH claim AS (
  INSERT INTO inventory.processed_messages (message_id, type)
  SELECT $1::text, 'OrderPlaced' WHERE $1::text IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING message_id
)
INSERT INTO inventory.outbox (message_id, queue, type, body, next_attempt_at)
SELECT $3::jsonb ->> 'messageId', $4::text, $3::jsonb ->> 'type', $3::jsonb, now() + $5::interval
 WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM claim))
   AND NOT EXISTS (SELECT 1 FROM inventory.reservations WHERE order_id = $2::uuid)
ON CONFLICT (message_id) DO NOTHING
RETURNING id AS outbox_id, queue, body`;

const LIST_PRODUCTS =
  'SELECT product_id, name, available, updated_at FROM inventory.products ORDER BY product_id';

const FIND_PRODUCT =
  'SELECT product_id, name, available, updated_at FROM inventory.products WHERE product_id = $1::text';

/** A restock and its `inventory.restocks` row, in one statement. Returns the product, or no row if unknown. */
const RESTOCK = `
WITH restocked AS (
  UPDATE inventory.products SET available = available + $2::int, updated_at = now()
   WHERE product_id = $1::text
  RETURNING product_id, name, available, updated_at
), logged AS (
  INSERT INTO inventory.restocks (product_id, quantity) SELECT product_id, $2::int FROM restocked
)
SELECT product_id, name, available, updated_at FROM restocked`;

/** Every SQL statement of Inventory's repository (test/integration/sql-statements.test.ts prepares each one). */
export const INVENTORY_STATEMENTS = { RESERVE, GIVE_UP, LIST_PRODUCTS, FIND_PRODUCT, RESTOCK } as const;

interface ReserveRequest {
  event: OrderPlaced;
  trace: { traceparent?: string | undefined; tracestate?: string | undefined; occurredAt: Date };
}

/** The message each possible result sends (one occurredAt, so the one kept is what was decided and written). */
function resultMessages({
  event,
  trace,
}: ReserveRequest): Record<ReservationResult, { queue: QueueName; body: Envelope }> {
  const { orderId, productId, quantity } = event.data;
  const rejected = (reason: RejectionReason) => ({
    queue: QUEUES.orderStatus,
    body: envelope('InventoryRejected', { orderId, productId, quantity, reason }, trace),
  });
  return {
    reserved: {
      queue: QUEUES.orderStatus,
      body: envelope('InventoryReserved', { orderId, productId, quantity, remaining: 0 }, trace),
    },
    out_of_stock: rejected('out_of_stock'),
    unknown_product: rejected('unknown_product'),
  };
}

/** The batch as RESERVE's $1 reads it; `n` is each request's position. */
function reserveInput(requests: readonly ReserveRequest[]): string {
  return JSON.stringify(
    requests.map((request, n) => ({
      n,
      order_id: request.event.data.orderId,
      product_id: request.event.data.productId,
      quantity: request.event.data.quantity,
      message_id: request.event.messageId,
      type: request.event.type,
      results: resultMessages(request),
    })),
  );
}

interface ReserveRow extends WrittenOutboxRow {
  n: number;
  result: ReservationResult;
  remaining: number | null;
}

const DUPLICATE: ReserveOutcome = { outcome: 'duplicate' };

/** Runs RESERVE for a batch; every request gets its outcome, in order. */
async function reserve(db: Database, requests: readonly ReserveRequest[]): Promise<ReserveOutcome[]> {
  const { rows } = await runStatement<ReserveRow>(db, 'inventory.reserve', RESERVE, [
    reserveInput(requests),
    RELAY_GRACE,
  ]);
  const byN = new Map(rows.map((row) => [row.n, row]));
  return requests.map((_, n): ReserveOutcome => {
    const row = byN.get(n);
    if (!row) return DUPLICATE;
    return { outcome: 'processed', result: row.result, remaining: row.remaining, ...writtenMessages([row]) };
  });
}

/** A second message for an order already decided (under another message id): the reservations key refuses it. */
function isOrderAlreadyDecided(err: unknown): boolean {
  return (
    sqlState(err) === '23505' &&
    /reservations_pkey/.test((err as Error).message + String((err as { constraint?: string }).constraint))
  );
}

const reservers = new WeakMap<Database, BatchingQueue<ReserveRequest, ReserveOutcome>>();

/**
 * Reserves stock for one OrderPlaced, exactly once per message and once per order. Concurrent calls (the
 * consumer handles several deliveries at a time) are coalesced: while one statement runs, the next requests
 * queue and go together in the next RESERVE — one transaction, one round trip and one commit for the whole
 * burst. A lone request, or every request of a batch that failed, runs RESERVE as a batch of one, where an order
 * already decided under another message id is a duplicate.
 */
export function reserveStock(
  db: Database,
  event: OrderPlaced,
  trace: { traceparent?: string | undefined; tracestate?: string | undefined },
): Promise<ReserveOutcome> {
  let queue = reservers.get(db);
  if (!queue) {
    queue = new BatchingQueue({
      many: (requests) => reserve(db, requests),
      one: (request) =>
        reserve(db, [request]).then(
          ([outcome]) => outcome ?? DUPLICATE,
          (err: unknown) => {
            if (isOrderAlreadyDecided(err)) return DUPLICATE;
            throw err;
          },
        ),
    });
    reservers.set(db, queue);
  }
  return queue.run({ event, trace: { ...trace, occurredAt: new Date() } });
}

/**
 * A poison OrderPlaced: recorded with its error (the shared dead-letter helper), and, in the same transaction,
 * the order told it failed unless its stock work already happened (GIVE_UP).
 */
export async function recordPoison(
  db: Database,
  info: PoisonInfo,
  trace: { traceparent?: string | undefined },
): Promise<{ outboxIds: number[]; messages: OutgoingMessage[] }> {
  return db.transaction(async (client) => {
    await recordDeadLetter(client, 'inventory', QUEUES.reservations, info);
    if (!info.orderId) return { outboxIds: [], messages: [] };
    const failed = envelope(
      'InventoryFailed',
      { orderId: info.orderId, reason: `inventory gave up: ${info.error}`.slice(0, 500) },
      trace,
    );
    const { rows } = await client.query<WrittenOutboxRow>(GIVE_UP, [
      info.messageId ?? null,
      info.orderId,
      JSON.stringify(failed),
      QUEUES.orderStatus,
      RELAY_GRACE,
    ]);
    return writtenMessages(rows);
  });
}

export async function listProducts(db: Database): Promise<Product[]> {
  const { rows } = await db.query<ProductRow>(LIST_PRODUCTS);
  return rows.map(toProduct);
}

export async function findProduct(db: Database, productId: string): Promise<Product | undefined> {
  const { rows } = await db.query<ProductRow>(FIND_PRODUCT, [productId]);
  return rows[0] ? toProduct(rows[0]) : undefined;
}

export async function restock(
  db: Database,
  productId: string,
  quantity: number,
): Promise<Product | undefined> {
  const { rows } = await db.query<ProductRow>(RESTOCK, [productId, quantity]);
  return rows[0] ? toProduct(rows[0]) : undefined;
}
