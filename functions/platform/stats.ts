import { json } from '../../shared/http/problem.js';
import type { HttpHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';

/** GET /api/stats: this instance's live signals — the 30 s order-API window (green/red), breakers, counters. */
export function statsHandler(rt: Runtime): HttpHandler {
  return async () =>
    json(200, {
      orderApi: rt.orderApiLatency.snapshot(),
      // The chart's data: 10 s buckets over the last 10 minutes, oldest first.
      history: { bucketSeconds: rt.orderApiHistory.bucketSeconds, points: rt.orderApiHistory.points() },
      breakers: rt.policies.breakerStates(),
      // When each breaker last changed and from what (null: not since this instance started).
      breakerChanges: rt.policies.breakerChanges(),
      counters: rt.signals.snapshot(),
      chaos: rt.chaos.counters,
      transport: rt.publisher.kind,
      at: new Date().toISOString(),
    });
}
