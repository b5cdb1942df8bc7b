import type { Database } from '../../shared/db/database.js';
import type { Queryable } from '../../shared/db/pool.js';
import { IN_FLIGHT_WAIT_MS, type StoredResponse } from '../../shared/idempotency/idempotency-key.js';
import { messageIdFor } from '../../shared/messaging/contracts.js';
import {
  BatchingQueue,
  outboxInsertSql,
  outboxRecords,
  outboxRecordset,
  runStatement,
} from '../../shared/messaging/outbox.js';
import type { OutgoingMessage } from '../../shared/messaging/publisher.js';
import { ORDER_COLUMNS, type Order, type OrderRow, type OrderStatus, toOrder } from './order-model.js';

export interface PlaceOrderInput {
  order: Order;
  message: OutgoingMessage;
  /** The response to store with the idempotency record (what a replay returns). */
  response: { status: number; body: unknown };
  /** `scope` is who the key belongs to (the customer id): the same key from another caller is another record. */
  idempotency?: { scope: string; key: string; fingerprint: string; ttlHours: number };
}

export type PlaceOrderResult =
  | { kind: 'created'; outboxIds: number[] }
  | { kind: 'replay'; stored: StoredResponse & { orderId: string | null } };

/**
 * Bounds the wait behind an in-flight twin (past it the caller answers 409). Set inside the statement, before its
 * insert can wait, and local to it: the connection goes back to the pool unchanged.
 */
const BOUNDED_WAIT = `(SELECT set_config('lock_timeout', '${IN_FLIGHT_WAIT_MS}ms', true)) AS bounded_wait`;

/**
 * The idempotency claim: a new key, or an expired record taken over as if it were new. A live record conflicts
 * and returns no row (a replay); a twin still in flight holds the key and this waits for it (bounded).
 */
const CLAIM_KEY = `
  INSERT INTO orders.idempotency_keys AS k (scope, key, fingerprint, response_status, response_body, order_id, expires_at)
  SELECT $12::text, $1::text, $2::text, $3::int, $4::text, $5::uuid, now() + make_interval(hours => $6::int)
    FROM ${BOUNDED_WAIT}
  ON CONFLICT (scope, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, response_status = EXCLUDED.response_status,
        response_body = EXCLUDED.response_body, order_id = EXCLUDED.order_id,
        created_at = now(), expires_at = EXCLUDED.expires_at
  WHERE k.expires_at <= now()
  RETURNING key`;

/** The pending order; `$n` numbers its parameters: id, customer, product, quantity, createdAt. */
const INSERT_ORDER = (p: [string, string, string, string, string], from: string) => `
  INSERT INTO orders.orders (id, customer_id, product_id, quantity, status, created_at, updated_at)
  SELECT ${p[0]}::uuid, ${p[1]}::text, ${p[2]}::text, ${p[3]}::int, 'pending', ${p[4]}::timestamptz, ${p[4]}::timestamptz
    ${from}
  RETURNING id`;

/**
 * Claim, order and outbox row in ONE statement: one round trip, one (implicit) transaction, all or nothing.
 * $1 key, $2 fingerprint, $3 status, $4 body, $5 order id, $6 ttl hours, $7–$10 order, $11 outbox records,
 * $12 the key's scope.
 */
const PLACE_WITH_KEY = `
WITH claim AS (${CLAIM_KEY}
), placed AS (${INSERT_ORDER(['$5', '$7', '$8', '$9', '$10'], 'FROM claim')}
), queued AS (
  ${outboxInsertSql('orders', `placed, ${outboxRecordset('$11')}`)}
)
SELECT EXISTS (SELECT 1 FROM claim) AS claimed, ARRAY(SELECT id FROM queued ORDER BY id) AS outbox_ids`;

/** Without a key: the order and its outbox row. $1–$5 order, $6 outbox records. */
const PLACE_WITHOUT_KEY = `
WITH placed AS (${INSERT_ORDER(['$1', '$2', '$3', '$4', '$5'], '')}
), queued AS (
  ${outboxInsertSql('orders', `placed, ${outboxRecordset('$6')}`)}
)
SELECT true AS claimed, ARRAY(SELECT id FROM queued ORDER BY id) AS outbox_ids`;

const STORED_RESPONSE =
  'SELECT fingerprint, response_status, response_body, order_id FROM orders.idempotency_keys WHERE scope = $1 AND key = $2';

/**
 * One transaction: the idempotency record, the order (pending) and its OrderPlaced outbox row, written by a single
 * statement (data-modifying CTEs), so the common case costs one round trip. The record is claimed first; a
 * concurrent request with the same key blocks on it until that one commits, then replays. An expired record is
 * taken over as if it were new. A replay reads the stored response with a second statement: the first one's
 * snapshot predates the twin's commit it waited for.
 */
