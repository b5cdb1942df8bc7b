import { z } from 'zod';
import type { BrokerDeadLetter } from '../../shared/messaging/broker-dead-letters.js';
import type { DeadLetterRow } from '../../shared/messaging/dead-letters.js';
import type { OutboxOwner } from '../../shared/messaging/outbox.js';
import { QUEUES, type QueueName } from '../../shared/messaging/queue-names.js';

/** The two services that keep dead letters, and the queue each one consumes (whose sub-queue it owns). */
export const DEAD_LETTER_SERVICES = ['orders', 'inventory'] as const satisfies readonly OutboxOwner[];
export type DeadLetterService = (typeof DEAD_LETTER_SERVICES)[number];
export const QUEUE_OF_SERVICE: Record<DeadLetterService, QueueName> = {
  orders: QUEUES.orderStatus,
  inventory: QUEUES.reservations,
};

/**
 * A dead letter's public id: its service, and either its `dead_letters` row (`orders-12`) or its sequence number in
 * the broker's dead-letter sub-queue (`inventory-broker-7`).
 */
export type DeadLetterId = { service: DeadLetterService; source: 'table' | 'broker'; key: string };

const ID_PATTERN = /^(orders|inventory)-(?:(broker)-)?([0-9]{1,18})$/;

export function parseDeadLetterId(id: string): DeadLetterId | undefined {
  const match = ID_PATTERN.exec(id);
  if (!match) return undefined;
  return {
    service: match[1] as DeadLetterService,
    source: match[2] ? 'broker' : 'table',
    key: String(BigInt(match[3] as string)),
  };
}

export function formatDeadLetterId(id: DeadLetterId): string {
  return id.source === 'broker' ? `${id.service}-broker-${id.key}` : `${id.service}-${id.key}`;
}

const service = z.enum(DEAD_LETTER_SERVICES, { error: 'must be "orders" or "inventory"' });
const limit = (max: number, fallback: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`)
    .default(fallback);

/** GET /api/dead-letters query string. */
export const listDeadLettersQuery = z.strictObject({
  service,
  cursor: z.string().max(200, 'must be at most 200 characters').optional(),
  limit: limit(100, 20),
});

/** POST /api/dead-letters/redrive body: which dead letters to redrive, at most `limit` of them. */
export const redriveDeadLettersBody = z.strictObject({
  service,
  source: z.enum(['table', 'broker', 'all'], { error: 'must be "table", "broker" or "all"' }).default('all'),
  /** Only those whose reason contains this text (case-insensitive). */
  errorContains: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional(),
  limit: z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(10),
});

/** A dead letter as the API shows it. */
export const deadLetterView = z.object({
  id: z.string(),
  service,
  source: z.enum(['table', 'broker']),
  queue: z.string(),
  messageId: z.string().nullable(),
  messageType: z.string().nullable(),
  orderId: z.string().nullable(),
  reason: z.string(),
  attempts: z.number().int(),
  deadLetteredAt: z.string().nullable(),
  redrivenAt: z.string().nullable(),
  redriveMessageId: z.string().nullable(),
  body: z.unknown(),
});
export type DeadLetterView = z.infer<typeof deadLetterView>;

const redriveOutcome = z.enum(['redriven', 'already-redriven', 'order-final', 'not-redrivable', 'not-found']);

/** One redrive's result (the single route's 202 body, and each entry of the bulk route's `results`). */
export const redriveResult = z.object({
  id: z.string(),
  outcome: redriveOutcome,
  detail: z.string(),
  /** The id the copy went to the broker under (redriven only). */
  brokerMessageId: z.string().optional(),
  /** The order went from `failed` back to `pending` for the copy (redriven only). */
  reopened: z.boolean().optional(),
});
export type RedriveResult = z.infer<typeof redriveResult>;

function typeOf(body: unknown): string | null {
  const type = (body as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : null;
}

function orderIdIn(body: unknown): string | null {
  const id = (body as { data?: { orderId?: unknown } } | null)?.data?.orderId;
  return typeof id === 'string' ? id : null;
}

export function tableView(service: DeadLetterService, row: DeadLetterRow): DeadLetterView {
  return {
    id: formatDeadLetterId({ service, source: 'table', key: String(row.id) }),
    service,
    source: 'table',
    queue: row.queue,
    messageId: row.message_id,
    messageType: typeOf(row.body),
    orderId: row.order_id,
    reason: row.error,
    attempts: row.delivery_count,
    deadLetteredAt: row.created_at.toISOString(),
    redrivenAt: row.redriven_at?.toISOString() ?? null,
    redriveMessageId: row.redrive_message_id,
    body: row.body,
  };
}

export function brokerView(service: DeadLetterService, message: BrokerDeadLetter): DeadLetterView {
  return {
    id: formatDeadLetterId({ service, source: 'broker', key: message.sequenceNumber }),
    service,
    source: 'broker',
    queue: message.queue,
    messageId: message.messageId ?? null,
    messageType: typeOf(message.body),
    orderId: orderIdIn(message.body),
    reason: message.reason,
    attempts: message.deliveryCount,
    deadLetteredAt: message.deadLetteredAt,
    redrivenAt: null,
    redriveMessageId: null,
    body: message.body,
  };
}

/** Where a listing goes on: further down the table (newest first), then through the broker's sub-queue. */
type Cursor = { table: string } | { broker: string };

export function encodeListCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

export function decodeListCursor(text: string): Cursor | undefined {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Record<string, unknown>;
    for (const key of ['table', 'broker'] as const) {
      const v = value?.[key];
      if (typeof v === 'string' && /^[0-9]{1,18}$/.test(v) && Object.keys(value).length === 1) {
        return key === 'table' ? { table: v } : { broker: v };
      }
    }
  } catch {
    // not one of ours
  }
  return undefined;
}
