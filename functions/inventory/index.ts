import { QUEUES } from '../../shared/messaging/queue-names.js';
import type { FunctionSpec } from '../definitions.js';
import { outboxRelayTimer } from '../platform/outbox-relay-timer.js';

/** The Inventory service: its consumer of OrderPlaced and its stock API. Each handler loads on first use. */
export const inventoryFunctions: FunctionSpec[] = [
  {
    kind: 'serviceBusQueue',
    name: 'reserveStock',
    queueName: QUEUES.reservations,
    load: async () => (await import('./reserve-stock.js')).reserveStockHandler,
  },
  {
    kind: 'http',
    name: 'listInventory',
    route: 'inventory',
    methods: ['GET'],
    authLevel: 'anonymous',
    load: async () => (await import('./inventory-http.js')).listInventoryHandler,
  },
  {
    kind: 'http',
    name: 'getInventoryItem',
    route: 'inventory/{productId}',
    methods: ['GET'],
    authLevel: 'anonymous',
    load: async () => (await import('./inventory-http.js')).getInventoryItemHandler,
  },
  {
    kind: 'http',
    name: 'restockInventory',
    route: 'inventory/{productId}/restock',
    methods: ['POST'],
    authLevel: 'function',
    load: async () => (await import('./inventory-http.js')).restockInventoryHandler,
  },
  outboxRelayTimer('inventory', async () => (await import('./retention.js')).pruneInventory),
];
