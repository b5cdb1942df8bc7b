import pg from 'pg';

/**
 * `SELECT 1` on a connection of its own, closed after: whether the server accepts connections and answers now.
 * Not a pooled connection, which may be one the server dropped during the outage. Throws when it does not.
 */
export async function probeDatabase(target: pg.ClientConfig, timeoutMs: number): Promise<void> {
  const client = new pg.Client({
    ...target,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    application_name: 'valerix-probe',
  });
  // The server may drop this connection too; unheard, its 'error' would be an uncaught exception.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}
