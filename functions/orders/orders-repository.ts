import { BatchingQueue } from '../../shared/concurrency/batching-queue.js';
import type { Database } from '../../shared/db/database.js';
import { isConnectionError, sqlState } from '../../shared/db/errors.js';
import type { Statements } from '../../shared/db/statement.js';
import {
  bindsIdempotencyKey,
  IN_FLIGHT_WAIT_MS,
  type StoredResponse,
} from '../../shared/idempotency/idempotency-key.js';
import type { DeadLetter } from '../../shared/messaging/consume.js';
import { messageIdFor } from '../../shared/messaging/contracts.js';
import { insertDeadLetter } from '../../shared/messaging/dead-letters.js';
import {
  RELAY_GRACE,
  type WrittenMessages,
  type WrittenOutboxRow,
  writtenMessages,
} from '../../shared/messaging/outbox-written.js';
import type { OutgoingMessage } from '../../shared/messaging/publisher.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import type { Executor } from '../../shared/resilience/policies.js';
import { type Order, type OrderRow, type OrderStatus, toOrder } from './order-model.js';

export interface PlaceOrderInput {
  order: Order;
  message: OutgoingMessage;
  /** The response to store with the idempotency record (what a replay returns). */
  response: { status: number; body: unknown };
  /** `scope` is who the key belongs to (the customer id): the same key from another caller is another record. */
  idempotency?: { scope: string; key: string; fingerprint: string; ttlHours: number };
}

/** A stored answer under a key, for a retry that sent the same request. */
export type ReplayedResponse = StoredResponse & { orderId: string | null };

/**
 * What a request with an Idempotency-Key can meet besides its own effect: its earlier answer (`replayed`), the
 * same key with another body (`conflict`, a 422), or a twin still holding the key past the wait (`in-flight`, a
 * 409: the bounded lock wait, SQLSTATE 55P03).
 */
export type KeyedOutcome =
  | { kind: 'replayed'; stored: ReplayedResponse }
  | { kind: 'conflict' }
  | { kind: 'in-flight' };

export type PlaceOrderResult = ({ kind: 'placed' } & WrittenMessages) | KeyedOutcome;

/** The key's record as STORED_RESPONSE reads it: a replay when the request is the same, else a conflict. */
function replayOrConflict(
  row: { fingerprint: string; response_status: number; response_body: string; order_id: string | null },
  fingerprint: string,
): KeyedOutcome {
  if (row.fingerprint !== fingerprint) return { kind: 'conflict' };
  return {
    kind: 'replayed',
    stored: {
      fingerprint: row.fingerprint,
      status: row.response_status,
      body: row.response_body,
      orderId: row.order_id,
    },
  };
}

/** A twin request that held the key longer than the statement's lock_timeout. */
async function inFlightOnLockTimeout<T>(run: () => Promise<T>): Promise<T | { kind: 'in-flight' }> {
  try {
    return await run();
  } catch (err) {
    if (sqlState(err) === '55P03') return { kind: 'in-flight' };
    throw err;
  }
}

/**
 * Intake, in ONE statement (one round trip, one implicit transaction, all or nothing) for a batch of orders (group
 * commit; a lone order is a batch of one): for each order, the Idempotency-Key record when it has a key, the pending
 * order, and OrderPlaced in Orders' outbox. Each order's three rows are written together or not at all.
 * A key is claimed first: a new key, or an expired record taken over as if it were new. A live record conflicts
 * and nothing is written for that order (a replay, read afterwards); a twin still in flight holds the key and this
 * waits for it, bounded by a lock_timeout set before anything can wait (in `input`, which every insert reads first)
 * and local to the statement's transaction (the connection goes back to the pool unchanged; past the bound: 55P03).
 * A lone keyed order waits up to IN_FLIGHT_WAIT_MS for its twin (then `in-flight`, a 409); a batch waits at most
 * INTAKE_BATCH_LOCK_WAIT_MS for anything, then fails whole and its orders are written one by one.
 * Two orders of one batch with the same key: only the first to arrive claims it (DISTINCT ON by position; ON
 * CONFLICT cannot touch a row twice), the later one is not placed and, answered alone after the commit, replays it.
 * $1 the batch (`placeInput`): per order its position n, the order, OrderPlaced's queue and envelope, the key's
 * scope (the customer), key, fingerprint, response to store and ttl in hours (null without a key). $2 the lock wait
 * bound (null: the server's setting). $3 the relay's grace period (RELAY_GRACE). Returns a row per order: whether it
 * was placed, and the outbox row written.
 */
