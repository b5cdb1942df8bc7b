import { loadSettingsOrExit } from '../../shared/config/settings.js';
import { migrate } from '../../shared/db/migrate.js';
import { passwordForSettings } from '../../shared/db/password-for-settings.js';
import { createPool } from '../../shared/db/pool.js';

/** `npm run migrate`: applies infra/migrations to DATABASE_URL (an Entra token via PGPASSWORD or DATABASE_AUTH=entra). */
const settings = loadSettingsOrExit(process.env);
if (!settings.database.url) {
  console.error(
    'DATABASE_URL is not set: point it at the PostgreSQL to migrate (`npm run dev` migrates its embedded one).',
  );
  process.exit(2);
}
const pool = createPool({
  connectionString: settings.database.url,
  max: 1,
  connectionTimeoutMs: 15_000,
  applicationName: 'valerix-migrate',
  password: passwordForSettings(settings),
});
try {
  const result = await migrate(pool);
  console.log(
    `applied: ${result.applied.join(', ') || 'nothing new'}; already applied: ${result.skipped.length}`,
  );
} catch (err) {
  console.error((err as Error).message);
  process.exitCode = 1;
} finally {
  await pool.end();
}
