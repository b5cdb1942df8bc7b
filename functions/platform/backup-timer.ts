import { describeExport, exportBackup, openBackupContainer } from '../../shared/backup/export.js';
import type { TimerHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';

/**
 * The one daily call: a consistent logical export of the Orders and Inventory schemas to the backup container
 * (shared/backup/export.ts). The many-times-a-day protection is Flexible Server's continuous backup
 * (point-in-time restore); this export is the copy that survives losing the server. With no destination
 * configured it says so once and does nothing.
 */
export function dailyBackupHandler(rt: Pick<Runtime, 'settings' | 'db'>): TimerHandler {
  let saidOff = false;
  return async (timer, context) => {
    const destination = rt.settings.backup;
    if (destination.kind === 'off') {
      if (!saidOff) {
        saidOff = true;
        context.log(
          'daily backup is off: set BACKUP_CONTAINER_URL (managed identity) or BACKUP_CONNECTION_STRING to turn it on',
        );
      }
      return;
    }
    if (timer.isPastDue) context.warn('daily backup is running late (the app was not running at 02:30 UTC)');
    const container = await openBackupContainer(destination, {
      create: destination.kind === 'connection-string',
    });
    const { manifest } = await exportBackup(rt.db.pool, container);
    context.log(`daily backup written to ${container.containerName}/${describeExport(manifest)}`);
  };
}
