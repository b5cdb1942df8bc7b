import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type LocalHost, startLocalHost } from '../../infra/local-host/local-host.js';
import { loadSettings } from '../../shared/config/settings.js';
import type { Queryable } from '../../shared/db/pool.js';
import type { ChaosOptions } from './args.js';
import { Observer } from './observer.js';

/**
 * The local host over a database of this run's own, so the invariants are computed on this run's data only:
 * with DATABASE_URL a fresh `valerix_chaos_<random>` database on that server (dropped afterwards), without it
 * the embedded PostgreSQL in a temporary data directory (removed afterwards).
 */

export const DELIVERY_COPIES = 2;
export const OUTBOX_RELAY_INTERVAL_MS = 200;

export class SetupError extends Error {
  override name = 'SetupError';
}

export interface ChaosEnvironment {
  host: LocalHost;
  /** Human-readable, without credentials. */
  databaseLabel: string;
  embedded: boolean;
  /** For polling: its own client on a real server, the app's single-connection pool on the embedded one
   * (PGlite serves one session; a second connection could interleave with the app's). */
  db: Queryable;
  /** One connection for work that needs a transaction (the invariant snapshot). */
  withConnection<T>(work: (connection: Queryable) => Promise<T>): Promise<T>;
  observer: Observer;
  /** Closes the host and removes the run's database. Never throws; returns what could not be cleaned up. */
  close(): Promise<string[]>;
}

/** Settings that are not the run's business are dropped: the run always uses the in-process broker. */
const IGNORED = [
  'ServiceBusConnection',
  'ServiceBusConnection__fullyQualifiedNamespace',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
];

export async function startEnvironment(
  options: ChaosOptions,
  env: NodeJS.ProcessEnv,
  echoErrors: (line: string) => void,
): Promise<ChaosEnvironment> {
  const cleanups: { what: string; run: () => Promise<unknown> }[] = [];
  const cleanup = async (): Promise<string[]> => {
    const failed: string[] = [];
    for (const step of cleanups.reverse()) {
      try {
        await step.run();
      } catch (err) {
        failed.push(`${step.what}: ${(err as Error).message}`);
      }
    }
    cleanups.length = 0;
    return failed;
  };

  try {
    const base: Record<string, string | undefined> = { ...env };
    for (const name of IGNORED) delete base[name];
    Object.assign(base, {
      LOCAL_DELIVERY_COPIES: String(DELIVERY_COPIES),
      OUTBOX_RELAY_INTERVAL_MS: String(OUTBOX_RELAY_INTERVAL_MS),
      // Chaos starts off (the starting stock is read without the gremlin) and is turned on through PUT /api/chaos.
      FEATURE_GREMLIN: 'false',
      FEATURE_CRASH_AFTER_COMMIT: 'false',
      GREMLIN_LATENCY_MS: String(options.gremlinMs),
      GREMLIN_MODE: 'deterministic',
      GREMLIN_EVERY_N: String(options.everyN),
      CRASH_TARGET: 'both',
      CRASH_MODE: 'deterministic',
      CRASH_EVERY_N: String(options.crashEveryN),
      PORT: '0',
    });

    let databaseLabel: string;
    let databaseUrl: string | undefined;
    const adminUrl = env.DATABASE_URL?.trim() || undefined;
    if (adminUrl) {
      const name = `valerix_chaos_${randomBytes(5).toString('hex')}`;
      databaseUrl = await createDatabase(adminUrl, name);
      cleanups.push({ what: `drop database ${name}`, run: () => dropDatabase(adminUrl, name) });
      base.DATABASE_URL = databaseUrl;
      base.DATABASE_POOL_MAX ??= '16';
      const u = new URL(databaseUrl);
      databaseLabel = `PostgreSQL ${u.hostname}:${u.port || 5432}/${name} (created for this run, dropped after)`;
    } else {
      const dataDir = await mkdtemp(join(tmpdir(), 'valerix-chaos-'));
      cleanups.push({ what: `remove ${dataDir}`, run: () => rm(dataDir, { recursive: true, force: true }) });
      base.DATABASE_URL = undefined;
      base.EMBEDDED_DATA_DIR = dataDir;
      databaseLabel = `embedded PostgreSQL (PGlite) in ${dataDir} (removed after)`;
    }

    let settings: ReturnType<typeof loadSettings>;
    try {
      settings = loadSettings(base);
    } catch (err) {
      throw new SetupError((err as Error).message);
    }

    const observer = new Observer(echoErrors);
    const host = await startLocalHost({ settings, port: options.port, host: '127.0.0.1', log: observer.log });
    cleanups.push({ what: 'close the local host', run: () => host.close() });
    observer.tap(host.functions);

    const pool = host.runtime.db.pool;
    let db: Queryable = pool;
    let withConnection = async <T>(work: (connection: Queryable) => Promise<T>): Promise<T> => {
      const connection = await pool.connect();
      try {
        return await work(connection);
      } finally {
        connection.release();
      }
    };
    if (databaseUrl) {
      const client = new pg.Client({
        connectionString: databaseUrl,
        application_name: 'valerix-chaos-check',
      });
      client.on('error', () => {});
      await client.connect();
      cleanups.push({ what: 'close the checker connection', run: () => client.end() });
      db = client;
      withConnection = (work) => work(client);
    }
    return { host, databaseLabel, embedded: !databaseUrl, db, withConnection, observer, close: cleanup };
  } catch (err) {
    await cleanup();
    if (err instanceof SetupError) throw err;
    throw new SetupError(`could not start the local host: ${(err as Error).message}`);
  }
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (err) {
    throw new SetupError(
      `could not create the run's database ${name} through DATABASE_URL (the role needs CREATEDB): ${(err as Error).message}`,
    );
  } finally {
    await admin.end().catch(() => {});
  }
  return withDatabase(adminUrl, name);
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end().catch(() => {});
  }
}