const PLACE_ORDERS = `
WITH input AS (
  SELECT i.* FROM (SELECT set_config('lock_timeout', coalesce($2::text, current_setting('lock_timeout')), true)) AS w,
    jsonb_to_recordset($1::jsonb)
    AS i(n int, order_id uuid, customer_id text, product_id text, quantity int, lines jsonb, created_at timestamptz,
         queue text, envelope jsonb, scope text, key text, fingerprint text, response_status int,
         response_body text, ttl_hours int)
), claim AS (
  INSERT INTO orders.idempotency_keys AS k (scope, key, fingerprint, response_status, response_body, order_id, expires_at)
  SELECT DISTINCT ON (i.scope, i.key) i.scope, i.key, i.fingerprint, i.response_status, i.response_body, i.order_id,
         now() + make_interval(hours => i.ttl_hours)
    FROM input i
   WHERE i.key IS NOT NULL
   ORDER BY i.scope, i.key, i.n
  ON CONFLICT (scope, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, response_status = EXCLUDED.response_status,
        response_body = EXCLUDED.response_body, order_id = EXCLUDED.order_id,
        created_at = now(), expires_at = EXCLUDED.expires_at
  WHERE k.expires_at <= now()
  RETURNING order_id
), placed AS (
  INSERT INTO orders.orders (id, customer_id, product_id, quantity, lines, status, created_at, updated_at)
  SELECT i.order_id, i.customer_id, i.product_id, i.quantity, i.lines, 'pending', i.created_at, i.created_at
    FROM input i
   WHERE i.key IS NULL OR i.order_id IN (SELECT order_id FROM claim)
  RETURNING id
), queued AS (
  INSERT INTO orders.outbox (message_id, queue, type, body, next_attempt_at)
  SELECT i.envelope ->> 'messageId', i.queue, i.envelope ->> 'type', i.envelope, now() + $3::interval
    FROM input i JOIN placed p ON p.id = i.order_id
  ON CONFLICT (message_id) DO NOTHING
  RETURNING id, queue, body
)
SELECT i.n, p.id IS NOT NULL AS placed, q.id AS outbox_id, q.queue, q.body AS envelope
  FROM input i
  LEFT JOIN placed p ON p.id = i.order_id
  LEFT JOIN queued q ON q.body ->> 'messageId' = i.envelope ->> 'messageId'`;

/** What a replay answers with: read by a statement of its own (see placeOrder). */
const STORED_RESPONSE = `
SELECT fingerprint, response_status, response_body, order_id FROM orders.idempotency_keys
 WHERE scope = $1::text AND key = $2::text`;

/** A cancel's answer under its key, written before the cancel's transaction commits (synchronously, with it). */
const STORE_CANCEL_RESPONSE = `
UPDATE orders.idempotency_keys SET response_status = $3::int, response_body = $4::text
 WHERE scope = $1::text AND key = $2::text`;

/** A cancel refused before it started (403, 404): the key it claimed is given back (bindsIdempotencyKey). */
const RELEASE_CANCEL_KEY = `
DELETE FROM orders.idempotency_keys WHERE scope = $1::text AND key = $2::text`;

/**
 * The final answers of `Prefer: wait` requests, for a batch of keys ($1: `[{scope, key, order_id, status, body}]`),
 * committed asynchronously (`SET LOCAL synchronous_commit = off` through set_config, in the same round trip): a
 * database crash may lose the last few hundred milliseconds of them, and then a replay answers with the accepted
 * (pending) response that the same transaction as the order stored, exactly as when this update fails.
 * A key is written only while it still belongs to the order it answers: a key whose TTL ran out during the wait and
 * that another request took over keeps that request's answer (`k.order_id = r.order_id`, rechecked on the newest
 * row version when the takeover commits while this runs).
 * Each key is found through the primary key (the scalar subquery per input row) and updated by its ctid: planned as
 * a plain join, the prepared statement's generic plan assumes 100 input rows and, on a table of a few thousand
 * keys, hash-joins over a sequential scan of every key on every batch (measured in docs/performance.md). The ctid
 * only says where to look; the key and order conditions decide.
 */
const STORE_FINAL_RESPONSES = `
WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)),
input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(scope text, key text, order_id uuid, status int, body text)
)
UPDATE orders.idempotency_keys k SET response_status = r.status, response_body = r.body
  FROM input r
 WHERE k.ctid = ANY (ARRAY(SELECT (SELECT x.ctid FROM orders.idempotency_keys x WHERE x.scope = i.scope AND x.key = i.key)
                             FROM input i))
   AND k.scope = r.scope AND k.key = r.key AND k.order_id = r.order_id AND EXISTS (SELECT FROM async_commit)`;

