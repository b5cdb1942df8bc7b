import type pg from 'pg';
import type { Policies } from '../resilience/policies.js';
import { withTransaction } from './transaction.js';

/**
 * The app's handle on PostgreSQL: every call goes through the database policy (timeout, transient retry,
 * breaker), so no handler can forget it.
 */
export interface Database {
  readonly pool: pg.Pool;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** `SET LOCAL statement_timeout` for the transaction a housekeeping statement runs in ($1: e.g. '30000ms'). */
export const BOUND_STATEMENT_TIME = `SELECT set_config('statement_timeout', $1::text, true)`;

export function createDatabase(pool: pg.Pool, policies: Pick<Policies, 'database'>): Database {
  let closed: Promise<void> | undefined;
  return {
    pool,
    query: (text, values) => policies.database.execute(() => pool.query(text, values)),
    transaction: (work) => policies.database.execute(() => withTransaction(pool, work)),
    close() {
      closed ??= pool.end();
      return closed;
    },
  };
}

/**
 * The same pool under the housekeeping policy instead of the database one: a retention statement that hangs (a
 * lock it waits for, a huge backlog) fails on its own timeout and never counts against the breaker that order
 * intake answers 503 behind. Each statement runs in a transaction with its own `statement_timeout`, so the server
 * cancels it and its connection comes back to the pool (a client-side timeout alone would leave it busy).
 */
export function createHousekeepingDatabase(
  pool: pg.Pool,
  policies: Pick<Policies, 'housekeeping' | 'housekeepingTimeoutMs'>,
): Database {
  const bound = `${policies.housekeepingTimeoutMs}ms`;
  const bounded = <T>(work: (client: pg.PoolClient) => Promise<T>) =>
    policies.housekeeping.execute(() =>
      withTransaction(pool, async (client) => {
        await client.query(BOUND_STATEMENT_TIME, [bound]);
        return work(client);
      }),
    );
  return {
    pool,
    query: (text, values) => bounded((client) => client.query(text, values)),
    transaction: bounded,
    close: () => Promise.resolve(), // the pool belongs to the app's Database, which ends it
  };
}
