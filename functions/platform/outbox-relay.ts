import type { Database } from '../../shared/db/database.js';
import { type OutboxOwner, pruneOutbox, relayOutbox } from '../../shared/messaging/outbox.js';
import type { TimerHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';

const BATCH = 100;
/** One timer run stops relaying after this long; the next run continues. */
const RUN_BUDGET_MS = 20_000;
const HOUSEKEEPING_EVERY_MS = 60_000;

/**
 * The timer that sends outbox rows a request or consumer could not publish right after its commit (broker
 * down, breaker open, process died), and prunes what was published long ago. Each service owns one.
 */
export function outboxRelayHandler(
  rt: Runtime,
  owner: OutboxOwner,
  housekeeping?: (db: Database) => Promise<number>,
): TimerHandler {
  let lastHousekeeping = 0;
  return async (_timer, context) => {
    const started = Date.now();
    let sent = 0;
    for (;;) {
      const pass = await relayOutbox(rt.publishDeps, owner, BATCH);
      sent += pass.sent;
      if (pass.failed > 0)
        context.warn(`${owner} outbox: ${pass.failed} message(s) failed to send; will retry`);
      if (pass.sent < BATCH || Date.now() - started > RUN_BUDGET_MS) break;
    }
    if (sent > 0) context.log(`${owner} outbox: relayed ${sent} message(s)`);
    if (Date.now() - lastHousekeeping > HOUSEKEEPING_EVERY_MS) {
      lastHousekeeping = Date.now();
      const pruned = await pruneOutbox(rt.db, owner, rt.settings.outbox.retentionHours);
      const extra = housekeeping ? await housekeeping(rt.db) : 0;
      if (pruned + extra > 0)
        context.log(`${owner}: pruned ${pruned} outbox row(s), ${extra} other record(s)`);
    }
  };
}
