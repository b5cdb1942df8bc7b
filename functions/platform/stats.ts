import { json } from '../../shared/http/problem.js';
import type { HttpHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';

/** GET /api/stats: this instance's live signals — the 30 s order-API window (green/red), breakers, counters. */
export function statsHandler(rt: Runtime): HttpHandler {
  return async () =>
    json(200, {
      orderApi: rt.orderApiLatency.snapshot(),
      breakers: rt.policies.breakerStates(),
      // When each breaker last changed and from what (null: not since this instance started).
      breakerChanges: rt.policies.breakerChanges(),
      counters: rt.signals.snapshot(),
      chaos: rt.chaos.counters,
      transport: rt.publisher.kind,
      at: new Date().toISOString(),
    });
}
