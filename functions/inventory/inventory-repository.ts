import { BatchingQueue } from '../../shared/concurrency/batching-queue.js';
import type { Database } from '../../shared/db/database.js';
import { sqlState } from '../../shared/db/errors.js';
import type { Statements } from '../../shared/db/statement.js';
import type { DeadLetter } from '../../shared/messaging/consume.js';
import {
  type Envelope,
  envelope,
  linesOf,
  type OrderCancelled,
  type OrderPlaced,
  type RejectionReason,
} from '../../shared/messaging/contracts.js';
import { insertDeadLetter } from '../../shared/messaging/dead-letters.js';
import {
  RELAY_GRACE,
  type WrittenMessages,
  type WrittenOutboxRow,
  writtenMessages,
} from '../../shared/messaging/outbox-written.js';
import { QUEUES, type QueueName } from '../../shared/messaging/queue-names.js';

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
  | ({ outcome: 'processed'; result: ReservationResult; remaining: number | null } & WrittenMessages)
  | { outcome: 'duplicate' };

/**
 * The reservation rule, in ONE statement (so one transaction) for a batch of OrderPlaced messages; a single
 * delivery is a batch of one (see `reserveStock`). An order is all its lines or nothing.
 * - Each message is claimed in Inventory's processed-message records: a message id seen before, or twice in the
 *   batch, is a duplicate and gets no row back.
 * - Every product any line names is locked in ONE fixed order (product id), before anything is decided: two
 *   statements over overlapping products wait for each other, they never deadlock.
 * - The claimed orders are then decided one after another, smallest (total quantity) first (docs/adr/0004), over a
 *   running copy of the locked stock (`walk`): an order is reserved if every line fits in what the orders before it
 *   left, else rejected whole — unknown_product if a line names no product, out_of_stock otherwise — naming its
 *   short lines. Stock then moves once per product, by the sum of the reserved lines, never below 0.
 * - Each order gets its reservation row (keyed by order id: a second message for an order already decided, or
 *   cancelled before it arrived, fails the whole statement with reservations_pkey) and its result message.
 *
 * $1 the batch (`reserveInput`): each row's `results` holds the message each possible result sends, built by
 *    `envelope()`; the statement keeps the one that matches and fills in the lines (reserved: with the stock left;
 *    rejected: the short ones).
 * $2 the relay's grace period (RELAY_GRACE).
 * Returns a row per claimed message: its result, the stock left of its first line's product, and the outbox row
 * it wrote (null when that message id was in the outbox already).
 */
