import { afterEach, describe, expect, it, vi } from 'vitest';
import { envelope } from '../../shared/messaging/contracts.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { pipelineState } from '../support/invariants.js';
import {
  postOrder,
  startTestHost,
  type TestHost,
  waitForOrderFinal,
  withFunctionKey,
} from '../support/test-host.js';

// An operator sees a dead letter with its reason, fixes the cause, redrives it, and the order ends as if nothing
// had gone wrong: shipped, its stock moved once. A second redrive, or one for an order already decided, changes
// nothing and says so.
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** The pipeline invariants a redrive must keep: one final status change and one reservation per order. */
const EXACTLY_ONCE = {
  pending: 0,
  ordersWithSeveralStatusChanges: 0,
  ordersWithSeveralReservations: 0,
  reservedWithoutShippedOrder: 0,
};

async function host(options: { timers?: boolean } = {}): Promise<TestHost> {
  const h = await startTestHost({ MAX_DELIVERY_COUNT: '3' }, options);
  cleanups.push(() => h.stop());
  return h;
}

function api(h: TestHost, path: string, init: { method?: string; body?: unknown; key?: boolean } = {}) {
  return fetch(`${h.url}/api/${path}`, {
    method: init.method ?? 'GET',
    headers:
      init.key === false
        ? { 'content-type': 'application/json' }
        : withFunctionKey(h, { 'content-type': 'application/json' }),
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

async function stock(h: TestHost, productId: string): Promise<number> {
  const { rows } = await h.runtime.db.query<{ available: number }>(
    'SELECT available FROM inventory.products WHERE product_id = $1',
    [productId],
  );
  return rows[0]!.available;
}

async function placeOrder(h: TestHost, productId: string, quantity: number): Promise<string> {
  const res = await postOrder(h.url, { customerId: 'dl-customer', productId, quantity });
  expect(res.status).toBe(202);
  return ((await res.json()) as { order: { id: string } }).order.id;
}

/** A cause an operator can fix: a trigger that makes one table refuse rows (a broken deployment, say). */
async function refuse(
  h: TestHost,
  table: string,
  when: string,
  message: string,
): Promise<() => Promise<void>> {
  const name = `refuse_${table.replace('.', '_')}`;
  await h.runtime.db.query(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF ${when} THEN RAISE EXCEPTION '${message}'; END IF; RETURN NEW; END $$`);
  await h.runtime.db.query(
    `CREATE TRIGGER ${name} BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}()`,
  );
  return async () => {
    await h.runtime.db.query(`DROP TRIGGER ${name} ON ${table}`);
    await h.runtime.db.query(`DROP FUNCTION ${name}()`);
  };
}

describe('dead letters, seen and redriven', () => {
  it('a dead-lettered OrderPlaced: listed with its reason; after the fix, redriven once, the order ships and stock moves once', async () => {
    const h = await host();
    const fix = await refuse(
      h,
      'inventory.reservations',
      "NEW.product_id = 'PROD-004'",
      'laptop warehouse offline',
    );
    const orderId = await placeOrder(h, 'PROD-004', 2);
    const failed = await waitForOrderFinal(h.url, orderId);
    expect(failed).toMatchObject({ status: 'failed' });
    expect(failed.reason).toMatch(/laptop warehouse offline/);

    expect((await api(h, 'dead-letters?service=inventory', { key: false })).status).toBe(401);
    const listed = await api(h, 'dead-letters?service=inventory');
    expect(listed.status).toBe(200);
    const page = (await listed.json()) as {
      deadLetters: {
        id: string;
        orderId: string;
        reason: string;
        attempts: number;
        messageType: string;
        redrivenAt: null;
      }[];
      counts: { open: number; total: number; broker: number };
      nextCursor: string | null;
    };
    expect(page.counts).toEqual({ open: 1, total: 1, broker: 0 });
    expect(page.nextCursor).toBeNull();
    const [deadLetter] = page.deadLetters;
    expect(deadLetter).toMatchObject({ orderId, attempts: 3, messageType: 'OrderPlaced', redrivenAt: null });
    expect(deadLetter!.reason).toMatch(/laptop warehouse offline/);
    const one = await api(h, `dead-letters/${deadLetter!.id}`);
    expect(((await one.json()) as { deadLetter: { id: string } }).deadLetter.id).toBe(deadLetter!.id);

    await fix();
    const redrive = await api(h, `dead-letters/${deadLetter!.id}/redrive`, { method: 'POST' });
    expect(redrive.status).toBe(202);
    expect(await redrive.json()).toMatchObject({ outcome: 'redriven', reopened: true });
    expect(await waitForOrderFinal(h.url, orderId)).toMatchObject({ status: 'shipped', reason: null });
    expect(await stock(h, 'PROD-004')).toBe(50 - 2);

    const again = await api(h, `dead-letters/${deadLetter!.id}/redrive`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({
      outcome: 'already-redriven',
      detail: expect.stringMatching(/already/),
    });
    const bulk = await api(h, 'dead-letters/redrive', { method: 'POST', body: { service: 'inventory' } });
    expect(await bulk.json()).toMatchObject({ redriven: 0, results: [] });
    await h.settle();
    expect(await stock(h, 'PROD-004')).toBe(50 - 2);
    expect(await pipelineState(h.database.url)).toMatchObject(EXACTLY_ONCE);
  });

  it('a dead-lettered result: the order is reopened and ships on the redriven copy; Inventory is not asked again', async () => {
    const h = await host();
    const fix = await refuse(h, 'orders.orders', "NEW.status = 'shipped'", 'order ledger is read-only');
    const orderId = await placeOrder(h, 'PROD-001', 3);
    const failed = await waitForOrderFinal(h.url, orderId);
    expect(failed.status).toBe('failed');
    const page = (await (await api(h, 'dead-letters?service=orders')).json()) as {
      deadLetters: { id: string; reason: string; messageType: string }[];
    };
    expect(page.deadLetters).toHaveLength(1);
    expect(page.deadLetters[0]).toMatchObject({ messageType: 'InventoryReserved' });
    expect(page.deadLetters[0]!.reason).toMatch(/order ledger is read-only/);
    await fix();
    const bulk = await api(h, 'dead-letters/redrive', {
      method: 'POST',
      body: { service: 'orders', errorContains: 'LEDGER', limit: 5 },
    });
    expect(bulk.status).toBe(200);
    expect(await bulk.json()).toMatchObject({
      redriven: 1,
      results: [{ outcome: 'redriven', reopened: true }],
    });
    expect(await waitForOrderFinal(h.url, orderId)).toMatchObject({ status: 'shipped' });
    await h.settle();
    expect(await stock(h, 'PROD-001')).toBe(100 - 3);
    expect(await pipelineState(h.database.url)).toMatchObject(EXACTLY_ONCE);
  });

  it('a dead letter whose order is already decided is not sent again, and the answer says why', async () => {
    const h = await host();
    const orderId = await placeOrder(h, 'PROD-002', 1);
    expect((await waitForOrderFinal(h.url, orderId)).status).toBe('shipped');
    // A stray copy of its OrderPlaced, dead-lettered after the order had shipped.
    const stray = envelope('OrderPlaced', {
      orderId,
      customerId: 'dl-customer',
      productId: 'PROD-002',
      quantity: 1,
    });
    const { rows } = await h.runtime.db.query<{ id: string }>(
      `INSERT INTO inventory.dead_letters (queue, message_id, order_id, body, error, delivery_count)
       VALUES ($1, $2, $3, $4, 'lock lost', 3) RETURNING id`,
      [QUEUES.reservations, stray.messageId, orderId, JSON.stringify(stray)],
    );
    const res = await api(h, `dead-letters/inventory-${rows[0]!.id}/redrive`, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({
      outcome: 'order-final',
      detail: expect.stringMatching(/already decided/),
    });
    await h.settle();
    expect(await stock(h, 'PROD-002')).toBe(75 - 1);
    expect((await api(h, 'dead-letters/inventory-999999/redrive', { method: 'POST' })).status).toBe(404);
    expect((await api(h, 'dead-letters/nonsense')).status).toBe(404);
  });

  it("the broker's sub-queue: a message nobody could record is listed, redriven under a new broker id, and ships", async () => {
    // No relay or sweeper: only the redrive can bring this order home.
    const h = await host({ timers: false });
    const fixReservations = await refuse(
      h,
      'inventory.reservations',
      "NEW.product_id = 'PROD-005'",
      'bin scanner down',
    );
    const fixDeadLetters = await refuse(h, 'inventory.dead_letters', 'true', 'dead-letter table full');
    const orderId = await placeOrder(h, 'PROD-005', 4);
    await h.settle();
    const page = await vi.waitFor(
      async () => {
        const body = (await (await api(h, 'dead-letters?service=inventory')).json()) as {
          deadLetters: { id: string; source: string; orderId: string; reason: string; attempts: number }[];
          counts: { broker: number };
        };
        expect(body.deadLetters.length).toBeGreaterThan(0);
        return body;
      },
      { timeout: 15_000, interval: 50 },
    );
    expect(page.counts.broker).toBe(1);
    const [message] = page.deadLetters;
    expect(message).toMatchObject({ source: 'broker', orderId, attempts: 3 });
    expect(message!.id).toMatch(/^inventory-broker-\d+$/);
    expect(message!.reason).toMatch(/dead-letter table full/);
    // Dead-lettered, the message waits for an operator: nothing decides the order meanwhile.
    const held = (await (await api(h, `orders/${orderId}`)).json()) as { order: { status: string } };
    expect(held.order.status).toBe('pending');

    await fixReservations();
    await fixDeadLetters();
    const res = await api(h, `dead-letters/${message!.id}/redrive`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({
      outcome: 'redriven',
      brokerMessageId: `OrderPlaced:${orderId}:redrive-${message!.id}`,
    });
    expect(await waitForOrderFinal(h.url, orderId)).toMatchObject({ status: 'shipped' });
    expect(await stock(h, 'PROD-005')).toBe(200 - 4);
    const after = (await (await api(h, 'dead-letters?service=inventory')).json()) as {
      counts: { broker: number };
    };
    expect(after.counts.broker).toBe(0);
    expect((await api(h, `dead-letters/${message!.id}/redrive`, { method: 'POST' })).status).toBe(404);
  });
});
