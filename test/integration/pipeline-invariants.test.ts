import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedCrashError } from '../../shared/chaos/chaos-flags.js';
import { envelope } from '../../shared/messaging/contracts.js';
import { pipelineState, SEED_STOCK, settledState } from '../support/invariants.js';
import { httpFunction, invokeHttp, queueContext, queueFunction } from '../support/invoke.js';
import { realPostgres } from '../support/test-database.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

let host: TestHost | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const PRODUCTS = Object.keys(SEED_STOCK);

/** A pending PROD-001 order row and its OrderPlaced message, as intake would have written and sent them. */
async function pendingOrderRow(h: TestHost, customerId: string, quantity = 1) {
  const orderId = crypto.randomUUID();
  await h.runtime.db.query(
    `INSERT INTO orders.orders (id, customer_id, product_id, quantity) VALUES ($1, $2, 'PROD-001', $3)`,
    [orderId, customerId, quantity],
  );
  const message = envelope('OrderPlaced', { orderId, customerId, productId: 'PROD-001', quantity });
  return { orderId, message };
}

async function placeMany(h: TestHost, count: number, concurrency: number, orderFor: (i: number) => object) {
  const create = httpFunction(h.functions, 'createOrder');
  let next = 0;
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const res = await invokeHttp(create, {
          json: orderFor(i),
          headers: { 'Idempotency-Key': `bulk-${i}` },
        });
        expect(res.status).toBe(202);
        ids.push(res.body.order.id);
      }
    }),
  );
  return ids;
}

function expectExactStock(state: Awaited<ReturnType<typeof pipelineState>>) {
  expect(state.pending).toBe(0);
  expect(state.decrease).toEqual(state.shippedQuantity);
  expect(state.ordersWithSeveralStatusChanges).toBe(0);
  expect(state.ordersWithSeveralReservations).toBe(0);
  expect(state.reservedWithoutShippedOrder).toBe(0);
}

describe('at-least-once delivery', () => {
  // 300 orders on a real server; the embedded one runs the same check on fewer (one connection, no parallelism).
  const orders = realPostgres ? 300 : 60;
  it(`every message delivered 3 times, ${orders} orders: stock moves exactly once per shipped order`, async () => {
    host = await startTestHost({ LOCAL_DELIVERY_COPIES: '3' });
    await placeMany(host, orders, realPostgres ? 16 : 4, (i) => ({
      customerId: `c-${i}`,
      productId: PRODUCTS[i % PRODUCTS.length],
      quantity: 1 + (i % 3),
    }));
    const state = await settledState(host.database.url);
    expectExactStock(state);
    expect((state.byStatus.shipped ?? 0) + (state.byStatus.rejected ?? 0)).toBe(orders);
    // Every message really was delivered more than once, and the copies were absorbed.
    const counters = host.runtime.signals.snapshot();
    expect(counters['duplicatesAbsorbed.reserveStock']).toBe(orders * 2);
    expect(counters['duplicatesAbsorbed.applyInventoryResult']).toBe(orders * 2);
  });
});

