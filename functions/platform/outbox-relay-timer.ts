import type { Settings } from '../../shared/config/settings.js';
import type { Database } from '../../shared/db/database.js';
import type { OutboxOwner } from '../../shared/messaging/outbox.js';
import type { Pruned } from '../../shared/messaging/retention.js';
import type { TimerFunctionSpec } from '../definitions.js';

/** NCRONTAB (seconds first): second 0 of every minute. */
const RELAY_SCHEDULE = '0 * * * * *';

/** A service's retention work, run with its relay's housekeeping: rows deleted per table. */
export type Housekeeping = (db: Database, settings: Settings) => Promise<Pruned>;
/** Loads a service's housekeeping (with the relay, on its first run). */
type HousekeepingLoader = () => Promise<Housekeeping>;

/**
 * The table entry of a service's outbox relay timer (`ordersOutboxRelay`, `inventoryOutboxRelay`): once a minute in
 * Azure, every OUTBOX_RELAY_INTERVAL_MS on the local host. The code is `outbox-relay.ts`, loaded on first run.
 *
 * Once a minute because it is a safety net: every writer (intake, both consumers) publishes its rows right after
 * its own commit, so the relay only sends what that missed (broker down, breaker open, process died). Every 5 s each
 * relay was its own Flex instance billed at least 1 s per run, around the clock (docs/deploy.md, idle cost).
 */
export function outboxRelayTimer(owner: OutboxOwner, housekeeping: HousekeepingLoader): TimerFunctionSpec {
  return {
    kind: 'timer',
    name: `${owner}OutboxRelay`,
    schedule: RELAY_SCHEDULE,
    localIntervalMs: (settings) => settings.outbox.relayIntervalMs,
    load: async () => {
      const [{ outboxRelayHandler }, prune] = await Promise.all([
        import('./outbox-relay.js'),
        housekeeping(),
      ]);
      return (rt) => outboxRelayHandler(rt, owner, prune);
    },
  };
}