const RESERVE = `
WITH RECURSIVE input AS (
  SELECT DISTINCT ON (message_id) *
    FROM jsonb_to_recordset($1::jsonb)
      AS i(n int, order_id uuid, lines jsonb, message_id text, type text, results jsonb)
   ORDER BY message_id, n
), claim AS (
  INSERT INTO inventory.processed_messages (message_id, type)
  SELECT message_id, type FROM input
  ON CONFLICT DO NOTHING
  RETURNING message_id
), claimed AS (
  SELECT input.*, row_number() OVER (ORDER BY t.total, input.n) AS k
    FROM input JOIN claim USING (message_id)
    CROSS JOIN LATERAL (SELECT sum((l ->> 'quantity')::int) AS total FROM jsonb_array_elements(input.lines) l) t
), wanted AS (
  SELECT c.k, l.ord AS line_no, l.line ->> 'productId' AS product_id, (l.line ->> 'quantity')::int AS quantity
    FROM claimed c CROSS JOIN LATERAL jsonb_array_elements(c.lines) WITH ORDINALITY AS l(line, ord)
), locked AS (
  SELECT product_id, available FROM inventory.products
   WHERE product_id IN (SELECT product_id FROM wanted)
   ORDER BY product_id
   FOR UPDATE
), walk (k, stock, result, short) AS (
  SELECT 0::bigint, (SELECT coalesce(jsonb_object_agg(product_id, available), '{}'::jsonb) FROM locked),
         NULL::text, NULL::jsonb
  UNION ALL
  SELECT w.k + 1, CASE WHEN d.result = 'reserved' THEN w.stock || d.after ELSE w.stock END, d.result, d.short
    FROM walk w
    CROSS JOIN LATERAL (
      SELECT CASE WHEN bool_or(NOT w.stock ? x.product_id) THEN 'unknown_product'
                  WHEN bool_and((w.stock ->> x.product_id)::int >= x.quantity) THEN 'reserved'
                  ELSE 'out_of_stock' END AS result,
             jsonb_object_agg(x.product_id, (w.stock ->> x.product_id)::int - x.quantity)
               FILTER (WHERE w.stock ? x.product_id) AS after,
             jsonb_agg(jsonb_build_object('productId', x.product_id, 'quantity', x.quantity,
                                          'available', (w.stock ->> x.product_id)::int) ORDER BY x.line_no)
               FILTER (WHERE NOT w.stock ? x.product_id OR (w.stock ->> x.product_id)::int < x.quantity) AS short
        FROM wanted x WHERE x.k = w.k + 1
    ) d
   WHERE w.k < (SELECT count(*) FROM claimed)
), decided AS (
  SELECT c.n, c.k, c.order_id, c.lines, c.message_id, c.results, w.result, w.stock, w.short
    FROM claimed c JOIN walk w ON w.k = c.k
), taken AS (
  SELECT x.product_id, sum(x.quantity)::int AS quantity
    FROM decided d JOIN wanted x ON x.k = d.k
   WHERE d.result = 'reserved' GROUP BY x.product_id
), decremented AS (
  UPDATE inventory.products p SET available = p.available - t.quantity, updated_at = now()
    FROM taken t WHERE p.product_id = t.product_id
), reserved AS (
  INSERT INTO inventory.reservations (order_id, product_id, quantity, lines, result, message_id)
  SELECT order_id, lines -> 0 ->> 'productId', (lines -> 0 ->> 'quantity')::int, lines, result, message_id
    FROM decided
), chosen AS (
  SELECT d.n, d.result, (d.stock ->> (d.lines -> 0 ->> 'productId'))::int AS remaining, m.queue,
         CASE WHEN d.result = 'reserved'
              THEN jsonb_set(m.body, '{data,lines}', (
                     SELECT jsonb_agg(jsonb_build_object('productId', x.product_id, 'quantity', x.quantity,
                                                         'remaining', (d.stock ->> x.product_id)::int)
                                      ORDER BY x.line_no)
                       FROM wanted x WHERE x.k = d.k))
              ELSE jsonb_set(m.body, '{data,shortLines}', d.short) END AS body
    FROM decided d
    CROSS JOIN LATERAL jsonb_to_record(d.results -> d.result) AS m(queue text, body jsonb)
), queued AS (
  INSERT INTO inventory.outbox (message_id, queue, type, body, next_attempt_at)
  SELECT body ->> 'messageId', queue, body ->> 'type', body, now() + $2::interval FROM chosen
  ON CONFLICT (message_id) DO NOTHING
  RETURNING id, message_id, queue, body
)
SELECT c.n, c.result, CASE WHEN c.result = 'reserved' THEN c.remaining END AS remaining,
       q.id AS outbox_id, q.queue, q.body AS envelope
  FROM chosen c LEFT JOIN queued q ON q.message_id = c.body ->> 'messageId'`;

/**
 * OrderCancelled, in ONE statement: Inventory gives back exactly what the order reserved, once.
 * - The message is claimed in Inventory's processed-message records (a duplicate changes nothing, no row back).
 * - No reservation yet (the cancel overtook its OrderPlaced): a 'cancelled' reservation takes the order's key, so
 *   the late OrderPlaced is refused and never takes stock.
 * - A reserved reservation not yet released is marked released; its lines' products are locked in product order
 *   (as RESERVE locks them: no deadlock between the two) and get their quantities back.
 * - StockReleased, with the lines given back (none for an order that had reserved nothing), goes to the outbox.
 * $1 the message id, $2 the order id, $3 the StockReleased envelope, $4 its queue, $5 the relay's grace period.
 * Returns one row: whether the message was claimed, and the outbox row written.
 */
