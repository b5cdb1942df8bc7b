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

const health = () => httpFunction(host.functions, 'health');
const details = () => httpFunction(host.functions, 'healthDetails');

describe('health', () => {
  it('is ok when both services reach their tables; the details route adds backlogs and counters', async () => {
    const open = await invokeHttp(health(), { params: {} });
    expect(open.status).toBe(200);
    expect(open.body.services.orders).toEqual({ status: 'ok', detail: 'The orders service is available.' });
    expect(open.body.breakers).toEqual({ database: 'closed', publish: 'closed' });
    expect(open.body.chaos).toBeUndefined();
    const res = await invokeHttp(details(), { params: {} });
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
      const all = await invokeHttp(details(), { params: {} });
      expect(all.status).toBe(503);
      expect(all.body.services.inventory.detail).toMatch(/inventory\.reservations.*npm run migrate/);
      // Anonymous callers learn that it is down, not which table is missing.
      const anonymous = await invokeHttp(health(), { params: {} });
      expect(anonymous.status).toBe(503);
      expect(anonymous.body.services.inventory.detail).toMatch(/cannot reach its database or tables/);
      expect(anonymous.text).not.toMatch(/reservations|migrate/);
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

  it('answers 503 while the database breaker is open, even though the database answers its own check', async () => {
    // Isolated = held open: what the breaker is for the seconds after an outage, while every order gets 503.
    const held = host.runtime.policies.breakers.database.isolate();
    try {
      for (const fn of [health(), details()]) {
        const res = await invokeHttp(fn, { params: {} });
        expect(res.status, fn.name).toBe(503);
        expect(res.headers.get('retry-after')).toBeTruthy();
        expect(res.body.breakers.database).toBe('isolated');
        expect(res.body.services.orders.detail).toMatch(/circuit breaker (is )?open/);
      }
    } finally {
      held.dispose();
    }
    expect((await invokeHttp(health(), { params: {} })).status).toBe(200);
  });
});
