import { randomUUID } from 'node:crypto';
import { z } from 'zod';
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

export const ORDER_COLUMNS = 'id, customer_id, product_id, quantity, status, reason, created_at, updated_at';

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

const trimmed = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`);

/** POST /api/orders body. Unknown fields are refused so that a typo never goes unnoticed. */
export const createOrderBody = z.strictObject({
  customerId: trimmed(128),
  productId: trimmed(64),
  quantity: z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(1000, 'must be at most 1000'),
  /** Accepted from seed clients; the catalog is Inventory's, so the name is informational only. */
  productName: z.string().max(200).optional(),
  /** Accepted from seed clients that cannot set headers; the `Idempotency-Key` header is preferred. */
  idempotencyKey: z.string().optional(),
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
  cursor: z.string().max(200).optional(),
});

/** Opaque keyset cursor: the (createdAt, id) of the last order on the previous page. */
export function encodeCursor(order: Pick<Order, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([order.createdAt, order.id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: string; id: string } | undefined {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const parsed = z.tuple([z.iso.datetime({ offset: true }), z.uuid()]).safeParse(value);
    return parsed.success ? { createdAt: parsed.data[0], id: parsed.data[1] } : undefined;
  } catch {
    return undefined;
  }
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
