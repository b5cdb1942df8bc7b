import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../shared/db/embedded.js';
import { migrate } from '../../shared/db/migrate.js';
import { createPool } from '../../shared/db/pool.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** True when DATABASE_URL points at a real PostgreSQL server. */
    realPostgres: boolean;
    /** Real server: maintenance URL used to create per-file databases. Embedded: the shared database's URL. */
    databaseUrl: string;
    /** Real server: the migrated template database each test file clones. */
    templateDatabase: string;
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export default async function setup(project: TestProject) {
  const adminUrl = process.env.DATABASE_URL;
  if (adminUrl) {
    const template = `valerix_tpl_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${template}`);
    const pool = createPool({
      connectionString: withDatabase(adminUrl, template),
      max: 1,
      connectionTimeoutMs: 10_000,
    });
    await migrate(pool);
    await pool.end();
    project.provide('realPostgres', true);
    project.provide('databaseUrl', adminUrl);
    project.provide('templateDatabase', template);
    return async () => {
      // Drop what this run created, including per-file databases left by a crashed worker.
      const { rows } = await admin.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
        [template, `${template}_f%`],
      );
      for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
      await admin.end();
    };
  }
  const embedded: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir: 'memory://' });
  const pool = createPool({ connectionString: embedded.url, max: 1, connectionTimeoutMs: 10_000 });
  await migrate(pool);
  await pool.end();
  project.provide('realPostgres', false);
  project.provide('databaseUrl', embedded.url);
  project.provide('templateDatabase', '');
  return async () => {
    await embedded.stop();
  };
}
