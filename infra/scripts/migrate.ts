import { parseArgs } from 'node:util';
import { loadSettingsOrExit } from '../../shared/config/settings.js';
import { migrate } from '../../shared/db/migrate.js';
import { passwordForSettings } from '../../shared/db/password-for-settings.js';
import { createPool } from '../../shared/db/pool.js';
import { grantAppRole, prepareOwnerRole } from './database-roles.js';

/**
 * `npm run migrate`: applies infra/migrations to DATABASE_URL (an Entra token via PGPASSWORD or DATABASE_AUTH=entra).
 *
 *   npm run migrate -- --as-role valerix_owner --grant-to <app role> [--app-object-id <id>]
 *
 * is what deploy.sh runs: the owning role is created (and granted to the deployer), the migrations run as it, and the
 * app's role gets the use of its schemas (infra/scripts/database-roles.ts).
 */
const { values: args } = parseArgs({
  options: {
    'as-role': { type: 'string' },
    'grant-to': { type: 'string' },
    'app-object-id': { type: 'string' },
  },
});
const settings = loadSettingsOrExit(process.env);
if (!settings.database.url) {
  console.error(
    'DATABASE_URL is not set: point it at the PostgreSQL to migrate (`npm run dev` migrates its embedded one).',
  );
  process.exit(2);
}
if (args['grant-to'] && !args['as-role']) {
  console.error('--grant-to needs --as-role: the app is granted the schemas the owning role owns.');
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
  const owner = args['as-role'];
  if (owner) {
    const client = await pool.connect();
    try {
      for (const note of await prepareOwnerRole(client, owner)) console.log(`   ${note}`);
    } finally {
      client.release();
    }
  }
  const result = await migrate(pool, undefined, { asRole: owner });
  console.log(
    `applied: ${result.applied.join(', ') || 'nothing new'}; already applied: ${result.skipped.length}${owner ? ` (as ${owner})` : ''}`,
  );
  const app = args['grant-to'];
  if (owner && app) {
    const client = await pool.connect();
    try {
      const schemas = await grantAppRole(client, owner, app, args['app-object-id']);
      console.log(`   granted ${app} the use of: ${schemas.join(', ')}`);
    } finally {
      client.release();
    }
  }
} catch (err) {
  console.error((err as Error).message);
  process.exitCode = 1;
} finally {
  await pool.end();
}
