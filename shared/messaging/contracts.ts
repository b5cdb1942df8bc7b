import { z } from 'zod';
import { QUEUES, type QueueName } from './queue-names.js';

/**
 * The only thing Orders and Inventory share: the messages they exchange. Each message travels in an envelope
 * whose `messageId` is derived from what it says (type + order id), so a re-send of the same logical message is
 * dropped by Service Bus duplicate detection and absorbed by the consumers' processed-message records.
 */

const orderId = z.uuid();
const productId = z.string().min(1).max(64);
const quantity = z.number().int().min(1).max(1000);

/** One line of an order: a product and how many. An order holds 1–50 lines, each product at most once. */
export const orderLine = z.strictObject({ productId, quantity });
export type OrderLine = z.infer<typeof orderLine>;
export const MAX_ORDER_LINES = 50;
const orderLines = z
  .array(orderLine)
  .min(1)
  .max(MAX_ORDER_LINES)
  .refine(
    (lines) => new Set(lines.map((l) => l.productId)).size === lines.length,
    'each product at most once',
  );

/**
 * Versions: a message without `version` is version 1 (what was sent before multi-line orders: one product and
 * one quantity); version 2 carries `lines`. Producers send version 2; consumers understand both, so the
 * version-1 messages still in a queue during a deploy are processed as one-line orders.
 */
const orderPlacedDataV1 = z.strictObject({
  orderId,
  customerId: z.string().min(1).max(128),
  productId,
  quantity,
});
const orderPlacedDataV2 = z.strictObject({
  orderId,
  customerId: z.string().min(1).max(128),
  lines: orderLines,
});
const inventoryReservedData = z.strictObject({
  orderId,
  productId,
  quantity,
  remaining: z.number().int().min(0),
});
/** Version 2: every line, with the stock left of its product after the reservation. */
const inventoryReservedDataV2 = z.strictObject({
  orderId,
  lines: z
    .array(z.strictObject({ productId, quantity, remaining: z.number().int().min(0) }))
    .min(1)
    .max(MAX_ORDER_LINES),
});
export const rejectionReason = z.enum(['out_of_stock', 'unknown_product']);
const inventoryRejectedData = z.strictObject({
  orderId,
  productId,
  quantity,
  reason: rejectionReason,
});
/** Version 2: the lines that could not be served (short of stock, or unknown), with what was available. */
const inventoryRejectedDataV2 = z.strictObject({
  orderId,
  reason: rejectionReason,
  shortLines: z
    .array(z.strictObject({ productId, quantity, available: z.number().int().min(0).nullable() }))
    .min(1)
    .max(MAX_ORDER_LINES),
});
/** Inventory gave up on an order (its OrderPlaced was dead-lettered); the order becomes `failed` with this reason. */
const inventoryFailedData = z.strictObject({ orderId, reason: z.string().min(1).max(500) });
/** Orders asks Inventory to give back whatever the order reserved (version 1). */
const orderCancelledData = z.strictObject({ orderId });
/** Inventory gave the order's stock back (`lines` empty when it had reserved nothing): the order is cancelled. */
const stockReleasedData = z.strictObject({
  orderId,
  lines: z.array(orderLine).max(MAX_ORDER_LINES),
});

const envelopeBase = {
  messageId: z.string().min(1).max(128),
  occurredAt: z.iso.datetime({ offset: true }),
  correlationId: z.string().min(1).max(128),
  traceparent: z
    .string()
    .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
    .optional(),
  tracestate: z.string().max(512).optional(),
  /** Set on a copy re-sent by a delayed retry: which round it is (shared/messaging/delayed-retry.ts). */
  retryRound: z.number().int().min(1).max(50).optional(),
  /**
   * Set on a copy re-sent from a dead letter (POST /api/dead-letters/{id}/redrive): which dead letter. The broker
   * sees a new id (duplicate detection would drop the original's); the envelope's id keeps the effect once.
   */
  redriveId: z
    .string()
    .regex(/^[a-z0-9-]{1,40}$/)
    .optional(),
};

const v1 = { version: z.literal(1).optional() };
const v2 = { version: z.literal(2) };
/**
 * Set on a request the pending-order sweeper re-sends (OrderPlaced, OrderCancelled): Orders asks again, having
 * perhaps lost the result, so Inventory sends its result again even if it was sent before. Any other duplicate (a
 * redelivery, a relay re-send) only gets a result the first delivery left unsent.
 */
const reask = { reask: z.literal(true).optional() };

