import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { httpFunction, invokeHttp } from '../support/invoke.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

// Every answer carrying an order has one byte shape, whether built at intake, read back or replayed.

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
