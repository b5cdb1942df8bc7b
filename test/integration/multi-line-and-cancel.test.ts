import { afterEach, describe, expect, it, vi } from 'vitest';
import { envelope } from '../../shared/messaging/contracts.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { pipelineState, SEED_STOCK, settledState } from '../support/invariants.js';
import { httpFunction, invokeHttp, queueContext, queueFunction } from '../support/invoke.js';
import { realPostgres } from '../support/test-database.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

// Multi-line orders (all or nothing) and cancellation with compensation, through the real handlers and queues.

let host: TestHost | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

async function place(h: TestHost, body: object, key?: string) {
  return invokeHttp(httpFunction(h.functions, 'createOrder'), {
    json: body,
    ...(key ? { headers: { 'Idempotency-Key': key } } : {}),
  });
}

async function cancel(h: TestHost, id: string, body?: object, key?: string) {
  return invokeHttp(httpFunction(h.functions, 'cancelOrder'), {
    params: { id },
    ...(body ? { json: body } : {}),
    ...(key ? { headers: { 'Idempotency-Key': key } } : {}),
  });
}

async function orderOf(h: TestHost, id: string) {
  const res = await invokeHttp(httpFunction(h.functions, 'getOrder'), { params: { id } });
  return res.body.order;
}

/** The order once final; still pending at the deadline, the order as it is, so the assertion says what it saw. */
async function finalOrder(h: TestHost, id: string) {
  return vi
    .waitFor(
      async () => {
        await h.settle();
        const order = await orderOf(h, id);
        expect(['pending', 'cancel_requested']).not.toContain(order.status);
        return order;
      },
      { timeout: 10_000, interval: 25 },
    )
    .catch(() => orderOf(h, id));
}

async function stock(h: TestHost): Promise<Record<string, number>> {
  const { rows } = await h.runtime.db.query<{ product_id: string; available: number }>(
    'SELECT product_id, available FROM inventory.products',
  );
  return Object.fromEntries(rows.map((r) => [r.product_id, r.available]));
}

async function history(h: TestHost, id: string) {
  const { rows } = await h.runtime.db.query<{ from_status: string; to_status: string }>(
    'SELECT from_status, to_status FROM orders.status_changes WHERE order_id = $1 ORDER BY changed_at',
    [id],
  );
  return rows.map((r) => `${r.from_status}→${r.to_status}`);
}

