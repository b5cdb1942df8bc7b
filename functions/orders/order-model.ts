import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { identifierText, plainText } from '../../shared/http/text-field.js';
import { envelope, QUEUES } from '../../shared/messaging/contracts.js';
import type { OutgoingMessage } from '../../shared/messaging/publisher.js';

export const ORDER_STATUSES = ['pending', 'shipped', 'rejected', 'failed'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
export const FINAL_STATUSES: readonly OrderStatus[] = ['shipped', 'rejected', 'failed'];

/** The order as the API shows it. */
export interface Order {
  id: string;
  customerId: string;
  productId: string;
  quantity: number;
  status: OrderStatus;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface OrderRow {
  id: string;
  customer_id: string;
  product_id: string;
  quantity: number;
  status: OrderStatus;
  reason: string | null;
  created_at: Date;
  updated_at: Date;
}

export function toOrder(row: OrderRow): Order {
  return {
    id: row.id,
    customerId: row.customer_id,
    productId: row.product_id,
    quantity: row.quantity,
    status: row.status,
    reason: row.reason,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** POST /api/orders body. Unknown fields are refused so that a typo never goes unnoticed. */
export const createOrderBody = z.strictObject({
  customerId: identifierText(128),
  productId: identifierText(64),
  quantity: z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(1000, 'must be at most 1000'),
  /** Accepted from seed clients; the catalog is Inventory's, so the name is informational only. */
  productName: plainText().max(200, 'must be at most 200 characters').optional(),
  /** Accepted from seed clients that cannot set headers; the `Idempotency-Key` header is preferred. */
  idempotencyKey: z.string({ error: 'must be a string' }).optional(),
});
export type CreateOrderBody = z.output<typeof createOrderBody>;

export const listOrdersQuery = z.strictObject({
  status: z.enum(ORDER_STATUSES, { error: `must be one of ${ORDER_STATUSES.join(', ')}` }).optional(),
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(20),
  cursor: z.string().max(200, 'must be at most 200 characters').optional(),
});

/**
 * Opaque keyset cursor: the (createdAt, id) of the last order on the previous page, as base64url JSON. Not signed:
 * it only says where a page starts, in a list anyone may read. It is validated strictly instead: only a cursor
 * that encodeCursor could have produced is accepted (canonical timestamp and id, same bytes when re-encoded), so a
 * forged or tampered one is a 400, never a value the database refuses.
 */
export function encodeCursor(order: Pick<Order, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([order.createdAt, order.id])).toString('base64url');
}

const cursorPosition = z.tuple([z.iso.datetime({ precision: 3 }), z.uuid()]);

export function decodeCursor(cursor: string): { createdAt: string; id: string } | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = cursorPosition.safeParse(value);
  if (!parsed.success) return undefined;
  const [createdAt, id] = parsed.data;
  // toISOString() is what wrote it: a date that does not survive the round trip (year 0, Feb 30) was not.
  const at = new Date(createdAt);
  if (Number.isNaN(at.getTime()) || at.getTime() < 0 || at.toISOString() !== createdAt) return undefined;
  if (id !== id.toLowerCase() || encodeCursor({ createdAt, id }) !== cursor) return undefined;
  return { createdAt, id };
}

/** A new pending order and the OrderPlaced message that announces it (written together, in one transaction). */
export function pendingOrder(
  input: { customerId: string; productId: string; quantity: number },
  trace: { traceparent?: string | undefined; tracestate?: string | undefined },
  now = new Date(),
): { order: Order; message: OutgoingMessage } {
  const order: Order = {
    id: randomUUID(),
    ...input,
    status: 'pending',
    reason: null,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
  const message = {
    queue: QUEUES.reservations,
    envelope: envelope('OrderPlaced', { orderId: order.id, ...input }, { ...trace, occurredAt: now }),
  };
  return { order, message };
}
