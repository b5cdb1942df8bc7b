import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { identifierText, plainText } from '../../shared/http/text-field.js';
import {
  envelope,
  type InventoryResult,
  MAX_ORDER_LINES,
  type OrderLine,
} from '../../shared/messaging/contracts.js';
import type { OutgoingMessage } from '../../shared/messaging/publisher.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';

export const ORDER_STATUSES = [
  'pending',
  'shipped',
  'rejected',
  'failed',
  'cancel_requested',
  'cancelled',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
/** Where an order ends. `cancel_requested` is not one: Inventory's StockReleased takes it on to `cancelled`. */
export const FINAL_STATUSES: readonly OrderStatus[] = ['shipped', 'rejected', 'failed', 'cancelled'];

export type { OrderLine };

/**
 * The order status rule: which status each of Inventory's results moves an order from, and to. Any other status
 * is left as it is (a result that lands after a cancel changes nothing; Inventory releases its stock).
 */
export const STATUS_OF_RESULT = {
  InventoryReserved: { from: 'pending', to: 'shipped' },
  InventoryRejected: { from: 'pending', to: 'rejected' },
  InventoryFailed: { from: 'pending', to: 'failed' },
  StockReleased: { from: 'cancel_requested', to: 'cancelled' },
} as const satisfies Record<InventoryResult['type'], { from: OrderStatus; to: OrderStatus }>;

/** A status change one result makes (any version of the message): the rule above, with its reason. */
export interface ResultStatusChange {
  fromStatus: (typeof STATUS_OF_RESULT)[InventoryResult['type']]['from'];
  status: (typeof STATUS_OF_RESULT)[InventoryResult['type']]['to'];
  reason: string | null;
  /** A multi-line rejection's short lines, appended to its reason. */
  detail?: string;
}

export function statusChangeOf(event: InventoryResult): ResultStatusChange {
  const { from, to } = STATUS_OF_RESULT[event.type];
  const reason = 'reason' in event.data ? event.data.reason : null;
  const shortLines = 'shortLines' in event.data ? event.data.shortLines : [];
  if (shortLines.length === 0) return { fromStatus: from, status: to, reason };
  const detail = shortLines
    .map((l) =>
      l.available === null
        ? `${l.productId} is not in the catalog`
        : `${l.productId} (${l.quantity} wanted, ${l.available} available)`,
    )
    .join('; ');
  return { fromStatus: from, status: to, reason, detail };
}

/**
 * The order as the API shows it. `productId` and `quantity` are its first line, kept for clients written for
 * one-line orders; `lines` is the whole order.
 */
export interface Order {
  id: string;
  customerId: string;
  productId: string;
  quantity: number;
  lines: OrderLine[];
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
  lines: OrderLine[];
  status: OrderStatus;
  reason: string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * Lines rebuilt from their typed fields: jsonb stores object keys sorted (`quantity` before `productId`), and an
 * answer must have the same bytes whether built at intake, read back by GET or replayed under its key.
 */
const answerLines = (lines: readonly OrderLine[]): OrderLine[] =>
  lines.map(({ productId, quantity }) => ({ productId, quantity }));

export function toOrder(row: OrderRow): Order {
  return {
    id: row.id,
    customerId: row.customer_id,
    productId: row.product_id,
    quantity: row.quantity,
    lines: answerLines(row.lines),
    status: row.status,
    reason: row.reason,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

const lineQuantity = z
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(1000, 'must be at most 1000');

const orderLineBody = z.strictObject({ productId: identifierText(64), quantity: lineQuantity });

/**
 * POST /api/orders body: `lines` (1–50, each product at most once), or the one-line form `productId` +
 * `quantity` that clients written before multi-line orders send (it means one line). Unknown fields are refused
 * so that a typo never goes unnoticed. The output always has `lines`.
 */
export const createOrderBody = z
  .strictObject({
    customerId: identifierText(128),
    productId: identifierText(64).optional(),
    quantity: lineQuantity.optional(),
    lines: z
      .array(orderLineBody, { error: 'must be an array of {productId, quantity}' })
      .min(1, 'must have at least one line')
      .max(MAX_ORDER_LINES, `must have at most ${MAX_ORDER_LINES} lines`)
      .optional(),
    /** Accepted from seed clients; the catalog is Inventory's, so the name is informational only. */
    productName: plainText().max(200, 'must be at most 200 characters').optional(),
    /** Accepted from seed clients that cannot set headers; the `Idempotency-Key` header is preferred. */
    idempotencyKey: z.string({ error: 'must be a string' }).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.lines) {
      for (const field of ['productId', 'quantity'] as const) {
        if (body[field] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: 'send either lines or productId and quantity',
          });
        }
      }
      const firstLine = new Map<string, number>();
      body.lines.forEach((line, i) => {
        const first = firstLine.get(line.productId);
        if (first === undefined) firstLine.set(line.productId, i);
        else {
          ctx.addIssue({
            code: 'custom',
            path: ['lines', i, 'productId'],
            message: `${line.productId} is already on line ${first + 1}: each product at most once`,
          });
        }
      });
      return;
    }
    for (const field of ['productId', 'quantity'] as const) {
      if (body[field] === undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: 'is required (or send lines)' });
      }
    }
  })
  .transform(({ productId, quantity, lines, ...rest }) => ({
    ...rest,
    lines: lines ?? [{ productId: productId as string, quantity: quantity as number }],
  }));

/** POST /api/orders/{id}/cancel body (optional): who asks, and why. */
export const cancelOrderBody = z.strictObject({
  /** When given, it must be the order's customer: a client's guard against cancelling someone else's order. */
  customerId: identifierText(128).optional(),
  reason: plainText().max(200, 'must be at most 200 characters').optional(),
});

/** GET /api/orders/{id} query string: only `include` is read (other parameters are ignored, as they always were). */
export const getOrderQuery = z.object({
  include: z
    .enum(['history'], {
      error: 'must be "history" (the order\'s status changes, oldest first), or left out',
    })
    .optional()
    .meta({ description: "`history`: the answer also holds the order's status changes, oldest first." }),
});

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
  input: { customerId: string; lines: OrderLine[] },
  trace: { traceparent?: string | undefined; tracestate?: string | undefined },
  now = new Date(),
): { order: Order; message: OutgoingMessage } {
  const first = input.lines[0]!;
  const order: Order = {
    id: randomUUID(),
    customerId: input.customerId,
    productId: first.productId,
    quantity: first.quantity,
    lines: answerLines(input.lines),
    status: 'pending',
    reason: null,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
  const message = {
    queue: QUEUES.reservations,
    envelope: envelope(
      'OrderPlaced',
      { orderId: order.id, customerId: input.customerId, lines: input.lines },
      { ...trace, occurredAt: now },
    ),
  };
  return { order, message };
}

/** The cancel request of an order and its OrderCancelled message (written together, in one transaction). */
export function cancelMessage(
  orderId: string,
  trace: { traceparent?: string | undefined; tracestate?: string | undefined },
): OutgoingMessage {
  return { queue: QUEUES.reservations, envelope: envelope('OrderCancelled', { orderId }, trace) };
}