const RELEASE = `
WITH claim AS (
  INSERT INTO inventory.processed_messages (message_id, type)
  VALUES ($1::text, 'OrderCancelled')
  ON CONFLICT DO NOTHING
  RETURNING message_id
), tombstone AS (
  INSERT INTO inventory.reservations (order_id, lines, result, message_id)
  SELECT $2::uuid, '[]'::jsonb, 'cancelled', $1::text FROM claim
  ON CONFLICT (order_id) DO NOTHING
), released AS (
  UPDATE inventory.reservations r SET released_at = now()
   WHERE r.order_id = $2::uuid AND r.result = 'reserved' AND r.released_at IS NULL
     AND EXISTS (SELECT 1 FROM claim)
  RETURNING coalesce(r.lines, jsonb_build_array(jsonb_build_object('productId', r.product_id, 'quantity', r.quantity)))
            AS lines
), back AS (
  SELECT l.line ->> 'productId' AS product_id, (l.line ->> 'quantity')::int AS quantity, l.ord AS line_no
    FROM released CROSS JOIN LATERAL jsonb_array_elements(released.lines) WITH ORDINALITY AS l(line, ord)
), locked AS (
  SELECT product_id FROM inventory.products
   WHERE product_id IN (SELECT product_id FROM back)
   ORDER BY product_id
   FOR UPDATE
), given AS (
  SELECT b.product_id, sum(b.quantity)::int AS quantity FROM back b JOIN locked USING (product_id)
   GROUP BY b.product_id
), restored AS (
  UPDATE inventory.products p SET available = p.available + g.quantity, updated_at = now()
    FROM given g WHERE p.product_id = g.product_id
), queued AS (
  INSERT INTO inventory.outbox (message_id, queue, type, body, next_attempt_at)
  SELECT $3::jsonb ->> 'messageId', $4::text, $3::jsonb ->> 'type',
         jsonb_set($3::jsonb, '{data,lines}', coalesce(
           (SELECT jsonb_agg(jsonb_build_object('productId', product_id, 'quantity', quantity) ORDER BY line_no)
              FROM back), '[]'::jsonb)),
         now() + $5::interval
    FROM claim
  ON CONFLICT (message_id) DO NOTHING
  RETURNING id, queue, body
)
SELECT EXISTS (SELECT 1 FROM claim) AS claimed, q.id AS outbox_id, q.queue, q.body AS envelope
  FROM (SELECT 1) AS one LEFT JOIN queued q ON true`;

/**
 * A dead-lettered OrderPlaced for a known order, in one statement after its dead letter: the order is told it
 * failed (InventoryFailed in the outbox) — unless its stock work already happened. The processed-message record
 * arbitrates: if this message was processed (say it crashed after its commit on the last delivery), its real
 * result is already in the outbox and wins; otherwise claiming the record here guarantees it never moves stock
 * later. An order already decided under another message id keeps its decision too.
 * $1 the dead-lettered message's id (null: it had none, nothing to claim), $2 the order id, $3 the InventoryFailed
 * envelope, $4 its queue, $5 the relay's grace period (RELAY_GRACE), $6 the dead-lettered message's own type (an
 * OrderCancelled is claimed as one, not as an OrderPlaced). Returns the outbox row written, if any.
 * A dead-lettered OrderCancelled tells the order nothing (no InventoryFailed: its order waits in cancel_requested,
 * shown on /api/dead-letters, until a redrive or the sweeper's re-ask releases the stock).
 */
const DEAD_LETTER_ORDER_PLACED = `
WITH claim AS (
  INSERT INTO inventory.processed_messages (message_id, type)
  SELECT $1::text, $6::text WHERE $1::text IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING message_id
)
INSERT INTO inventory.outbox (message_id, queue, type, body, next_attempt_at)
SELECT $3::jsonb ->> 'messageId', $4::text, $3::jsonb ->> 'type', $3::jsonb, now() + $5::interval
 WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM claim)) AND $6::text <> 'OrderCancelled'
   AND NOT EXISTS (SELECT 1 FROM inventory.reservations WHERE order_id = $2::uuid)
ON CONFLICT (message_id) DO NOTHING
RETURNING id AS outbox_id, queue, body AS envelope`;