const FIND_ORDER = `
SELECT id, customer_id, product_id, quantity,
       coalesce(lines, jsonb_build_array(jsonb_build_object('productId', product_id, 'quantity', quantity))) AS lines,
       status, reason, created_at, updated_at
  FROM orders.orders WHERE id = $1::uuid`;

/**
 * An order's status history, oldest first: its placement (created_at, as pending), then its status_changes rows.
 * `changed_at` is the changing transaction's time (now()), so orders changed in one group-committed transaction
 * share it; a cancel request records the statement's clock_timestamp() instead (it may have waited for the row).
 * No row: no such order.
 */
const ORDER_HISTORY = `
SELECT 'pending' AS status, NULL::text AS reason, o.created_at AS changed_at, 0 AS step
  FROM orders.orders o WHERE o.id = $1::uuid
UNION ALL
SELECT sc.to_status, sc.reason, sc.changed_at, 1 FROM orders.status_changes sc WHERE sc.order_id = $1::uuid
 ORDER BY step, changed_at`;

/** Newest first, optionally by status, from a keyset cursor; one more than the page, to tell if there is more. */
const LIST_ORDERS = `
SELECT id, customer_id, product_id, quantity,
       coalesce(lines, jsonb_build_array(jsonb_build_object('productId', product_id, 'quantity', quantity))) AS lines,
       status, reason, created_at, updated_at
  FROM orders.orders
 WHERE ($1::text IS NULL OR status = $1::text)
   AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT $4::int`;

/** One customer's orders, the same page as LIST_ORDERS: a range of orders_customer_created_idx. */
const LIST_CUSTOMER_ORDERS = `
SELECT id, customer_id, product_id, quantity,
       coalesce(lines, jsonb_build_array(jsonb_build_object('productId', product_id, 'quantity', quantity))) AS lines,
       status, reason, created_at, updated_at
  FROM orders.orders
 WHERE customer_id = $5::text
   AND ($1::text IS NULL OR status = $1::text)
   AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT $4::int`;

/**
 * The pending → final rule, in ONE statement (so one transaction) for a batch of status changes; a single result
 * message, and a dead-lettered one, is a batch of one (see applyStatusChange, recordDeadLetter).
 * - Each message is claimed in Orders' processed-message records: a message id seen before, or twice in the
 *   batch, is a duplicate and gets no row back.
 * - A claimed change moves its order from its `from_status` (pending for Inventory's decisions, cancel_requested
 *   for StockReleased) to its new status, with its status_changes row. An order in any other status is left as it
 *   is: two messages for one order in a batch, one changes it and the other finds it moved on, as if they had run
 *   one after the other; a reservation that lands after a cancel changes nothing (Inventory releases it).
 * $1 the batch (`changeInput`). Returns a row per claimed change: whether its order exists, and the order as
 * changed (null columns when it was not).
 * Orders are looked up with `id = ANY (ARRAY(…))`, an index condition whatever the statistics say: as a plain join
 * the prepared statement's generic plan assumes 100 input rows and, on a table of a few thousand orders, scans
 * every order twice per batch (the update's hash join and a hashed EXISTS; see docs/performance.md).
 */
const CHANGE_STATUS = `
WITH input AS (
  SELECT DISTINCT ON (message_id) *
    FROM jsonb_to_recordset($1::jsonb)
      AS i(n int, order_id uuid, from_status text, status text, reason text, detail text, message_id text,
           type text)
   ORDER BY message_id, n
), claim AS (
  INSERT INTO orders.processed_messages (message_id, type)
  SELECT message_id, type FROM input
  ON CONFLICT DO NOTHING
  RETURNING message_id
), claimed AS (
  SELECT input.* FROM input JOIN claim USING (message_id)
), changed AS (
  UPDATE orders.orders o
     SET status = c.status, updated_at = now(),
         -- A one-line order keeps the bare code its clients know; a multi-line one names its short lines.
         reason = CASE WHEN c.status = 'cancelled' THEN o.reason -- the cancel's own reason stays
                       WHEN c.detail IS NOT NULL AND jsonb_array_length(o.lines) > 1
                       THEN left(c.reason || ': ' || c.detail, 500) ELSE c.reason END
    FROM claimed c
   WHERE o.id = ANY (ARRAY(SELECT order_id FROM claimed)) AND o.id = c.order_id AND o.status = c.from_status
  RETURNING c.n, c.message_id, c.from_status,
            o.id, o.customer_id, o.product_id, o.quantity,
            coalesce(o.lines, jsonb_build_array(jsonb_build_object('productId', o.product_id, 'quantity', o.quantity)))
              AS lines,
            o.status, o.reason, o.created_at, o.updated_at
), logged AS (
  INSERT INTO orders.status_changes (order_id, from_status, to_status, reason, message_id)
  SELECT id, from_status, status, reason, message_id FROM changed
)
SELECT c.n, c.order_id = ANY (ARRAY(SELECT id FROM orders.orders WHERE id = ANY (ARRAY(SELECT order_id FROM claimed))))
         AS known,
       ch.id, ch.customer_id, ch.product_id, ch.quantity, ch.lines, ch.status, ch.reason, ch.created_at,
       ch.updated_at
  FROM claimed c LEFT JOIN changed ch ON ch.n = c.n`;

