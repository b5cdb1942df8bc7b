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
    name: 'listOrders',
    route: 'orders',
    methods: ['GET'],
    authLevel: 'anonymous',
    load: async () => (await import('./read-orders.js')).listOrdersHandler,
  },
  {
    kind: 'serviceBusQueue',
    name: 'applyInventoryResult',
    queueName: QUEUES.orderStatus,
    load: async () => (await import('./apply-inventory-result.js')).applyInventoryResultHandler,
  },
  outboxRelayTimer('orders', async () => (await import('./retention.js')).pruneOrders),
];
