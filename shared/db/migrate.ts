import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { PROJECT_ROOT } from './project-root.js';

export const MIGRATIONS_DIR = join(PROJECT_ROOT, 'infra', 'migrations');
// Any constant works; it only has to be the same for every migrator so that two of them never race.
const MIGRATION_LOCK_KEY = 7071_2026;

export interface MigrateOptions {
  /**
   * Run as this role (SET ROLE), so that it, not the connecting user, owns what the migrations create: deploy.sh's
   * owning role (infra/scripts/database-roles.ts). Unset: the connecting user, as locally.
   */
  asRole?: string | undefined;
}

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

/**
 * Applies `infra/migrations/NNN_name.sql` in order, each in its own transaction, recording what ran in
 * `public.schema_migrations`. A session advisory lock lets several instances start at once safely.
 * An applied file whose content changed is refused: migrations are append-only.
 */
export async function migrate(
  pool: pg.Pool,
  dir = MIGRATIONS_DIR,
  options: MigrateOptions = {},
): Promise<MigrationResult> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  const client = await pool.connect();
  const result: MigrationResult = { applied: [], skipped: [] };
  try {
    // set_config('role', …) is SET ROLE with the role as a parameter (same membership check).
    if (options.asRole) await client.query("SELECT set_config('role', $1, false)", [options.asRole]);
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS public.schema_migrations (
         version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: string; checksum: string }>(
      'SELECT version, checksum FROM public.schema_migrations',
    );
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const file of files) {
      const sql = await readFile(join(dir, file), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const previous = done.get(file);
      if (previous !== undefined) {
        if (previous !== checksum) {
          throw new Error(`Migration ${file} was changed after it was applied; add a new migration instead.`);
        }
        result.skipped.push(file);
        continue;
      }
      try {
        await client.query('BEGIN');
        await client.query(sql);
        await client.query('INSERT INTO public.schema_migrations (version, checksum) VALUES ($1, $2)', [
          file,
          checksum,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new Error(`Migration ${file} failed: ${(err as Error).message}`, { cause: err });
      }
      result.applied.push(file);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    if (options.asRole) await client.query('RESET ROLE').catch(() => {});
    client.release();
  }
  return result;
}
