import type { Database } from '../../shared/db/database.js';
import type { OutboxOwner } from '../../shared/messaging/outbox.js';
import type { TimerFunctionSpec } from '../definitions.js';

/** Other clean-up a service runs with its relay's housekeeping (loaded with the relay). */
export type HousekeepingLoader = () => Promise<(db: Database) => Promise<number>>;

/**
 * The table entry of a service's outbox relay timer (`ordersOutboxRelay`, `inventoryOutboxRelay`): every 5 s in
 * Azure, every OUTBOX_RELAY_INTERVAL_MS on the local host. The code is `outbox-relay.ts`, loaded on first run.
 */
export function outboxRelayTimer(owner: OutboxOwner, housekeeping?: HousekeepingLoader): TimerFunctionSpec {
  return {
    kind: 'timer',
    name: `${owner}OutboxRelay`,
    schedule: '*/5 * * * * *',
    localIntervalMs: (settings) => settings.outbox.relayIntervalMs,
    load: async () => {
      const [{ outboxRelayHandler }, extra] = await Promise.all([
        import('./outbox-relay.js'),
        housekeeping?.(),
      ]);
      return (rt) => outboxRelayHandler(rt, owner, extra);
    },
  };
}
