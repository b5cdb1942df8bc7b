import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { httpFunction, invokeHttp } from '../support/invoke.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

// Which answers an Idempotency-Key binds (only those of an operation that started: refusals leave the key free),
// and that every answer carrying an order has one byte shape, whether built at intake, read back or replayed.

let host: TestHost;
beforeAll(async () => {
  host = await startTestHost();
});
afterAll(async () => {
  await host?.stop();
});

const place = (json: unknown, key?: string) =>
  invokeHttp(httpFunction(host.functions, 'createOrder'), {
    json,
    ...(key ? { headers: { 'Idempotency-Key': key } } : {}),
  });

const cancel = (id: string, json: unknown, key: string) =>
  invokeHttp(httpFunction(host.functions, 'cancelOrder'), {
    params: { id },
    json,
    headers: { 'Idempotency-Key': key },
  });

const getOrder = (id: string) => invokeHttp(httpFunction(host.functions, 'getOrder'), { params: { id } });

/** The `"lines":[…]` bytes of an answer, as sent. */
const linesBytes = (text: string) => text.match(/"lines":\[[^\]]*\]/)?.[0];

async function keyRows(scope: string) {
  const { rows } = await host.runtime.db.query<{ key: string; response_status: number }>(
    'SELECT key, response_status FROM orders.idempotency_keys WHERE scope = $1',
    [scope],
  );
  return rows;
}

async function finalStatus(id: string) {
  return vi.waitFor(
    async () => {
      await host.settle();
      const { body } = await getOrder(id);
      expect(['pending', 'cancel_requested']).not.toContain(body.order.status);
      return body.order.status as string;
    },
    { timeout: 10_000, interval: 25 },
  );
}

const lines = [
  { productId: 'PROD-002', quantity: 1 },
  { productId: 'PROD-005', quantity: 3 },
];

describe('one shape for an order in every answer', () => {
  it('POST, its replay, GET, the listing and a cancel answer the lines with the same bytes', async () => {
    const key = crypto.randomUUID();
    const created = await place({ customerId: 'shape-1', lines }, key);
    expect(created.status).toBe(202);
    const expected = '"lines":[{"productId":"PROD-002","quantity":1},{"productId":"PROD-005","quantity":3}]';
    expect(linesBytes(created.text)).toBe(expected);

    const replay = await place({ customerId: 'shape-1', lines }, key);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.text).toBe(created.text);

    const id = created.body.order.id;
    const read = await getOrder(id);
    expect(linesBytes(read.text)).toBe(expected);
    expect(Object.keys(read.body.order)).toEqual(Object.keys(created.body.order));

    const listed = await invokeHttp(httpFunction(host.functions, 'listOrders'), { query: { limit: '100' } });
    const inList = JSON.stringify(listed.body.orders.find((o: { id: string }) => o.id === id));
    expect(linesBytes(inList)).toBe(expected);

    await finalStatus(id);
    const cancelKey = crypto.randomUUID();
    const cancelled = await cancel(id, { customerId: 'shape-1' }, cancelKey);
    expect(cancelled.status).toBe(202);
    expect(linesBytes(cancelled.text)).toBe(expected);
    const cancelReplay = await cancel(id, { customerId: 'shape-1' }, cancelKey);
    expect(cancelReplay.headers.get('idempotent-replayed')).toBe('true');
    expect(cancelReplay.text).toBe(cancelled.text);
  });
});

describe('POST /api/orders: which answers bind the key', () => {
  it('a 400 is not stored: the corrected retry with the same key places the order', async () => {
    const key = crypto.randomUUID();
    const refused = await place({ customerId: 'bind-1', productId: 'PROD-001', quantity: 0 }, key);
    expect(refused.status).toBe(400);
    expect(await keyRows('bind-1')).toEqual([]);

    const corrected = await place({ customerId: 'bind-1', productId: 'PROD-001', quantity: 1 }, key);
    expect(corrected.status).toBe(202);
    expect(corrected.headers.get('idempotent-replayed')).toBeNull();
  });

  it('an accepted order binds it: replayed for the same body, 422 for another', async () => {
    const key = crypto.randomUUID();
    const body = { customerId: 'bind-2', productId: 'PROD-001', quantity: 1 };
    const first = await place(body, key);
    expect(first.status).toBe(202);
    const again = await place(body, key);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
    expect((await place({ ...body, quantity: 2 }, key)).status).toBe(422);
  });
});

describe('POST /api/orders/{id}/cancel: which answers bind the key', () => {
  it('a 403 (another customerId) is not stored: the corrected retry with the same key cancels', async () => {
    const { body } = await place({ customerId: 'bind-3', productId: 'PROD-003', quantity: 1 });
    const id = body.order.id;
    const key = crypto.randomUUID();
    const refused = await cancel(id, { customerId: 'not-bind-3', reason: 'oops' }, key);
    expect(refused.status).toBe(403);
    expect(await keyRows(`cancel:${id}`)).toEqual([]);

    const corrected = await cancel(id, { customerId: 'bind-3', reason: 'oops' }, key);
    expect(corrected.status).toBe(202);
    expect(corrected.headers.get('idempotent-replayed')).toBeNull();
    expect(corrected.body.order.status).toBe('cancel_requested');
    expect(await finalStatus(id)).toBe('cancelled');
  });

  it('a 400 and a 404 are not stored either', async () => {
    const { body } = await place({ customerId: 'bind-4', productId: 'PROD-003', quantity: 1 });
    const id = body.order.id;
    const key = crypto.randomUUID();
    expect((await cancel(id, { customerId: 'bind-4', extra: true }, key)).status).toBe(400);
    const unknown = crypto.randomUUID();
    expect((await cancel(unknown, {}, key)).status).toBe(404);
    expect(await keyRows(`cancel:${unknown}`)).toEqual([]);
    expect(await keyRows(`cancel:${id}`)).toEqual([]);
    expect((await cancel(id, { customerId: 'bind-4' }, key)).status).toBe(202);
  });

  it('a started cancel binds it: 202 and 409 replayed with Idempotent-Replayed, 422 for another body', async () => {
    const { body } = await place({ customerId: 'bind-5', productId: 'PROD-003', quantity: 1 });
    const id = body.order.id;
    const key = crypto.randomUUID();
    const first = await cancel(id, { reason: 'changed my mind' }, key);
    expect(first.status).toBe(202);
    expect(await keyRows(`cancel:${id}`)).toEqual([{ key, response_status: 202 }]);
    const again = await cancel(id, { reason: 'changed my mind' }, key);
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
    expect((await cancel(id, { reason: 'another reason' }, key)).status).toBe(422);

    // Once cancelled, a new cancel is refused after it started (the order's state decides): that 409 binds.
    expect(await finalStatus(id)).toBe('cancelled');
    const lateKey = crypto.randomUUID();
    const late = await cancel(id, {}, lateKey);
    expect(late.status).toBe(409);
    expect(late.body.detail).toMatch(/already cancelled/);
    const lateAgain = await cancel(id, {}, lateKey);
    expect(lateAgain.status).toBe(409);
    expect(lateAgain.headers.get('idempotent-replayed')).toBe('true');
    expect(lateAgain.text).toBe(late.text);
  });
});