const LIST_PRODUCTS =
  'SELECT product_id, name, available, updated_at FROM inventory.products ORDER BY product_id';

const FIND_PRODUCT =
  'SELECT product_id, name, available, updated_at FROM inventory.products WHERE product_id = $1::text';

/** A restock and its `inventory.restocks` row, in one statement. Returns the product, or no row if unknown. */
const RESTOCK = `
WITH restocked AS (
  UPDATE inventory.products SET available = available + $2::int, updated_at = now()
   WHERE product_id = $1::text
  RETURNING product_id, name, available, updated_at
), logged AS (
  INSERT INTO inventory.restocks (product_id, quantity) SELECT product_id, $2::int FROM restocked
)
SELECT product_id, name, available, updated_at FROM restocked`;

/** Every SQL statement of Inventory's repository (test/integration/sql-statements.test.ts prepares each one). */
export const INVENTORY_STATEMENTS = {
  RESERVE,
  RELEASE,
  DEAD_LETTER_ORDER_PLACED,
  LIST_PRODUCTS,
  FIND_PRODUCT,
  RESTOCK,
} as const;

interface ReserveRequest {
  event: OrderPlaced;
  trace: { traceparent?: string | undefined; tracestate?: string | undefined; occurredAt: Date };
}

/**
 * The message each possible result sends (one occurredAt, so the one kept is what was decided and written); RESERVE
 * fills in their lines.
 */
function resultMessages({
  event,
  trace,
}: ReserveRequest): Record<ReservationResult, { queue: QueueName; body: Envelope }> {
  const { orderId } = event.data;
  const rejected = (reason: RejectionReason) => ({
    queue: QUEUES.orderStatus,
    body: envelope('InventoryRejected', { orderId, reason, shortLines: [] }, trace),
  });
  return {
    reserved: {
      queue: QUEUES.orderStatus,
      body: envelope('InventoryReserved', { orderId, lines: [] }, trace),
    },
    out_of_stock: rejected('out_of_stock'),
    unknown_product: rejected('unknown_product'),
  };
}

/** The batch as RESERVE's $1 reads it; `n` is each request's position. */
function reserveInput(requests: readonly ReserveRequest[]): string {
  return JSON.stringify(
    requests.map((request, n) => ({
      n,
      order_id: request.event.data.orderId,
      lines: linesOf(request.event),
      message_id: request.event.messageId,
      type: request.event.type,
      results: resultMessages(request),
    })),
  );
}

interface ReserveRow extends WrittenOutboxRow {
  n: number;
  result: ReservationResult;
  remaining: number | null;
}

const DUPLICATE: ReserveOutcome = { outcome: 'duplicate' };

/** Runs RESERVE for a batch; every request gets its outcome, in order. */
async function reserve(
  statements: Statements,
  requests: readonly ReserveRequest[],
): Promise<ReserveOutcome[]> {
  const { rows } = await statements.run<ReserveRow>('inventory.reserve', RESERVE, [
    reserveInput(requests),
    RELAY_GRACE,
  ]);
  const byN = new Map(rows.map((row) => [row.n, row]));
  return requests.map((_, n): ReserveOutcome => {
    const row = byN.get(n);
    if (!row) return DUPLICATE;
    return { outcome: 'processed', result: row.result, remaining: row.remaining, ...writtenMessages([row]) };
  });
}

/** A second message for an order already decided (under another message id): the reservations key refuses it. */
function isOrderAlreadyDecided(err: unknown): boolean {
  return (
    sqlState(err) === '23505' &&
    /reservations_pkey/.test((err as Error).message + String((err as { constraint?: string }).constraint))
  );
}

/**
 * Inventory's coalescing writer, a BatchingQueue: built once per runtime (createRuntime, `rt.writers.inventory`),
 * since a queue coalesces only the calls that share it.
 */
