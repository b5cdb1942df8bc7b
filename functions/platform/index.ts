import type { FunctionDefinition } from '../definitions.js';
import type { Runtime } from '../runtime.js';
import { dailyBackupTimer } from './backup-timer.js';
import { chaosFunctions } from './chaos-api.js';
import { healthFunction } from './health.js';
import { statsFunction } from './stats.js';
import { uiFunction } from './ui.js';

export function platformFunctions(rt: Runtime): FunctionDefinition[] {
  return [healthFunction(rt), ...chaosFunctions(rt), statsFunction(rt), uiFunction(), dailyBackupTimer(rt)];
}
