import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { SEED_CATALOG } from '../../shared/seed-catalog.js';

export const realPostgres = inject('realPostgres');

export interface TestDatabase {
  url: string;
  /** Drops the database (real server) or leaves the shared embedded one for the next file. */
  drop(): Promise<void>;
}

/** The seed catalog again after a reset (the migration wrote it; shared/seed-catalog.ts is its copy in code). */
const SEED = `
  INSERT INTO inventory.products (product_id, name, available)
  SELECT product_id, name, available
    FROM jsonb_to_recordset($1::jsonb) AS p(product_id text, name text, available int)`;
const seedRows = () =>
  JSON.stringify(
    SEED_CATALOG.map((p) => ({ product_id: p.productId, name: p.name, available: p.available })),
  );

/**
 * A migrated, seeded database of this test file's own. On a real server it is a clone of the run's template
 * (fast, and files run in parallel). On the embedded server, files run one at a time and the data is reset.
 */
export async function testDatabase(): Promise<TestDatabase> {
  const baseUrl = inject('databaseUrl');
  if (!realPostgres) {
    await resetEmbedded(baseUrl);
    return { url: baseUrl, drop: async () => {} };
  }
  const template = inject('templateDatabase');
  const name = `${template}_f${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

async function resetEmbedded(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ t: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables
        WHERE schemaname IN ('orders', 'inventory', 'platform')`,
    );
    await client.query(`TRUNCATE ${rows.map((r) => r.t).join(', ')} RESTART IDENTITY CASCADE`);
    await client.query(SEED, [seedRows()]);
    for (const seq of [
      'platform.gremlin_work_seq',
      'platform.crash_inventory_seq',
      'platform.crash_orders_seq',
    ]) {
      await client.query(`ALTER SEQUENCE ${seq} RESTART`);
    }
  } finally {
    await client.end();
  }
}

/** A database of this test file's own (see testDatabase) and one client connected to it; `close` ends both. */
export async function testDatabaseClient(): Promise<{
  client: pg.Client;
  url: string;
  close(): Promise<void>;
}> {
  const database = await testDatabase();
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  return {
    client,
    url: database.url,
    async close() {
      await client.end();
      await database.drop();
    },
  };
}