describe.runIf(realPostgres)('concurrency (real PostgreSQL)', () => {
  it('200 concurrent orders of 1 for a product with stock 50: exactly 50 shipped, 150 rejected, stock 0', async () => {
    host = await startTestHost({ DATABASE_POOL_MAX: '20' });
    await host.runtime.db.query(`UPDATE inventory.products SET available = 50 WHERE product_id = 'PROD-003'`);
    await placeMany(host, 200, 50, (i) => ({ customerId: `rush-${i}`, productId: 'PROD-003', quantity: 1 }));
    const state = await settledState(host.database.url);
    expect(state.byStatus).toEqual({ shipped: 50, rejected: 150 });
    const stock = await host.runtime.db.query(
      `SELECT available FROM inventory.products WHERE product_id = 'PROD-003'`,
    );
    expect(stock.rows[0]!.available).toBe(0);
    const reasons = await host.runtime.db.query(
      `SELECT DISTINCT reason FROM orders.orders WHERE status = 'rejected'`,
    );
    expect(reasons.rows).toEqual([{ reason: 'out_of_stock' }]);
  });

  it('50 concurrent POSTs with one key and one body: one order, one outbox row, the same id for all', async () => {
    host = await startTestHost({ DATABASE_POOL_MAX: '20' });
    const create = httpFunction(host.functions, 'createOrder');
    const body = { customerId: 'same', productId: 'PROD-001', quantity: 1 };
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        invokeHttp(create, { json: body, headers: { 'Idempotency-Key': 'one-key' } }),
      ),
    );
    expect(new Set(responses.map((r) => r.status))).toEqual(new Set([202]));
    expect(new Set(responses.map((r) => r.body.order.id)).size).toBe(1);
    expect(responses.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(49);
    const counts = await host.runtime.db.query(
      `SELECT (SELECT count(*)::int FROM orders.orders) AS orders, (SELECT count(*)::int FROM orders.outbox) AS outbox`,
    );
    expect(counts.rows[0]).toEqual({ orders: 1, outbox: 1 });
  });

  it('50 concurrent POSTs with distinct keys: 50 orders', async () => {
    host = await startTestHost({ DATABASE_POOL_MAX: '20' });
    const create = httpFunction(host.functions, 'createOrder');
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        invokeHttp(create, {
          json: { customerId: `d-${i}`, productId: 'PROD-005', quantity: 1 },
          headers: { 'Idempotency-Key': `distinct-${i}` },
        }),
      ),
    );
    expect(new Set(responses.map((r) => r.body.order.id)).size).toBe(50);
    const counts = await host.runtime.db.query('SELECT count(*)::int AS n FROM orders.orders');
    expect(counts.rows[0]!.n).toBe(50);
  });
});