describe('multi-line orders', () => {
  it('reserves every line, and GET returns the lines', async () => {
    host = await startTestHost();
    const lines = [
      { productId: 'PROD-001', quantity: 2 },
      { productId: 'PROD-003', quantity: 5 },
    ];
    const res = await place(host, { customerId: 'ml-1', lines });
    expect(res.status).toBe(202);
    expect(res.body.order.lines).toEqual(lines);
    const order = await finalOrder(host, res.body.order.id);
    expect(order).toMatchObject({ status: 'shipped', lines });
    expect(await stock(host)).toMatchObject({ 'PROD-001': 98, 'PROD-003': 145 });
  });

  it('a line short of stock rejects the whole order, names the short line, and moves no stock', async () => {
    host = await startTestHost();
    const res = await place(host, {
      customerId: 'ml-2',
      lines: [
        { productId: 'PROD-001', quantity: 1 },
        { productId: 'PROD-004', quantity: 60 },
      ],
    });
    const order = await finalOrder(host, res.body.order.id);
    expect(order.status).toBe('rejected');
    expect(order.reason).toBe('out_of_stock: PROD-004 (60 wanted, 50 available)');
    expect(await stock(host)).toEqual(SEED_STOCK);
  });

  it('an unknown product on one line rejects the order with unknown_product naming it', async () => {
    host = await startTestHost();
    const res = await place(host, {
      customerId: 'ml-3',
      lines: [
        { productId: 'PROD-002', quantity: 1 },
        { productId: 'PROD-404', quantity: 1 },
      ],
    });
    const order = await finalOrder(host, res.body.order.id);
    expect(order).toMatchObject({
      status: 'rejected',
      reason: 'unknown_product: PROD-404 is not in the catalog',
    });
  });

  it('the one-line body still works and is one line; a one-line rejection keeps the bare reason', async () => {
    host = await startTestHost();
    const res = await place(host, { customerId: 'ml-4', productId: 'PROD-004', quantity: 51 });
    expect(res.body.order.lines).toEqual([{ productId: 'PROD-004', quantity: 51 }]);
    expect(await finalOrder(host, res.body.order.id)).toMatchObject({
      status: 'rejected',
      reason: 'out_of_stock',
    });
  });

  it('the list carries each order’s lines', async () => {
    host = await startTestHost();
    await place(host, {
      customerId: 'ml-5',
      lines: [
        { productId: 'PROD-001', quantity: 1 },
        { productId: 'PROD-002', quantity: 1 },
      ],
    });
    const list = await invokeHttp(httpFunction(host.functions, 'listOrders'));
    expect(list.body.orders[0].lines).toHaveLength(2);
  });

  it.each([
    ['an empty lines array', { lines: [] }, 'lines'],
    [
      'a duplicate product',
      {
        lines: [
          { productId: 'PROD-001', quantity: 1 },
          { productId: 'PROD-001', quantity: 2 },
        ],
      },
      'lines.1.productId',
    ],
    [
      '51 lines',
      { lines: Array.from({ length: 51 }, (_, i) => ({ productId: `P-${i}`, quantity: 1 })) },
      'lines',
    ],
    ['a quantity of 0', { lines: [{ productId: 'PROD-001', quantity: 0 }] }, 'lines.0.quantity'],
    [
      'lines and productId together',
      { lines: [{ productId: 'PROD-001', quantity: 1 }], productId: 'PROD-001' },
      'productId',
    ],
    ['neither lines nor productId', {}, 'productId'],
  ])('400 naming the field for %s', async (_name, extra, field) => {
    host ??= await startTestHost();
    const res = await place(host, { customerId: 'bad', ...extra });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });
});

