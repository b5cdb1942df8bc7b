import type { Database } from '../../shared/db/database.js';
import type { Queryable } from '../../shared/db/pool.js';
import { IN_FLIGHT_WAIT_MS, type StoredResponse } from '../../shared/idempotency/idempotency-key.js';
import { addToOutbox } from '../../shared/messaging/outbox.js';
import type { OutgoingMessage } from '../../shared/messaging/publisher.js';
import { ORDER_COLUMNS, type Order, type OrderRow, type OrderStatus, toOrder } from './order-model.js';

export interface PlaceOrderInput {
  order: Order;
  message: OutgoingMessage;
  /** The response to store with the idempotency record (what a replay returns). */
  response: { status: number; body: unknown };
  idempotency?: { key: string; fingerprint: string; ttlHours: number };
}

export type PlaceOrderResult =
  | { kind: 'created'; outboxIds: number[] }
  | { kind: 'replay'; stored: StoredResponse & { orderId: string | null } };

/**
 * One transaction: the idempotency record, the order (pending) and its OrderPlaced outbox row. The record is
 * claimed first; a concurrent request with the same key blocks on it until this one commits, then replays.
 * An expired record is taken over as if it were new.
 */
export async function placeOrder(db: Database, input: PlaceOrderInput): Promise<PlaceOrderResult> {
  return db.transaction(async (client) => {
    if (input.idempotency) {
      const { key, fingerprint, ttlHours } = input.idempotency;
      // Bound the wait behind an in-flight twin: past it the caller answers 409.
      await client.query("SELECT set_config('lock_timeout', $1, true)", [`${IN_FLIGHT_WAIT_MS}ms`]);
      const claimed = await client.query(
        `INSERT INTO orders.idempotency_keys AS k (key, fingerprint, response_status, response_body, order_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(hours => $6::int))
         ON CONFLICT (key) DO UPDATE
           SET fingerprint = EXCLUDED.fingerprint, response_status = EXCLUDED.response_status,
               response_body = EXCLUDED.response_body, order_id = EXCLUDED.order_id,
               created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE k.expires_at <= now()
         RETURNING key`,
        [
          key,
          fingerprint,
          input.response.status,
          JSON.stringify(input.response.body),
          input.order.id,
          ttlHours,
        ],
      );
      if (claimed.rowCount === 0) {
        const { rows } = await client.query<{
          fingerprint: string;
          response_status: number;
          response_body: string;
          order_id: string | null;
        }>(
          'SELECT fingerprint, response_status, response_body, order_id FROM orders.idempotency_keys WHERE key = $1',
          [key],
        );
        const row = rows[0]!;
        return {
          kind: 'replay' as const,
          stored: {
            fingerprint: row.fingerprint,
            status: row.response_status,
            body: row.response_body,
            orderId: row.order_id,
          },
        };
      }
    }
    const o = input.order;
    await client.query(
      `INSERT INTO orders.orders (id, customer_id, product_id, quantity, status, created_at, updated_at)
       VALUES ($1, $2, $3, $4, 'pending', $5, $5)`,
      [o.id, o.customerId, o.productId, o.quantity, o.createdAt],
    );
    const outboxIds = await addToOutbox(client, 'orders', [input.message]);
    return { kind: 'created' as const, outboxIds };
  });
}

/** After a `Prefer: wait` saw the final status: a later replay returns what this client got. */
export async function updateStoredResponse(
  db: Database,
  key: string,
  status: number,
  body: unknown,
): Promise<void> {
  await db.query(
    'UPDATE orders.idempotency_keys SET response_status = $2, response_body = $3 WHERE key = $1',
    [key, status, JSON.stringify(body)],
  );
}

export async function findOrder(db: Database, id: string): Promise<Order | undefined> {
  const { rows } = await db.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders.orders WHERE id = $1`, [id]);
  return rows[0] ? toOrder(rows[0]) : undefined;
}

export async function listOrders(
  db: Database,
  query: {
    status?: OrderStatus | undefined;
    limit: number;
    after?: { createdAt: string; id: string } | undefined;
  },
): Promise<{ orders: Order[]; hasMore: boolean }> {
  const { rows } = await db.query<OrderRow>(
    `SELECT ${ORDER_COLUMNS} FROM orders.orders
      WHERE ($1::text IS NULL OR status = $1)
        AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
      ORDER BY created_at DESC, id DESC
      LIMIT $4`,
    [query.status ?? null, query.after?.createdAt ?? null, query.after?.id ?? null, query.limit + 1],
  );
  return { orders: rows.slice(0, query.limit).map(toOrder), hasMore: rows.length > query.limit };
}

export interface StatusChange {
  orderId: string;
  status: Exclude<OrderStatus, 'pending'>;
  reason: string | null;
  messageId: string;
  messageType: string;
}

/**
 * One transaction: the processed-message record, then pending → final. A repeated message is a no-op
 * ('duplicate'); a result for an order that is already final changes nothing ('already-final').
 */
export async function applyStatusChange(
  db: Database,
  change: StatusChange,
): Promise<
  { outcome: 'applied'; order: Order } | { outcome: 'duplicate' | 'already-final' | 'unknown-order' }
> {
  return db.transaction(async (client) => {
    const first = await client.query(
      'INSERT INTO orders.processed_messages (message_id, type) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [change.messageId, change.messageType],
    );
    if (first.rowCount === 0) return { outcome: 'duplicate' as const };
    return finalize(client, change);
  });
}

/** pending → final inside the caller's transaction, with its status_changes row. */
export async function finalize(
  client: Queryable,
  change: Omit<StatusChange, 'messageType'>,
): Promise<{ outcome: 'applied'; order: Order } | { outcome: 'already-final' | 'unknown-order' }> {
  const { rows } = await client.query<OrderRow>(
    `WITH changed AS (
       UPDATE orders.orders SET status = $2, reason = $3, updated_at = now()
        WHERE id = $1 AND status = 'pending'
        RETURNING ${ORDER_COLUMNS}
     ), logged AS (
       INSERT INTO orders.status_changes (order_id, from_status, to_status, reason, message_id)
       SELECT id, 'pending', status, reason, $4 FROM changed
     )
     SELECT * FROM changed`,
    [change.orderId, change.status, change.reason, change.messageId],
  );
  if (rows[0]) return { outcome: 'applied' as const, order: toOrder(rows[0]) };
  const exists = await client.query('SELECT 1 FROM orders.orders WHERE id = $1', [change.orderId]);
  return { outcome: exists.rowCount ? ('already-final' as const) : ('unknown-order' as const) };
}
