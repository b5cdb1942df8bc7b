import { randomUUID } from 'node:crypto';
import type { Timer } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneInventory } from '../../functions/inventory/retention.js';
import { pruneOrders } from '../../functions/orders/retention.js';
import { outboxRelayHandler } from '../../functions/platform/outbox-relay.js';
import type { Database } from '../../shared/db/database.js';
import { PRUNE_BATCH, PRUNE_MAX_BATCHES, pruneInBatches } from '../../shared/db/prune.js';
import { InvocationContext } from '../../shared/http/azure-functions.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

// Every table that grows with traffic is pruned by its service's relay timer: rows past their retention go,
// recent ones (and pending orders, and unpublished outbox rows, however old) stay.
let host: TestHost;
beforeAll(async () => {
  host = await startTestHost({}, { timers: false });
});
afterAll(async () => {
  await host?.stop();
});

const q = (sql: string, values: unknown[] = []) => host.runtime.db.query(sql, values);
const ago = (interval: string) => `now() - interval '${interval}'`;

async function order(status: string, age: string): Promise<string> {
  const id = randomUUID();
  await q(
    `INSERT INTO orders.orders (id, customer_id, product_id, quantity, status, created_at, updated_at)
     VALUES ($1, 'retention', 'PROD-001', 1, $2, ${ago(age)}, ${ago(age)})`,
    [id, status],
  );
  if (status !== 'pending') {
    await q(
      `INSERT INTO orders.status_changes (order_id, from_status, to_status, message_id, changed_at)
       VALUES ($1, 'pending', $2, $3, ${ago(age)})`,
      [id, status, `m-${id}`],
    );
  }
  return id;
}

async function seed(schema: 'orders' | 'inventory', tag: string, messageAge: string, deadLetterAge: string) {
  await q(
    `INSERT INTO ${schema}.processed_messages (message_id, type, processed_at) VALUES ($1, 'T', ${ago(messageAge)})`,
    [`${schema}-${tag}`],
  );
  await q(
    `INSERT INTO ${schema}.dead_letters (queue, message_id, error, delivery_count, created_at)
     VALUES ('q', $1, 'e', 1, ${ago(deadLetterAge)})`,
    [`${schema}-${tag}`],
  );
  await q(
    `INSERT INTO ${schema}.outbox (message_id, queue, type, body, published_at, created_at)
     VALUES ($1, 'q', 'T', '{}', ${ago(messageAge)}, ${ago(messageAge)})`,
    [`${schema}-${tag}`],
  );
}

const count = async (table: string, where = 'true') =>
  Number((await q(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`)).rows[0]!.n);

const run = (handler: ReturnType<typeof outboxRelayHandler>) =>
  handler({} as Timer, new InvocationContext({ functionName: 'relay', logHandler: () => {} }));

describe('retention', () => {
  it('prunes what is past its retention from every growing table, and keeps what is recent', async () => {
    // Defaults: processed messages 168 h, dead letters 30 d, outbox 72 h, history 365 d.
    const oldShipped = await order('shipped', '400 days');
    const oldPending = await order('pending', '400 days');
    const recentShipped = await order('shipped', '1 day');
    for (const schema of ['orders', 'inventory'] as const) {
      await seed(schema, 'old', '200 hours', '40 days');
      await seed(schema, 'recent', '1 hour', '1 day');
    }
    await q(
      `INSERT INTO orders.outbox (message_id, queue, type, body, created_at, next_attempt_at)
       VALUES ('orders-unpublished', 'q', 'T', '{}', ${ago('400 days')}, now() + interval '1 day')`,
    );
    await q(
      `INSERT INTO orders.idempotency_keys (scope, key, fingerprint, response_status, response_body, expires_at)
       VALUES ('cust-1', 'expired', 'f', 202, '{}', ${ago('1 hour')}),
              ('cust-1', 'live', 'f', 202, '{}', now() + interval '1 hour')`,
    );
    for (const [id, age] of [
      [oldShipped, '400 days'],
      [recentShipped, '1 day'],
    ] as const) {
      await q(
        `INSERT INTO inventory.reservations (order_id, product_id, quantity, result, message_id, created_at)
         VALUES ($1, 'PROD-001', 1, 'reserved', $2, ${ago(age)})`,
        [id, `r-${id}`],
      );
    }
    await q(
      `INSERT INTO inventory.restocks (product_id, quantity, created_at)
       VALUES ('PROD-001', 1, ${ago('400 days')}), ('PROD-001', 2, ${ago('1 day')})`,
    );

    // Fresh handlers: housekeeping runs on a handler's first pass.
    await run(outboxRelayHandler(host.runtime, 'orders', pruneOrders));
    await run(outboxRelayHandler(host.runtime, 'inventory', pruneInventory));

    const ids = (await q('SELECT id FROM orders.orders ORDER BY id')).rows.map((r) => r.id).sort();
    expect(ids).toEqual([oldPending, recentShipped].sort());
    expect(await count('orders.status_changes')).toBe(1);
    expect(await count('orders.status_changes', `order_id = '${recentShipped}'`)).toBe(1);
    for (const schema of ['orders', 'inventory']) {
      for (const table of ['processed_messages', 'dead_letters']) {
        const left = (await q(`SELECT message_id FROM ${schema}.${table}`)).rows.map((r) => r.message_id);
        expect(left, `${schema}.${table}`).toEqual([`${schema}-recent`]);
      }
      expect(await count(`${schema}.outbox`, `message_id = '${schema}-old'`)).toBe(0);
      expect(await count(`${schema}.outbox`, `message_id = '${schema}-recent'`)).toBe(1);
    }
    expect(await count('orders.outbox', `message_id = 'orders-unpublished'`)).toBe(1);
    expect((await q('SELECT key FROM orders.idempotency_keys')).rows.map((r) => r.key)).toEqual(['live']);
    expect((await q('SELECT order_id FROM inventory.reservations')).rows.map((r) => r.order_id)).toEqual([
      recentShipped,
    ]);
    expect((await q('SELECT quantity FROM inventory.restocks')).rows.map((r) => r.quantity)).toEqual([2]);
  });

  it('deletes in bounded statements: a backlog is worked off over several runs', async () => {
    const statements: string[] = [];
    const db = {
      query: async (sql: string) => {
        statements.push(sql);
        return { rowCount: PRUNE_BATCH };
      },
    } as unknown as Database;
    expect(await pruneInBatches(db, 'DELETE …')).toBe(PRUNE_BATCH * PRUNE_MAX_BATCHES);
    expect(statements).toHaveLength(PRUNE_MAX_BATCHES);
  });
});