/**
 * The pending-order sweep: the message with id prefix $4 (OrderPlaced; OrderCancelled) of orders in status $6
 * (pending; cancel_requested) for longer than $1 seconds whose message went out at least that long ago (and got
 * lost: a broker dead letter nothing recorded, a message lost in memory) or that the relay gave up on ($3 attempts), set to be sent again now — oldest orders first, at most $2, locked so two sweeps
 * never take the same row. Rows that are simply waiting for the relay are left to it. The message is marked
 * `reask` (Inventory then sends its result again, even one it sent before). Returns the message ids to re-send.
 */
const RESET_STALE_ORDER_PLACED = `
WITH stale AS (
  SELECT ob.id FROM orders.orders o
    JOIN orders.outbox ob ON ob.message_id = $4::text || o.id::text
   WHERE o.status = $6::text AND o.updated_at < now() - make_interval(secs => $1::int)
     AND (ob.published_at < now() - make_interval(secs => $1::int)
          OR (ob.published_at IS NULL AND ob.attempts >= $3::int))
   ORDER BY o.created_at
   LIMIT $2::int
   FOR UPDATE OF ob SKIP LOCKED
)
UPDATE orders.outbox ob
   SET published_at = NULL, attempts = 0, next_attempt_at = now() + $5::interval,
       body = ob.body || '{"reask": true}'::jsonb,
       last_error = 'order still ' || $6::text || ': re-sent by the pending-order sweeper'
  FROM stale WHERE ob.id = stale.id
RETURNING ob.id AS outbox_id, ob.queue, ob.body AS envelope`;

/**
 * A cancel's Idempotency-Key, claimed first in the cancel's transaction (a new key, or an expired record taken
 * over). A twin in flight holds it: this waits for it, bounded by a lock_timeout local to the transaction (past it,
 * 55P03: `in-flight`). The response is filled in by STORE_CANCEL_RESPONSE before the commit.
 * $1 scope, $2 key, $3 fingerprint, $4 order id, $5 ttl in hours, $6 the wait bound. A row: claimed.
 */
const CLAIM_CANCEL_KEY = `
INSERT INTO orders.idempotency_keys AS k (scope, key, fingerprint, response_status, response_body, order_id, expires_at)
SELECT $1::text, $2::text, $3::text, 0, '', $4::uuid, now() + make_interval(hours => $5::int)
  FROM (SELECT set_config('lock_timeout', $6::text, true)) AS bounded_wait
ON CONFLICT (scope, key) DO UPDATE
  SET fingerprint = EXCLUDED.fingerprint, response_status = 0, response_body = '', order_id = EXCLUDED.order_id,
      created_at = now(), expires_at = EXCLUDED.expires_at
WHERE k.expires_at <= now()
RETURNING key`;

/**
 * The cancel request, in one statement: a pending or shipped order (of customer $2 when given) becomes
 * cancel_requested with its status_changes row and OrderCancelled in Orders' outbox. Any other order is left as
 * it is. $1 order id, $2 the customer who asks (null: not checked), $3 the reason (null: none), $4 OrderCancelled's
 * queue, $5 its envelope, $6 the relay's grace period. Returns no row for an unknown order; else the status it
 * had, its customer, whether it changed, and the outbox row written.
 */
const REQUEST_CANCEL = `
WITH target AS (
  SELECT id, status, customer_id FROM orders.orders WHERE id = $1::uuid FOR UPDATE
), changed AS (
  UPDATE orders.orders o SET status = 'cancel_requested', reason = $3::text, updated_at = now()
    FROM target t
   WHERE o.id = t.id AND t.status IN ('pending', 'shipped') AND ($2::text IS NULL OR t.customer_id = $2::text)
  RETURNING o.id, t.status AS from_status
), logged AS (
  -- clock_timestamp(): this may have waited for the row behind a status change that started earlier.
  INSERT INTO orders.status_changes (order_id, from_status, to_status, reason, message_id, changed_at)
  SELECT id, from_status, 'cancel_requested', $3::text, $5::jsonb ->> 'messageId', clock_timestamp() FROM changed
), queued AS (
  INSERT INTO orders.outbox (message_id, queue, type, body, next_attempt_at)
  SELECT $5::jsonb ->> 'messageId', $4::text, $5::jsonb ->> 'type', $5::jsonb, now() + $6::interval FROM changed
  ON CONFLICT (message_id) DO NOTHING
  RETURNING id, queue, body
)
SELECT t.status AS was, t.customer_id, EXISTS (SELECT 1 FROM changed) AS changed,
       q.id AS outbox_id, q.queue, q.body AS envelope
  FROM target t LEFT JOIN queued q ON true`;

