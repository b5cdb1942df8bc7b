import type { FunctionDefinition } from './definitions.js';
import { inventoryFunctions } from './inventory/index.js';
import { ordersFunctions } from './orders/index.js';
import { platformFunctions } from './platform/index.js';
import type { Runtime } from './runtime.js';

/** Every function of the app, for both hosts. */
export function allFunctions(rt: Runtime): FunctionDefinition[] {
  return [...ordersFunctions(rt), ...inventoryFunctions(rt), ...platformFunctions(rt)];
}
