import { DEFAULT_RELAY_LEASE_MS, type OutboxOwner } from '../../shared/messaging/outbox.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import type { TimerHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';
import type { Housekeeping } from './outbox-relay-timer.js';

const BATCH = 100;
/** One timer run stops relaying after this long; the next run continues. */
const RUN_BUDGET_MS = 20_000;
const HOUSEKEEPING_EVERY_MS = 60_000;

/**
 * A claimed row's lease: longer than the slowest publish the policy lets through (three tries of the publish
 * timeout, plus backoff), so a live relay marks its rows before another may take them.
 */
const relayLeaseMs = (publishTimeoutMs: number) =>
  Math.max(DEFAULT_RELAY_LEASE_MS, 4 * publishTimeoutMs + 10_000);

/**
 * The timer that sends outbox rows a request or consumer could not publish right after its commit (broker
 * down, breaker open, process died), and runs its service's retention (published outbox rows, processed-message
 * records, dead letters, old history). Each service owns one.
 */
export function outboxRelayHandler(
  rt: Runtime,
  owner: OutboxOwner,
  housekeeping: Housekeeping,
): TimerHandler {
  let lastHousekeeping = 0;
  const options = {
    batchSize: BATCH,
    leaseMs: relayLeaseMs(rt.settings.publishTimeoutMs),
    // While the publish breaker is open, a pass would only fail and use up the rows' attempts; once its half-open
    // delay has passed, the pass is the trial call that can close it.
    publishAvailable: () => rt.policies.breakerWouldTry('publish'),
  };
  return async (_timer, context) => {
    const started = Date.now();
    let sent = 0;
    for (;;) {
      const pass = await rt.outbox(owner).relay(options);
      sent += pass.sent;
      if (pass.failed > 0)
        context.warn(`${owner} outbox: ${pass.failed} message(s) failed to send; will retry`);
      if (pass.sent < BATCH || Date.now() - started > RUN_BUDGET_MS) break;
    }
    if (sent > 0) context.log(`${owner} outbox: relayed ${sent} message(s)`);
    if (Date.now() - lastHousekeeping > HOUSEKEEPING_EVERY_MS) {
      lastHousekeeping = Date.now();
      // Off the database breaker: a prune stuck behind a lock must not make order intake answer 503.
      const pruned = await housekeeping(rt.housekeepingDb, rt.settings);
      const lines: string[] = [];
      for (const [table, rows] of Object.entries(pruned)) {
        if (rows === 0) continue;
        rt.signals.count(METRICS.rowsPruned, { table }, rows);
        lines.push(`${rows} from ${table}`);
      }
      if (lines.length > 0) context.log(`${owner}: retention pruned ${lines.join(', ')}`);
    }
  };
}