/** Every SQL statement of Orders' repository (test/integration/sql-statements.test.ts prepares each one). */
export const ORDERS_STATEMENTS = {
  PLACE_ORDERS,
  STORED_RESPONSE,
  STORE_FINAL_RESPONSES,
  FIND_ORDER,
  ORDER_HISTORY,
  LIST_ORDERS,
  LIST_CUSTOMER_ORDERS,
  CHANGE_STATUS,
  RESET_STALE_ORDER_PLACED,
  CLAIM_CANCEL_KEY,
  STORE_CANCEL_RESPONSE,
  RELEASE_CANCEL_KEY,
  REQUEST_CANCEL,
} as const;

/**
 * A lone order (or one of a batch that was split): its own transaction, its key's twin waited for up to
 * IN_FLIGHT_WAIT_MS. A concurrent request with the same key blocks on the record until that one commits, then
 * replays. A replay reads the stored response with a second statement: the first one's snapshot predates the
 * twin's commit it waited for.
 */
function placeOne(statements: Statements, input: PlaceOrderInput): Promise<PlaceOrderResult> {
  return inFlightOnLockTimeout(() => placeOrClaim(statements, input));
}

async function placeOrClaim(statements: Statements, input: PlaceOrderInput): Promise<PlaceOrderResult> {
  const key = input.idempotency;
  const values = placeValues([input], key ? `${IN_FLIGHT_WAIT_MS}ms` : null);
  for (let attempt = 1; ; attempt++) {
    const { rows } = await statements.run<PlacedRow>('orders.place', PLACE_ORDERS, values);
    if (rows[0]?.placed) return { kind: 'placed', ...writtenMessages(rows) };
    if (!key) throw new Error(`order ${input.order.id} was not placed`);
    const stored = await statements.run<{
      fingerprint: string;
      response_status: number;
      response_body: string;
      order_id: string | null;
    }>('orders.stored_response', STORED_RESPONSE, [key.scope, key.key]);
    const row = stored.rows[0];
    // Expired and purged between the two statements: claim it afresh.
    if (!row && attempt < 3) continue;
    if (!row) throw new Error(`idempotency record ${key.key} vanished while being read`);
    return replayOrConflict(row, key.fingerprint);
  }
}

/**
 * Longest an intake batch waits on a lock (a key's twin in flight, or anything else another transaction holds)
 * before it gives up and its orders are written one by one: what an order pays at most for sharing a transaction
 * with others (plus the failed statement's own few milliseconds).
 */
const INTAKE_BATCH_LOCK_WAIT_MS = 50;

/**
 * A batch of orders in one transaction (group commit). Orders that were not placed (their key has a live record:
 * a replay or a 422) are then answered alone, after the batch has committed.
 */
async function placeMany(statements: Statements, inputs: PlaceOrderInput[]): Promise<PlaceOrderResult[]> {
  const { rows } = await statements.run<PlacedRow & { n: number }>(
    'orders.place',
    PLACE_ORDERS,
    placeValues(inputs, `${INTAKE_BATCH_LOCK_WAIT_MS}ms`),
  );
  const byN = new Map(rows.map((r) => [r.n, r]));
  return Promise.all(
    inputs.map((input, n): Promise<PlaceOrderResult> | PlaceOrderResult => {
      const row = byN.get(n);
      return row?.placed ? { kind: 'placed', ...writtenMessages([row]) } : placeOne(statements, input);
    }),
  );
}

/**
 * Whether a failed batch may be split into single orders: the server refused the statement (a SQLSTATE that is not
 * a lost connection), so it rolled back and nothing of it was written. A timeout or a connection lost mid-statement
 * leaves the outcome unknown (it may have committed): every order then gets that error, as a lone one would.
 */
function batchRolledBack(err: unknown): boolean {
  return sqlState(err) !== undefined && !isConnectionError(err);
}

