import { afterEach, describe, expect, it, vi } from 'vitest';
import { httpFunction, invokeHttp } from '../support/invoke.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

// GET /api/orders/{id}?include=history: "when was this cancelled?" without psql. Every answer here also passes the
// OpenAPI contract check (test/support/openapi-contract.ts), the history schema included.

let host: TestHost | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

const getOrder = (h: TestHost, id: string, query?: Record<string, string>) =>
  invokeHttp(httpFunction(h.functions, 'getOrder'), { params: { id }, ...(query ? { query } : {}) });

async function statusOf(h: TestHost, id: string, wanted: string) {
  await vi.waitFor(
    async () => {
      await h.settle();
      expect((await getOrder(h, id)).body.order.status).toBe(wanted);
    },
    { timeout: 10_000, interval: 25 },
  );
}

describe('GET /api/orders/{id}?include=history', () => {
  it('placed → shipped → cancel requested → cancelled, oldest first, each with its time', async () => {
    host = await startTestHost();
    const placed = await invokeHttp(httpFunction(host.functions, 'createOrder'), {
      json: { customerId: 'hist-1', productId: 'PROD-001', quantity: 2 },
    });
    const id = placed.body.order.id;
    await statusOf(host, id, 'shipped');
    await invokeHttp(httpFunction(host.functions, 'cancelOrder'), {
      params: { id },
      json: { reason: 'changed my mind' },
    });
    await statusOf(host, id, 'cancelled');

    const res = await getOrder(host, id, { include: 'history' });
    expect(res.status).toBe(200);
    const plain = await getOrder(host, id);
    expect(res.body.order).toEqual(plain.body.order);
    const history = res.body.history as { status: string; reason: string | null; changedAt: string }[];
    expect(history.map((h) => h.status)).toEqual(['pending', 'shipped', 'cancel_requested', 'cancelled']);
    expect(history[0]!.changedAt).toBe(plain.body.order.createdAt);
    expect(history.at(-1)!.changedAt).toBe(plain.body.order.updatedAt);
    expect(history[2]!.reason).toBe('changed my mind');
    const times = history.map((h) => Date.parse(h.changedAt));
    expect(times.every((t) => Number.isFinite(t))).toBe(true);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('without include the answer is exactly {order}, as before', async () => {
    host = await startTestHost();
    const placed = await invokeHttp(httpFunction(host.functions, 'createOrder'), {
      json: { customerId: 'hist-2', productId: 'PROD-002', quantity: 1 },
    });
    const res = await getOrder(host, placed.body.order.id);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['order']);
  });

  it('400 problem naming `include` for an unknown value; 404 for an unknown order, with or without it', async () => {
    host = await startTestHost();
    const placed = await invokeHttp(httpFunction(host.functions, 'createOrder'), {
      json: { customerId: 'hist-3', productId: 'PROD-003', quantity: 1 },
    });
    const bad = await getOrder(host, placed.body.order.id, { include: 'everything' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(['include']);
    expect(bad.body.errors[0].message).toMatch(/history/);
    for (const query of [undefined, { include: 'history' }]) {
      const missing = await getOrder(host, crypto.randomUUID(), query);
      expect(missing.status).toBe(404);
      expect(missing.body.detail).toMatch(/There is no order with id/);
    }
  });
});
