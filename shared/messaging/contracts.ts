import { z } from 'zod';
import { QUEUES, type QueueName } from './queue-names.js';

/**
 * The only thing Orders and Inventory share: the messages they exchange. Each message travels in an envelope
 * whose `messageId` is derived from what it says (type + order id), so a re-send of the same logical message is
 * dropped by Service Bus duplicate detection and absorbed by the consumers' processed-message records.
 */

export { QUEUES, type QueueName } from './queue-names.js';

const orderId = z.uuid();
const productId = z.string().min(1).max(64);
const quantity = z.number().int().min(1).max(1000);

export const orderPlacedData = z.strictObject({
  orderId,
  customerId: z.string().min(1).max(128),
  productId,
  quantity,
});
export const inventoryReservedData = z.strictObject({
  orderId,
  productId,
  quantity,
  remaining: z.number().int().min(0),
});
export const rejectionReason = z.enum(['out_of_stock', 'unknown_product']);
export const inventoryRejectedData = z.strictObject({
  orderId,
  productId,
  quantity,
  reason: rejectionReason,
});
/** Inventory gave up on an order (poison message); the order becomes `failed` with this reason. */
export const inventoryFailedData = z.strictObject({ orderId, reason: z.string().min(1).max(500) });

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

export const orderPlaced = z.strictObject({
  ...envelopeBase,
  type: z.literal('OrderPlaced'),
  data: orderPlacedData,
});
export const inventoryReserved = z.strictObject({
  ...envelopeBase,
  type: z.literal('InventoryReserved'),
  data: inventoryReservedData,
});
export const inventoryRejected = z.strictObject({
  ...envelopeBase,
  type: z.literal('InventoryRejected'),
  data: inventoryRejectedData,
});
export const inventoryFailed = z.strictObject({
  ...envelopeBase,
  type: z.literal('InventoryFailed'),
  data: inventoryFailedData,
});

export const inventoryResult = z.discriminatedUnion('type', [
  inventoryReserved,
  inventoryRejected,
  inventoryFailed,
]);
export const anyEnvelope = z.discriminatedUnion('type', [
  orderPlaced,
  inventoryReserved,
  inventoryRejected,
  inventoryFailed,
]);

export type OrderPlaced = z.infer<typeof orderPlaced>;
export type InventoryReserved = z.infer<typeof inventoryReserved>;
export type InventoryRejected = z.infer<typeof inventoryRejected>;
export type InventoryFailed = z.infer<typeof inventoryFailed>;
export type InventoryResult = z.infer<typeof inventoryResult>;
export type Envelope = z.infer<typeof anyEnvelope>;
export type MessageType = Envelope['type'];
export type RejectionReason = z.infer<typeof rejectionReason>;

/** Which queue each message type travels on. */
export const QUEUE_OF: Record<MessageType, QueueName> = {
  OrderPlaced: QUEUES.reservations,
  InventoryReserved: QUEUES.orderStatus,
  InventoryRejected: QUEUES.orderStatus,
  InventoryFailed: QUEUES.orderStatus,
};

/** The same logical message always gets the same id: one OrderPlaced per order, one result per order. */
export function messageIdFor(type: MessageType, orderIdValue: string): string {
  return `${type}:${orderIdValue}`;
}

type DataOf<T extends MessageType> = Extract<Envelope, { type: T }>['data'];

export function envelope<T extends MessageType>(
  type: T,
  data: DataOf<T>,
  trace: { traceparent?: string | undefined; tracestate?: string | undefined; occurredAt?: Date } = {},
): Extract<Envelope, { type: T }> {
  const env: Record<string, unknown> = {
    messageId: messageIdFor(type, data.orderId),
    type,
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

/** Best effort: the order a (possibly invalid) message is about, so a poison message can still fail its order. */
export function orderIdOf(message: unknown): string | undefined {
  const body = decodeBody(message) as { data?: { orderId?: unknown } } | undefined;
  const id = body?.data?.orderId;
  return typeof id === 'string' && orderId.safeParse(id).success ? id : undefined;
}
