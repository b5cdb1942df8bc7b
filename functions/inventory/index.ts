import type { FunctionDefinition } from '../definitions.js';
import { outboxRelayTimer } from '../platform/outbox-relay.js';
import type { Runtime } from '../runtime.js';
import { inventoryHttpFunctions } from './inventory-http.js';
import { reserveStockFunction } from './reserve-stock.js';

/** The Inventory service: its consumer of OrderPlaced and its stock API. */
export function inventoryFunctions(rt: Runtime): FunctionDefinition[] {
  return [reserveStockFunction(rt), ...inventoryHttpFunctions(rt), outboxRelayTimer(rt, 'inventory')];
}
