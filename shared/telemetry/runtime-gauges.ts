import type { Database } from '../db/database.js';
import { OUTBOX_OWNERS, type OutboxBacklog, type OutboxOwner, outboxBacklog } from '../messaging/outbox.js';
import type { BreakerStateName } from '../resilience/policies.js';
import { METRICS } from './metric-names.js';
import { type GaugeObservation, gauge } from './metrics.js';

/** The numbers METRICS.breakerState reports (the Workbook's tile legend says the same). */
const BREAKER_STATE_VALUE: Record<BreakerStateName, number> = {
  closed: 0,
  halfOpen: 1,
  open: 2,
  isolated: 3,
};

/** Both services' outboxes live in the one database this app talks to; each is observed on its own. */

/** At most one backlog query per service in this period, however often the gauges are collected. */
export const OUTBOX_READ_INTERVAL_MS = 10_000;

export interface RuntimeGaugeSources {
  db: Database;
  policies: { breakerStates(): Record<string, BreakerStateName> };
}

export interface RuntimeGaugeOptions {
  /** Minimum time between two backlog queries of the same outbox (default OUTBOX_READ_INTERVAL_MS). */
  outboxReadIntervalMs?: number;
  now?: () => number;
}

/**
 * Observable gauges of one runtime: the state of each circuit breaker (in memory, free to read) and the backlog
 * and oldest-row age of each outbox (a database query, throttled and shared by the two outbox gauges). Without a
 * MeterProvider nothing ever collects them, so no query runs. Returns a function that unregisters them.
 */
export function registerRuntimeGauges(
  sources: RuntimeGaugeSources,
  options: RuntimeGaugeOptions = {},
): () => void {
  const readBacklog = throttledBacklog(
    sources.db,
    options.outboxReadIntervalMs ?? OUTBOX_READ_INTERVAL_MS,
    options.now ?? Date.now,
  );

  const outboxGauge = async (pick: (b: OutboxBacklog) => number): Promise<GaugeObservation[]> => {
    const observations: GaugeObservation[] = [];
    for (const service of OUTBOX_OWNERS) {
      const backlog = await readBacklog(service);
      if (backlog) observations.push({ value: pick(backlog), attributes: { service } });
    }
    return observations;
  };

  const unregister = [
    gauge(METRICS.breakerState, () =>
      Object.entries(sources.policies.breakerStates()).map(([policy, state]) => ({
        value: BREAKER_STATE_VALUE[state],
        attributes: { policy },
      })),
    ),
    gauge(METRICS.outboxBacklog, () => outboxGauge((b) => b.unpublished)),
    gauge(METRICS.outboxOldestAge, () => outboxGauge((b) => Math.round(b.oldestAgeSeconds * 10) / 10)),
  ];
  return () => {
    for (const u of unregister) u();
  };
}

interface CachedBacklog {
  /** When the last query started. */
  at: number;
  value: OutboxBacklog | undefined;
  pending?: Promise<OutboxBacklog | undefined>;
}

/**
 * `outboxBacklog` behind a per-service cache: a collection within `intervalMs` of the last query reuses its
 * result, concurrent collections share one query, and a failed query is not retried before the interval ends
 * (the gauge skips that service meanwhile rather than report a stale number).
 */
function throttledBacklog(
  db: Database,
  intervalMs: number,
  now: () => number,
): (owner: OutboxOwner) => Promise<OutboxBacklog | undefined> {
  const cache = new Map<OutboxOwner, CachedBacklog>();
  return (owner) => {
    const cached = cache.get(owner);
    if (cached?.pending) return cached.pending;
    if (cached && now() - cached.at < intervalMs) return Promise.resolve(cached.value);
    const at = now();
    const pending = outboxBacklog(db, owner).then(
      (value) => value,
      () => undefined,
    );
    cache.set(owner, { at, value: undefined, pending });
    void pending.then((value) => cache.set(owner, { at, value }));
    return pending;
  };
}
