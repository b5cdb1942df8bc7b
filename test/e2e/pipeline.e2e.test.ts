import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  postOrder,
  startTestHost,
  type TestHost,
  waitForOrderFinal,
  withFunctionKey,
} from '../support/test-host.js';

// The whole pipeline through the local host over HTTP: intake → queue → Inventory → queue → Orders.
let host: TestHost;
beforeAll(async () => {
  host = await startTestHost();
});
afterAll(async () => {
  await host?.stop();
});

async function place(body: Record<string, unknown>) {
  const res = await postOrder(host.url, body, { 'Idempotency-Key': crypto.randomUUID() });
  expect(res.status).toBe(202);
  const { order } = (await res.json()) as { order: { id: string; status: string } };
  expect(order.status).toBe('pending');
  return waitForOrderFinal(host.url, order.id);
}

describe('order pipeline over HTTP', () => {
  it('ships an order and decrements stock by its quantity', async () => {
    const before = (await (await fetch(`${host.url}/api/inventory/PROD-002`)).json()) as {
      item: { available: number };
    };
    const final = await place({ customerId: 'e2e', productId: 'PROD-002', quantity: 3 });
    expect(final).toMatchObject({ status: 'shipped', reason: null });
    const after = (await (await fetch(`${host.url}/api/inventory/PROD-002`)).json()) as {
      item: { available: number };
    };
    expect(after.item.available).toBe(before.item.available - 3);
  });

  it('rejects an unknown product with reason unknown_product', async () => {
    expect(await place({ customerId: 'e2e', productId: 'PROD-404', quantity: 1 })).toMatchObject({
      status: 'rejected',
      reason: 'unknown_product',
    });
  });

  it('rejects an order larger than the stock with reason out_of_stock, leaving stock untouched', async () => {
    const final = await place({ customerId: 'e2e', productId: 'PROD-004', quantity: 51 });
    expect(final).toMatchObject({ status: 'rejected', reason: 'out_of_stock' });
    const item = (await (await fetch(`${host.url}/api/inventory/PROD-004`)).json()) as {
      item: { available: number };
    };
    expect(item.item.available).toBe(50);
  });

  it('answers 201 with the final order when the client prefers to wait', async () => {
    const res = await postOrder(
      host.url,
      { customerId: 'e2e', productId: 'PROD-005', quantity: 1 },
      { Prefer: 'wait=5' },
    );
    expect(res.status).toBe(201);
    expect(res.headers.get('preference-applied')).toBe('wait=5');
    expect(((await res.json()) as { order: { status: string } }).order.status).toBe('shipped');
  });

  it('a replay of a key whose request waited answers what that request got: 201 with the final order', async () => {
    // Concurrent waits, so their final answers are stored together (one statement for the burst).
    const keys = Array.from({ length: 12 }, () => crypto.randomUUID());
    const body = { customerId: 'e2e-wait', productId: 'PROD-003', quantity: 1 };
    const first = await Promise.all(
      keys.map((key) => postOrder(host.url, body, { 'Idempotency-Key': key, Prefer: 'wait=5' })),
    );
    const answers = await Promise.all(
      first.map(async (res) => ({ status: res.status, text: await res.text() })),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(201);
      expect((JSON.parse(answer.text) as { order: { status: string } }).order.status).toBe('shipped');
    }
    for (const [i, key] of keys.entries()) {
      const replay = await postOrder(host.url, body, { 'Idempotency-Key': key });
      expect(replay.status).toBe(201);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await replay.text()).toBe(answers[i]!.text);
    }
  });

  it('restocks a product (admin) and validates the quantity', async () => {
    const res = await fetch(`${host.url}/api/inventory/PROD-001/restock`, {
      method: 'POST',
      headers: withFunctionKey(host, { 'content-type': 'application/json' }),
      body: JSON.stringify({ quantity: 10 }),
    });
    expect(res.status).toBe(200);
    const bad = await fetch(`${host.url}/api/inventory/PROD-001/restock`, {
      method: 'POST',
      headers: withFunctionKey(host, { 'content-type': 'application/json' }),
      body: JSON.stringify({ quantity: -1 }),
    });
    expect(bad.status).toBe(400);
    const unknown = await fetch(`${host.url}/api/inventory/NOPE/restock`, {
      method: 'POST',
      headers: withFunctionKey(host, { 'content-type': 'application/json' }),
      body: JSON.stringify({ quantity: 1 }),
    });
    expect(unknown.status).toBe(404);
  });

  it('lists stock levels and serves the health of both services', async () => {
    const list = (await (await fetch(`${host.url}/api/inventory`)).json()) as {
      items: { productId: string }[];
    };
    expect(list.items.map((i: { productId: string }) => i.productId)).toEqual([
      'PROD-001',
      'PROD-002',
      'PROD-003',
      'PROD-004',
      'PROD-005',
    ]);
    for (const path of ['health', 'health/orders', 'health/inventory']) {
      const res = await fetch(`${host.url}/api/${path}`);
      expect(res.status, path).toBe(200);
      expect(((await res.json()) as { status: string }).status).toBe('ok');
    }
    expect((await fetch(`${host.url}/api/health/payments`)).status).toBe(404);
  });

  it('answers unknown routes and wrong methods with problems', async () => {
    expect((await fetch(`${host.url}/api/nothing`)).status).toBe(404);
    const res = await fetch(`${host.url}/api/orders`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toContain('POST');
  });
});
