import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { grantAppRole, prepareOwnerRole } from '../../infra/scripts/database-roles.js';
import { MIGRATIONS_DIR, migrate } from '../../shared/db/migrate.js';
import { createPool } from '../../shared/db/pool.js';
import { realPostgres } from '../support/test-database.js';

/**
 * A second deployer can migrate: a person runs the first deployment, CI's service principal the next one, and its
 * migration alters a table the person's created. Roles are cluster-wide, so every name here is random and dropped
 * at the end; `admins` stands in for Azure's azure_pg_admin (it owns the database, both deployers are members).
 * Real PostgreSQL only: the embedded server has one session and no real roles.
 */
describe.runIf(realPostgres)('deploying principals and the owning role', () => {
  const suffix = randomBytes(4).toString('hex');
  const names = {
    db: `valerix_roles_${suffix}`,
    admins: `admins_${suffix}`,
    alice: `alice_${suffix}`,
    ci: `ci_${suffix}`,
    app: `app_${suffix}`,
    owner: `valerix_owner_${suffix}`,
  };
  const password = randomBytes(12).toString('hex');
  const baseUrl = inject('databaseUrl');
  const migrationsWithAlter = mkdtempSync(join(tmpdir(), 'valerix-roles-'));
  let superuser: pg.Client;

  const urlFor = (user: string) => {
    const url = new URL(baseUrl);
    url.username = user;
    url.password = password;
    url.pathname = `/${names.db}`;
    return url.toString();
  };
  /** Runs `work` with a pool (for migrate) and a client (for the role steps) logged in as `user`. */
  async function as<T>(user: string, work: (pool: pg.Pool, client: pg.PoolClient) => Promise<T>) {
    const pool = createPool({ connectionString: urlFor(user), max: 2, connectionTimeoutMs: 10_000 });
    const client = await pool.connect();
    try {
      return await work(pool, client);
    } finally {
      client.release();
      await pool.end();
    }
  }

  beforeAll(async () => {
    for (const file of readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql'))) {
      copyFileSync(join(MIGRATIONS_DIR, file), join(migrationsWithAlter, file));
    }
    // What a later release's migration might do: alter an existing table and add a new one.
    writeFileSync(
      join(migrationsWithAlter, '999_later_release.sql'),
      `ALTER TABLE orders.orders ADD COLUMN note text;
       CREATE TABLE orders.later_release (id int PRIMARY KEY);`,
    );
    superuser = new pg.Client({ connectionString: baseUrl });
    await superuser.connect();
    const q = (sql: string) => superuser.query(sql);
    await q(`CREATE ROLE ${names.admins} NOLOGIN CREATEROLE`);
    for (const user of [names.alice, names.ci]) {
      await q(`CREATE ROLE ${user} LOGIN CREATEROLE PASSWORD '${password}' IN ROLE ${names.admins}`);
    }
    await q(`CREATE ROLE ${names.app} LOGIN PASSWORD '${password}'`);
    await q(`CREATE DATABASE ${names.db} OWNER ${names.admins}`);
  });

  afterAll(async () => {
    rmSync(migrationsWithAlter, { recursive: true, force: true });
    if (!superuser) return;
    await superuser.query(`DROP DATABASE IF EXISTS ${names.db} WITH (FORCE)`);
    for (const role of [names.app, names.ci, names.alice, names.owner, names.admins]) {
      await superuser.query(`DROP ROLE IF EXISTS ${role}`);
    }
    await superuser.end();
  });

  it('an earlier deploy migrated as the person: CI cannot alter their tables', async () => {
    await as(names.alice, (pool) => migrate(pool));
    await expect(as(names.ci, (pool) => migrate(pool, migrationsWithAlter))).rejects.toThrow(
      /must be owner|permission denied/,
    );
  });

  it('with the owning role: the person hands it their tables, CI joins it and its migration alters them', async () => {
    await as(names.alice, async (pool, client) => {
      await prepareOwnerRole(client, names.owner, names.admins);
      const result = await migrate(pool, undefined, { asRole: names.owner });
      expect(result.applied).toEqual([]); // same files: nothing new, ownership moved only
      await grantAppRole(client, names.owner, names.app);
    });
    const owners = await as(names.alice, async (_, client) => {
      const { rows } = await client.query<{ owner: string }>(
        `SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname IN ('orders', 'inventory', 'platform')`,
      );
      return rows.map((r) => r.owner);
    });
    expect(owners).toEqual([names.owner]);

    const applied = await as(names.ci, async (pool, client) => {
      await prepareOwnerRole(client, names.owner, names.admins);
      const result = await migrate(pool, migrationsWithAlter, { asRole: names.owner });
      await grantAppRole(client, names.owner, names.app);
      return result.applied;
    });
    expect(applied).toEqual(['999_later_release.sql']);
  });

  it('the app role (not an administrator) reads and writes the tables, including ones a later migration created', async () => {
    await as(names.app, async (_, client) => {
      await client.query('INSERT INTO orders.later_release (id) VALUES (1)');
      const { rows } = await client.query('SELECT count(*)::int AS n FROM orders.orders');
      expect(rows[0]).toEqual({ n: expect.any(Number) });
      await expect(client.query('ALTER TABLE orders.orders ADD COLUMN x int')).rejects.toThrow(
        /must be owner/,
      );
      const { rows: flags } = await client.query<{ rolsuper: boolean; admin: boolean }>(
        `SELECT rolsuper, pg_has_role(current_user, $1, 'MEMBER') AS admin FROM pg_roles WHERE rolname = current_user`,
        [names.admins],
      );
      expect(flags[0]).toEqual({ rolsuper: false, admin: false });
    });
  });

  it('grantAppRole refuses a missing app role off Azure with a message that says what to pass', async () => {
    await as(names.alice, async (_, client) => {
      await expect(grantAppRole(client, names.owner, `missing_${suffix}`)).rejects.toThrow(
        /does not exist.*--app-object-id/,
      );
    });
  });
});
