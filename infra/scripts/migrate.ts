import { loadSettings } from '../../shared/config/settings.js';
import { createDatabase } from '../../shared/db/database.js';
import { migrate } from '../../shared/db/migrate.js';
import { createPool } from '../../shared/db/pool.js';
import { createPolicies } from '../../shared/resilience/policies.js';

/** `npm run migrate`: applies infra/migrations to DATABASE_URL (PGPASSWORD may carry an Entra token). */
const settings = loadSettings(process.env);
if (!settings.database.url) {
  console.error(
    'DATABASE_URL is not set: point it at the PostgreSQL to migrate (`npm run dev` migrates its embedded one).',
  );
  process.exit(2);
}
const pool = createPool({ connectionString: settings.database.url, max: 1, connectionTimeoutMs: 15_000 });
const db = createDatabase(pool, createPolicies({ databaseTimeoutMs: 60_000, publishTimeoutMs: 1000 }));
try {
  const result = await migrate(db.pool);
  console.log(
    `applied: ${result.applied.join(', ') || 'nothing new'}; already applied: ${result.skipped.length}`,
  );
} catch (err) {
  console.error((err as Error).message);
  process.exitCode = 1;
} finally {
  await db.close();
}
