import type { Queryable } from '../../shared/db/pool.js';

/**
 * The pipeline invariants, checked on what the database holds after a chaos run (read once into a snapshot,
 * then judged by small pure functions). The one checker, the tests' oracle: the tests (test/support/invariants.ts,
 * test/integration/chaos-invariants.test.ts) and `npm run chaos` (tools/chaos.ts imports it) all read the database
 * through readSnapshot. Every order of a chaos run is sent with its own Idempotency-Key and its own customer id,
 * which is what makes "no duplicate order" checkable independently of the key records.
 */

export interface Line {
  productId: string;
  quantity: number;
}

export interface OrderRecord {
  id: string;
  customerId: string;
  productId: string;
  quantity: number;
  lines: Line[];
  status: 'pending' | 'shipped' | 'rejected' | 'failed' | 'cancel_requested' | 'cancelled';
  reason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ReservationRecord {
  orderId: string;
  /** Every line decided ([] for the 'cancelled' mark of a cancel that overtook its order). */
  lines: Line[];
  result: string;
  /** When a cancel gave this reservation's stock back. */
  releasedAt: Date | null;
  createdAt: Date;
}

export interface DbSnapshot {
  orders: OrderRecord[];
  statusChanges: { orderId: string; fromStatus?: string; toStatus: string }[];
  reservations: ReservationRecord[];
  idempotencyKeys: { key: string; orderId: string | null }[];
  stock: Record<string, number>;
  deadLetters: { orders: number; inventory: number };
}

/** What the checker needs to know about each client (tools/chaos/driver.ts's ClientOutcome is one). */
export interface ClientView {
  key: string;
  body: { customerId: string; lines: Line[] };
  /** accepted: 2xx with an order; refused: a final 4xx; the rest: no final answer. */
  result: 'accepted' | 'refused' | 'gave-up' | 'aborted' | 'not-sent';
  orderId?: string | undefined;
  orderIdsSeen: string[];
  cancel?: { result: 'accepted' | 'refused' | 'gave-up' | 'aborted'; status: number } | undefined;
}

export type InvariantId =
  | 'every-order-final'
  | 'stock-exact'
  | 'stock-accounted'
  | 'one-status-change'
  | 'reservations-match'
  | 'cancel-honoured'
  | 'no-order-lost'
  | 'no-duplicate-order'
  | 'replay-returns-original';

export interface InvariantResult {
  id: InvariantId;
  title: string;
  pass: boolean;
  /** What was looked at, e.g. "120 orders, 5 products". */
  checked: string;
  violationCount: number;
  /** The first violations, each a readable sentence. */
  violations: string[];
}

const MAX_LISTED_VIOLATIONS = 50;
const FINAL = new Set(['shipped', 'rejected', 'failed', 'cancelled']);
/** The status histories an order may have (status_changes' to_status, in order). */
const VALID_HISTORIES = new Set([
  '',
  'shipped',
  'rejected',
  'failed',
  'cancel_requested',
  'shipped>cancel_requested',
  'cancel_requested>cancelled',
  'shipped>cancel_requested>cancelled',
]);
/** A reason's code (a multi-line rejection names its short lines after it: `out_of_stock: PROD-002 …`). */
const reasonCode = (reason: string | null) => (reason ?? '').split(':')[0];
const sumOf = (lines: readonly Line[], into: Map<string, number>, sign = 1) => {
  for (const l of lines) into.set(l.productId, (into.get(l.productId) ?? 0) + sign * l.quantity);
};
const describe = (lines: readonly Line[]) => lines.map((l) => `${l.quantity} × ${l.productId}`).join(' + ');
const sameLines = (a: readonly Line[], b: readonly Line[]) =>
  a.length === b.length &&
  a.every((l, i) => l.productId === b[i]?.productId && l.quantity === b[i]?.quantity);

/**
 * Reads everything the invariants are about in one REPEATABLE READ transaction, so the tables agree with each
 * other even if the pipeline is still moving (a run cut short by its duration limit). `db` must be ONE
 * connection (a pg Client or a checked-out PoolClient), not a Pool.
 */
export async function readSnapshot(db: Queryable): Promise<DbSnapshot> {
  await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const snapshot = await readTables(db);
    await db.query('COMMIT');
    return snapshot;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

async function readTables(db: Queryable): Promise<DbSnapshot> {
  const orders = await db.query<{
    id: string;
    customer_id: string;
    product_id: string;
    quantity: number;
    lines: Line[];
    status: OrderRecord['status'];
    reason: string | null;
    created_at: Date;
    updated_at: Date;
  }>(
    `SELECT id, customer_id, product_id, quantity, status, reason, created_at, updated_at,
            coalesce(lines, jsonb_build_array(jsonb_build_object('productId', product_id, 'quantity', quantity)))
              AS lines
       FROM orders.orders ORDER BY created_at, id`,
  );
  const changes = await db.query<{ order_id: string; from_status: string; to_status: string }>(
    'SELECT order_id, from_status, to_status FROM orders.status_changes ORDER BY order_id, changed_at',
  );
  const reservations = await db.query<{
    order_id: string;
    lines: Line[];
    result: string;
    released_at: Date | null;
    created_at: Date;
  }>(
    `SELECT order_id, result, released_at, created_at,
            coalesce(lines, jsonb_build_array(jsonb_build_object('productId', product_id, 'quantity', quantity)))
              AS lines
       FROM inventory.reservations ORDER BY order_id`,
  );
  const keys = await db.query<{ key: string; order_id: string | null }>(
    // A cancel's key (scope cancel:<order id>) belongs to the order's cancel, not to placing it.
    "SELECT key, order_id FROM orders.idempotency_keys WHERE scope NOT LIKE 'cancel:%' ORDER BY key",
  );
  const stock = await db.query<{ product_id: string; available: number }>(
    'SELECT product_id, available FROM inventory.products ORDER BY product_id',
  );
  const dead = await db.query<{ orders: number; inventory: number }>(
    `SELECT (SELECT count(*) FROM orders.dead_letters)::int AS orders,
            (SELECT count(*) FROM inventory.dead_letters)::int AS inventory`,
  );
  return {
    orders: orders.rows.map((r) => ({
      id: r.id,
      customerId: r.customer_id,
      productId: r.product_id,
      quantity: r.quantity,
      lines: r.lines,
      status: r.status,
      reason: r.reason,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    })),
    statusChanges: changes.rows.map((r) => ({
      orderId: r.order_id,
      fromStatus: r.from_status,
      toStatus: r.to_status,
    })),
    reservations: reservations.rows.map((r) => ({
      orderId: r.order_id,
      lines: r.lines,
      result: r.result,
      releasedAt: r.released_at,
      createdAt: r.created_at,
    })),
    idempotencyKeys: keys.rows.map((r) => ({ key: r.key, orderId: r.order_id })),
    stock: Object.fromEntries(stock.rows.map((r) => [r.product_id, r.available])),
    deadLetters: dead.rows[0] ?? { orders: 0, inventory: 0 },
  };
}

/** The counts the pipeline tests assert on, drawn from a snapshot (test/support/invariants.ts). */
export interface PipelineState {
  /** Orders not final yet: pending, or cancel_requested (waiting for Inventory's StockReleased). */
  pending: number;
  byStatus: Record<string, number>;
  /** product → stock decrease since the seed */
  decrease: Record<string, number>;
  /** product → quantity of shipped orders (every line) */
  shippedQuantity: Record<string, number>;
  /** product → quantity reserved, and given back by cancels, according to Inventory's reservations */
  reserved: Record<string, number>;
  released: Record<string, number>;
  /** Orders with more than one decision (shipped | rejected | failed) or a status history no path allows. */
  ordersWithSeveralStatusChanges: number;
  ordersWithSeveralReservations: number;
  /** Reservations holding stock (reserved, not released) whose order is not shipped. */
  reservedWithoutShippedOrder: number;
}

export function pipelineState(s: DbSnapshot, startingStock: Readonly<Record<string, number>>): PipelineState {
  const byStatus: Record<string, number> = {};
  const shipped = new Map<string, number>();
  const shippedOrders = new Set<string>();
  for (const o of s.orders) {
    byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
    if (o.status !== 'shipped') continue;
    sumOf(o.lines, shipped);
    shippedOrders.add(o.id);
  }
  const reserved = new Map<string, number>();
  const released = new Map<string, number>();
  for (const r of s.reservations) {
    if (r.result !== 'reserved') continue;
    sumOf(r.lines, reserved);
    if (r.releasedAt) sumOf(r.lines, released);
  }
  const several = (groups: Map<string, unknown[]>) => [...groups.values()].filter((g) => g.length > 1).length;
  const perProduct = (m: Map<string, number>) =>
    Object.fromEntries(Object.keys(startingStock).map((p) => [p, m.get(p) ?? 0]));
  return {
    pending: (byStatus.pending ?? 0) + (byStatus.cancel_requested ?? 0),
    byStatus,
    decrease: Object.fromEntries(
      Object.entries(s.stock).map(([product, now]) => [product, (startingStock[product] ?? 0) - now]),
    ),
    shippedQuantity: perProduct(shipped),
    reserved: perProduct(reserved),
    released: perProduct(released),
    ordersWithSeveralStatusChanges: invalidHistories(s).length,
    ordersWithSeveralReservations: several(groupBy(s.reservations, (r) => r.orderId)),
    reservedWithoutShippedOrder: s.reservations.filter(
      (r) => r.result === 'reserved' && !r.releasedAt && !shippedOrders.has(r.orderId),
    ).length,
  };
}

/**
 * An order's changes in the order they happened: followed from pending through each change's from_status (a
 * change's timestamp is its transaction's start, which a change that waited for the row's lock predates). A change
 * left off the chain is kept at the end, so the path shows it and is invalid.
 */
function chain(changes: readonly { fromStatus?: string; toStatus: string }[]): string[] {
  if (changes.some((c) => c.fromStatus === undefined)) return changes.map((c) => c.toStatus);
  const left = [...changes];
  const path: string[] = [];
  let at = 'pending';
  for (;;) {
    const i = left.findIndex((c) => c.fromStatus === at);
    if (i < 0) break;
    at = left.splice(i, 1)[0]!.toStatus;
    path.push(at);
  }
  return [...path, ...left.map((c) => c.toStatus)];
}

/** Orders whose status_changes are not a path the pipeline allows, or do not end at the order's status. */
function invalidHistories(s: DbSnapshot): string[] {
  const byOrder = groupBy(s.statusChanges, (c) => c.orderId);
  const violations: string[] = [];
  for (const o of s.orders) {
    const path = chain(byOrder.get(o.id) ?? []);
    const history = path.join('>');
    if (!VALID_HISTORIES.has(history)) {
      violations.push(`order ${o.id} has the status changes ${history.replaceAll('>', ' → ') || 'none'}`);
    } else if ((path.at(-1) ?? 'pending') !== o.status) {
      violations.push(
        `order ${o.id} is ${o.status} but its last status change says ${path.at(-1) ?? 'none'}`,
      );
    }
  }
  return violations;
}

/** Reads the database (one connection, see readSnapshot) and judges every invariant. */
export async function checkInvariants(
  db: Queryable,
  input: { startingStock: Record<string, number>; clients: readonly ClientView[] },
): Promise<{ snapshot: DbSnapshot; results: InvariantResult[] }> {
  const snapshot = await readSnapshot(db);
  return { snapshot, results: judge(snapshot, input) };
}

function judge(
  snapshot: DbSnapshot,
  input: { startingStock: Record<string, number>; clients: readonly ClientView[] },
): InvariantResult[] {
  return [
    everyOrderFinal(snapshot),
    stockExact(snapshot, input.startingStock),
    stockAccounted(snapshot, input.startingStock),
    oneStatusChange(snapshot),
    reservationsMatch(snapshot),
    cancelHonoured(snapshot, input.clients),
    noOrderLost(snapshot, input.clients),
    noDuplicateOrder(snapshot, input.clients),
  ];
}

function result(id: InvariantId, title: string, checked: string, violations: string[]): InvariantResult {
  return {
    id,
    title,
    pass: violations.length === 0,
    checked,
    violationCount: violations.length,
    violations: violations.slice(0, MAX_LISTED_VIOLATIONS),
  };
}

function everyOrderFinal(s: DbSnapshot): InvariantResult {
  const pending = s.orders.filter((o) => !FINAL.has(o.status));
  return result(
    'every-order-final',
    'Every order is final (shipped, rejected, failed or cancelled)',
    `${s.orders.length} orders in the database`,
    pending.map((o) => `order ${o.id} (${describe(o.lines)}) is still ${o.status}`),
  );
}

function stockExact(s: DbSnapshot, startingStock: Record<string, number>): InvariantResult {
  const shipped = new Map<string, number>();
  for (const o of s.orders) if (o.status === 'shipped') sumOf(o.lines, shipped);
  // Context for a violation: stock held for orders whose status has not caught up (a run cut short).
  const status = new Map(s.orders.map((o) => [o.id, o.status]));
  const heldForUnfinished = new Map<string, number>();
  for (const r of s.reservations) {
    const st = status.get(r.orderId);
    if (r.result === 'reserved' && !r.releasedAt && (st === 'pending' || st === 'cancel_requested')) {
      sumOf(r.lines, heldForUnfinished);
    }
  }
  const violations: string[] = [];
  const products = new Set([...Object.keys(startingStock), ...Object.keys(s.stock), ...shipped.keys()]);
  for (const product of [...products].sort()) {
    const start = startingStock[product];
    const now = s.stock[product];
    const out = shipped.get(product) ?? 0;
    if (start === undefined || now === undefined) {
      const where = start === undefined ? 'was not in the starting stock' : 'is no longer in inventory';
      violations.push(`${product} ${where} (shipped ${out})`);
      continue;
    }
    if (start - now !== out) {
      const held = heldForUnfinished.get(product);
      violations.push(
        `${product}: stock went ${start} → ${now} (decrease ${start - now}) but shipped orders total ${out}${
          held ? ` (${held} held for orders not final yet)` : ''
        }`,
      );
    }
  }
  return result(
    'stock-exact',
    'Per product, starting stock − current stock = quantity of shipped orders (every line), exactly',
    `${Object.keys(startingStock).length} products`,
    violations,
  );
}

/** Inventory's own books: what it reserved and what cancels gave back explain its stock, product by product. */
function stockAccounted(s: DbSnapshot, startingStock: Record<string, number>): InvariantResult {
  const reserved = new Map<string, number>();
  const released = new Map<string, number>();
  for (const r of s.reservations) {
    if (r.result !== 'reserved') continue;
    sumOf(r.lines, reserved);
    if (r.releasedAt) sumOf(r.lines, released);
  }
  const violations: string[] = [];
  for (const product of Object.keys(startingStock).sort()) {
    const start = startingStock[product]!;
    const now = s.stock[product];
    const taken = reserved.get(product) ?? 0;
    const back = released.get(product) ?? 0;
    if (now !== start - taken + back) {
      violations.push(
        `${product}: ${start} − ${taken} reserved + ${back} released = ${start - taken + back}, but ${now ?? 'no'} available`,
      );
    }
  }
  const totalBack = [...released.values()].reduce((a, b) => a + b, 0);
  return result(
    'stock-accounted',
    'Per product, starting stock − reserved + released = available',
    `${Object.keys(startingStock).length} products, ${totalBack} units released by cancels`,
    violations,
  );
}

function oneStatusChange(s: DbSnapshot): InvariantResult {
  return result(
    'one-status-change',
    'One decision per order; status changes follow the allowed paths (… → cancel requested → cancelled)',
    `${s.statusChanges.length} status changes for ${s.orders.length} orders`,
    invalidHistories(s),
  );
}

function reservationsMatch(s: DbSnapshot): InvariantResult {
  const orders = new Map(s.orders.map((o) => [o.id, o]));
  const byOrder = groupBy(s.reservations, (r) => r.orderId);
  const violations: string[] = [];
  for (const [orderId, rows] of byOrder) {
    if (rows.length > 1) violations.push(`order ${orderId} has ${rows.length} reservations`);
    const order = orders.get(orderId);
    for (const r of rows) {
      if (!order) {
        violations.push(`reservation (${r.result}, ${describe(r.lines)}) for unknown order ${orderId}`);
        continue;
      }
      if (r.result === 'cancelled') {
        if (order.status !== 'cancelled' && order.status !== 'cancel_requested') {
          violations.push(
            `order ${orderId} is ${order.status} but Inventory has it as cancelled before placed`,
          );
        }
        continue;
      }
      if (!sameLines(r.lines, order.lines)) {
        violations.push(
          `order ${orderId} is ${describe(order.lines)} but its reservation says ${describe(r.lines)}`,
        );
      }
      if (r.result === 'reserved' && r.releasedAt && order.status !== 'cancelled') {
        violations.push(`order ${orderId} had its stock released but is ${order.status}`);
      }
      if (r.result === 'reserved' && !r.releasedAt && order.status !== 'shipped') {
        violations.push(
          `order ${orderId} holds stock (reserved ${describe(r.lines)}) but is ${order.status}`,
        );
      }
    }
  }
  for (const o of s.orders) {
    const rows = byOrder.get(o.id) ?? [];
    if (o.status === 'shipped' && !rows.some((r) => r.result === 'reserved' && !r.releasedAt)) {
      violations.push(`order ${o.id} is shipped without a reservation holding its stock`);
    }
    if (o.status === 'rejected' && !rows.some((r) => r.result === reasonCode(o.reason))) {
      const seen = rows.map((r) => r.result).join(', ') || 'none';
      violations.push(`order ${o.id} is rejected (${o.reason}) but its reservation says ${seen}`);
    }
    if (o.status === 'cancelled' && rows.length === 0) {
      violations.push(`order ${o.id} is cancelled but Inventory never saw its cancel`);
    }
  }
  const reserved = s.reservations.filter((r) => r.result === 'reserved');
  return result(
    'reservations-match',
    'One reservation per order, with its lines; stock held exactly for shipped orders, released for cancelled ones',
    `${s.reservations.length} reservations (${reserved.length} reserved, ${reserved.filter((r) => r.releasedAt).length} released)`,
    violations,
  );
}

/** Every cancel a client got 202 for ended cancelled, with no stock held; a 409 was for an order that could not be. */
function cancelHonoured(s: DbSnapshot, clients: readonly ClientView[]): InvariantResult {
  const orders = new Map(s.orders.map((o) => [o.id, o]));
  const violations: string[] = [];
  let asked = 0;
  for (const c of clients) {
    if (!c.cancel || !c.orderId) continue;
    asked++;
    const order = orders.get(c.orderId);
    if (!order) continue; // no-order-lost reports it
    if (c.cancel.result === 'accepted' && order.status !== 'cancelled') {
      violations.push(`client ${c.key}: its cancel was accepted but order ${order.id} is ${order.status}`);
    }
    if (
      c.cancel.result === 'refused' &&
      c.cancel.status === 409 &&
      !['rejected', 'failed'].includes(order.status)
    ) {
      violations.push(`client ${c.key}: its cancel got 409 but order ${order.id} is ${order.status}`);
    }
  }
  const cancelled = s.orders.filter((o) => o.status === 'cancelled').length;
  return result(
    'cancel-honoured',
    'Every accepted cancel ends cancelled; only rejected or failed orders refuse one (409)',
    `${asked} cancels sent, ${cancelled} orders cancelled`,
    violations,
  );
}

function noOrderLost(s: DbSnapshot, clients: readonly ClientView[]): InvariantResult {
  const orders = new Map(s.orders.map((o) => [o.id, o]));
  const keys = new Map(s.idempotencyKeys.map((k) => [k.key, k.orderId]));
  const violations: string[] = [];
  for (const c of clients) {
    for (const id of c.orderIdsSeen) {
      if (!orders.has(id)) violations.push(`client ${c.key} was given order ${id}, which does not exist`);
    }
    if (c.result !== 'accepted') continue;
    if (!c.orderId) {
      violations.push(`client ${c.key} was accepted without an order id`);
      continue;
    }
    const stored = keys.get(c.key);
    if (stored === undefined) {
      violations.push(`client ${c.key} got 2xx (order ${c.orderId}) but its key has no idempotency record`);
    } else if (stored !== c.orderId) {
      violations.push(`client ${c.key} got order ${c.orderId} but its key maps to order ${stored}`);
    }
    const order = orders.get(c.orderId);
    if (order && (order.customerId !== c.body.customerId || !sameLines(order.lines, c.body.lines))) {
      violations.push(
        `client ${c.key} asked for ${describe(c.body.lines)} but order ${c.orderId} is ${describe(order.lines)} for ${order.customerId}`,
      );
    }
  }
  const accepted = clients.filter((c) => c.result === 'accepted').length;
  return result(
    'no-order-lost',
    'No order lost: every order id a client got exists, every 2xx maps to exactly one order',
    `${accepted} accepted clients, ${clients.length} clients in all`,
    violations,
  );
}

function noDuplicateOrder(s: DbSnapshot, clients: readonly ClientView[]): InvariantResult {
  const violations: string[] = [];
  for (const c of clients) {
    if (c.orderIdsSeen.length > 1) {
      violations.push(
        `client ${c.key} was given ${c.orderIdsSeen.length} orders: ${c.orderIdsSeen.join(', ')}`,
      );
    }
  }
  const byCustomer = groupBy(s.orders, (o) => o.customerId);
  for (const c of clients) {
    const mine = byCustomer.get(c.body.customerId) ?? [];
    if (mine.length > 1) {
      violations.push(
        `client ${c.key} (one request) has ${mine.length} orders: ${mine.map((o) => o.id).join(', ')}`,
      );
    }
  }
  const keysPerOrder = new Map<string, string[]>();
  for (const k of s.idempotencyKeys) {
    if (k.orderId === null) continue;
    keysPerOrder.set(k.orderId, [...(keysPerOrder.get(k.orderId) ?? []), k.key]);
  }
  const orderIds = new Set(s.orders.map((o) => o.id));
  for (const [orderId, keys] of keysPerOrder) {
    if (keys.length > 1) violations.push(`order ${orderId} is claimed by ${keys.length} keys`);
    if (!orderIds.has(orderId))
      violations.push(`key ${keys[0]} points at order ${orderId}, which does not exist`);
  }
  for (const o of s.orders) {
    if (!keysPerOrder.has(o.id)) {
      violations.push(
        `order ${o.id} (customer ${o.customerId}) has no idempotency key: created outside a key`,
      );
    }
  }
  return result(
    'no-duplicate-order',
    'Idempotency: one order per key and per request; a client that retried always got the same order',
    `${s.idempotencyKeys.length} idempotency keys, ${s.orders.length} orders`,
    violations,
  );
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = groups.get(key);
    if (list) list.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

/** The replay probe: each accepted key, asked again after the run, replays its own order. */
export function replayReturnsOriginal(
  probes: readonly {
    key: string;
    expectedOrderId: string;
    status: number;
    replayed: boolean;
    orderId?: string;
    /** Not asked (or cut off) because the duration limit came first: not a violation. */
    skipped?: boolean;
  }[],
): InvariantResult {
  const violations: string[] = [];
  for (const p of probes) {
    if (p.skipped) continue;
    if (p.status === 0) violations.push(`key ${p.key}: no answer to the replay probe`);
    else if (p.status < 200 || p.status >= 300 || !p.replayed || p.orderId !== p.expectedOrderId) {
      violations.push(
        `key ${p.key}: expected a replay of order ${p.expectedOrderId}, got ${p.status}${p.replayed ? ' (replayed)' : ''} with order ${p.orderId ?? 'none'}`,
      );
    }
  }
  return result(
    'replay-returns-original',
    'Asked again after the run, every accepted key replays its original order',
    `${probes.filter((p) => !p.skipped).length} of ${probes.length} accepted keys re-sent${
      probes.some((p) => p.skipped) ? ' (the rest: duration limit reached)' : ''
    }`,
    violations,
  );
}
