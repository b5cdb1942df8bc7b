import { afterEach, describe, expect, it, vi } from 'vitest';
import { recordDeadLetter } from '../../functions/inventory/inventory-repository.js';
import { recordDeadLetter as recordOrdersDeadLetter } from '../../functions/orders/orders-repository.js';
import { envelope } from '../../shared/messaging/contracts.js';
import { SEED_STOCK } from '../support/invariants.js';
import { httpFunction, invokeHttp } from '../support/invoke.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

// A dead-lettered OrderCancelled (Inventory gave up on it) is a cancel still owed: it tells the order nothing
// (no InventoryFailed), and its redrive gives the stock back and ends the order `cancelled`, even though the order
// had reserved stock (which an OrderPlaced's redrive rightly refuses). Runs on the embedded database and, with
// DATABASE_URL, on real PostgreSQL.

let host: TestHost | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const statusOf = async (h: TestHost, id: string) =>
  (await invokeHttp(httpFunction(h.functions, 'getOrder'), { params: { id } })).body.order.status;

async function available(h: TestHost, productId: string): Promise<number> {
  const { rows } = await h.runtime.db.query<{ available: number }>(
    'SELECT available FROM inventory.products WHERE product_id = $1',
    [productId],
  );
  return rows[0]!.available;
}

/** What /api/health/details lists as cancels waiting on a dead letter. */
async function waiting(h: TestHost) {
  const res = await invokeHttp(httpFunction(h.functions, 'healthDetails'));
  return res.body.cancelsWaitingOnDeadLetter as { orderId: string; deadLetter: string; detail: string }[];
}

async function eventually(h: TestHost, id: string, status: string) {
  await vi.waitFor(
    async () => {
      await h.settle();
      expect(await statusOf(h, id)).toBe(status);
    },
    { timeout: 10_000, interval: 25 },
  );
}

describe('a dead-lettered OrderCancelled', () => {
  it('queues no InventoryFailed; its redrive gives the stock back and the order ends cancelled', async () => {
    host = await startTestHost({}, { timers: false });
    const placed = await invokeHttp(httpFunction(host.functions, 'createOrder'), {
      json: { customerId: 'dl-cancel', productId: 'PROD-004', quantity: 4 },
    });
    const id = placed.body.order.id;
    await eventually(host, id, 'shipped');
    expect(await available(host, 'PROD-004')).toBe(SEED_STOCK['PROD-004']! - 4);
    // The cancel was requested; its OrderCancelled reached Inventory, which gave up on it on its last delivery.
    await host.runtime.db.query(`UPDATE orders.orders SET status = 'cancel_requested' WHERE id = $1`, [id]);
    const cancelled = envelope('OrderCancelled', { orderId: id });
    await recordDeadLetter(
      host.runtime.db,
      {
        body: cancelled,
        orderId: id,
        messageId: cancelled.messageId,
        deliveryCount: 10,
        error: 'lock lost',
      },
      {},
    );
    const { rows: failed } = await host.runtime.db.query(
      `SELECT 1 FROM inventory.outbox WHERE type = 'InventoryFailed'`,
    );
    expect(failed).toEqual([]);
    const { rows } = await host.runtime.db.query<{ id: string }>(
      'SELECT id FROM inventory.dead_letters WHERE order_id = $1',
      [id],
    );

    expect(await waiting(host)).toEqual([
      expect.objectContaining({
        orderId: id,
        deadLetter: `inventory-${rows[0]!.id}`,
        detail: expect.stringMatching(/cancel waiting on a dead letter/),
      }),
    ]);

    const res = await invokeHttp(httpFunction(host.functions, 'redriveDeadLetter'), {
      method: 'POST',
      params: { id: `inventory-${rows[0]!.id}` },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ outcome: 'redriven' });
    await eventually(host, id, 'cancelled');
    expect(await waiting(host)).toEqual([]);
    expect(await available(host, 'PROD-004')).toBe(SEED_STOCK['PROD-004']);

    // Redriven again: nothing moves twice.
    const again = await invokeHttp(httpFunction(host.functions, 'redriveDeadLetter'), {
      method: 'POST',
      params: { id: `inventory-${rows[0]!.id}` },
    });
    expect(again.status).toBe(409);
    await host.settle();
    expect(await available(host, 'PROD-004')).toBe(SEED_STOCK['PROD-004']);
  });

  it('a dead-lettered StockReleased leaves the order waiting, unclaimed; its redrive ends it cancelled', async () => {
    host = await startTestHost({}, { timers: false });
    const placed = await invokeHttp(httpFunction(host.functions, 'createOrder'), {
      json: { customerId: 'dl-released', productId: 'PROD-005', quantity: 2 },
    });
    const id = placed.body.order.id;
    await eventually(host, id, 'shipped');
    await host.runtime.db.query(`UPDATE orders.orders SET status = 'cancel_requested' WHERE id = $1`, [id]);
    // Inventory gave the stock back; Orders gave up on its StockReleased on the last delivery.
    const released = envelope('StockReleased', {
      orderId: id,
      lines: [{ productId: 'PROD-005', quantity: 2 }],
    });
    await recordOrdersDeadLetter(host.runtime.db, {
      body: released,
      orderId: id,
      messageId: released.messageId,
      deliveryCount: 10,
      error: 'lock lost',
    });
    expect(await statusOf(host, id)).toBe('cancel_requested');
    const { rows: claims } = await host.runtime.db.query(
      'SELECT 1 FROM orders.processed_messages WHERE message_id = $1',
      [released.messageId],
    );
    expect(claims).toEqual([]);
    const { rows } = await host.runtime.db.query<{ id: string }>(
      'SELECT id FROM orders.dead_letters WHERE order_id = $1',
      [id],
    );
    expect((await waiting(host)).map((w) => w.deadLetter)).toEqual([`orders-${rows[0]!.id}`]);
    const res = await invokeHttp(httpFunction(host.functions, 'redriveDeadLetter'), {
      method: 'POST',
      params: { id: `orders-${rows[0]!.id}` },
    });
    expect(res.status).toBe(202);
    await eventually(host, id, 'cancelled');
  });
});
