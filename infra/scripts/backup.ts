import { exportBackup, openBackupContainer } from '../../shared/backup/export.js';
import { loadSettingsOrExit } from '../../shared/config/settings.js';
import { passwordForSettings } from '../../shared/db/password-for-settings.js';
import { createPool } from '../../shared/db/pool.js';

/**
 * `npm run backup`: the daily logical export on demand (what the dailyBackup timer does at 02:30 UTC), from
 * DATABASE_URL to BACKUP_CONNECTION_STRING/BACKUP_CONTAINER or BACKUP_CONTAINER_URL. Prints the new prefix.
 */
const settings = loadSettingsOrExit(process.env);
if (!settings.database.url || settings.backup.kind === 'off') {
  console.error(
    'Set DATABASE_URL (the database to export) and BACKUP_CONNECTION_STRING (Azurite: UseDevelopmentStorage=true) or BACKUP_CONTAINER_URL (Azure, signed in with az login or a managed identity).',
  );
  process.exit(2);
}
const pool = createPool({
  connectionString: settings.database.url,
  max: 1,
  connectionTimeoutMs: 15_000,
  applicationName: 'valerix-backup',
  password: passwordForSettings(settings),
});
try {
  const container = await openBackupContainer(settings.backup, {
    create: settings.backup.kind === 'connection-string',
  });
  console.log(`exporting to container ${container.containerName}…`);
  const { prefix, manifest } = await exportBackup(pool, container, {
    onTable: (t) =>
      console.log(`  ${t.name.padEnd(32)} ${String(t.rows).padStart(8)} rows  sha256 ${t.sha256}`),
  });
  console.log(`export complete: ${prefix} (database ${manifest.database}, checksum ${manifest.checksum})`);
  console.log(`restore it with: npm run restore -- --prefix ${prefix}`);
} catch (err) {
  console.error(`backup failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await pool.end();
}
