import { json } from '../../shared/http/problem.js';
import type { HttpFunctionDefinition } from '../definitions.js';
import type { Runtime } from '../runtime.js';

/** This instance's live signals: the 30 s order-API window (green/red), breaker states and counters. */
export function statsFunction(rt: Runtime): HttpFunctionDefinition {
  return {
    kind: 'http',
    name: 'stats',
    route: 'stats',
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: async () =>
      json(200, {
        orderApi: rt.orderApiLatency.snapshot(),
        breakers: rt.policies.breakerStates(),
        counters: rt.signals.snapshot(),
        chaos: rt.chaos.counters,
        transport: rt.publisher.kind,
        at: new Date().toISOString(),
      }),
  };
}