export function inventoryWriters(statements: Statements) {
  const reserver = new BatchingQueue({
    many: (requests: ReserveRequest[]) => reserve(statements, requests),
    one: (request: ReserveRequest) =>
      reserve(statements, [request]).then(
        ([outcome]) => outcome ?? DUPLICATE,
        (err: unknown) => {
          if (isOrderAlreadyDecided(err)) return DUPLICATE;
          throw err;
        },
      ),
  });
  return {
    /**
     * Reserves stock for one OrderPlaced, exactly once per message and once per order. Concurrent calls (the
     * consumer handles several deliveries at a time) are coalesced: while one statement runs, the next requests
     * queue and go together in the next RESERVE — one transaction, one round trip and one commit for the whole
     * burst. A lone request, or every request of a batch that failed, runs RESERVE as a batch of one, where an
     * order already decided under another message id is a duplicate.
     */
    reserveStock: (
      event: OrderPlaced,
      trace: { traceparent?: string | undefined; tracestate?: string | undefined },
    ): Promise<ReserveOutcome> => reserver.run({ event, trace: { ...trace, occurredAt: new Date() } }),
  };
}

export type InventoryWriters = ReturnType<typeof inventoryWriters>;

export type ReleaseOutcome =
  | ({ outcome: 'released'; lines: number } & WrittenMessages)
  | { outcome: 'duplicate' };

/** OrderCancelled, exactly once (RELEASE): the order's reserved stock back, StockReleased in the outbox. */
export async function releaseStock(
  statements: Statements,
  event: OrderCancelled,
  trace: { traceparent?: string | undefined; tracestate?: string | undefined },
): Promise<ReleaseOutcome> {
  const { orderId } = event.data;
  const released = envelope('StockReleased', { orderId, lines: [] }, trace);
  const { rows } = await statements.run<WrittenOutboxRow & { claimed: boolean }>(
    'inventory.release',
    RELEASE,
    [event.messageId, orderId, JSON.stringify(released), QUEUES.orderStatus, RELAY_GRACE],
  );
  if (!rows[0]?.claimed) return { outcome: 'duplicate' };
  const written = writtenMessages(rows);
  const body = written.messages[0]?.envelope as { data?: { lines?: unknown[] } } | undefined;
  return { outcome: 'released', lines: body?.data?.lines?.length ?? 0, ...written };
}

/**
 * A dead-lettered OrderPlaced: recorded with its error (the shared dead-letter helper), and, in the same
 * transaction, the order told it failed unless its stock work already happened (DEAD_LETTER_ORDER_PLACED).
 */
export async function recordDeadLetter(
  db: Database,
  letter: DeadLetter,
  trace: { traceparent?: string | undefined },
): Promise<WrittenMessages> {
  return db.transaction(async (client) => {
    await insertDeadLetter(client, 'inventory', QUEUES.reservations, letter);
    if (!letter.orderId) return { outboxIds: [], messages: [] };
    const failed = envelope(
      'InventoryFailed',
      { orderId: letter.orderId, reason: `inventory gave up: ${letter.error}`.slice(0, 500) },
      trace,
    );
    const { rows } = await client.query<WrittenOutboxRow>(DEAD_LETTER_ORDER_PLACED, [
      letter.messageId ?? null,
      letter.orderId,
      JSON.stringify(failed),
      QUEUES.orderStatus,
      RELAY_GRACE,
      deadLetterType(letter.body),
    ]);
    return writtenMessages(rows);
  });
}

/** The type a dead letter's claim is recorded under: its own when it names one (any string), else 'unknown'. */
function deadLetterType(body: unknown): string {
  const type = (body as { type?: unknown } | null | undefined)?.type;
  return typeof type === 'string' && type.length > 0 ? type.slice(0, 200) : 'unknown';
}

export async function listProducts(db: Database): Promise<Product[]> {
  const { rows } = await db.query<ProductRow>(LIST_PRODUCTS);
  return rows.map(toProduct);
}

export async function findProduct(db: Database, productId: string): Promise<Product | undefined> {
  const { rows } = await db.query<ProductRow>(FIND_PRODUCT, [productId]);
  return rows[0] ? toProduct(rows[0]) : undefined;
}

export async function restock(
  db: Database,
  productId: string,
  quantity: number,
): Promise<Product | undefined> {
  const { rows } = await db.query<ProductRow>(RESTOCK, [productId, quantity]);
  return rows[0] ? toProduct(rows[0]) : undefined;
}