// Each writer's crash after commit (intake, cancel, reservation), once and deterministically. The same at scale
// (many concurrent clients, both targets at once, with the gremlin and cancels) is `npm run chaos`, which both CI
// definitions run; test/support/invariant-oracle.ts checks its end state.
describe('crash right after commit', () => {
  // No timers: the outbox relay would send what the crash kept back a few seconds later anyway, so with it running
  // these tests could not tell whether the retry or redelivery re-sends it (they must: that is the fast path).
  const crashingHost = (target: 'inventory' | 'orders', everyN: number) =>
    startTestHost(
      { FEATURE_CRASH_AFTER_COMMIT: 'true', CRASH_TARGET: target, CRASH_EVERY_N: String(everyN) },
      { timers: false },
    );

  it('a reservation that crashes after its commit on the first delivery: the redelivery is a no-op, the order is final', async () => {
    host = await crashingHost('inventory', 1);
    const reserve = queueFunction(host.functions, 'reserveStock');
    // The order itself, so the status update has something to finalize.
    const { message } = await pendingOrderRow(host, 'crash', 4);
    await expect(
      reserve.handler(message, queueContext('reserveStock', { deliveryCount: 1 })),
    ).rejects.toBeInstanceOf(SimulatedCrashError);
    await host.runtime.chaos.update({ crash: { enabled: false } });
    // The broker redelivers the same message.
    await reserve.handler(message, queueContext('reserveStock', { deliveryCount: 2 }));
    const stock = await host.runtime.db.query(
      `SELECT available FROM inventory.products WHERE product_id = 'PROD-001'`,
    );
    expect(stock.rows[0]!.available).toBe(96);
    const outbox = await host.runtime.db.query('SELECT type FROM inventory.outbox');
    expect(outbox.rows).toEqual([{ type: 'InventoryReserved' }]);
    expect(host.runtime.signals.snapshot()['duplicatesAbsorbed.reserveStock']).toBe(1);
    // The result the crash kept from being sent goes out on the redelivery.
    const state = await settledState(host.database.url);
    expect(state.byStatus).toEqual({ shipped: 1 });
  });

  it('POST /api/orders that crashes after its commit (every 2nd): the retry with its key replays that order, which ships once', async () => {
    host = await crashingHost('orders', 2);
    const create = httpFunction(host.functions, 'createOrder');
    const post = (key: string, customerId: string) =>
      invokeHttp(create, {
        json: { customerId, productId: 'PROD-003', quantity: 2 },
        headers: { 'Idempotency-Key': key },
      });
    expect((await post('crash-p-1', 'p1')).status).toBe(202);
    // The 2nd order write commits, then "crashes": the client is told 500 and retries with the same key.
    expect((await post('crash-p-2', 'p2')).status).toBe(500);
    const retry = await post('crash-p-2', 'p2');
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body.order).toMatchObject({ customerId: 'p2', status: 'pending' });
    expect(host.runtime.chaos.counters.crashes.orders).toBe(1);
    // The OrderPlaced the crash kept from being sent goes out on the retry.
    const state = await settledState(host.database.url);
    expect(state.byStatus).toEqual({ shipped: 2 });
    expectExactStock(state);
    const orders = await host.runtime.db.query('SELECT id FROM orders.orders WHERE customer_id = $1', ['p2']);
    expect(orders.rows).toEqual([{ id: retry.body.order.id }]);
  });

  it('a cancel that crashes after its commit (the 2nd order write): the retry with its key replays it, stock comes back once', async () => {
    host = await crashingHost('orders', 2);
    const placed = await invokeHttp(httpFunction(host.functions, 'createOrder'), {
      json: { customerId: 'cc1', productId: 'PROD-002', quantity: 3 },
      headers: { 'Idempotency-Key': 'crash-cancel-order' },
    });
    expect(placed.status).toBe(202);
    const orderId: string = placed.body.order.id;
    expect((await settledState(host.database.url)).byStatus).toEqual({ shipped: 1 });
    const cancel = () =>
      invokeHttp(httpFunction(host!.functions, 'cancelOrder'), {
        params: { id: orderId },
        json: { customerId: 'cc1' },
        headers: { 'Idempotency-Key': 'crash-cancel' },
      });
    // The cancel commits, then "crashes": the client is told 500 and retries with the same key.
    expect((await cancel()).status).toBe(500);
    const retry = await cancel();
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body.order).toMatchObject({ id: orderId, status: 'cancel_requested' });
    expect(host.runtime.chaos.counters.crashes.orders).toBe(1);
    // The OrderCancelled the crash kept from being sent goes out on the retry.
    const state = await settledState(host.database.url);
    expect(state.byStatus).toEqual({ cancelled: 1 });
    expect(state.decrease).toEqual(Object.fromEntries(PRODUCTS.map((p) => [p, 0])));
    expect(state.released).toMatchObject({ 'PROD-002': 3 });
    expect(state.ordersWithSeveralStatusChanges).toBe(0);
    const { rows } = await host.runtime.db.query(
      `SELECT count(*)::int AS n FROM orders.status_changes WHERE order_id = $1 AND to_status = 'cancel_requested'`,
      [orderId],
    );
    expect(rows[0]!.n).toBe(1);
  });

  it('a status update applied twice (crash, redelivery, or out of order) changes the order once', async () => {
    host = await startTestHost();
    const apply = queueFunction(host.functions, 'applyInventoryResult');
    const { orderId } = await pendingOrderRow(host, 'x');
    const reserved = envelope('InventoryReserved', {
      orderId,
      productId: 'PROD-001',
      quantity: 1,
      remaining: 9,
    });
    const rejected = envelope('InventoryRejected', {
      orderId,
      productId: 'PROD-001',
      quantity: 1,
      reason: 'out_of_stock',
    });
    await apply.handler(reserved, queueContext('applyInventoryResult'));
    await apply.handler(reserved, queueContext('applyInventoryResult', { deliveryCount: 2 }));
    await apply.handler(rejected, queueContext('applyInventoryResult'));
    const { rows } = await host.runtime.db.query('SELECT status FROM orders.orders WHERE id = $1', [orderId]);
    expect(rows[0]!.status).toBe('shipped');
    const changes = await host.runtime.db.query('SELECT count(*)::int AS n FROM orders.status_changes');
    expect(changes.rows[0]!.n).toBe(1);
  });
});