const orderPlacedV1 = z.strictObject({
  ...envelopeBase,
  ...v1,
  type: z.literal('OrderPlaced'),
  data: orderPlacedDataV1,
  ...reask,
});
const orderPlacedV2 = z.strictObject({
  ...envelopeBase,
  ...v2,
  type: z.literal('OrderPlaced'),
  data: orderPlacedDataV2,
  ...reask,
});
export const orderPlaced = z.union([orderPlacedV2, orderPlacedV1]);
const inventoryReserved = z.union([
  z.strictObject({
    ...envelopeBase,
    ...v2,
    type: z.literal('InventoryReserved'),
    data: inventoryReservedDataV2,
  }),
  z.strictObject({
    ...envelopeBase,
    ...v1,
    type: z.literal('InventoryReserved'),
    data: inventoryReservedData,
  }),
]);
const inventoryRejected = z.union([
  z.strictObject({
    ...envelopeBase,
    ...v2,
    type: z.literal('InventoryRejected'),
    data: inventoryRejectedDataV2,
  }),
  z.strictObject({
    ...envelopeBase,
    ...v1,
    type: z.literal('InventoryRejected'),
    data: inventoryRejectedData,
  }),
]);
const inventoryFailed = z.strictObject({
  ...envelopeBase,
  ...v1,
  type: z.literal('InventoryFailed'),
  data: inventoryFailedData,
});
export const orderCancelled = z.strictObject({
  ...envelopeBase,
  ...v1,
  type: z.literal('OrderCancelled'),
  data: orderCancelledData,
  ...reask,
});
const stockReleased = z.strictObject({
  ...envelopeBase,
  ...v1,
  type: z.literal('StockReleased'),
  data: stockReleasedData,
});

/** What Inventory's consumer of the reservations queue reads. */
export const reservationsMessage = z.union([orderPlacedV2, orderPlacedV1, orderCancelled]);
export const inventoryResult = z.union([
  inventoryReserved,
  inventoryRejected,
  inventoryFailed,
  stockReleased,
]);
export const anyEnvelope = z.union([
  orderPlaced,
  inventoryReserved,
  inventoryRejected,
  inventoryFailed,
  orderCancelled,
  stockReleased,
]);

export type OrderPlaced = z.infer<typeof orderPlaced>;
export type OrderCancelled = z.infer<typeof orderCancelled>;
export type InventoryResult = z.infer<typeof inventoryResult>;
export type Envelope = z.infer<typeof anyEnvelope>;
export type MessageType = Envelope['type'];
export type RejectionReason = z.infer<typeof rejectionReason>;

/** The message types each queue carries: a consumer dead-letters any other type as unknown, saying so. */
export const TYPES_ON: Record<QueueName, readonly MessageType[]> = {
  [QUEUES.reservations]: ['OrderPlaced', 'OrderCancelled'],
  [QUEUES.orderStatus]: ['InventoryReserved', 'InventoryRejected', 'InventoryFailed', 'StockReleased'],
};

/** The lines of an OrderPlaced of either version (version 1 is one line). */
export function linesOf(event: OrderPlaced): OrderLine[] {
  return 'lines' in event.data
    ? event.data.lines
    : [{ productId: event.data.productId, quantity: event.data.quantity }];
}

/** The same logical message always gets the same id: one OrderPlaced per order, one result per order. */
export function messageIdFor(type: MessageType, orderIdValue: string): string {
  return `${type}:${orderIdValue}`;
}

type DataOf<T extends MessageType> = Extract<Envelope, { type: T }>['data'];
/** Version 2 of a type is told apart by its data's shape: multi-line data (`lines`, `shortLines`). */
function versionOf(type: MessageType, data: object): 2 | undefined {
  if (type === 'OrderPlaced' || type === 'InventoryReserved') return 'lines' in data ? 2 : undefined;
  if (type === 'InventoryRejected') return 'shortLines' in data ? 2 : undefined;
  return undefined;
}

export function envelope<T extends MessageType>(
  type: T,
  data: DataOf<T>,
  trace: { traceparent?: string | undefined; tracestate?: string | undefined; occurredAt?: Date } = {},
): Extract<Envelope, { type: T }> {
  const env: Record<string, unknown> = {
    messageId: messageIdFor(type, data.orderId),
    type,
    ...(versionOf(type, data) ? { version: versionOf(type, data) } : {}),
    occurredAt: (trace.occurredAt ?? new Date()).toISOString(),
    correlationId: data.orderId,
    data,
  };
  if (trace.traceparent) env.traceparent = trace.traceparent;
  if (trace.tracestate) env.tracestate = trace.tracestate;
  return env as Extract<Envelope, { type: T }>;
}

/** Service Bus hands JSON bodies over parsed, the in-process transport too; a string body is parsed here. */
export function decodeBody(message: unknown): unknown {
  if (typeof message === 'string') {
    try {
      return JSON.parse(message);
    } catch {
      return message;
    }
  }
  if (message instanceof Uint8Array) return decodeBody(Buffer.from(message).toString('utf8'));
  return message;
}

/** Best effort: the order a (possibly invalid) message is about, so a dead letter can still fail its order. */
export function orderIdOf(message: unknown): string | undefined {
  const body = decodeBody(message) as { data?: { orderId?: unknown } } | undefined;
  const id = body?.data?.orderId;
  return typeof id === 'string' && orderId.safeParse(id).success ? id : undefined;
}
