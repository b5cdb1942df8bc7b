import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { settledState } from '../support/invariants.js';
import {
  type ProxiedTestHost,
  postOrder,
  startProxiedTestHost,
  withFunctionKey,
} from '../support/test-host.js';

// The database goes down while every reservation is in flight, and stays down far longer than MAX_DELIVERY_COUNT
// immediate deliveries take (the in-process broker redelivers at once, as Service Bus does: milliseconds).
// Delayed retries carry the messages over the outage; once it is back every order reaches its true final
// status — none `failed`, nothing dead-lettered — and stock moved exactly once per shipped order.
const MAX_DELIVERY_COUNT = 5;
const OUTAGE_MS = 4000;
const GREMLIN_MS = 1000;
let host: ProxiedTestHost;

beforeAll(async () => {
  host = await startProxiedTestHost(
    {
      MAX_DELIVERY_COUNT: String(MAX_DELIVERY_COUNT),
      DATABASE_TIMEOUT_MS: '1000',
      DELAYED_RETRY_ROUNDS: '20',
      DELAYED_RETRY_BASE_MS: '200',
      DELAYED_RETRY_MAX_MS: '1000',
    },
    { runtime: { resilience: { breakerHalfOpenAfterMs: 300 } } },
  );
});
afterAll(async () => {
  await host?.stop();
});

const orders = [
  ...Array.from({ length: 10 }, (_, i) => ({
    customerId: `outage-${i}`,
    productId: 'PROD-001',
    quantity: 2,
  })),
  { customerId: 'outage-big', productId: 'PROD-002', quantity: 1000 }, // more than there is: out_of_stock
  { customerId: 'outage-unknown', productId: 'PROD-404', quantity: 1 }, // unknown_product
];

async function deadLetterRows(): Promise<number> {
  const client = new pg.Client({ connectionString: host.database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM orders.dead_letters) + (SELECT count(*) FROM inventory.dead_letters) AS n`,
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

describe('a database outage longer than the immediate deliveries', () => {
  it('loses no order: delayed retries carry every message over it', async () => {
    // The gremlin holds each reservation before it touches the database, so every one is in flight when it goes.
    const chaos = await fetch(`${host.url}/api/chaos`, {
      method: 'PUT',
      headers: withFunctionKey(host, { 'content-type': 'application/json' }),
      body: JSON.stringify({
        gremlin: { enabled: true, mode: 'random', probability: 1, latencyMs: GREMLIN_MS },
      }),
    });
    expect(chaos.status).toBe(200);
    const placed = await Promise.all(orders.map((o) => postOrder(host.url, o)));
    expect(placed.map((r) => r.status)).toEqual(orders.map(() => 202));

    await host.proxy.stop();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    // Every message failed its immediate deliveries long ago, and none was given up on.
    expect(host.transport!.deadLetters).toEqual([]);
    const retried = host.runtime.signals.snapshot();
    expect(retried[`delayedRetries.${QUEUES.reservations}`] ?? 0).toBeGreaterThanOrEqual(orders.length);
    await host.proxy.start(host.proxy.port);

    const state = await settledState(host.database.url, 45_000);
    expect(state.pending).toBe(0);
    expect(state.byStatus).toEqual({ shipped: 10, rejected: 2 });
    expect(state.decrease).toEqual(state.shippedQuantity);
    expect(state.shippedQuantity['PROD-001']).toBe(20);
    expect(state.ordersWithSeveralStatusChanges).toBe(0);
    expect(state.ordersWithSeveralReservations).toBe(0);
    expect(await deadLetterRows()).toBe(0);
    await host.transport!.idle();
    expect(host.transport!.deadLetters).toEqual([]);
  });
});
