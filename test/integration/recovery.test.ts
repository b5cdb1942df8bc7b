import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { generateFunctionKey } from '../../infra/local-host/function-keys.js';
import { silentLog } from '../../infra/local-host/invocation-context.js';
import { type LocalHost, startLocalHost } from '../../infra/local-host/local-host.js';
import { envelope } from '../../shared/messaging/contracts.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { type HostProcess, startHostProcess } from '../../tools/bench/host-process.js';
import { type PipelineState, pipelineState, SEED_STOCK, settledState } from '../support/invariants.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { realPostgres, type TestDatabase, testDatabase } from '../support/test-database.js';
import { postOrder, startTestHost, type TestHost, testSettings } from '../support/test-host.js';

// No order left pending: the outbox row of a message is marked published only once the message is safe, the relay
// re-sends what a dead process or a database outage lost, and the sweeper re-sends what was lost after it was sent.
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

const PRODUCTS = Object.keys(SEED_STOCK);

async function outboxRow(db: { query: LocalHost['runtime']['db']['query'] }, orderId: string) {
  const { rows } = await db.query<{ published: boolean; last_error: string | null }>(
    `SELECT published_at IS NOT NULL AS published, last_error FROM orders.outbox WHERE message_id = $1`,
    [`OrderPlaced:${orderId}`],
  );
  return rows[0];
}

const POLL = { timeout: 15_000, interval: 50 };

describe('the in-process transport marks a message published only once it is handled', () => {
  let host: TestHost;

  it('an order held up by the gremlin keeps its OrderPlaced unpublished until Inventory has handled it', async () => {
    host = await startTestHost(
      { FEATURE_GREMLIN: 'true', GREMLIN_EVERY_N: '1', GREMLIN_LATENCY_MS: '1500' },
      { timers: false },
    );
    cleanups.push(() => host.stop());
    const res = await postOrder(host.url, { customerId: 'slow', productId: 'PROD-001', quantity: 1 });
    expect(res.status).toBe(202);
    const { order } = (await res.json()) as { order: { id: string } };
    // Sent, and held by Inventory asleep in the gremlin (1.5 s): in memory only, so not published.
    expect(host.transport?.inFlight).toBeGreaterThan(0);
    expect(await outboxRow(host.runtime.db, order.id)).toMatchObject({ published: false });
    await host.settle();
    await expect.poll(() => outboxRow(host.runtime.db, order.id), POLL).toMatchObject({ published: true });
  });
});

/** A pending order whose OrderPlaced was sent (and marked published) `ageSeconds` ago, and nothing since. */
async function sentPendingOrder(host: TestHost, customerId: string, quantity: number, ageSeconds: number) {
  const orderId = crypto.randomUUID();
  const message = envelope('OrderPlaced', { orderId, customerId, productId: 'PROD-003', quantity });
  const at = `now() - make_interval(secs => ${ageSeconds})`;
  await host.runtime.db.query(
    `INSERT INTO orders.orders (id, customer_id, product_id, quantity, created_at, updated_at)
     VALUES ($1, $2, 'PROD-003', $3, ${at}, ${at})`,
    [orderId, customerId, quantity],
  );
  await host.runtime.db.query(
    `INSERT INTO orders.outbox (message_id, queue, type, body, created_at, attempts, published_at)
     VALUES ($1, $2, 'OrderPlaced', $3, ${at}, 1, ${at})`,
    [message.messageId, QUEUES.reservations, JSON.stringify(message)],
  );
  return orderId;
}

