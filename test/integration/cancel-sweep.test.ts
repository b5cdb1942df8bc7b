import { afterEach, describe, expect, it, vi } from 'vitest';
import { envelope } from '../../shared/messaging/contracts.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { SEED_STOCK } from '../support/invariants.js';
import { httpFunction, invokeHttp } from '../support/invoke.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

// The pending-order sweeper re-asks a requested cancel on its own clock (CANCEL_SWEEP_AFTER_SECONDS), not the
// pending orders' 30 minutes.

let host: TestHost | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const statusOf = async (h: TestHost, id: string) =>
  (await invokeHttp(httpFunction(h.functions, 'getOrder'), { params: { id } })).body.order.status;

async function stock(h: TestHost): Promise<Record<string, number>> {
  const { rows } = await h.runtime.db.query<{ product_id: string; available: number }>(
    'SELECT product_id, available FROM inventory.products',
  );
  return Object.fromEntries(rows.map((r) => [r.product_id, r.available]));
}

/** A shipped order whose cancel was requested two minutes ago, its OrderCancelled sent and lost on the way. */
async function cancelLost(h: TestHost): Promise<string> {
  const placed = await invokeHttp(httpFunction(h.functions, 'createOrder'), {
    json: { customerId: 'sweep-1', productId: 'PROD-002', quantity: 3 },
  });
  const id = placed.body.order.id;
  await vi.waitFor(
    async () => {
      await h.settle();
      expect(await statusOf(h, id)).toBe('shipped');
    },
    { timeout: 10_000, interval: 25 },
  );
  await h.runtime.db.query(
    `UPDATE orders.orders SET status = 'cancel_requested', updated_at = now() - interval '2 minutes' WHERE id = $1`,
    [id],
  );
  const cancelled = envelope('OrderCancelled', { orderId: id });
  await h.runtime.db.query(
    `INSERT INTO orders.outbox (message_id, queue, type, body, attempts, published_at)
     VALUES ($1, $2, 'OrderCancelled', $3, 1, now() - interval '2 minutes')`,
    [cancelled.messageId, QUEUES.reservations, JSON.stringify(cancelled)],
  );
  return id;
}

async function sweep(h: TestHost) {
  const sweeper = h.functions.find((f) => f.name === 'pendingOrderSweeper');
  if (sweeper?.kind !== 'timer') throw new Error('no pendingOrderSweeper timer');
  await sweeper.handler({} as never, { warn() {}, log() {} } as never);
  await h.settle();
}

describe('the sweeper re-asks a requested cancel on its own clock', () => {
  it('a cancel requested longer than CANCEL_SWEEP_AFTER_SECONDS: OrderCancelled again, stock back, cancelled', async () => {
    host = await startTestHost({
      PENDING_ORDER_SWEEP_AFTER_SECONDS: '3600',
      CANCEL_SWEEP_AFTER_SECONDS: '60',
    });
    const id = await cancelLost(host);
    await sweep(host);
    await vi.waitFor(
      async () => {
        await host!.settle();
        expect(await statusOf(host!, id)).toBe('cancelled');
      },
      { timeout: 10_000, interval: 25 },
    );
    expect(await stock(host)).toEqual(SEED_STOCK);
  });

  it('a cancel requested for less than it is left alone, whatever the pending clock says', async () => {
    host = await startTestHost({
      PENDING_ORDER_SWEEP_AFTER_SECONDS: '1',
      CANCEL_SWEEP_AFTER_SECONDS: '3600',
    });
    const id = await cancelLost(host);
    await sweep(host);
    expect(await statusOf(host, id)).toBe('cancel_requested');
    expect((await stock(host))['PROD-002']).toBe(SEED_STOCK['PROD-002']! - 3);
  });
});
