import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HangingBroker } from '../support/hanging-broker.js';
import { settledState } from '../support/invariants.js';
import { postOrder, startTestHost, type TestHost } from '../support/test-host.js';

// A broker that hangs must cost the database nothing: the relay claims rows with a lease and commits before it
// publishes, so no database call waits on the broker, the database breaker never sees a failure, and intake keeps
// answering 202 while only the publish breaker opens. A publish the policy gives up on (three tries of 800 ms)
// outlasts the database timeout (2 s, generous for a loaded machine): a relay that published inside its
// transaction would time that transaction out on every pass.
let host: TestHost;
let broker: HangingBroker;

beforeAll(async () => {
  broker = new HangingBroker({ maxDeliveryCount: 10, concurrency: 16 });
  host = await startTestHost(
    { PUBLISH_TIMEOUT_MS: '800', DATABASE_TIMEOUT_MS: '2000', OUTBOX_RELAY_INTERVAL_MS: '300' },
    { runtime: { publisher: broker, resilience: { breakerHalfOpenAfterMs: 300 } } },
  );
});
afterAll(async () => {
  broker?.answer();
  await host?.stop();
});

async function place(i: number): Promise<number> {
  const res = await postOrder(host.url, { customerId: `hung-${i}`, productId: 'PROD-003', quantity: 1 });
  await res.body?.cancel();
  return res.status;
}

/** Orders outbox rows matching `where` (a fixed condition of this file, not input). */
async function outboxRows(where: string): Promise<number> {
  const { rows } = await host.runtime.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM orders.outbox WHERE ${where}`,
  );
  return rows[0]!.n;
}

describe('a hung broker', () => {
  it('opens only the publish breaker: intake stays 202, the database sees no failure, the relay tries and drains the backlog while intake goes on', async () => {
    const { database } = host.runtime.policies.breakers;
    const databaseFailures: unknown[] = [];
    const failures = database.onFailure((f) => databaseFailures.push(f.reason));
    const databaseStates = new Set<string>();
    const watch = setInterval(() => databaseStates.add(host.runtime.policies.breakerStates().database), 20);
    try {
      broker.hang();
      const statuses: number[] = [];
      // A burst, then a steady trickle for longer than the relay's grace period, so the relay keeps finding due
      // rows and keeps trying the hung broker (every half-open trial waits the publish timeout out).
      statuses.push(...(await Promise.all(Array.from({ length: 6 }, (_, i) => place(i)))));
      const until = Date.now() + 9000;
      let relayTriedDuringIntake = false;
      for (let i = 6; Date.now() < until; i++) {
        statuses.push(await place(i));
        relayTriedDuringIntake ||= (await outboxRows('attempts > 0')) > 0;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(statuses.every((s) => s === 202)).toBe(true);
      expect(host.runtime.policies.breakerStates().publish).not.toBe('closed');
      // The half-open trials are the relay's (the writers leave their rows to it while the breaker is not closed),
      // so the relay tried the hung broker while orders kept coming, not only once they stopped.
      expect(relayTriedDuringIntake).toBe(true);
      expect(databaseFailures).toEqual([]);
      expect([...databaseStates]).toEqual(['closed']);

      // The broker answers again while intake goes on: the backlog drains under it.
      broker.answer();
      let drainedDuringIntake = false;
      const drainUntil = Date.now() + 20_000;
      for (let i = statuses.length; Date.now() < drainUntil; i++) {
        statuses.push(await place(i));
        if ((await outboxRows('published_at IS NULL AND attempts > 0')) === 0) {
          drainedDuringIntake = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(drainedDuringIntake).toBe(true);
      expect(statuses.every((s) => s === 202)).toBe(true);
      const state = await settledState(host.database.url, 45_000);
      expect(state.pending).toBe(0);
      expect(state.byStatus).toEqual({ shipped: statuses.length });
      expect(state.decrease).toEqual(state.shippedQuantity);
      expect(databaseFailures).toEqual([]);
    } finally {
      clearInterval(watch);
      failures.dispose();
    }
  });
});
