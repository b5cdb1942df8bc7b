import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SEED_STOCK } from '../../shared/seed-catalog.js';
import {
  type ClientView,
  checkInvariants,
  type InvariantId,
  replayReturnsOriginal,
} from '../support/invariant-oracle.js';
import { type TestDatabase, testDatabase } from '../support/test-database.js';

// The chaos run's invariant checker, on hand-made database states: a consistent one passes every check, and each
// invariant is broken once (and only that one fails), so that no check can pass vacuously.

let database: TestDatabase;
// One connection: the embedded server serves a single session.
let client: pg.Client;

beforeAll(async () => {
  database = await testDatabase();
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await database?.drop();
});

interface Fixture {
  ids: { shipped: string; outOfStock: string; unknown: string; failed: string };
  clients: ClientView[];
}

let fx: Fixture;

async function insertOrder(o: {
  id: string;
  customer: string;
  product: string;
  quantity: number;
  status: string;
  reason?: string | null;
  key?: string;
}): Promise<void> {
  await client.query(
    `INSERT INTO orders.orders (id, customer_id, product_id, quantity, status, reason)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [o.id, o.customer, o.product, o.quantity, o.status, o.reason ?? null],
  );
  if (o.status !== 'pending') {
    await client.query(
      `INSERT INTO orders.status_changes (order_id, from_status, to_status, reason, message_id)
       VALUES ($1, 'pending', $2, $3, $4)`,
      [o.id, o.status, o.reason ?? null, `msg-${o.id}`],
    );
  }
  if (o.key) {
    await client.query(
      `INSERT INTO orders.idempotency_keys (scope, key, fingerprint, response_status, response_body, order_id, expires_at)
       VALUES ($3, $1, 'fp', 202, '{}', $2, now() + interval '1 day')`,
      [o.key, o.id, o.customer],
    );
  }
}

async function insertReservation(orderId: string, product: string, quantity: number, result: string) {
  await client.query(
    `INSERT INTO inventory.reservations (order_id, product_id, quantity, result, message_id)
     VALUES ($1, $2, $3, $4, $5)`,
    [orderId, product, quantity, result, `OrderPlaced-${orderId}`],
  );
}

function acceptedClient(key: string, customerId: string, productId: string, quantity: number, id: string) {
  return {
    key,
    body: { customerId, lines: [{ productId, quantity }] },
    result: 'accepted' as const,
    orderId: id,
    orderIdsSeen: [id],
  };
}

/** A consistent end state: shipped, rejected (both reasons) and failed orders, plus a client that gave up. */
async function consistentState(): Promise<Fixture> {
  await client.query(
    `TRUNCATE orders.status_changes, orders.idempotency_keys, orders.orders, inventory.reservations,
              orders.dead_letters, inventory.dead_letters`,
  );
  for (const [product, available] of Object.entries(SEED_STOCK)) {
    await client.query('UPDATE inventory.products SET available = $2 WHERE product_id = $1', [
      product,
      available,
    ]);
  }
  const ids = {
    shipped: randomUUID(),
    outOfStock: randomUUID(),
    unknown: randomUUID(),
    failed: randomUUID(),
  };
  await insertOrder({
    id: ids.shipped,
    customer: 'c-a',
    product: 'PROD-001',
    quantity: 2,
    status: 'shipped',
    key: 'k-a',
  });
  await insertReservation(ids.shipped, 'PROD-001', 2, 'reserved');
  await client.query(`UPDATE inventory.products SET available = available - 2 WHERE product_id = 'PROD-001'`);
  await insertOrder({
    id: ids.outOfStock,
    customer: 'c-b',
    product: 'PROD-004',
    quantity: 60,
    status: 'rejected',
    reason: 'out_of_stock',
    key: 'k-b',
  });
  await insertReservation(ids.outOfStock, 'PROD-004', 60, 'out_of_stock');
  await insertOrder({
    id: ids.unknown,
    customer: 'c-c',
    product: 'PROD-404',
    quantity: 1,
    status: 'rejected',
    reason: 'unknown_product',
    key: 'k-c',
  });
  await insertReservation(ids.unknown, 'PROD-404', 1, 'unknown_product');
  await insertOrder({
    id: ids.failed,
    customer: 'c-d',
    product: 'PROD-002',
    quantity: 1,
    status: 'failed',
    reason: 'inventory gave up: poison',
    key: 'k-d',
  });
  const clients: ClientView[] = [
    acceptedClient('k-a', 'c-a', 'PROD-001', 2, ids.shipped),
    acceptedClient('k-b', 'c-b', 'PROD-004', 60, ids.outOfStock),
    acceptedClient('k-c', 'c-c', 'PROD-404', 1, ids.unknown),
    acceptedClient('k-d', 'c-d', 'PROD-002', 1, ids.failed),
    {
      key: 'k-e',
      body: { customerId: 'c-e', lines: [{ productId: 'PROD-003', quantity: 1 }] },
      result: 'gave-up',
      orderIdsSeen: [],
    },
  ];
  return { ids, clients };
}

async function failing(clients: ClientView[] = fx.clients): Promise<InvariantId[]> {
  const { results } = await checkInvariants(client, { startingStock: SEED_STOCK, clients });
  return results.filter((r) => !r.pass).map((r) => r.id);
}

beforeEach(async () => {
  fx = await consistentState();
});

describe('chaos invariant checker', () => {
  it('passes every invariant on a consistent state', async () => {
    const { results, snapshot } = await checkInvariants(client, {
      startingStock: SEED_STOCK,
      clients: fx.clients,
    });
    expect(results.map((r) => [r.id, r.pass, r.violations])).toEqual([
      ['every-order-final', true, []],
      ['stock-exact', true, []],
      ['stock-accounted', true, []],
      ['one-status-change', true, []],
      ['reservations-match', true, []],
      ['cancel-honoured', true, []],
      ['no-order-lost', true, []],
      ['no-duplicate-order', true, []],
    ]);
    expect(snapshot.orders).toHaveLength(4);
    expect(snapshot.stock['PROD-001']).toBe(98);
  });

  it('every-order-final: an accepted order left pending', async () => {
    const id = randomUUID();
    await insertOrder({
      id,
      customer: 'c-p',
      product: 'PROD-003',
      quantity: 1,
      status: 'pending',
      key: 'k-p',
    });
    const clients = [...fx.clients, acceptedClient('k-p', 'c-p', 'PROD-003', 1, id)];
    expect(await failing(clients)).toEqual(['every-order-final']);
  });

  it('stock-exact: one unit decremented more than was shipped', async () => {
    await client.query(`UPDATE inventory.products SET available = 97 WHERE product_id = 'PROD-001'`);
    const { results } = await checkInvariants(client, { startingStock: SEED_STOCK, clients: fx.clients });
    // Inventory's own books do not explain it either.
    expect(results.filter((r) => !r.pass).map((r) => r.id)).toEqual(['stock-exact', 'stock-accounted']);
    expect(results[1]!.violations[0]).toMatch(
      /PROD-001: stock went 100 → 97 \(decrease 3\) but shipped orders total 2/,
    );
  });

  it('one-status-change: an order that changed status twice', async () => {
    await client.query(
      `INSERT INTO orders.status_changes (order_id, from_status, to_status, reason, message_id)
       VALUES ($1, 'pending', 'failed', 'late', 'msg-late')`,
      [fx.ids.shipped],
    );
    expect(await failing()).toEqual(['one-status-change']);
  });

  it('reservations-match: a reservation whose quantity is not the shipped order’s', async () => {
    await client.query('UPDATE inventory.reservations SET quantity = 3 WHERE order_id = $1', [
      fx.ids.shipped,
    ]);
    // Inventory's books then disagree with its stock too.
    expect(await failing()).toEqual(['stock-accounted', 'reservations-match']);
  });

  it('no-order-lost: a client was given an order id the database does not have', async () => {
    const ghost = randomUUID();
    const clients = [...fx.clients, acceptedClient('k-x', 'c-x', 'PROD-005', 1, ghost)];
    expect(await failing(clients)).toEqual(['no-order-lost']);
  });

  it('no-duplicate-order: one request became two orders', async () => {
    await insertOrder({
      id: randomUUID(),
      customer: 'c-a',
      product: 'PROD-001',
      quantity: 2,
      status: 'failed',
      reason: 'x',
    });
    expect(await failing()).toEqual(['no-duplicate-order']);
  });

  it('no-duplicate-order: a client that retried was given two different orders', async () => {
    const clients = fx.clients.map((c) =>
      c.key === 'k-a' ? { ...c, orderIdsSeen: [fx.ids.shipped, fx.ids.outOfStock] } : c,
    );
    expect(await failing(clients)).toEqual(['no-duplicate-order']);
  });
});

describe('cancellation', () => {
  it('a shipped order cancelled: its stock released, placed → shipped → cancel requested → cancelled', async () => {
    await client.query(`UPDATE orders.orders SET status = 'cancelled' WHERE id = $1;`, [fx.ids.shipped]);
    await client.query(
      `INSERT INTO orders.status_changes (order_id, from_status, to_status, message_id)
       VALUES ($1, 'shipped', 'cancel_requested', 'c1'), ($1, 'cancel_requested', 'cancelled', 'c2')`,
      [fx.ids.shipped],
    );
    await client.query('UPDATE inventory.reservations SET released_at = now() WHERE order_id = $1', [
      fx.ids.shipped,
    ]);
    const clients = fx.clients.map((c) =>
      c.key === 'k-a' ? { ...c, cancel: { result: 'accepted' as const, status: 202 } } : c,
    );
    // Not released yet: the books and the order disagree.
    expect(await failing(clients)).toEqual(['stock-exact', 'stock-accounted']);
    await client.query(`UPDATE inventory.products SET available = 100 WHERE product_id = 'PROD-001'`);
    expect(await failing(clients)).toEqual([]);
  });

  it('cancel-honoured: an accepted cancel whose order still shipped', async () => {
    const clients = fx.clients.map((c) =>
      c.key === 'k-a' ? { ...c, cancel: { result: 'accepted' as const, status: 202 } } : c,
    );
    expect(await failing(clients)).toEqual(['cancel-honoured']);
  });

  it('stock-accounted: a release that gave back more than was reserved', async () => {
    await client.query(
      `UPDATE inventory.products SET available = available + 1 WHERE product_id = 'PROD-003'`,
    );
    expect(await failing()).toEqual(['stock-exact', 'stock-accounted']);
  });
});

describe('replay probe', () => {
  const id = randomUUID();
  it('passes when every key replays its own order', () => {
    expect(
      replayReturnsOriginal([{ key: 'k', expectedOrderId: id, status: 202, replayed: true, orderId: id }])
        .pass,
    ).toBe(true);
  });
  it('does not count keys the duration limit left unasked', () => {
    const result = replayReturnsOriginal([
      { key: 'k', expectedOrderId: id, status: 0, replayed: false, skipped: true },
    ]);
    expect(result.pass).toBe(true);
    expect(result.checked).toMatch(/0 of 1 .*duration limit/);
  });
  it.each([
    ['another order', { status: 202, replayed: true, orderId: randomUUID() }],
    ['a fresh (not replayed) answer', { status: 202, replayed: false, orderId: id }],
    ['an error', { status: 500, replayed: false }],
    ['no answer', { status: 0, replayed: false }],
  ])('fails on %s', (_name, answer) => {
    const result = replayReturnsOriginal([{ key: 'k', expectedOrderId: id, ...answer }]);
    expect(result.pass).toBe(false);
    expect(result.violationCount).toBe(1);
  });
});
