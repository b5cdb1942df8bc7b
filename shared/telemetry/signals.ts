import type { Attributes } from '@opentelemetry/api';
import { METRICS } from './metric-names.js';
import { count, record } from './metrics.js';

const SHORT_NAMES = new Map<string, string>(Object.entries(METRICS).map(([short, full]) => [full, short]));

/**
 * One call per signal: it moves the OpenTelemetry metric (→ Application Insights) and the instance's own
 * counters that `/api/stats` and the UI show, so the two can never disagree about what was counted.
 */
export class Signals {
  private readonly counters = new Map<string, number>();

  count(name: string, attributes?: Attributes, value = 1): void {
    count(name, value, attributes);
    const key = localKey(name, attributes);
    this.counters.set(key, (this.counters.get(key) ?? 0) + value);
  }

  record(name: string, value: number, attributes?: Attributes): void {
    record(name, value, attributes);
  }

  /** `{ "ordersFinalized.shipped": 3, "reservations.reserved": 3, ... }` */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counters.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}

function localKey(name: string, attributes?: Attributes): string {
  const short = SHORT_NAMES.get(name) ?? name;
  const first = attributes ? Object.values(attributes)[0] : undefined;
  return first === undefined ? short : `${short}.${String(first)}`;
}
