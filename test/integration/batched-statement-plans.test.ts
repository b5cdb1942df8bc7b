import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORDERS_STATEMENTS } from '../../functions/orders/orders-repository.js';
import { realPostgres, testDatabaseClient } from '../support/test-database.js';

// The batched writes run as named statements, so after five calls PostgreSQL keeps one generic plan per
// connection, made without seeing the batch (a set-returning function counts as 100 rows). Written as plain joins,
// that plan was a hash join over a sequential scan of every order or key on every batch once the tables held a
// few thousand rows: the cost of a batch grew with the shop's history (docs/performance.md). Each must find its
// rows through the primary key at any table size. Real PostgreSQL only: plans are what the server decides.

const ORDERS = 3000;

describe.runIf(realPostgres)('batched statements use the primary key, whatever the table size', () => {
  let connected: Awaited<ReturnType<typeof testDatabaseClient>>;
  let pending: { id: string; customer_id: string }[];

  beforeAll(async () => {
    connected = await testDatabaseClient();
    const { client } = connected;
    await client.query(
      `INSERT INTO orders.orders (id, customer_id, product_id, quantity, status, lines)
       SELECT gen_random_uuid(), 'c' || g, 'PROD-001', 1, CASE WHEN g % 10 = 0 THEN 'pending' ELSE 'shipped' END,
              '[{"productId":"PROD-001","quantity":1}]'
         FROM generate_series(1, $1::int) AS g`,
      [ORDERS],
    );
    await client.query(
      `INSERT INTO orders.idempotency_keys (scope, key, fingerprint, response_status, response_body, order_id, expires_at)
       SELECT customer_id, 'k-' || id, 'f', 202, '{}', id, now() + interval '1 day' FROM orders.orders`,
    );
    await client.query('ANALYZE orders.orders, orders.idempotency_keys');
    pending = (
      await client.query<{ id: string; customer_id: string }>(
        `SELECT id, customer_id FROM orders.orders WHERE status = 'pending' LIMIT 10`,
      )
    ).rows;
  });
  afterAll(async () => {
    await connected?.close();
  });

  /** The generic plan PostgreSQL caches for `text`, run once on `batch` inside a rolled-back transaction. */
  async function genericPlan(text: string, batch: unknown): Promise<string> {
    const { client } = connected;
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL plan_cache_mode = force_generic_plan`);
      await client.query(`PREPARE batched(jsonb) AS ${text}`);
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE batched('${JSON.stringify(batch).replaceAll("'", "''")}')`,
      );
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      await client.query('ROLLBACK');
      await client.query('DEALLOCATE ALL');
    }
  }

  it('a batch of status changes reads only its own orders', async () => {
    const batch = pending.map((o, n) => ({
      n,
      order_id: o.id,
      from_status: 'pending',
      status: 'shipped',
      reason: null,
      detail: null,
      message_id: `InventoryReserved:${o.id}`,
      type: 'InventoryReserved',
    }));
    const plan = await genericPlan(ORDERS_STATEMENTS.CHANGE_STATUS, batch);
    expect(plan).toContain('orders_pkey');
    expect(plan).not.toMatch(/Seq Scan on orders\b/);
  });

  it('a batch of stored final answers reads only its own keys', async () => {
    const batch = pending.map((o) => ({ scope: o.customer_id, key: `k-${o.id}`, status: 201, body: '{}' }));
    const plan = await genericPlan(ORDERS_STATEMENTS.STORE_FINAL_RESPONSES, batch);
    expect(plan).toContain('idempotency_keys_pkey');
    expect(plan).not.toMatch(/Seq Scan on idempotency_keys\b/);
    expect(plan).toMatch(/Update on idempotency_keys k \(actual rows=0 loops=1\)/);
    expect(plan).toMatch(/Tid Scan on idempotency_keys k \(actual rows=10 loops=1\)/);
  });
});