export async function placeOrder(db: Database, input: PlaceOrderInput): Promise<PlaceOrderResult> {
  const o = input.order;
  const order = [o.id, o.customerId, o.productId, o.quantity, o.createdAt];
  const records = outboxRecords([input.message]);
  const key = input.idempotency;
  if (!key) {
    const { rows } = await runStatement<PlacedRow>(db, 'orders.place', PLACE_WITHOUT_KEY, [
      ...order,
      records,
    ]);
    return { kind: 'created', outboxIds: rows[0]!.outbox_ids.map(Number) };
  }
  const values = [
    key.key,
    key.fingerprint,
    input.response.status,
    JSON.stringify(input.response.body),
    o.id,
    key.ttlHours,
    ...order.slice(1),
    records,
    key.scope,
  ];
  for (let attempt = 1; ; attempt++) {
    const { rows } = await runStatement<PlacedRow>(db, 'orders.place_with_key', PLACE_WITH_KEY, values);
    if (rows[0]?.claimed) return { kind: 'created', outboxIds: rows[0].outbox_ids.map(Number) };
    const stored = await runStatement<{
      fingerprint: string;
      response_status: number;
      response_body: string;
      order_id: string | null;
    }>(db, 'orders.stored_response', STORED_RESPONSE, [key.scope, key.key]);
    const row = stored.rows[0];
    // Expired and purged between the two statements: claim it afresh.
    if (!row && attempt < 3) continue;
    if (!row) throw new Error(`idempotency record ${key.key} vanished while being read`);
    return {
      kind: 'replay',
      stored: {
        fingerprint: row.fingerprint,
        status: row.response_status,
        body: row.response_body,
        orderId: row.order_id,
      },
    };
  }
}

interface PlacedRow {
  claimed: boolean;
  /** bigint[]: pg hands array elements over as strings. */
  outbox_ids: (number | string)[];
}