describe('broker outage', () => {
  it('accepts orders while the broker is down; the relay delivers every one once it is back', async () => {
    host = await startTestHost();
    host.transport!.setAvailable(false);
    await placeMany(host, 20, 4, (i) => ({ customerId: `outage-${i}`, productId: 'PROD-002', quantity: 1 }));
    const unpublished = await host.runtime.db.query(
      'SELECT count(*)::int AS n FROM orders.outbox WHERE published_at IS NULL',
    );
    expect(unpublished.rows[0]!.n).toBe(20);
    expect((await pipelineState(host.database.url)).pending).toBe(20);
    host.transport!.setAvailable(true);
    const state = await settledState(host.database.url);
    expect(state.byStatus).toEqual({ shipped: 20 });
    expectExactStock(state);
  });
});

describe('dead letters', () => {
  it('an invalid message is dead-lettered with its error and its order fails with a reason', async () => {
    host = await startTestHost();
    const { orderId, message } = await pendingOrderRow(host, 'dead-letter');
    const bad = { ...message, data: { ...message.data } };
    (bad.data as { quantity: unknown }).quantity = 'lots';
    await queueFunction(host.functions, 'reserveStock').handler(
      bad,
      queueContext('reserveStock', { messageId: bad.messageId }),
    );
    const state = await settledState(host.database.url);
    expect(state.byStatus).toEqual({ failed: 1 });
    const dead = await host.runtime.db.query('SELECT order_id, error FROM inventory.dead_letters');
    expect(dead.rows).toHaveLength(1);
    expect(dead.rows[0]!.order_id).toBe(orderId);
    expect(dead.rows[0]!.error).toMatch(/invalid message: data.quantity/);
    const order = await invokeHttp(httpFunction(host.functions, 'getOrder'), { params: { id: orderId } });
    expect(order.body.order.reason).toMatch(/inventory gave up/);
    const health = await invokeHttp(httpFunction(host.functions, 'healthDetails'), { params: {} });
    expect(health.body.services.inventory.deadLetters).toBe(1);
  });

  it('a message that fails on every delivery is dead-lettered on the last one, and never moves stock', async () => {
    host = await startTestHost({ MAX_DELIVERY_COUNT: '3' });
    const reserve = queueFunction(host.functions, 'reserveStock');
    const { message } = await pendingOrderRow(host, 'stuck');
    // Make processing fail for as long as the test wants: the products table is locked away by a rename.
    await host.runtime.db.query('ALTER TABLE inventory.products RENAME TO products_gone');
    try {
      for (const deliveryCount of [1, 2]) {
        await expect(
          reserve.handler(
            message,
            queueContext('reserveStock', { deliveryCount, messageId: message.messageId }),
          ),
        ).rejects.toThrow();
      }
      await reserve.handler(
        message,
        queueContext('reserveStock', { deliveryCount: 3, messageId: message.messageId }),
      );
    } finally {
      await host.runtime.db.query('ALTER TABLE inventory.products_gone RENAME TO products');
    }
    // A late redelivery after the dead-letter changes nothing.
    await reserve.handler(
      message,
      queueContext('reserveStock', { deliveryCount: 4, messageId: message.messageId }),
    );
    const state = await settledState(host.database.url);
    expect(state.byStatus).toEqual({ failed: 1 });
    expectExactStock(state);
    const dead = await host.runtime.db.query('SELECT delivery_count FROM inventory.dead_letters');
    expect(dead.rows).toEqual([{ delivery_count: 3 }]);
  });
});
