import type { Database } from '../db/database.js';
import type { Queryable } from '../db/pool.js';
import type { DeadLetter } from './consume.js';
import type { Envelope } from './contracts.js';
import type { OutboxOwner } from './outbox.js';
import type { QueueName } from './queue-names.js';

/**
 * The statement both services record a dead letter with, in their own `dead_letters` table (written out once
 * per schema): the queue it came from, its ids (when it had them), its body, the error and how many deliveries it
 * took.
 */
const DEAD_LETTER_STATEMENT = {
  orders: `
INSERT INTO orders.dead_letters (queue, message_id, order_id, body, error, delivery_count)
VALUES ($1::text, $2::text, $3::uuid, $4::jsonb, $5::text, $6::int)`,
  inventory: `
INSERT INTO inventory.dead_letters (queue, message_id, order_id, body, error, delivery_count)
VALUES ($1::text, $2::text, $3::uuid, $4::jsonb, $5::text, $6::int)`,
} as const satisfies Record<OutboxOwner, string>;

/**
 * Records a dead letter in the owner's `dead_letters` table, inside the caller's transaction (the repository
 * decides, in the same transaction, what the dead letter means for its order).
 */
export async function insertDeadLetter(
  client: Queryable,
  owner: OutboxOwner,
  queue: QueueName,
  letter: DeadLetter,
): Promise<void> {
  await client.query(DEAD_LETTER_STATEMENT[owner], [
    queue,
    letter.messageId ?? null,
    letter.orderId ?? null,
    JSON.stringify(letter.body ?? null),
    letter.error,
    letter.deliveryCount,
  ]);
}

/**
 * Reading a service's dead letters (GET /api/dead-letters): newest first from a keyset cursor ($1, exclusive; null
 * from the start), $2 rows, optionally only those whose error contains $3 (case-insensitive) and only the ones
 * not yet redriven ($4).
 */
const LIST_DEAD_LETTERS = {
  orders: `
SELECT id, queue, message_id, order_id, body, error, delivery_count, created_at, redriven_at, redrive_message_id
  FROM orders.dead_letters
 WHERE ($1::bigint IS NULL OR id < $1::bigint)
   AND ($3::text IS NULL OR strpos(lower(error), lower($3::text)) > 0)
   AND (NOT $4::boolean OR redriven_at IS NULL)
 ORDER BY id DESC
 LIMIT $2::int`,
  inventory: `
SELECT id, queue, message_id, order_id, body, error, delivery_count, created_at, redriven_at, redrive_message_id
  FROM inventory.dead_letters
 WHERE ($1::bigint IS NULL OR id < $1::bigint)
   AND ($3::text IS NULL OR strpos(lower(error), lower($3::text)) > 0)
   AND (NOT $4::boolean OR redriven_at IS NULL)
 ORDER BY id DESC
 LIMIT $2::int`,
} as const satisfies Record<OutboxOwner, string>;

const FIND_DEAD_LETTER = {
  orders: `
SELECT id, queue, message_id, order_id, body, error, delivery_count, created_at, redriven_at, redrive_message_id
  FROM orders.dead_letters WHERE id = $1::bigint`,
  inventory: `
SELECT id, queue, message_id, order_id, body, error, delivery_count, created_at, redriven_at, redrive_message_id
  FROM inventory.dead_letters WHERE id = $1::bigint`,
} as const satisfies Record<OutboxOwner, string>;

/** How many dead letters a service holds, and how many of them still wait for a redrive. */
const COUNT_DEAD_LETTERS = {
  orders: `
SELECT count(*)::int AS total, (count(*) FILTER (WHERE redriven_at IS NULL))::int AS open FROM orders.dead_letters`,
  inventory: `
SELECT count(*)::int AS total, (count(*) FILTER (WHERE redriven_at IS NULL))::int AS open
  FROM inventory.dead_letters`,
} as const satisfies Record<OutboxOwner, string>;

/** A `dead_letters` row as the statements above return it. */
export interface DeadLetterRow {
  id: string;
  queue: QueueName;
  message_id: string | null;
  order_id: string | null;
  body: unknown;
  error: string;
  delivery_count: number;
  created_at: Date;
  redriven_at: Date | null;
  redrive_message_id: string | null;
}

export async function listDeadLetters(
  db: Database,
  owner: OutboxOwner,
  query: {
    beforeId?: string | undefined;
    limit: number;
    errorContains?: string | undefined;
    openOnly?: boolean;
  },
): Promise<DeadLetterRow[]> {
  const { rows } = await db.query<DeadLetterRow>(LIST_DEAD_LETTERS[owner], [
    query.beforeId ?? null,
    query.limit,
    query.errorContains ?? null,
    query.openOnly ?? false,
  ]);
  return rows;
}

export async function findDeadLetter(
  db: Database,
  owner: OutboxOwner,
  id: string,
): Promise<DeadLetterRow | undefined> {
  const { rows } = await db.query<DeadLetterRow>(FIND_DEAD_LETTER[owner], [id]);
  return rows[0];
}

export async function countDeadLetters(
  db: Database,
  owner: OutboxOwner,
): Promise<{ total: number; open: number }> {
  const { rows } = await db.query<{ total: number; open: number }>(COUNT_DEAD_LETTERS[owner]);
  return rows[0] ?? { total: 0, open: 0 };
}

/**
 * The copy a redrive sends: the original envelope, marked with the dead letter it comes from, so the broker sees
 * a new id (transportMessageId) and the consumer the original one. Undefined when the body is no envelope at all
 * (it failed validation as garbage): there is nothing a consumer could ever do with it.
 */
export function redriveEnvelope(body: unknown, redriveId: string): Envelope | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { messageId, type } = body as { messageId?: unknown; type?: unknown };
  if (typeof messageId !== 'string' || !messageId || typeof type !== 'string' || !type) return undefined;
  const { retryRound: _round, ...original } = body as Record<string, unknown>;
  return { ...original, redriveId } as Envelope;
}

/** Every SQL statement of this module (test/integration/sql-statements.test.ts prepares each one). */
export const DEAD_LETTER_STATEMENTS = {
  record: DEAD_LETTER_STATEMENT,
  list: LIST_DEAD_LETTERS,
  find: FIND_DEAD_LETTER,
  count: COUNT_DEAD_LETTERS,
} as const;
