import { type Attributes, type Counter, type Histogram, type Meter, metrics } from '@opentelemetry/api';

/**
 * Custom metrics through the OpenTelemetry metrics API. Without a MeterProvider (no Application Insights
 * connection string) every call is a cheap no-op. Instruments are created on first use, after the provider has
 * been installed at start-up, because an instrument made before that stays a no-op forever.
 */
let meter: Meter | undefined;
const counters = new Map<string, Counter>();
const histograms = new Map<string, Histogram>();

function getMeter(): Meter {
  meter ??= metrics.getMeter('valerix');
  return meter;
}

export function count(name: string, value = 1, attributes?: Attributes): void {
  let counter = counters.get(name);
  if (!counter) {
    counter = getMeter().createCounter(name);
    counters.set(name, counter);
  }
  counter.add(value, attributes);
}

export function record(name: string, value: number, attributes?: Attributes): void {
  let histogram = histograms.get(name);
  if (!histogram) {
    histogram = getMeter().createHistogram(name, { unit: name.endsWith('_ms') ? 'ms' : undefined });
    histograms.set(name, histogram);
  }
  histogram.record(value, attributes);
}

/** Registers an observable gauge read on each export (breaker states, outbox backlog). */
export function gauge(
  name: string,
  observe: () =>
    | Promise<Array<{ value: number; attributes?: Attributes }>>
    | Array<{ value: number; attributes?: Attributes }>,
): void {
  getMeter()
    .createObservableGauge(name)
    .addCallback(async (result) => {
      try {
        for (const o of await observe()) result.observe(o.value, o.attributes);
      } catch {
        // A failed observation (database down) just skips this export.
      }
    });
}

/** Forgets instruments so the next use binds to the current global MeterProvider (tests). */
export function resetMetricsForTests(): void {
  meter = undefined;
  counters.clear();
  histograms.clear();
}
