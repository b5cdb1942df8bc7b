import { QUEUES } from '../../shared/messaging/queue-names.js';
import type { FunctionSpec } from '../definitions.js';
import { outboxRelayTimer } from '../platform/outbox-relay-timer.js';

/** The Orders service: its HTTP API and its consumer of Inventory's results. Each handler loads on first use. */
export const ordersFunctions: FunctionSpec[] = [
  {
    kind: 'http',
    name: 'createOrder',
    route: 'orders',
    methods: ['POST'],
    authLevel: 'anonymous',
    load: async () => (await import('./create-order.js')).createOrderHandler,
  },
  {
    kind: 'http',
    name: 'getOrder',
    route: 'orders/{id}',
    methods: ['GET'],
    authLevel: 'anonymous',
    load: async () => (await import('./read-orders.js')).getOrderHandler,
  },
  {
    kind: 'http',
    name: 'cancelOrder',
    route: 'orders/{id}/cancel',
    methods: ['POST'],
    // The order read's rule: whoever holds the order's id (its customer, or an operator from the keyed listing).
    authLevel: 'anonymous',
    load: async () => (await import('./cancel-order.js')).cancelOrderHandler,
  },
  {
    kind: 'http',
    name: 'listOrders',
    route: 'orders',
    methods: ['GET'],
    // Every customer's orders: an operator route. A customer reads their order by its (unguessable) id.
    authLevel: 'function',
    load: async () => (await import('./read-orders.js')).listOrdersHandler,
  },
  {
    kind: 'http',
    name: 'listMyOrders',
    route: 'me/orders',
    methods: ['GET'],
    // A signed-in customer's own orders (CUSTOMER_AUTH other than none); the sign-in is the capability.
    authLevel: 'anonymous',
    load: async () => (await import('./read-orders.js')).listMyOrdersHandler,
  },
  {
    kind: 'serviceBusQueue',
    name: 'applyInventoryResult',
    queueName: QUEUES.orderStatus,
    load: async () => (await import('./apply-inventory-result.js')).applyInventoryResultHandler,
  },
  {
    kind: 'timer',
    name: 'pendingOrderSweeper',
    // Every minute; the thresholds (PENDING_ORDER_SWEEP_AFTER_SECONDS, CANCEL_SWEEP_AFTER_SECONDS) decide what is stale.
    schedule: '0 * * * * *',
    // Locally: often enough that a short threshold (tests, demos) is honoured within half of it.
    localIntervalMs: (settings) =>
      Math.min(
        60_000,
        Math.max(
          200,
          Math.min(settings.pendingOrderSweepAfterSeconds, settings.cancelSweepAfterSeconds) * 500,
        ),
      ),
    load: async () => (await import('./pending-order-sweeper.js')).pendingOrderSweeperHandler,
  },
  outboxRelayTimer('orders', async () => (await import('./retention.js')).pruneOrders),
];