/** After a `Prefer: wait` saw the final status: a later replay returns what this client got. */
export async function updateStoredResponse(
  db: Database,
  key: { scope: string; key: string },
  status: number,
  body: unknown,
): Promise<void> {
  await db.query(
    'UPDATE orders.idempotency_keys SET response_status = $3, response_body = $4 WHERE scope = $1 AND key = $2',
    [key.scope, key.key, status, JSON.stringify(body)],
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
 * One transaction, one statement: the processed-message record, then pending → final with its status_changes
 * row. A repeated message is a no-op ('duplicate'); a result for an order that is already final changes nothing
 * ('already-final').
 */
const APPLY_STATUS_CHANGE = `
WITH claim AS (
  INSERT INTO orders.processed_messages (message_id, type) VALUES ($4, $5) ON CONFLICT DO NOTHING
  RETURNING message_id
), changed AS (
  UPDATE orders.orders SET status = $2, reason = $3, updated_at = now()
   WHERE id = $1 AND status = 'pending' AND EXISTS (SELECT 1 FROM claim)
   RETURNING ${ORDER_COLUMNS}
), logged AS (
  INSERT INTO orders.status_changes (order_id, from_status, to_status, reason, message_id)
  SELECT id, 'pending', status, reason, $4 FROM changed
)
SELECT EXISTS (SELECT 1 FROM claim) AS claimed,
       EXISTS (SELECT 1 FROM orders.orders WHERE id = $1) AS known,
       changed.*
  FROM (SELECT 1) AS one LEFT JOIN changed ON true`;

/** ORDER_COLUMNS qualified with a table alias. */
const columnsOf = (alias: string) =>
  ORDER_COLUMNS.split(', ')
    .map((column) => `${alias}.${column}`)
    .join(', ');

/**
 * Many status changes in one statement: each message claimed exactly as on its own (seen before, or twice in
 * the batch: a duplicate), then pending → final for the claimed ones. Two messages for one order in a batch:
 * one of them changes it, the other finds it already final — as if they had run one after the other.
 */
const APPLY_STATUS_CHANGES = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb)
    AS i(n int, order_id uuid, status text, reason text, message_id text, type text)
), claim AS (
  INSERT INTO orders.processed_messages (message_id, type)
  SELECT DISTINCT ON (message_id) message_id, type FROM input ORDER BY message_id, n
  ON CONFLICT DO NOTHING
  RETURNING message_id
), claimed AS (
  SELECT DISTINCT ON (i.message_id) i.* FROM input i JOIN claim USING (message_id) ORDER BY i.message_id, i.n
), changed AS (
  UPDATE orders.orders o SET status = c.status, reason = c.reason, updated_at = now()
    FROM claimed c
   WHERE o.id = c.order_id AND o.status = 'pending'
  RETURNING c.n, c.message_id, ${columnsOf('o')}
), logged AS (
  INSERT INTO orders.status_changes (order_id, from_status, to_status, reason, message_id)
  SELECT id, 'pending', status, reason, message_id FROM changed
)
SELECT c.n, EXISTS (SELECT 1 FROM orders.orders WHERE id = c.order_id) AS known,
       ${columnsOf('ch')}
  FROM claimed c LEFT JOIN changed ch ON ch.n = c.n`;

type StatusChangeOutcome =
  | { outcome: 'applied'; order: Order }
  | { outcome: 'duplicate' | 'already-final' | 'unknown-order' };

async function applyOne(db: Database, change: StatusChange): Promise<StatusChangeOutcome> {
  const { rows } = await runStatement<Partial<OrderRow> & { claimed: boolean; known: boolean }>(
    db,
    'orders.apply_status_change',
    APPLY_STATUS_CHANGE,
    [change.orderId, change.status, change.reason, change.messageId, change.messageType],
  );
  const row = rows[0]!;
  if (!row.claimed) return { outcome: 'duplicate' };
  if (row.id) return { outcome: 'applied', order: toOrder(row as OrderRow) };
  return { outcome: row.known ? 'already-final' : 'unknown-order' };
}

async function applyMany(db: Database, changes: StatusChange[]): Promise<StatusChangeOutcome[]> {
  const input = changes.map((c, n) => ({
    n,
    order_id: c.orderId,
    status: c.status,
    reason: c.reason,
    message_id: c.messageId,
    type: c.messageType,
  }));
  const { rows } = await runStatement<Partial<OrderRow> & { n: number; known: boolean }>(
    db,
    'orders.apply_status_changes',
    APPLY_STATUS_CHANGES,
    [JSON.stringify(input)],
  );
  const byN = new Map(rows.map((r) => [r.n, r]));
  return changes.map((_, n): StatusChangeOutcome => {
    const row = byN.get(n);
    if (!row) return { outcome: 'duplicate' };
    if (row.id) return { outcome: 'applied', order: toOrder(row as OrderRow) };
    return { outcome: row.known ? 'already-final' : 'unknown-order' };
  });
}

const appliers = new WeakMap<Database, BatchingQueue<StatusChange, StatusChangeOutcome>>();

/**
 * Applies one result message, exactly once. Concurrent calls are coalesced like reservations: while one
 * statement runs, the next changes queue and go together in one APPLY_STATUS_CHANGES statement (one
 * transaction, one round trip, one commit); a lone change, or every change of a batch that failed, runs
 * APPLY_STATUS_CHANGE on its own.
 */
export function applyStatusChange(db: Database, change: StatusChange): Promise<StatusChangeOutcome> {
  let queue = appliers.get(db);
  if (!queue) {
    queue = new BatchingQueue({
      many: (changes) => applyMany(db, changes),
      one: (one) => applyOne(db, one),
    });
    appliers.set(db, queue);
  }
  return queue.run(change);
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

/**
 * The pending-order sweep: OrderPlaced rows of orders pending for longer than `afterSeconds` whose message went
 * out at least that long ago (and got lost: a broker dead letter nothing recorded, a message lost in memory) or
 * that the relay gave up on, set to be sent again now — oldest orders first, locked so two sweeps never take the
 * same row. Rows that are simply waiting for the relay are left to it. Returns the message ids to re-send.
 */
export async function resetStaleOrderPlaced(
  db: Database,
  input: { afterSeconds: number; limit: number; maxRelayAttempts: number },
): Promise<string[]> {
  const { rows } = await db.query<{ message_id: string }>(
    `WITH stale AS (
       SELECT ob.id FROM orders.orders o
         JOIN orders.outbox ob ON ob.message_id = $4 || o.id::text
        WHERE o.status = 'pending' AND o.created_at < now() - make_interval(secs => $1::int)
          AND (ob.published_at < now() - make_interval(secs => $1::int)
               OR (ob.published_at IS NULL AND ob.attempts >= $3))
        ORDER BY o.created_at
        LIMIT $2
        FOR UPDATE OF ob SKIP LOCKED
     )
     UPDATE orders.outbox ob
        SET published_at = NULL, attempts = 0, next_attempt_at = now(),
            last_error = 'order still pending: re-sent by the pending-order sweeper'
       FROM stale WHERE ob.id = stale.id
     RETURNING ob.message_id`,
    [input.afterSeconds, input.limit, input.maxRelayAttempts, messageIdFor('OrderPlaced', '')],
  );
  return rows.map((r) => r.message_id);
}
