import type { FunctionDefinition } from '../definitions.js';
import { outboxRelayTimer } from '../platform/outbox-relay.js';
import type { Runtime } from '../runtime.js';
import { applyInventoryResultFunction } from './apply-inventory-result.js';
import { createOrderFunction } from './create-order.js';
import { purgeExpiredIdempotencyKeys } from './idempotency-purge.js';
import { getOrderFunction, listOrdersFunction } from './read-orders.js';

/** The Orders service: its HTTP API and its consumer of Inventory's results. */
export function ordersFunctions(rt: Runtime): FunctionDefinition[] {
  return [
    createOrderFunction(rt),
    getOrderFunction(rt),
    listOrdersFunction(rt),
    applyInventoryResultFunction(rt),
    outboxRelayTimer(rt, 'orders', purgeExpiredIdempotencyKeys),
  ];
}
