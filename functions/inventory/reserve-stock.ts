import { setTimeout as sleep } from 'node:timers/promises';
import type { InvocationContext } from '@azure/functions';
import { consume } from '../../shared/messaging/consume.js';
import {
  messageIdFor,
  type OrderCancelled,
  reservationsMessage,
  TYPES_ON,
} from '../../shared/messaging/contracts.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import { activeTraceContext, isTraceparent } from '../../shared/telemetry/trace-context.js';
import type { QueueHandler } from '../definitions.js';
import { crashOrPublish } from '../publish-after-commit.js';
import type { Runtime } from '../runtime.js';
import { recordDeadLetter, releaseStock } from './inventory-repository.js';

const RESULT_TYPES = ['InventoryReserved', 'InventoryRejected', 'InventoryFailed'] as const;

/**
 * Inventory's consumer of its queue: OrderPlaced (either version) reserves stock once per order, OrderCancelled
 * gives back what the order reserved, once; each reports its result through the outbox.
 */
export function reserveStockHandler(rt: Runtime): QueueHandler {
  return (message, context) =>
    consume(message, context, {
      schema: reservationsMessage,
      types: TYPES_ON[QUEUES.reservations],
      maxDeliveryCount: rt.settings.maxDeliveryCount,
      deadline: rt.policies.consumerDeadline,
      delayedRetry: rt.delayedRetryFor(QUEUES.reservations),
      async deadLetter(letter) {
        // Inside the consumer span: the InventoryFailed message continues the order's trace from it.
        const carried = (letter.body as { traceparent?: unknown } | undefined)?.traceparent;
        const trace = activeTraceContext() ?? {
          traceparent: typeof carried === 'string' && isTraceparent(carried) ? carried : undefined,
        };
        const written = await recordDeadLetter(rt.db, letter, trace);
        rt.signals.count(METRICS.deadLetters, { queue: QUEUES.reservations });
        await rt.outbox('inventory').sendAfterCommit(
          written,
          {
            kind: 'publish_dead_letter_result',
            orderId: letter.orderId,
            fallback: 'the outbox relay sends InventoryFailed later',
          },
          context,
        );
      },
      async process(event) {
        if (event.type === 'OrderCancelled') return release(rt, event, context);
        const { orderId } = event.data;
        // The gremlin: slow Inventory down before any connection is taken, so a delay never pins the pool.
        const delay = await rt.chaos.gremlinDelayMs();
        if (delay > 0) {
          rt.signals.count(METRICS.gremlinDelays, { where: 'reservation' });
          context.warn(`order ${orderId}: gremlin delays this reservation by ${delay} ms`);
          await sleep(delay);
        }
        // The result continues the order's trace: from this consumer's span when an SDK is running, else
        // (no-op API) with the incoming message's own trace context, so the trace id travels either way.
        const trace = activeTraceContext() ?? {
          traceparent: event.traceparent,
          tracestate: event.tracestate,
        };
        const outcome = await rt.writers.inventory.reserveStock(event, trace);
        if (outcome.outcome === 'duplicate') {
          rt.signals.count(METRICS.duplicatesAbsorbed, { consumer: 'reserveStock' });
          context.log(`order ${orderId}: duplicate delivery absorbed, stock untouched`);
          // If the first delivery died after its commit, its result is still unsent: send it now rather than after
          // the relay's grace period (a lookup by message id; nothing is sent when it went out already, the usual
          // case of a redelivery or a relay re-send). If Orders lost the result after it was sent (dead-lettered
          // while its database was down), the pending-order sweeper re-sends OrderPlaced marked `reask`: Orders
          // asks again, and gets the result again even though it was sent. Orders applies a result once.
          await rt.outbox('inventory').resendPending(
            RESULT_TYPES.map((t) => messageIdFor(t, orderId)),
            { kind: 'publish_pending', orderId, fallback: 'the outbox relay sends the result later' },
            context,
            { evenIfPublished: event.reask === true },
          );
          return;
        }
        rt.signals.count(METRICS.reservations, { result: outcome.result });
        context.log(`order ${orderId}: ${outcome.result} (remaining ${outcome.remaining ?? 'n/a'})`);
        // Schrödinger's warehouse: committed, but the broker is told it failed and will redeliver.
        await crashOrPublish(
          rt,
          'inventory',
          outcome,
          { orderId, fallback: 'the result is left to the outbox relay' },
          context,
        );
      },
    });
}

/** OrderCancelled: the compensation. Same shape as a reservation: commit, maybe crash, then publish. */
async function release(rt: Runtime, event: OrderCancelled, context: InvocationContext): Promise<void> {
  const { orderId } = event.data;
  const trace = activeTraceContext() ?? { traceparent: event.traceparent, tracestate: event.tracestate };
  const outcome = await releaseStock(rt.statements, event, trace);
  if (outcome.outcome === 'duplicate') {
    rt.signals.count(METRICS.duplicatesAbsorbed, { consumer: 'releaseStock' });
    context.log(`order ${orderId}: duplicate cancel absorbed, stock untouched`);
    // As for a duplicate OrderPlaced: the first delivery's StockReleased may be unsent (send it now), or lost after
    // it was sent (the sweeper's `reask`: send it again).
    const left = {
      kind: 'publish_pending',
      orderId,
      fallback: 'the outbox relay sends StockReleased later',
    } as const;
    await rt.outbox('inventory').resendPending([messageIdFor('StockReleased', orderId)], left, context, {
      evenIfPublished: event.reask === true,
    });
    return;
  }
  rt.signals.count(METRICS.reservations, { result: outcome.lines > 0 ? 'released' : 'nothing_reserved' });
  context.log(`order ${orderId}: cancelled, ${outcome.lines} line(s) of stock given back`);
  await crashOrPublish(
    rt,
    'inventory',
    outcome,
    { orderId, fallback: 'StockReleased is left to the outbox relay' },
    context,
  );
}
