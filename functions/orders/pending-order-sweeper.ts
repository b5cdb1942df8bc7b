import type { InvocationContext } from '@azure/functions';
import { MAX_RELAY_ATTEMPTS } from '../../shared/messaging/outbox.js';
import type { TimerHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';
import { resetStaleOrderPlaced } from './orders-repository.js';

/** Orders re-sent per run at most; the next run takes the rest. */
const BATCH = 500;

/**
 * The safety net behind the outbox relay: an order still `pending` after PENDING_ORDER_SWEEP_AFTER_SECONDS has
 * its OrderPlaced re-sent from the outbox. The relay covers what was never sent; this covers what was sent and
 * then lost — a message the broker dead-lettered while the database was down (so no dead letter failed the
 * order), or a row the relay gave up on. Downstream is idempotent (one reservation per order, processed-message
 * records), so a re-send of an order that is merely slow costs a duplicate delivery, nothing more.
 */
export function pendingOrderSweeperHandler(rt: Runtime): TimerHandler {
  return async (_timer, context) => {
    // A cancel still requested is the same kind of wait: its OrderCancelled is re-sent the same way.
    for (const stuckIn of ['pending', 'cancel_requested'] as const) await sweep(rt, context, stuckIn);
  };
}

async function sweep(
  rt: Runtime,
  context: InvocationContext,
  stuckIn: 'pending' | 'cancel_requested',
): Promise<void> {
  // A cancel has a clock of its own (CANCEL_SWEEP_AFTER_SECONDS): re-releasing costs nothing, and someone waits.
  const afterSeconds =
    stuckIn === 'pending' ? rt.settings.pendingOrderSweepAfterSeconds : rt.settings.cancelSweepAfterSeconds;
  const written = await resetStaleOrderPlaced(rt.db, {
    afterSeconds,
    limit: BATCH,
    maxRelayAttempts: MAX_RELAY_ATTEMPTS,
    stuckIn,
  });
  if (written.outboxIds.length === 0) return;
  const ids = written.messages.map((m) => m.envelope.messageId);
  context.warn(
    `${ids.length} order(s) ${stuckIn} for over ${afterSeconds} s: message re-sent (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''})`,
  );
  // The statement handed the rows back (not due for the relay for its grace period): send them now.
  const left = {
    kind: 'publish_pending',
    fallback: 'the outbox relay re-sends the stale message',
  } as const;
  await rt.outbox('orders').sendAfterCommit(written, left, context);
}
