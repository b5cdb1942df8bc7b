import type { Database } from '../../shared/db/database.js';
import { sqlState } from '../../shared/db/errors.js';
import {
  envelope,
  type OrderPlaced,
  QUEUES,
  type RejectionReason,
} from '../../shared/messaging/contracts.js';
import { addToOutbox, BatchingQueue, outboxInsertSql, runStatement } from '../../shared/messaging/outbox.js';
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
 * One transaction, one statement: the processed-message record (a redelivery stops here), a conditional decrement
 * that never reads-then-writes, the reservation row (one per order, whatever message id it comes under) and the
 * result in Inventory's outbox. The result message depends on the outcome, so every possible envelope is built
 * up front and the statement keeps the one that matches (filling in the stock left after a reservation).
 * A duplicate order id violates the reservations primary key and rolls all of it back (caught below).
 */
const RESERVE = `
WITH claim AS (
  INSERT INTO inventory.processed_messages (message_id, type) VALUES ($4::text, $5::text) ON CONFLICT DO NOTHING
  RETURNING message_id
), decremented AS (
  UPDATE inventory.products SET available = available - $3::int, updated_at = now()
   WHERE product_id = $2::text AND available >= $3::int AND EXISTS (SELECT 1 FROM claim)
   RETURNING available
), reserved AS (
  INSERT INTO inventory.reservations (order_id, product_id, quantity, result, message_id)
  SELECT $1::uuid, $2::text, $3::int,
         CASE WHEN EXISTS (SELECT 1 FROM decremented) THEN 'reserved'
              WHEN EXISTS (SELECT 1 FROM inventory.products WHERE product_id = $2::text) THEN 'out_of_stock'
              ELSE 'unknown_product' END,
         $4::text
    FROM claim
  RETURNING result, (SELECT available FROM decremented) AS remaining
), queued AS (
  ${outboxInsertSql(
    'inventory',
    `reserved AS r
     JOIN jsonb_to_recordset($6::jsonb) AS c(result text, message_id text, queue text, type text, body jsonb)
       ON c.result = r.result
     CROSS JOIN LATERAL (
       SELECT c.message_id, c.queue, c.type,
              CASE WHEN r.result = 'reserved'
                   THEN jsonb_set(c.body, '{data,remaining}', to_jsonb(coalesce(r.remaining, 0)))
                   ELSE c.body END AS body) AS m`,
  )}
)
SELECT result, remaining, ARRAY(SELECT id FROM queued ORDER BY id) AS outbox_ids FROM reserved`;

/** The message each possible result sends (one occurredAt, so the chosen one is what was written). */
function resultMessage(
  event: OrderPlaced,
  result: ReservationResult,
  remaining: number,
  trace: { traceparent?: string | undefined; tracestate?: string | undefined; occurredAt: Date },
): OutgoingMessage {
  const { orderId, productId, quantity } = event.data;
  return result === 'reserved'
    ? {
        queue: QUEUES.orderStatus,
        envelope: envelope('InventoryReserved', { orderId, productId, quantity, remaining }, trace),
      }
    : {
        queue: QUEUES.orderStatus,
        envelope: envelope('InventoryRejected', { orderId, productId, quantity, reason: result }, trace),
      };
}

const RESULTS: readonly ReservationResult[] = ['reserved', 'out_of_stock', 'unknown_product'];

/**
 * Many reservations in one statement (see `reserveStock`): each message is claimed exactly as on its own (a
 * message id seen before, or twice in the batch, is a duplicate), then every product involved is locked in a
 * fixed order and its claimed orders are served smallest first while stock lasts — the outcome of processing
 * them one after another in that order, which is as valid as any other order concurrent deliveries could take.
 * Stock moves once per product, and each order gets its reservation row and its result in the outbox.
 */
