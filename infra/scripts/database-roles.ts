import type pg from 'pg';

/**
 * The PostgreSQL roles of a deployment (deploy.sh runs these through `npm run migrate -- --as-role …`):
 *
 * - One owning role (NOLOGIN, default `valerix_owner`) owns the app's schemas and tables; the migrations run as it
 *   (SET ROLE), so whoever deploys next (CI's service principal after a person, or the other way round) can alter
 *   what an earlier deployer created. Each deploying principal is granted it; on Azure the `azure_pg_admin` group
 *   (every Entra administrator) gets it WITH ADMIN OPTION so that a later administrator can grant it to itself
 *   (PostgreSQL 16 lets only a role's admins grant it).
 * - The app's role (the managed identity's name) is an ordinary Entra principal, not an administrator: it gets the
 *   use of the owning role's schemas, now and for tables later migrations create.
 *
 * Role names are identifiers, so these statements are DDL built with `escapeIdentifier`; values are parameters.
 * Without `--as-role` nothing here runs and the migrations run as the connecting user, as in `npm test` and
 * `npm run dev`, where none of these roles exists.
 */
export const DEFAULT_OWNER_ROLE = 'valerix_owner';

type Client = Pick<pg.ClientBase, 'query' | 'escapeIdentifier'>;

const exists = async (client: Client, role: string) =>
  (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;

/**
 * Creates the owning role if needed (with CREATE on the database and on `public`, which the migrations need), grants
 * it to the current user, and hands it what this user owned so far. `adminGroup` is the group every administrator
 * belongs to (Azure's `azure_pg_admin`); it gets the role WITH ADMIN OPTION when it exists.
 */
export async function prepareOwnerRole(
  client: Client,
  owner: string,
  adminGroup = 'azure_pg_admin',
): Promise<string[]> {
  const notes: string[] = [];
  const role = client.escapeIdentifier(owner);
  if (!(await exists(client, owner))) {
    await client.query(`CREATE ROLE ${role} NOLOGIN`);
    notes.push(`created ${owner}`);
  }
  const database = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
  await client.query(`GRANT CREATE ON DATABASE ${client.escapeIdentifier(database)} TO ${role}`);
  await client.query(`GRANT USAGE, CREATE ON SCHEMA public TO ${role}`);
  // Unconditionally: on PostgreSQL 16 the creator holds only ADMIN on a role it created, not SET or INHERIT.
  await client.query(`GRANT ${role} TO CURRENT_USER`);
  if (await exists(client, adminGroup)) {
    await client.query(`GRANT ${role} TO ${client.escapeIdentifier(adminGroup)} WITH ADMIN OPTION`);
  }
  const { rows } = await client.query<{ rolsuper: boolean }>(
    'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
  );
  // Tables an earlier deploy.sh created as this principal (before the owning role existed) move to the owner.
  // A superuser (a local server) owns system objects that cannot move, and needs no owner to alter anything.
  if (!rows[0]?.rolsuper) {
    await client.query(`REASSIGN OWNED BY CURRENT_USER TO ${role}`);
    notes.push(`objects owned by the current user now belong to ${owner}`);
  }
  return notes;
}

/**
 * Makes the app's role (creating the Entra principal on Azure if it is missing) able to use every schema the
 * owning role owns: USAGE, all rights on tables and sequences, and the same for tables later migrations create.
 */
export async function grantAppRole(
  client: Client,
  owner: string,
  app: string,
  appObjectId?: string,
): Promise<string[]> {
  if (!(await exists(client, app))) {
    const azure = await client.query(
      "SELECT 1 FROM pg_proc WHERE proname = 'pgaadauth_create_principal_with_oid'",
    );
    if (azure.rowCount === 0 || !appObjectId) {
      throw new Error(
        `PostgreSQL role ${app} does not exist (on Azure it is created from the identity's object id: pass --app-object-id)`,
      );
    }
    await client.query("SELECT pgaadauth_create_principal_with_oid($1, $2, 'service', false, false)", [
      app,
      appObjectId,
    ]);
  }
  const { rows } = await client.query<{ nspname: string }>(
    `SELECT nspname FROM pg_namespace
      WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = $1)
        AND left(nspname, 3) <> 'pg_' AND nspname <> 'information_schema'
      ORDER BY nspname`,
    [owner],
  );
  const o = client.escapeIdentifier(owner);
  const r = client.escapeIdentifier(app);
  for (const { nspname } of rows) {
    const s = client.escapeIdentifier(nspname);
    await client.query(`GRANT USAGE ON SCHEMA ${s} TO ${r}`);
    await client.query(`GRANT ALL ON ALL TABLES IN SCHEMA ${s} TO ${r}`);
    await client.query(`GRANT ALL ON ALL SEQUENCES IN SCHEMA ${s} TO ${r}`);
    await client.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${o} IN SCHEMA ${s} GRANT ALL ON TABLES TO ${r}`);
    await client.query(
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${o} IN SCHEMA ${s} GRANT ALL ON SEQUENCES TO ${r}`,
    );
  }
  // public: the migrations bookkeeping table (the daily backup exports it).
  await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${r}`);
  return ['public', ...rows.map((row) => row.nspname)];
}
