import pg from 'pg';
import { parse } from 'pg-connection-string';

/** A source of short-lived passwords (Entra access tokens in Azure). */
export type PasswordProvider = () => Promise<string>;

export interface PoolOptions {
  connectionString: string;
  max: number;
  /** How long a caller may wait for a free connection before failing. */
  connectionTimeoutMs: number;
  password?: PasswordProvider | undefined;
  applicationName?: string;
  /** Told once per broken connection (the runtime logs and counts it). */
  onConnectionError?: (err: Error) => void;
}

// Return BIGINT and NUMERIC as numbers where they fit: counts and stock levels in this app are small.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

/** Where and as whom to connect: the pool's connections and the breaker's probe (shared/db/probe.ts) alike. */
export function connectionTarget(
  options: Pick<PoolOptions, 'connectionString' | 'password'>,
): pg.ClientConfig {
  // pg lets every field parsed from connectionString override the config, an absent password included, which
  // would silently drop the token provider. So with a provider the URL is parsed here and passed field by field.
  return options.password
    ? { ...(parse(options.connectionString) as unknown as pg.ClientConfig), password: options.password }
    : { connectionString: options.connectionString };
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    ...connectionTarget(options),
    max: options.max,
    connectionTimeoutMillis: options.connectionTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'valerix',
  });
  // A client losing its connection (idle in the pool, or checked out between two queries) emits 'error'; without a
  // listener that is an uncaught exception that kills the worker. The query in flight still fails, and the pool
  // replaces the broken client. The client's own event is the one reported: the pool re-emits an idle client's
  // error, so reporting both would log one failure twice.
  const report = options.onConnectionError ?? (() => {});
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', (err) => report(err)));
  return pool;
}

export type Queryable = Pick<pg.PoolClient, 'query'>;