describe('the pending-order sweeper', () => {
  it('re-sends the OrderPlaced of an order pending too long whose message was lost after it was sent', async () => {
    const host = await startTestHost({ PENDING_ORDER_SWEEP_AFTER_SECONDS: '1' });
    cleanups.push(() => host.stop());
    // Sent a minute ago and marked published, then lost (say, dead-lettered while the database was down).
    const orderId = await sentPendingOrder(host, 'lost', 2, 60);
    const state = await settledState(host.database.url, 20_000);
    expect(state.byStatus).toEqual({ shipped: 1 });
    expect(state.decrease['PROD-003']).toBe(2);
    expect((await outboxRow(host.runtime.db, orderId))?.last_error).toMatch(/pending-order sweeper/);
  });

  it('gets a lost result re-sent too: Inventory answers a re-sent OrderPlaced with its result again', async () => {
    const host = await startTestHost({ PENDING_ORDER_SWEEP_AFTER_SECONDS: '1' });
    cleanups.push(() => host.stop());
    const orderId = await sentPendingOrder(host, 'result-lost', 1, 60);
    // Inventory handled it a minute ago: stock moved, its InventoryReserved went out and was lost on the way.
    await host.runtime.db.query(
      `UPDATE inventory.products SET available = available - 1 WHERE product_id = 'PROD-003'`,
    );
    await host.runtime.db.query(
      `INSERT INTO inventory.reservations (order_id, product_id, quantity, result, message_id)
       VALUES ($1, 'PROD-003', 1, 'reserved', $2)`,
      [orderId, `OrderPlaced:${orderId}`],
    );
    await host.runtime.db.query(
      `INSERT INTO inventory.processed_messages (message_id, type) VALUES ($1, 'OrderPlaced')`,
      [`OrderPlaced:${orderId}`],
    );
    const result = envelope('InventoryReserved', {
      orderId,
      productId: 'PROD-003',
      quantity: 1,
      remaining: 149,
    });
    await host.runtime.db.query(
      `INSERT INTO inventory.outbox (message_id, queue, type, body, attempts, published_at)
       VALUES ($1, $2, 'InventoryReserved', $3, 1, now() - interval '1 minute')`,
      [result.messageId, QUEUES.orderStatus, JSON.stringify(result)],
    );
    const state = await settledState(host.database.url, 20_000);
    expect(state.byStatus).toEqual({ shipped: 1 });
    expect(state.decrease['PROD-003']).toBe(1); // the re-sent OrderPlaced moved no stock
    expect(state.ordersWithSeveralReservations).toBe(0);
  });

  it('leaves orders alone that are pending for less than the threshold', async () => {
    const host = await startTestHost({ PENDING_ORDER_SWEEP_AFTER_SECONDS: '3600' });
    cleanups.push(() => host.stop());
    const orderId = await sentPendingOrder(host, 'fresh', 1, 0);
    const sweeper = host.functions.find((f) => f.name === 'pendingOrderSweeper');
    if (sweeper?.kind !== 'timer') throw new Error('no pendingOrderSweeper timer');
    await sweeper.handler({} as never, { warn() {}, log() {} } as never);
    expect((await pipelineState(host.database.url)).pending).toBe(1);
    expect((await outboxRow(host.runtime.db, orderId))?.last_error).toBeNull();
  });
});

/**
 * Orders posted by `concurrency` clients until `count` were placed or `stop()` says so. A client that gets no 202
 * (503 during an outage, no answer from a dead host) retries its order with the same key a little later, as a
 * well-behaved client does, a bounded number of times. Returns the acknowledged order ids.
 */
function orderLoad(baseUrl: () => string, count: number, concurrency: number) {
  const acknowledged: string[] = [];
  let next = 0;
  let stopped = false;
  const placeOne = async (i: number) => {
    for (let attempt = 0; attempt < 100 && !stopped; attempt++) {
      try {
        const res = await postOrder(
          baseUrl(),
          { customerId: `load-${i}`, productId: PRODUCTS[i % PRODUCTS.length], quantity: 1 },
          { 'Idempotency-Key': `load-${i}` },
        );
        if (res.status === 202) {
          acknowledged.push(((await res.json()) as { order: { id: string } }).order.id);
          return;
        }
        await res.body?.cancel();
      } catch {
        // no answer: not acknowledged
      }
      await sleep(100);
    }
  };
  const done = Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!stopped && next < count) await placeOne(next++);
    }),
  );
  return {
    acknowledged,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

function expectTrueFinalStatuses(state: PipelineState, acknowledged: string[], finals: Map<string, string>) {
  expect(state.pending).toBe(0);
  expect(state.decrease).toEqual(state.shippedQuantity);
  expect(state.ordersWithSeveralStatusChanges).toBe(0);
  expect(state.ordersWithSeveralReservations).toBe(0);
  expect(state.reservedWithoutShippedOrder).toBe(0);
  // Stock was there or it was not: nothing "failed" because a process died or the database went away.
  expect(state.byStatus.failed ?? 0).toBe(0);
  for (const id of acknowledged) expect(['shipped', 'rejected'], id).toContain(finals.get(id));
}

async function finalStatuses(db: LocalHost['runtime']['db']): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; status: string }>('SELECT id, status FROM orders.orders');
  return new Map(rows.map((r) => [r.id, r.status]));
}

