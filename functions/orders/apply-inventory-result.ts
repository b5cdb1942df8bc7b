import { consume, type DeadLetter } from '../../shared/messaging/consume.js';
import { inventoryResult, TYPES_ON } from '../../shared/messaging/contracts.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import type { QueueHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';
import { type Order, statusChangeOf } from './order-model.js';
import { recordDeadLetter } from './orders-repository.js';

/**
 * Orders' consumer of Inventory's results: pending → shipped | rejected | failed, and cancel_requested →
 * cancelled, exactly once.
 */
export function applyInventoryResultHandler(rt: Runtime): QueueHandler {
  const onFinal = (order: Order) => {
    // A bounded set of dimension values: failed orders carry free error text in their reason.
    // A multi-line rejection's reason names its short lines after the code: the dimension is the code.
    const reason = order.status === 'failed' ? 'processing_failed' : (order.reason ?? '').split(':')[0]!;
    rt.signals.count(METRICS.ordersFinalized, { status: order.status, reason });
    rt.signals.record(METRICS.orderEndToEnd, Date.parse(order.updatedAt) - Date.parse(order.createdAt), {
      status: order.status,
    });
    rt.orderEvents.emit(`final:${order.id}`, order);
  };

  const deadLetter = async (letter: DeadLetter) => {
    const order = await recordDeadLetter(rt.db, letter);
    rt.signals.count(METRICS.deadLetters, { queue: QUEUES.orderStatus });
    if (order) onFinal(order);
  };

  return (message, context) =>
    consume(message, context, {
      schema: inventoryResult,
      types: TYPES_ON[QUEUES.orderStatus],
      maxDeliveryCount: rt.settings.maxDeliveryCount,
      deadline: rt.policies.consumerDeadline,
      delayedRetry: rt.delayedRetryFor(QUEUES.orderStatus),
      deadLetter,
      async process(event) {
        const change = statusChangeOf(event);
        const result = await rt.writers.orders.applyStatusChange({
          orderId: event.data.orderId,
          messageId: event.messageId,
          messageType: event.type,
          ...change,
        });
        if (result.outcome === 'duplicate') {
          rt.signals.count(METRICS.duplicatesAbsorbed, { consumer: 'applyInventoryResult' });
          return;
        }
        if (result.outcome === 'applied') {
          context.log(`order ${event.data.orderId} is ${result.order.status}`);
          onFinal(result.order);
        } else {
          context.warn(`order ${event.data.orderId}: ${event.type} ignored (${result.outcome})`);
        }
      },
    });
}
