import type { Database } from '../../shared/db/database.js';
import { sqlState } from '../../shared/db/errors.js';
import {
  envelope,
  type OrderPlaced,
  QUEUES,
  type RejectionReason,
} from '../../shared/messaging/contracts.js';
import { addToOutbox } from '../../shared/messaging/outbox.js';
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
 * One transaction: the processed-message record (a redelivery stops here), the reservation row (one per order,
 * whatever message id it comes under), a conditional decrement that never reads-then-writes, and the result in
 * Inventory's outbox.
 */
export async function reserveStock(
  db: Database,
  event: OrderPlaced,
  trace: { traceparent?: string | undefined; tracestate?: string | undefined },
): Promise<ReserveOutcome> {
  const { orderId, productId, quantity } = event.data;
  try {
    return await db.transaction(async (client) => {
      const claim = await client.query(
        'INSERT INTO inventory.processed_messages (message_id, type) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [event.messageId, event.type],
      );
      if (claim.rowCount === 0) return { outcome: 'duplicate' as const };
      // A duplicate order id violates the reservations primary key and rolls the decrement back (caught below).
      const { rows } = await client.query<{ result: ReservationResult; remaining: number | null }>(
        `WITH decremented AS (
           UPDATE inventory.products SET available = available - $3, updated_at = now()
            WHERE product_id = $2 AND available >= $3
            RETURNING available
         )
         INSERT INTO inventory.reservations (order_id, product_id, quantity, result, message_id)
         SELECT $1, $2, $3,
                CASE WHEN EXISTS (SELECT 1 FROM decremented) THEN 'reserved'
                     WHEN EXISTS (SELECT 1 FROM inventory.products WHERE product_id = $2) THEN 'out_of_stock'
                     ELSE 'unknown_product' END,
                $4
         RETURNING result, (SELECT available FROM decremented) AS remaining`,
        [orderId, productId, quantity, event.messageId],
      );
      const { result, remaining } = rows[0]!;
      const message: OutgoingMessage =
        result === 'reserved'
          ? {
              queue: QUEUES.orderStatus,
              envelope: envelope(
                'InventoryReserved',
                { orderId, productId, quantity, remaining: remaining ?? 0 },
                trace,
              ),
            }
          : {
              queue: QUEUES.orderStatus,
              envelope: envelope(
                'InventoryRejected',
                { orderId, productId, quantity, reason: result },
                trace,
              ),
            };
      const outboxIds = await addToOutbox(client, 'inventory', [message]);
      return { outcome: 'processed' as const, result, remaining, outboxIds, messages: [message] };
    });
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
