import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from './project-root.js';

export interface EmbeddedPostgres {
  /** A postgres:// URL that `pg` can connect to. */
  url: string;
  /** How many connections the embedded server multiplexes onto its single session. */
  maxConnections: number;
  stop(): Promise<void>;
}

const DEFAULT_EMBEDDED_DATA_DIR = join(PROJECT_ROOT, '.data', 'pglite');

/**
 * Starts PGlite (PostgreSQL compiled to WebAssembly) behind a loopback wire-protocol socket, so the app talks to
 * it with the same `pg` driver it uses against a real server. `dataDir` persists across restarts;
 * `memory://` keeps nothing.
 *
 * PGlite runs ONE session: the socket server queues protocol messages and, while a transaction is open, serves only
 * the connection that opened it; outside a transaction the messages of two connections can interleave (one's Bind
 * meeting the other's Parse). So the app keeps a single connection to it, there are no real row locks, and it
 * is never trusted for concurrency behaviour.
 */
export async function startEmbeddedPostgres(
  options: { dataDir?: string; port?: number } = {},
): Promise<EmbeddedPostgres> {
  const dataDir = options.dataDir ?? DEFAULT_EMBEDDED_DATA_DIR;
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
  // Imported lazily: the WebAssembly build is large and only the local host and tests need it.
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-socket'),
  ]);
  const db = await PGlite.create(dataDir);
  const maxConnections = 16;
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: options.port ?? 0, maxConnections });
  await server.start();
  // getServerConn() is "host:port" once listening (port 0 resolved to the real one).
  const port = Number(server.getServerConn().split(':').pop());
  if (!port) throw new Error('embedded PostgreSQL did not report its port');
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    maxConnections,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
