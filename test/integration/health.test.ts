import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpFunction, invokeHttp } from '../support/invoke.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

let host: TestHost;
beforeAll(async () => {
  host = await startTestHost({}, { timers: false });
});
afterAll(async () => {
  await host?.stop();
});

describe('health', () => {
  it('is ok when both services reach their tables', async () => {
    const res = await invokeHttp(httpFunction(host.functions, 'health'), { params: {} });
    expect(res.status).toBe(200);
    expect(res.body.services.orders).toMatchObject({
      status: 'ok',
      outbox: { unpublished: 0 },
      deadLetters: 0,
    });
    expect(res.body.services.inventory.status).toBe('ok');
    expect(res.body.breakers).toEqual({ database: 'closed', publish: 'closed' });
    expect(res.body.chaos).toEqual({ gremlinDelays: 0, crashes: { inventory: 0, orders: 0 } });
  });

  it("answers 503 with a clear message when a service's tables are missing, and only for that service", async () => {
    await host.runtime.db.query('ALTER TABLE inventory.reservations RENAME TO reservations_moved');
    try {
      const all = await invokeHttp(httpFunction(host.functions, 'health'), { params: {} });
      expect(all.status).toBe(503);
      expect(all.body.services.inventory.detail).toMatch(/inventory\.reservations.*npm run migrate/);
      const orders = await invokeHttp(httpFunction(host.functions, 'health'), {
        params: { service: 'orders' },
      });
      expect(orders.status).toBe(200);
      const inventory = await invokeHttp(httpFunction(host.functions, 'health'), {
        params: { service: 'inventory' },
      });
      expect(inventory.status).toBe(503);
      expect(inventory.headers.get('retry-after')).toBeTruthy();
    } finally {
      await host.runtime.db.query('ALTER TABLE inventory.reservations_moved RENAME TO reservations');
    }
  });
});