/** The orders and their keys as PLACE_ORDERS's parameters read them. */
function placeValues(inputs: readonly PlaceOrderInput[], waitBound: string | null): unknown[] {
  const batch = inputs.map((input, n) => {
    const o = input.order;
    const key = input.idempotency;
    return {
      n,
      order_id: o.id,
      customer_id: o.customerId,
      product_id: o.productId,
      quantity: o.quantity,
      lines: o.lines,
      created_at: o.createdAt,
      queue: input.message.queue,
      envelope: input.message.envelope,
      scope: key?.scope ?? null,
      key: key?.key ?? null,
      fingerprint: key?.fingerprint ?? null,
      response_status: key ? input.response.status : null,
      response_body: key ? JSON.stringify(input.response.body) : null,
      ttl_hours: key?.ttlHours ?? null,
    };
  });
  return [JSON.stringify(batch), waitBound, RELAY_GRACE];
}

interface PlacedRow extends WrittenOutboxRow {
  placed: boolean;
}

interface FinalResponse {
  scope: string;
  key: string;
  /** The order the answer is about: the key is written only while it is still that order's. */
  order_id: string;
  status: number;
  body: string;
}

export async function findOrder(db: Database, id: string): Promise<Order | undefined> {
  const { rows } = await db.query<OrderRow>(FIND_ORDER, [id]);
  return rows[0] ? toOrder(rows[0]) : undefined;
}

/** One entry of an order's status history (GET /api/orders/{id}?include=history). */
export interface StatusHistoryEntry {
  status: OrderStatus;
  reason: string | null;
  /** ISO 8601: the time of the transaction that made the change (see ORDER_HISTORY). */
  changedAt: string;
}

/** The order's history, oldest first; empty for an unknown order. */
export async function orderHistory(db: Database, id: string): Promise<StatusHistoryEntry[]> {
  const { rows } = await db.query<{ status: OrderStatus; reason: string | null; changed_at: Date }>(
    ORDER_HISTORY,
    [id],
  );
  return rows.map((r) => ({ status: r.status, reason: r.reason, changedAt: r.changed_at.toISOString() }));
}

export async function listOrders(
  db: Database,
  query: {
    status?: OrderStatus | undefined;
    limit: number;
    after?: { createdAt: string; id: string } | undefined;
    /** Only this customer's orders (GET /api/me/orders). */
    customerId?: string | undefined;
  },
): Promise<{ orders: Order[]; hasMore: boolean }> {
  const page = [
    query.status ?? null,
    query.after?.createdAt ?? null,
    query.after?.id ?? null,
    query.limit + 1,
  ];
  const { rows } =
    query.customerId === undefined
      ? await db.query<OrderRow>(LIST_ORDERS, page)
      : await db.query<OrderRow>(LIST_CUSTOMER_ORDERS, [...page, query.customerId]);
  return { orders: rows.slice(0, query.limit).map(toOrder), hasMore: rows.length > query.limit };
}

export interface StatusChange {
  orderId: string;
  /** The status the order must be in for this change to apply (default pending). */
  fromStatus?: 'pending' | 'cancel_requested';
  status: Exclude<OrderStatus, 'pending'>;
  reason: string | null;
  /** Appended to the reason of a multi-line order (`out_of_stock: PROD-002 (5 wanted, 3 available)`). */
  detail?: string;
  messageId: string;
  messageType: string;
}

type StatusChangeOutcome =
  | { outcome: 'applied'; order: Order }
  | { outcome: 'duplicate' | 'already-final' | 'unknown-order' };

/** The batch as CHANGE_STATUS's $1 reads it; `n` is each change's position. */
function changeInput(changes: readonly StatusChange[]): string {
  return JSON.stringify(
    changes.map((c, n) => ({
      n,
      order_id: c.orderId,
      from_status: c.fromStatus ?? 'pending',
      status: c.status,
      reason: c.reason,
      detail: c.detail ?? null,
      message_id: c.messageId,
      type: c.messageType,
    })),
  );
}

type ChangeRow = Partial<OrderRow> & { n: number; known: boolean };

/** Each change's outcome, in order, from CHANGE_STATUS's rows (no row: its message was a duplicate). */
function changeOutcomes(changes: readonly StatusChange[], rows: readonly ChangeRow[]): StatusChangeOutcome[] {
  const byN = new Map(rows.map((r) => [r.n, r]));
  return changes.map((_, n): StatusChangeOutcome => {
    const row = byN.get(n);
    if (!row) return { outcome: 'duplicate' };
    if (row.id) return { outcome: 'applied', order: toOrder(row as OrderRow) };
    return { outcome: row.known ? 'already-final' : 'unknown-order' };
  });
}

/** How order intake writes: under which policy, on how many connections at once, how many orders per batch. */
export interface IntakeWriterOptions {
  /** The intake bulkhead: every batch (and every order of a split one) holds one of its slots. */
  policy: Executor;
  /** Batches in flight at once: intake's share of the pool. */
  connections: number;
  /** Most orders in one transaction (INTAKE_BATCH_MAX); 1: every order alone. */
  batchMax: number;
  onBatch?: (size: number, split: boolean) => void;
}

