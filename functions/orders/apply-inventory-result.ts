import { consume, type PoisonInfo } from '../../shared/messaging/consume.js';
import { inventoryResult, QUEUES } from '../../shared/messaging/contracts.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import type { QueueHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';
import type { Order } from './order-model.js';
import { applyStatusChange, finalize } from './orders-repository.js';

/** Orders' consumer of Inventory's results: pending → shipped | rejected | failed, exactly once. */
export function applyInventoryResultHandler(rt: Runtime): QueueHandler {
  const onFinal = (order: Order) => {
    // A bounded set of dimension values: failed orders carry free error text in their reason.
    const reason = order.status === 'failed' ? 'processing_failed' : (order.reason ?? '');
    rt.signals.count(METRICS.ordersFinalized, { status: order.status, reason });
    rt.signals.record(METRICS.orderEndToEnd, Date.parse(order.updatedAt) - Date.parse(order.createdAt), {
      status: order.status,
    });
    rt.orderEvents.emit(`final:${order.id}`, order);
  };

  const deadLetter = async (info: PoisonInfo) => {
    const order = await rt.db.transaction(async (client) => {
      await client.query(
        `INSERT INTO orders.dead_letters (queue, message_id, order_id, body, error, delivery_count)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          QUEUES.orderStatus,
          info.messageId ?? null,
          info.orderId ?? null,
          JSON.stringify(info.body ?? null),
          info.error,
          info.deliveryCount,
        ],
      );
      if (!info.orderId) return undefined;
      // If this very message was already applied, its outcome stands; otherwise claim it so it never applies later.
      if (info.messageId) {
        const claim = await client.query(
          `INSERT INTO orders.processed_messages (message_id, type) VALUES ($1, 'dead-letter') ON CONFLICT DO NOTHING`,
          [info.messageId],
        );
        if (claim.rowCount === 0) return undefined;
      }
      const result = await finalize(client, {
        orderId: info.orderId,
        status: 'failed',
        reason: `status update failed: ${info.error}`.slice(0, 500),
        messageId: info.messageId ?? 'dead-letter',
      });
      return result.outcome === 'applied' ? result.order : undefined;
    });
    rt.signals.count(METRICS.deadLetters, { queue: QUEUES.orderStatus });
    if (order) onFinal(order);
  };

  return (message, context) =>
    consume(message, context, {
      schema: inventoryResult,
      maxDeliveryCount: rt.settings.maxDeliveryCount,
      deadline: rt.policies.consumerDeadline,
      delayedRetry: rt.delayedRetryFor(QUEUES.orderStatus),
      deadLetter,
      async process(event) {
        const change =
          event.type === 'InventoryReserved'
            ? { status: 'shipped' as const, reason: null }
            : event.type === 'InventoryRejected'
              ? { status: 'rejected' as const, reason: event.data.reason }
              : { status: 'failed' as const, reason: event.data.reason };
        const result = await applyStatusChange(rt.db, {
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
