import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpFunction, invokeHttp } from '../support/invoke.js';
import { realPostgres } from '../support/test-database.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

// Handlers called in-process through HttpRequest / InvocationContext, one test per status code of the contract.
let host: TestHost;
const order = { customerId: 'cust-1', productId: 'PROD-001', quantity: 2 };

beforeAll(async () => {
  host = await startTestHost();
});
afterAll(async () => {
  await host?.stop();
});

const create = () => httpFunction(host.functions, 'createOrder');
const getOne = () => httpFunction(host.functions, 'getOrder');
const list = () => httpFunction(host.functions, 'listOrders');

describe('POST /api/orders', () => {
  it('202: accepts a valid order as pending, with Location', async () => {
    const res = await invokeHttp(create(), { json: order });
    expect(res.status).toBe(202);
    expect(res.body.order).toMatchObject({ ...order, status: 'pending', reason: null });
    expect(res.headers.get('location')).toBe(`/api/orders/${res.body.order.id}`);
  });

  it('replays the original status and body for the same key and body, with Idempotent-Replayed', async () => {
    const key = `key-${Date.now()}`;
    const first = await invokeHttp(create(), { json: order, headers: { 'Idempotency-Key': key } });
    const again = await invokeHttp(create(), { json: order, headers: { 'Idempotency-Key': key } });
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.status).toBe(202);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('location')).toBe(`/api/orders/${first.body.order.id}`);
  });

  it('accepts the key in the body for seed clients, and productName', async () => {
    const key = `body-key-${Date.now()}`;
    const body = { ...order, productName: 'PlayStation 5', idempotencyKey: key };
    const first = await invokeHttp(create(), { json: body });
    const again = await invokeHttp(create(), { json: body, headers: { 'Idempotency-Key': key } });
    expect(first.status).toBe(202);
    expect(again.body.order.id).toBe(first.body.order.id);
  });

  it('422: the same key with a different body', async () => {
    const key = `reuse-${Date.now()}`;
    await invokeHttp(create(), { json: order, headers: { 'Idempotency-Key': key } });
    const res = await invokeHttp(create(), {
      json: { ...order, quantity: 3 },
      headers: { 'Idempotency-Key': key },
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.body.detail).toMatch(/different request body/);
  });

  it("another customer's key neither replays nor reveals the order it placed", async () => {
    const key = `shared-${Date.now()}`;
    const mine = await invokeHttp(create(), { json: order, headers: { 'Idempotency-Key': key } });
    expect(mine.status).toBe(202);
    // Another customer sends the same key: with their own body, and with a body of a different shape.
    for (const body of [
      { ...order, customerId: 'cust-2' },
      { ...order, customerId: 'cust-3', quantity: 9 },
    ]) {
      const theirs = await invokeHttp(create(), { json: body, headers: { 'Idempotency-Key': key } });
      expect(theirs.status).toBe(202);
      expect(theirs.headers.get('idempotent-replayed')).toBeNull();
      expect(theirs.body.order.id).not.toBe(mine.body.order.id);
      expect(theirs.body.order.customerId).toBe(body.customerId);
    }
    // The key still replays for its owner.
    const again = await invokeHttp(create(), { json: order, headers: { 'Idempotency-Key': key } });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.order.id).toBe(mine.body.order.id);
  });

  it.each([
    [
      'malformed JSON',
      { body: '{"customerId": ', headers: { 'content-type': 'application/json' } },
      /not valid JSON/,
    ],
    ['a wrong type', { json: { ...order, quantity: '2' } }, /quantity: must be a number/],
    ['an unknown field', { json: { ...order, colour: 'red' } }, /unknown field\(s\): colour/],
    ['quantity 0', { json: { ...order, quantity: 0 } }, /at least 1/],
    ['quantity 1001', { json: { ...order, quantity: 1001 } }, /at most 1000/],
    ['a fractional quantity', { json: { ...order, quantity: 1.5 } }, /whole number/],
    ['a missing field', { json: { productId: 'PROD-001', quantity: 1 } }, /customerId/],
    ['an array body', { json: [order] }, /body/],
    [
      'an invalid Idempotency-Key',
      { json: order, headers: { 'Idempotency-Key': 'has space' } },
      /printable ASCII/,
    ],
  ])('400: %s, with an actionable problem', async (_name, init, detail) => {
    const res = await invokeHttp(create(), init as never);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.body.status).toBe(400);
    expect(res.body.detail).toMatch(detail);
  });

  it('400 lists the failing fields', async () => {
    const res = await invokeHttp(create(), {
      json: { customerId: '', productId: 'PROD-001', quantity: 5000 },
    });
    expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['customerId', 'quantity']);
  });

  it('413: a body over 64 KiB', async () => {
    const res = await invokeHttp(create(), { json: { ...order, customerId: 'x'.repeat(70 * 1024) } });
    expect(res.status).toBe(413);
    expect(res.body.detail).toMatch(/65536 bytes/);
  });

  it('415: a wrong content type', async () => {
    const res = await invokeHttp(create(), {
      body: JSON.stringify(order),
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(415);
    expect(res.body.detail).toMatch(/Content-Type: application\/json/);
  });

  it.runIf(realPostgres)('409: a key whose first request is still in flight', async () => {
    const key = `in-flight-${Date.now()}`;
    // Hold the key the way an in-flight request does: an uncommitted idempotency record.
    const blocker = new pg.Client({ connectionString: host.database.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(
        `INSERT INTO orders.idempotency_keys (scope, key, fingerprint, response_status, response_body, expires_at)
         VALUES ($2, $1, 'x', 202, '{}', now() + interval '1 hour')`,
        [key, order.customerId],
      );
      const res = await invokeHttp(create(), { json: order, headers: { 'Idempotency-Key': key } });
      expect(res.status).toBe(409);
      expect(res.body.detail).toMatch(/still being processed/);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
  });

  it('takes over an expired key as a new request', async () => {
    const key = `expired-${Date.now()}`;
    const first = await invokeHttp(create(), { json: order, headers: { 'Idempotency-Key': key } });
    await host.runtime.db.query(
      `UPDATE orders.idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`,
      [key],
    );
    const second = await invokeHttp(create(), {
      json: { ...order, quantity: 7 },
      headers: { 'Idempotency-Key': key },
    });
    expect(second.status).toBe(202);
    expect(second.body.order.id).not.toBe(first.body.order.id);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
  });
});

describe('GET /api/orders', () => {
  it('200: returns an order by id; 404 problem for an unknown or malformed id', async () => {
    const created = await invokeHttp(create(), { json: order });
    const res = await invokeHttp(getOne(), { params: { id: created.body.order.id } });
    expect(res.status).toBe(200);
    expect(res.body.order.id).toBe(created.body.order.id);
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const missing = await invokeHttp(getOne(), { params: { id } });
      expect(missing.status).toBe(404);
      expect(missing.headers.get('content-type')).toBe('application/problem+json');
      expect(missing.body.detail).toContain(id);
    }
  });

  it('lists newest first with a cursor, and filters by status', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await invokeHttp(create(), { json: { ...order, customerId: `pager-${i}` } })).body.order.id);
    await host.settle();
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await invokeHttp(list(), { query: { limit: '2', ...(cursor ? { cursor } : {}) } });
      expect(page.status).toBe(200);
      expect(page.body.orders.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.orders.map((o: { id: string }) => o.id));
      cursor = page.body.nextCursor ?? undefined;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.slice(0, 5)).toEqual([...ids].reverse());
    const shipped = await invokeHttp(list(), { query: { status: 'shipped', limit: '100' } });
    expect(shipped.body.orders.length).toBeGreaterThan(0);
    expect(shipped.body.orders.every((o: { status: string }) => o.status === 'shipped')).toBe(true);
  });

  it('400: a bad status, limit or cursor', async () => {
    const queries: Record<string, string>[] = [
      { status: 'lost' },
      { limit: '0' },
      { limit: 'many' },
      { cursor: 'garbage' },
      { colour: 'red' },
    ];
    for (const query of queries) {
      const res = await invokeHttp(list(), { query });
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
  });
});