/**
 * Orders' coalescing writers, each a BatchingQueue: built once per runtime (createRuntime, `rt.writers.orders`),
 * since a queue coalesces only the calls that share it.
 */
export function ordersWriters(statements: Statements, intake: IntakeWriterOptions) {
  const placer = new BatchingQueue<PlaceOrderInput, PlaceOrderResult>(
    {
      many: (inputs) => intake.policy.execute(() => placeMany(statements, inputs)),
      one: (input) => intake.policy.execute(() => placeOne(statements, input)),
      splitAfter: batchRolledBack,
      concurrency: intake.connections,
      onBatch: intake.onBatch,
    },
    intake.batchMax,
  );
  const changeStatuses = async (changes: StatusChange[]): Promise<StatusChangeOutcome[]> => {
    const { rows } = await statements.run<ChangeRow>('orders.change_status', CHANGE_STATUS, [
      changeInput(changes),
    ]);
    return changeOutcomes(changes, rows);
  };
  const applier = new BatchingQueue({
    many: changeStatuses,
    one: async (one: StatusChange) => (await changeStatuses([one]))[0]!,
  });
  const storeFinal = async (responses: FinalResponse[]) => {
    await statements.run('orders.store_final_responses', STORE_FINAL_RESPONSES, [JSON.stringify(responses)]);
    return responses.map(() => undefined);
  };
  const responseStore = new BatchingQueue<FinalResponse, void>({
    many: storeFinal,
    one: async (one) => (await storeFinal([one]))[0],
    // One CHANGE_STATUS finishes a burst of orders at once; their waits end together and store together.
    gatherTurn: true,
  });
  return {
    /**
     * Places an order, exactly once per key: its row, key record and outbox row in one transaction. A lone order
     * runs at once in a transaction of its own; orders that arrive while every intake connection is busy are
     * written together by the next one that frees (group commit, never a wait to fill a batch). A batch that
     * meets any error, or a lock held past INTAKE_BATCH_LOCK_WAIT_MS, is split and each of its orders written
     * alone, exactly as a lone one.
     */
    placeOrder: (input: PlaceOrderInput): Promise<PlaceOrderResult> => placer.run(input),
    /**
     * Applies one result message, exactly once. Concurrent calls are coalesced like reservations: while one
     * statement runs, the next changes queue and go together in the next CHANGE_STATUS (one transaction, one
     * round trip, one commit); a lone change, or every change of a batch that failed, runs CHANGE_STATUS as a
     * batch of one.
     */
    applyStatusChange: (change: StatusChange): Promise<StatusChangeOutcome> => applier.run(change),
    /**
     * After a `Prefer: wait` saw the final status: a later replay returns what this client got. Concurrent calls
     * are coalesced into one STORE_FINAL_RESPONSES: one statement and one (asynchronous) commit per burst of
     * finished orders instead of one each; a batch that fails is tried key by key.
     */
    updateStoredResponse: async (
      key: { scope: string; key: string; orderId: string },
      status: number,
      body: unknown,
    ): Promise<void> => {
      await responseStore.run({
        scope: key.scope,
        key: key.key,
        order_id: key.orderId,
        status,
        body: JSON.stringify(body),
      });
    },
  };
}

export type OrdersWriters = ReturnType<typeof ordersWriters>;

/**
 * A dead-lettered result message: recorded with its error (the shared dead-letter helper) and, in one transaction,
 * its order failed with a reason — CHANGE_STATUS with a batch of one, claiming the message so it never applies
 * later. If this very message was already applied, its outcome stands; an order already final stays as it is.
 * Returns the order if this failed it.
 */
export async function recordDeadLetter(db: Database, letter: DeadLetter): Promise<Order | undefined> {
  return db.transaction(async (client) => {
    await insertDeadLetter(client, 'orders', QUEUES.orderStatus, letter);
    if (!letter.orderId) return undefined;
    // A StockReleased: the stock is back already and the order waits in cancel_requested. Unclaimed, so the
    // sweeper's re-ask (Inventory sends it again) or a redrive still finishes the cancel.
    if ((letter.body as { type?: unknown } | null)?.type === 'StockReleased') return undefined;
    const change: StatusChange = {
      orderId: letter.orderId,
      status: 'failed',
      reason: `status update failed: ${letter.error}`.slice(0, 500),
      // A message that carried no id at all is claimed under one per order: a second such one changes nothing.
      messageId: letter.messageId ?? `dead-letter:${letter.orderId}`,
      messageType: 'dead-letter',
    };
    const { rows } = await client.query<ChangeRow>(CHANGE_STATUS, [changeInput([change])]);
    const [outcome] = changeOutcomes([change], rows);
    return outcome?.outcome === 'applied' ? outcome.order : undefined;
  });
}

