import type { Timer } from '@azure/functions';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneOrders } from '../../functions/orders/retention.js';
import { outboxRelayHandler } from '../../functions/platform/outbox-relay.js';
import { InvocationContext } from '../../shared/http/azure-functions.js';
import { realPostgres } from '../support/test-database.js';
import { postOrder, startTestHost, type TestHost } from '../support/test-host.js';

// Retention runs on the same pool as order intake but not under its database policy: a prune that hangs (here:
// stuck behind a lock another session holds) times out on its own, is cancelled by the server, and never opens
// the breaker that makes intake answer 503. Real PostgreSQL only: the embedded one has no real locks.
const HOUSEKEEPING_TIMEOUT_MS = 300;
let host: TestHost;
beforeAll(async () => {
  if (!realPostgres) return;
  host = await startTestHost(
    { DATABASE_TIMEOUT_MS: '1000' },
    { timers: false, runtime: { resilience: { housekeepingTimeoutMs: HOUSEKEEPING_TIMEOUT_MS } } },
  );
});
afterAll(async () => {
  await host?.stop();
});

const run = () =>
  // A fresh handler: housekeeping runs on a handler's first pass.
  outboxRelayHandler(
    host.runtime,
    'orders',
    pruneOrders,
  )({} as Timer, new InvocationContext({ functionName: 'relay', logHandler: () => {} }));

describe.runIf(realPostgres)('housekeeping off the intake breaker', () => {
  it('a hung prune times out by itself and leaves order intake answering 202', async () => {
    const locker = new pg.Client({ connectionString: host.database.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE orders.dead_letters IN ACCESS EXCLUSIVE MODE');

      // More hung runs than the database breaker's five consecutive failures.
      for (let i = 0; i < 7; i++) {
        await expect(run()).rejects.toThrow(/statement timeout/);
      }
      expect(host.runtime.policies.breakerStates().database).toBe('closed');
      // The server cancelled each prune: nothing of the app is still waiting on the lock.
      const waiting = await locker.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      );
      expect(waiting.rows[0].n).toBe(0);

      const responses = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          postOrder(
            host.url,
            { customerId: 'housekeeping', productId: 'PROD-001', quantity: 1 },
            {
              'Idempotency-Key': `hung-prune-${i}`,
            },
          ),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual(responses.map(() => 202));
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
    }
    // The lock gone, the next run prunes as usual.
    await expect(run()).resolves.toBeUndefined();
  });
});
