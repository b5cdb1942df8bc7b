import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
    const batch = pending.map((o) => ({
      scope: o.customer_id,
      key: `k-${o.id}`,
      order_id: o.id,
      status: 201,
      body: '{}',
    }));
    const plan = await genericPlan(ORDERS_STATEMENTS.STORE_FINAL_RESPONSES, batch);
    expect(plan).toContain('idempotency_keys_pkey');
    expect(plan).not.toMatch(/Seq Scan on idempotency_keys\b/);
  });

  it("a key another order took over, before or while the answers are stored, keeps the new owner's answer", async () => {
    const { rows } = await connected.client.query<{ id: string; customer_id: string }>(
      `SELECT id, customer_id FROM orders.orders WHERE status = 'shipped' ORDER BY id LIMIT 3`,
    );
    type Row = { id: string; customer_id: string };
    const [before, during, kept] = rows as [Row, Row, Row];
    const answer = (o: Row) => ({
      scope: o.customer_id,
      key: `k-${o.id}`,
      order_id: o.id,
      status: 201,
      body: `final ${o.id}`,
    });
    // Another request takes a key over (its TTL ran out): one before the answers are stored, one while.
    const other = new pg.Client({ connectionString: connected.url });
    const takeOver = (o: Row) =>
      other.query(
        `UPDATE orders.idempotency_keys SET order_id = gen_random_uuid(), response_body = 'new owner'
          WHERE scope = $1 AND key = $2`,
        [o.customer_id, `k-${o.id}`],
      );
    await other.connect();
    try {
      await takeOver(before);
      await other.query('BEGIN');
      await takeOver(during);
      const storing = connected.client.query(ORDERS_STATEMENTS.STORE_FINAL_RESPONSES, [
        JSON.stringify([answer(before), answer(during), answer(kept)]),
      ]);
      // The store waits for the takeover's row lock (pg_locks shows it waiting), then the takeover commits.
      await vi.waitFor(
        async () => {
          const { rows: waiting } = await other.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'`,
          );
          expect(waiting[0]!.n).toBeGreaterThan(0);
        },
        { timeout: 5000, interval: 20 },
      );
      await other.query('COMMIT');
      expect((await storing).rowCount).toBe(1);
    } finally {
      await other.end();
    }
    const { rows: stored } = await connected.client.query<{ key: string; response_body: string }>(
      `SELECT key, response_body FROM orders.idempotency_keys WHERE key = ANY($1) ORDER BY key`,
      [[`k-${before.id}`, `k-${during.id}`, `k-${kept.id}`]],
    );
    expect(Object.fromEntries(stored.map((r) => [r.key, r.response_body]))).toEqual({
      [`k-${before.id}`]: 'new owner',
      [`k-${during.id}`]: 'new owner',
      [`k-${kept.id}`]: `final ${kept.id}`,
    });
  });
});