const RESERVE_MANY = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(
    n int, order_id uuid, product_id text, quantity int, message_id text, type text, candidates jsonb)
), claim AS (
  INSERT INTO inventory.processed_messages (message_id, type)
  SELECT DISTINCT ON (message_id) message_id, type FROM input ORDER BY message_id, n
  ON CONFLICT DO NOTHING
  RETURNING message_id
), claimed AS (
  SELECT DISTINCT ON (i.message_id) i.* FROM input i JOIN claim USING (message_id) ORDER BY i.message_id, i.n
), locked AS (
  SELECT product_id, available FROM inventory.products
   WHERE product_id IN (SELECT product_id FROM claimed)
   ORDER BY product_id
   FOR UPDATE
), ranked AS (
  SELECT c.*, sum(c.quantity) OVER (PARTITION BY c.product_id ORDER BY c.quantity, c.n) AS cumulative
    FROM claimed c
), decided AS (
  SELECT r.n, r.order_id, r.product_id, r.quantity, r.message_id, r.candidates, v.result,
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
  SELECT d.n, d.result, d.remaining, x.message_id, x.queue, x.type,
         CASE WHEN d.result = 'reserved'
              THEN jsonb_set(x.body, '{data,remaining}', to_jsonb(d.remaining))
              ELSE x.body END AS body
    FROM decided d
    CROSS JOIN LATERAL jsonb_to_recordset(d.candidates)
      AS x(result text, message_id text, queue text, type text, body jsonb)
   WHERE x.result = d.result
), queued AS (
  ${outboxInsertSql('inventory', 'chosen AS m', 'id, message_id')}
)
SELECT c.n, c.result, c.remaining, q.id AS outbox_id
  FROM chosen c LEFT JOIN queued q USING (message_id)`;

interface ReserveRequest {
  event: OrderPlaced;
  trace: { traceparent?: string | undefined; tracestate?: string | undefined; occurredAt: Date };
}

/** Every message a reservation of this event may send, for the statement to pick from. */
function candidatesOf({ event, trace }: ReserveRequest) {
  return RESULTS.map((result) => {
    const m = resultMessage(event, result, 0, trace);
    return {
      result,
      message_id: m.envelope.messageId,
      queue: m.queue,
      type: m.envelope.type,
      body: m.envelope,
    };
  });
}

async function reserveOne(db: Database, request: ReserveRequest): Promise<ReserveOutcome> {
  const { event, trace } = request;
  const { orderId, productId, quantity } = event.data;
  try {
    const { rows } = await runStatement<{
      result: ReservationResult;
      remaining: number | null;
      outbox_ids: (number | string)[];
    }>(db, 'inventory.reserve', RESERVE, [
      orderId,
      productId,
      quantity,
      event.messageId,
      event.type,
      JSON.stringify(candidatesOf(request)),
    ]);
    const row = rows[0];
    if (!row) return { outcome: 'duplicate' };
    const { result, remaining } = row;
    return {
      outcome: 'processed',
      result,
      remaining,
      outboxIds: row.outbox_ids.map(Number),
      messages: [resultMessage(event, result, remaining ?? 0, trace)],
    };
  } catch (err) {
    if (
      sqlState(err) === '23505' &&
      /reservations_pkey/.test((err as Error).message + String((err as { constraint?: string }).constraint))
    ) {
      return { outcome: 'duplicate' };
    }
    throw err;
  }
}

async function reserveMany(db: Database, requests: ReserveRequest[]): Promise<ReserveOutcome[]> {
  const input = requests.map((request, n) => ({
    n,
    order_id: request.event.data.orderId,
    product_id: request.event.data.productId,
    quantity: request.event.data.quantity,
    message_id: request.event.messageId,
    type: request.event.type,
    candidates: candidatesOf(request),
  }));
  const { rows } = await runStatement<{
    n: number;
    result: ReservationResult;
    remaining: number | null;
    outbox_id: number | string | null;
  }>(db, 'inventory.reserve_many', RESERVE_MANY, [JSON.stringify(input)]);
  const byN = new Map(rows.map((r) => [r.n, r]));
  return requests.map((request, n): ReserveOutcome => {
    const row = byN.get(n);
    if (!row) return { outcome: 'duplicate' };
    return {
      outcome: 'processed',
      result: row.result,
      remaining: row.remaining,
      outboxIds: row.outbox_id === null ? [] : [Number(row.outbox_id)],
      messages: [resultMessage(request.event, row.result, row.remaining ?? 0, request.trace)],
    };
  });
}

const reservers = new WeakMap<Database, BatchingQueue<ReserveRequest, ReserveOutcome>>();

/**
 * Reserves stock for one OrderPlaced, exactly once per message and once per order. Concurrent calls (the
 * consumer handles several deliveries at a time) are coalesced: while one statement runs, the next requests
 * queue and go together in one RESERVE_MANY statement — one transaction, one round trip and one commit for the
 * whole burst. A lone request, or every request of a batch that failed, runs the one-message RESERVE.
 */
export function reserveStock(
  db: Database,
  event: OrderPlaced,
  trace: { traceparent?: string | undefined; tracestate?: string | undefined },
): Promise<ReserveOutcome> {
  let queue = reservers.get(db);
  if (!queue) {
    queue = new BatchingQueue({
      many: (requests) => reserveMany(db, requests),
      one: (request) => reserveOne(db, request),
    });
    reservers.set(db, queue);
  }
  return queue.run({ event, trace: { ...trace, occurredAt: new Date() } });
}

/**
 * A poison OrderPlaced: recorded with its error, and the order told it failed (through the outbox) — unless its
 * stock work already happened. The processed-message record arbitrates: if this message was processed (say it
 * crashed after its commit on the last delivery), its real result is already in the outbox and wins; otherwise
 * claiming the record here guarantees it never moves stock later.
 */
export async function recordPoison(
  db: Database,
  info: {
    body: unknown;
    orderId: string | undefined;
    messageId: string | undefined;
    deliveryCount: number;
    error: string;
  },
  trace: { traceparent?: string | undefined },
): Promise<{ outboxIds: number[]; messages: OutgoingMessage[] }> {
  const none = { outboxIds: [], messages: [] };
  return db.transaction(async (client) => {
    await client.query(
      `INSERT INTO inventory.dead_letters (queue, message_id, order_id, body, error, delivery_count)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        QUEUES.reservations,
        info.messageId ?? null,
        info.orderId ?? null,
        JSON.stringify(info.body ?? null),
        info.error,
        info.deliveryCount,
      ],
    );
    if (!info.orderId) return none;
    if (info.messageId) {
      const claim = await client.query(
        `INSERT INTO inventory.processed_messages (message_id, type) VALUES ($1, 'OrderPlaced') ON CONFLICT DO NOTHING`,
        [info.messageId],
      );
      if (claim.rowCount === 0) return none;
    }
    const reserved = await client.query('SELECT 1 FROM inventory.reservations WHERE order_id = $1', [
      info.orderId,
    ]);
    if (reserved.rowCount) return none;
    const messages: OutgoingMessage[] = [
      {
        queue: QUEUES.orderStatus,
        envelope: envelope(
          'InventoryFailed',
          { orderId: info.orderId, reason: `inventory gave up: ${info.error}`.slice(0, 500) },
          trace,
        ),
      },
    ];
    return { outboxIds: await addToOutbox(client, 'inventory', messages), messages };
  });
}

export async function listProducts(db: Database): Promise<Product[]> {
  const { rows } = await db.query<ProductRow>(
    'SELECT product_id, name, available, updated_at FROM inventory.products ORDER BY product_id',
  );
  return rows.map(toProduct);
}

export async function findProduct(db: Database, productId: string): Promise<Product | undefined> {
  const { rows } = await db.query<ProductRow>(
    'SELECT product_id, name, available, updated_at FROM inventory.products WHERE product_id = $1',
    [productId],
  );
  return rows[0] ? toProduct(rows[0]) : undefined;
}

export async function restock(
  db: Database,
  productId: string,
  quantity: number,
): Promise<Product | undefined> {
  return db.transaction(async (client) => {
    const { rows } = await client.query<ProductRow>(
      `UPDATE inventory.products SET available = available + $2, updated_at = now()
        WHERE product_id = $1 RETURNING product_id, name, available, updated_at`,
      [productId, quantity],
    );
    if (!rows[0]) return undefined;
    await client.query('INSERT INTO inventory.restocks (product_id, quantity) VALUES ($1, $2)', [
      productId,
      quantity,
    ]);
    return toProduct(rows[0]);
  });
}