/**
 * The pending-order sweep (RESET_STALE_ORDER_PLACED): pending orders get their OrderPlaced again, orders whose
 * cancel is still requested their OrderCancelled.
 */
export async function resetStaleOrderPlaced(
  db: Database,
  input: {
    afterSeconds: number;
    limit: number;
    maxRelayAttempts: number;
    stuckIn?: 'pending' | 'cancel_requested';
  },
): Promise<WrittenMessages> {
  const stuckIn = input.stuckIn ?? 'pending';
  // The rows are handed back to be sent at once; like every writer's, they are not due for the relay meanwhile.
  const { rows } = await db.query<WrittenOutboxRow>(RESET_STALE_ORDER_PLACED, [
    input.afterSeconds,
    input.limit,
    input.maxRelayAttempts,
    messageIdFor(stuckIn === 'pending' ? 'OrderPlaced' : 'OrderCancelled', ''),
    RELAY_GRACE,
    stuckIn,
  ]);
  return writtenMessages(rows);
}

/** Why a cancel did or did not happen, and the order as it is after it. */
export type CancelOutcome =
  | ({ kind: 'requested' | 'already-requested'; order: Order } & WrittenMessages)
  | { kind: 'not-cancellable'; order: Order }
  | { kind: 'not-your-order' | 'unknown-order' };

export type CancelResult = { kind: 'done'; outcome: CancelOutcome } | KeyedOutcome;

export interface CancelInput {
  orderId: string;
  customerId: string | undefined;
  reason: string | undefined;
  message: OutgoingMessage;
  idempotency?: { scope: string; key: string; fingerprint: string; ttlHours: number };
  respond: (outcome: CancelOutcome) => { status: number; body: unknown };
}

/**
 * One transaction for a cancel: its Idempotency-Key (when it has one) claimed first, the cancel request
 * (REQUEST_CANCEL: status, status_changes row, OrderCancelled outbox row), and the response `respond` makes of it
 * stored under the key, so a retry replays exactly what this answered — unless it is a refusal before the cancel
 * started (403, 404), which gives the key back.
 */
export function requestCancel(db: Database, input: CancelInput): Promise<CancelResult> {
  return inFlightOnLockTimeout(() => cancelInTransaction(db, input));
}

async function cancelInTransaction(db: Database, input: CancelInput): Promise<CancelResult> {
  return db.transaction(async (client): Promise<CancelResult> => {
    const key = input.idempotency;
    if (key) {
      const claimed = await client.query(CLAIM_CANCEL_KEY, [
        key.scope,
        key.key,
        key.fingerprint,
        input.orderId,
        key.ttlHours,
        `${IN_FLIGHT_WAIT_MS}ms`,
      ]);
      if (claimed.rows.length === 0) {
        const { rows } = await client.query<{
          fingerprint: string;
          response_status: number;
          response_body: string;
          order_id: string | null;
        }>(STORED_RESPONSE, [key.scope, key.key]);
        const row = rows[0];
        if (!row) throw new Error(`idempotency record ${key.key} vanished while being read`);
        return replayOrConflict(row, key.fingerprint);
      }
    }
    const { rows } = await client.query<
      WrittenOutboxRow & { was: OrderStatus; customer_id: string; changed: boolean }
    >(REQUEST_CANCEL, [
      input.orderId,
      input.customerId ?? null,
      input.reason ?? null,
      input.message.queue,
      JSON.stringify(input.message.envelope),
      RELAY_GRACE,
    ]);
    const row = rows[0];
    let outcome: CancelOutcome;
    if (!row) outcome = { kind: 'unknown-order' };
    else if (input.customerId !== undefined && row.customer_id !== input.customerId) {
      outcome = { kind: 'not-your-order' };
    } else {
      const found = await client.query<OrderRow>(FIND_ORDER, [input.orderId]);
      const order = toOrder(found.rows[0]!);
      if (row.changed) outcome = { kind: 'requested', order, ...writtenMessages(rows) };
      else if (row.was === 'cancel_requested') {
        outcome = { kind: 'already-requested', order, outboxIds: [], messages: [] };
      } else outcome = { kind: 'not-cancellable', order };
    }
    const response = input.respond(outcome);
    if (key && !bindsIdempotencyKey(response.status)) {
      await client.query(RELEASE_CANCEL_KEY, [key.scope, key.key]);
    } else if (key) {
      await client.query(STORE_CANCEL_RESPONSE, [
        key.scope,
        key.key,
        response.status,
        JSON.stringify(response.body),
      ]);
    }
    return { kind: 'done', outcome };
  });
}
