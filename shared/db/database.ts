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
