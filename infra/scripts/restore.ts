import { parseArgs } from 'node:util';
import { openBackupContainer } from '../../shared/backup/export.js';
import { BackupRefusedError, listExports, restoreBackup, verifyExport } from '../../shared/backup/restore.js';
import { loadSettingsOrExit } from '../../shared/config/settings.js';
import { passwordForSettings } from '../../shared/db/password-for-settings.js';
import { createPool } from '../../shared/db/pool.js';

const USAGE = `usage: npm run restore -- [--prefix <yyyy-mm-ddThhmmssZ/>] [--verify-only] [--list]

  --list          list the complete exports in the backup container (oldest first) and exit
  --prefix P      the export to use (default: the latest complete one)
  --verify-only   check the manifest and every file's row count and SHA-256; touch no database

Without --verify-only, applies the migrations to DATABASE_URL, refuses unless that database is empty (no orders,
no reservations), verifies every file, then restores all tables in one transaction and re-verifies them.
Source: BACKUP_CONNECTION_STRING + BACKUP_CONTAINER (Azurite), or BACKUP_CONTAINER_URL (Azure; az login).`;

let args: { prefix?: string | undefined; 'verify-only'?: boolean; list?: boolean; help?: boolean };
try {
  args = parseArgs({
    options: {
      prefix: { type: 'string' },
      'verify-only': { type: 'boolean' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  console.error(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const settings = loadSettingsOrExit(process.env);
if (settings.backup.kind === 'off') {
  console.error(
    'No backup container: set BACKUP_CONNECTION_STRING (+ BACKUP_CONTAINER) or BACKUP_CONTAINER_URL.',
  );
  process.exit(2);
}

try {
  const container = await openBackupContainer(settings.backup);
  if (args.list) {
    const exports = await listExports(container);
    if (exports.length === 0) console.log(`no complete export in container ${container.containerName}`);
    for (const prefix of exports) console.log(prefix);
  } else if (args['verify-only']) {
    const verified = await verifyExport(container, args.prefix);
    const m = verified.manifest;
    console.log(
      `export ${verified.prefix}: taken ${m.createdAt} from database ${m.database} (PostgreSQL ${m.serverVersion})`,
    );
    for (const t of verified.tables) {
      console.log(`  ok  ${t.name.padEnd(32)} ${String(t.rows).padStart(8)} rows  sha256 ${t.sha256}`);
    }
    console.log(
      `manifest checksum ${m.checksum} ok: the export is complete and intact (nothing was restored)`,
    );
  } else {
    if (!settings.database.url) {
      console.error('DATABASE_URL is not set: point it at the EMPTY database to restore into.');
      process.exit(2);
    }
    const pool = createPool({
      connectionString: settings.database.url,
      max: 1,
      connectionTimeoutMs: 15_000,
      applicationName: 'valerix-restore',
      password: passwordForSettings(settings),
    });
    try {
      const result = await restoreBackup(pool, container, {
        ...(args.prefix ? { prefix: args.prefix } : {}),
        migrate: true,
        onProgress: (message) => console.log(`  ${message}`),
      });
      const rows = result.tables.reduce((n, t) => n + t.rows, 0);
      console.log(
        `restored ${result.prefix} into database ${result.database}: ${result.tables.length} tables, ${rows} rows, ${result.sequencesReset} sequences reset`,
      );
    } finally {
      await pool.end();
    }
  }
} catch (err) {
  console.error(
    err instanceof BackupRefusedError
      ? `REFUSED: ${err.message}`
      : `restore failed: ${(err as Error).message}`,
  );
  process.exitCode = 1;
}
