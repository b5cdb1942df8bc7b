import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORDERS_STATEMENTS } from '../../functions/orders/orders-repository.js';
import { realPostgres, testDatabaseClient } from '../support/test-database.js';

// GET /api/me/orders must stay one range scan of (customer_id, created_at DESC, id DESC) however many orders the
// shop has: no sequential scan, no sort of a customer's whole history. Real PostgreSQL only: plans are the server's.

describe.runIf(realPostgres)("a customer's orders page is one range scan of its index", () => {
  let connected: Awaited<ReturnType<typeof testDatabaseClient>>;

  beforeAll(async () => {
    connected = await testDatabaseClient();
    await connected.client.query(
      `INSERT INTO orders.orders (id, customer_id, product_id, quantity, status, lines, created_at)
       SELECT gen_random_uuid(), 'c' || (g % 200), 'PROD-001', 1, 'shipped',
              '[{"productId":"PROD-001","quantity":1}]', now() - g * interval '1 second'
         FROM generate_series(1, 20000) AS g`,
    );
    await connected.client.query('ANALYZE orders.orders');
  });
  afterAll(async () => {
    await connected?.close();
  });

  async function plan(params: unknown[]): Promise<string> {
    const { client } = connected;
    await client.query('BEGIN');
    try {
      await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
      await client.query(
        `PREPARE mine(text, timestamptz, uuid, int, text) AS ${ORDERS_STATEMENTS.LIST_CUSTOMER_ORDERS}`,
      );
      const literals = params.map((p) => (p === null ? 'NULL' : client.escapeLiteral(String(p))));
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (COSTS OFF) EXECUTE mine(${literals.join(', ')})`,
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      await client.query('ROLLBACK');
      await client.query('DEALLOCATE ALL');
    }
  }

  it('the first page, a later page and a status filter', async () => {
    const later = [null, new Date().toISOString(), crypto.randomUUID(), 21, 'c7'];
    for (const params of [[null, null, null, 21, 'c7'], later, ['pending', null, null, 21, 'c7']]) {
      const text = await plan(params);
      expect(text, text).toContain('orders_customer_created_idx');
      expect(text, text).not.toMatch(/Seq Scan|Sort/);
    }
  });
});