describe('cancellation', () => {
  it('a shipped order: stock released through the queue, history placed → shipped → cancel requested → cancelled', async () => {
    host = await startTestHost();
    const res = await place(host, {
      customerId: 'cx-1',
      lines: [
        { productId: 'PROD-001', quantity: 3 },
        { productId: 'PROD-002', quantity: 2 },
      ],
    });
    const id = res.body.order.id;
    expect((await finalOrder(host, id)).status).toBe('shipped');
    expect(await stock(host)).toMatchObject({ 'PROD-001': 97, 'PROD-002': 73 });
    const c = await cancel(host, id, { customerId: 'cx-1', reason: 'changed my mind' }, 'cancel-1');
    expect(c.status).toBe(202);
    expect(c.body.order.status).toBe('cancel_requested');
    const order = await finalOrder(host, id);
    expect(order).toMatchObject({ status: 'cancelled', reason: 'changed my mind' });
    expect(await stock(host)).toEqual(SEED_STOCK);
    expect(await history(host, id)).toEqual([
      'pending→shipped',
      'shipped→cancel_requested',
      'cancel_requested→cancelled',
    ]);
    // The same key again: the same answer, replayed; nothing moves twice.
    const again = await cancel(host, id, { customerId: 'cx-1', reason: 'changed my mind' }, 'cancel-1');
    expect(again.status).toBe(202);
    expect(again.headers.get('Idempotent-Replayed')).toBe('true');
    // A new request for a cancelled order: 409 saying why.
    const late = await cancel(host, id);
    expect(late.status).toBe(409);
    expect(late.body.detail).toMatch(/already cancelled/);
    await host.settle();
    expect(await stock(host)).toEqual(SEED_STOCK);
  });

  it('a cancel that overtakes its OrderPlaced: the late reservation never takes stock', async () => {
    host = await startTestHost();
    const orderId = crypto.randomUUID();
    await host.runtime.db.query(
      `INSERT INTO orders.orders (id, customer_id, product_id, quantity, status) VALUES ($1, 'cx-2', 'PROD-003', 4, 'pending')`,
      [orderId],
    );
    const c = await cancel(host, orderId);
    expect(c.status).toBe(202);
    await host.settle();
    expect((await orderOf(host, orderId)).status).toBe('cancelled');
    // The OrderPlaced arrives only now (a v1 message left in the queue by the previous version).
    const reserve = queueFunction(host.functions, 'reserveStock');
    await reserve.handler(
      envelope('OrderPlaced', { orderId, customerId: 'cx-2', productId: 'PROD-003', quantity: 4 }),
      queueContext('reserveStock'),
    );
    await host.settle();
    expect(await stock(host)).toEqual(SEED_STOCK);
    expect((await orderOf(host, orderId)).status).toBe('cancelled');
  });

  it('a reservation that lands after the cancel is released: the compensation', async () => {
    host = await startTestHost();
    const orderId = crypto.randomUUID();
    await host.runtime.db.query(
      `INSERT INTO orders.orders (id, customer_id, product_id, quantity, status) VALUES ($1, 'cx-3', 'PROD-005', 7, 'pending')`,
      [orderId],
    );
    // Inventory reserves (its result to Orders is still on its way) ...
    const reserve = queueFunction(host.functions, 'reserveStock');
    await reserve.handler(
      envelope('OrderPlaced', {
        orderId,
        customerId: 'cx-3',
        lines: [{ productId: 'PROD-005', quantity: 7 }],
      }),
      queueContext('reserveStock'),
    );
    expect((await stock(host))['PROD-005']).toBe(193);
    await host.settle();
    // ... while Orders, still pending when asked, takes the cancel.
    await host.runtime.db.query(`UPDATE orders.orders SET status = 'pending' WHERE id = $1`, [orderId]);
    await host.runtime.db.query(`DELETE FROM orders.status_changes WHERE order_id = $1`, [orderId]);
    const c = await cancel(host, orderId);
    expect(c.status).toBe(202);
    expect(await finalOrder(host, orderId)).toMatchObject({ status: 'cancelled' });
    expect(await stock(host)).toEqual(SEED_STOCK);
  });

  it('409 for a rejected order, 403 for another customer, 404 for an unknown one, 400 for a bad body', async () => {
    host = await startTestHost();
    const res = await place(host, { customerId: 'cx-4', productId: 'PROD-404', quantity: 1 });
    const id = res.body.order.id;
    expect((await finalOrder(host, id)).status).toBe('rejected');
    const rejected = await cancel(host, id);
    expect(rejected.status).toBe(409);
    expect(rejected.headers.get('content-type')).toMatch(/problem\+json/);
    expect(rejected.body.detail).toMatch(/rejected/);
    const other = await place(host, { customerId: 'cx-5', productId: 'PROD-001', quantity: 1 });
    const wrong = await cancel(host, other.body.order.id, { customerId: 'someone-else' });
    expect(wrong.status).toBe(403);
    expect(wrong.body.errors[0].field).toBe('customerId');
    expect((await cancel(host, crypto.randomUUID())).status).toBe(404);
    const bad = await cancel(host, other.body.order.id, { customerId: '', extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(
      expect.arrayContaining(['customerId']),
    );
  });

  it('OrderCancelled delivered three times releases once', async () => {
    host = await startTestHost({ LOCAL_DELIVERY_COPIES: '3' });
    const res = await place(host, { customerId: 'cx-6', lines: [{ productId: 'PROD-002', quantity: 5 }] });
    const id = res.body.order.id;
    expect((await finalOrder(host, id)).status).toBe('shipped');
    await cancel(host, id);
    expect((await finalOrder(host, id)).status).toBe('cancelled');
    expect(await stock(host)).toEqual(SEED_STOCK);
    const state = await pipelineState(host.database.url);
    expect(state.released['PROD-002']).toBe(5);
  });

  it('a dead-lettered OrderCancelled is claimed under its own type, not as an OrderPlaced', async () => {
    host = await startTestHost();
    const reserve = queueFunction(host.functions, 'reserveStock');
    const orderId = crypto.randomUUID();
    // A body that fails validation is dead-lettered on its first delivery.
    const bad = { ...envelope('OrderCancelled', { orderId }), occurredAt: 'not a time' };
    await reserve.handler(bad, queueContext('reserveStock'));
    const letters = await host.runtime.db.query('SELECT 1 FROM inventory.dead_letters');
    expect(letters.rows).toHaveLength(1);
    const { rows } = await host.runtime.db.query<{ message_id: string; type: string }>(
      'SELECT message_id, type FROM inventory.processed_messages',
    );
    expect(rows).toEqual([{ message_id: bad.messageId, type: 'OrderCancelled' }]);
  });

  it('an unknown message type is dead-lettered with a reason that names it', async () => {
    host = await startTestHost();
    const reserve = queueFunction(host.functions, 'reserveStock');
    await reserve.handler(
      { ...envelope('OrderCancelled', { orderId: crypto.randomUUID() }), type: 'OrderRefunded' },
      queueContext('reserveStock'),
    );
    const { rows } = await host.runtime.db.query<{ error: string; queue: string }>(
      'SELECT error, queue FROM inventory.dead_letters',
    );
    expect(rows).toEqual([
      {
        queue: QUEUES.reservations,
        error: expect.stringMatching(/unknown message type "OrderRefunded".*OrderPlaced, OrderCancelled/),
      },
    ]);
  });
});

describe.runIf(realPostgres)('concurrency (real PostgreSQL)', () => {
  it('400 racing overlapping multi-line orders: no deadlock, no oversell, all or nothing', async () => {
    host = await startTestHost({ DATABASE_POOL_MAX: '20' });
    await host.runtime.db.query(`UPDATE inventory.products SET available = 60`);
    const products = Object.keys(SEED_STOCK);
    const create = httpFunction(host.functions, 'createOrder');
    let next = 0;
    const count = 400;
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        while (next < count) {
          const i = next++;
          // Overlapping sets, in both orders: PROD-001+PROD-002, PROD-002+PROD-001, three-product ones, …
          const a = products[i % 5]!;
          const b = products[(i + 1 + (i % 3)) % 5]!;
          const lines =
            i % 2
              ? [
                  { productId: a, quantity: 1 + (i % 2) },
                  { productId: b, quantity: 1 },
                ]
              : [
                  { productId: b, quantity: 1 },
                  { productId: a, quantity: 2 },
                ];
          if (i % 7 === 0) lines.push({ productId: products[(i + 3) % 5]!, quantity: 1 });
          const res = await invokeHttp(create, {
            json: { customerId: `race-${i}`, lines: dedupe(lines) },
            headers: { 'Idempotency-Key': `race-${i}` },
          });
          expect(res.status).toBe(202);
        }
      }),
    );
    const state = await settledState(host.database.url, 60_000);
    expect(state.pending).toBe(0);
    expect(state.byStatus.failed ?? 0).toBe(0); // a deadlock would have failed an order (or left it pending)
    const start = Object.fromEntries(products.map((p) => [p, 60]));
    const { rows } = await host.runtime.db.query<{ product_id: string; available: number }>(
      'SELECT product_id, available FROM inventory.products',
    );
    for (const r of rows) {
      expect(r.available).toBeGreaterThanOrEqual(0);
      expect(start[r.product_id]! - r.available).toBe(state.reserved[r.product_id]);
    }
    expect((state.byStatus.rejected ?? 0) > 0 && (state.byStatus.shipped ?? 0) > 0).toBe(true);
    expect(state.reservedWithoutShippedOrder).toBe(0);
    expect(state.ordersWithSeveralReservations).toBe(0);
    const deadlocks = await host.runtime.db.query<{ n: number }>(
      'SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = current_database()',
    );
    expect(deadlocks.rows[0]!.n).toBe(0);
  });
});

function dedupe(lines: { productId: string; quantity: number }[]) {
  const seen = new Set<string>();
  return lines.filter((l) => !seen.has(l.productId) && seen.add(l.productId));
}