describe.runIf(realPostgres)('recovery (real PostgreSQL)', () => {
  it('kill -9 of the host mid-load with gremlin delays, then a restart: every order reaches its true final status', async () => {
    const db: TestDatabase = await testDatabase();
    cleanups.push(() => db.drop());
    const env: Record<string, string | undefined> = {
      ...process.env,
      DATABASE_URL: db.url,
      LOCAL_FUNCTION_KEY: generateFunctionKey(),
      FEATURE_GREMLIN: 'true',
      GREMLIN_MODE: 'deterministic',
      GREMLIN_EVERY_N: '2',
      GREMLIN_LATENCY_MS: '1500',
      OUTBOX_RELAY_INTERVAL_MS: '200',
    };
    for (const name of ['ServiceBusConnection', 'ServiceBusConnection__fullyQualifiedNamespace'])
      delete env[name];
    delete env.APPLICATIONINSIGHTS_CONNECTION_STRING;
    const child: HostProcess = await startHostProcess(env);
    cleanups.push(() => child.kill());
    const load = orderLoad(() => child.url, 300, 16);
    await expect.poll(() => load.acknowledged.length, POLL).toBeGreaterThanOrEqual(120);
    await child.kill();
    await load.stop();
    // The kill caught messages in memory: orders pending, their rows not marked published.
    const atKill = await pipelineState(db.url);
    expect(atKill.pending).toBeGreaterThan(0);

    const restarted = await startLocalHost({
      settings: testSettings({ FEATURE_GREMLIN: 'true', GREMLIN_EVERY_N: '2', GREMLIN_LATENCY_MS: '1500' }),
      databaseUrl: db.url,
      port: 0,
      log: silentLog,
    });
    cleanups.push(() => restarted.close());
    const state = await settledState(db.url, 60_000);
    expectTrueFinalStatuses(state, load.acknowledged, await finalStatuses(restarted.runtime.db));
  });

  it('PostgreSQL goes away twice mid-load: every acknowledged order reaches its true final status', async () => {
    const db: TestDatabase = await testDatabase();
    cleanups.push(() => db.drop());
    const target = new URL(db.url);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const host = await startLocalHost({
      settings: testSettings({
        DATABASE_TIMEOUT_MS: '1000',
        FEATURE_GREMLIN: 'true',
        GREMLIN_EVERY_N: '2',
        GREMLIN_LATENCY_MS: '1000',
      }),
      databaseUrl: proxy.urlFor(db.url),
      port: 0,
      log: silentLog,
      runtime: { resilience: { breakerHalfOpenAfterMs: 300 } },
    });
    cleanups.push(() => host.close());
    const load = orderLoad(() => host.url, 400, 8);
    for (let outage = 0; outage < 2; outage++) {
      await expect.poll(() => load.acknowledged.length, POLL).toBeGreaterThanOrEqual(60 * (outage + 1));
      // Cut while Inventory holds deliveries (the gremlin sleeps in every second one), so the outage costs some of
      // them their attempts: cut between two deliveries, it would only hold intake up.
      await expect
        .poll(() => host.transport?.inFlight ?? 0, { timeout: 10_000, interval: 5 })
        .toBeGreaterThan(0);
      await proxy.stop(); // refused connections, open ones cut: a restarting server
      await sleep(5000); // longer than all the delivery attempts of a message take
      await proxy.start(proxy.port);
    }
    await load.stop();
    expect(host.transport?.deadLetters.length, 'the outages cost deliveries').toBeGreaterThan(0);
    const state = await settledState(db.url, 60_000);
    expectTrueFinalStatuses(state, load.acknowledged, await finalStatuses(host.runtime.db));
  });
});
