import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLog } from '../../infra/local-host/invocation-context.js';
import { type LocalHost, startLocalHost } from '../../infra/local-host/local-host.js';
import { restartHostSettings, restartUnderLoad, retryingLoad } from '../../tools/bench/database-restart.js';
import {
  startThrowawayCluster,
  type ThrowawayCluster,
  throwawayClusterUnavailable,
} from '../../tools/bench/throwaway-cluster.js';
import { pipelineState } from '../support/invariants.js';

// What Azure does to a Flexible Server at every planned maintenance, scale change and HA failover, done to a real
// server of the test's own while a retrying client keeps placing orders: a fast restart, an immediate (crash)
// restart, and every app session terminated. Nothing is lost, stuck or doubled, and orders are accepted again
// afterwards. How long after is printed (and reported by `npm run bench`), never asserted: 2 shared cores.
const unavailable = await throwawayClusterUnavailable();

let cluster: ThrowawayCluster;
let host: LocalHost;

beforeAll(async () => {
  cluster = await startThrowawayCluster();
  host = await startLocalHost({
    settings: restartHostSettings(),
    databaseUrl: cluster.url,
    port: 0,
    ...(process.env.VALERIX_TEST_LOG ? {} : { log: silentLog }),
  });
}, 60_000);
afterAll(async () => {
  await host?.close();
  await cluster?.stop();
});

async function orderRows(): Promise<{ keys: number; orders: number }> {
  const client = new pg.Client({ connectionString: cluster.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ keys: number; orders: number }>(
      `SELECT (SELECT count(*)::int FROM orders.idempotency_keys WHERE scope NOT LIKE 'cancel:%') AS keys,
              (SELECT count(*)::int FROM orders.orders) AS orders`,
    );
    return rows[0]!;
  } finally {
    await client.end();
  }
}

describe.skipIf(unavailable !== undefined)(
  `a database restart under a retrying order load${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    it('loses, strands and doubles nothing, and accepts orders again after each restart', async () => {
      const load = retryingLoad(host.url);
      let recoveryMs: Record<string, number>;
      try {
        recoveryMs = await restartUnderLoad(cluster, load);
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        await load.stop();
      }
      console.log(
        `[database-restart] first accepted order after the server accepts connections: ${JSON.stringify(recoveryMs)}; answers ${JSON.stringify(Object.fromEntries(load.statuses))}`,
      );

      // Every accepted order is there once (one order per key), and every one reaches a final status.
      const keys = new Set(load.accepted.map((a) => a.key));
      expect(keys.size).toBe(load.accepted.length);
      expect(await orderRows()).toEqual({ keys: keys.size, orders: keys.size });
      await expect
        .poll(async () => (await pipelineState(cluster.url)).pending, { timeout: 30_000, interval: 200 })
        .toBe(0);
      const state = await pipelineState(cluster.url);
      expect(Object.values(state.byStatus).reduce((a, b) => a + b, 0)).toBe(keys.size);
      expect(state.ordersWithSeveralStatusChanges).toBe(0);
      expect(state.ordersWithSeveralReservations).toBe(0);
      expect(state.decrease).toEqual(state.shippedQuantity);
    }, 120_000);
  },
);
