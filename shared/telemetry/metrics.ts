import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  metrics,
  type ObservableCallback,
  type ObservableGauge,
} from '@opentelemetry/api';

/**
 * Custom metrics through the OpenTelemetry metrics API. Without a MeterProvider (no Application Insights
 * connection string) every call is a cheap no-op. Instruments are created on first use, after the provider has
 * been installed at start-up, because an instrument made before that stays a no-op forever.
 */
let meter: Meter | undefined;
const counters = new Map<string, Counter>();
const histograms = new Map<string, Histogram>();
const gauges = new Map<string, ObservableGauge>();

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
    histogram = getMeter().createHistogram(name, name.endsWith('_ms') ? { unit: 'ms' } : {});
    histograms.set(name, histogram);
  }
  histogram.record(value, attributes);
}

export type GaugeObservation = { value: number; attributes?: Attributes };

/**
 * Registers an observable gauge callback, read on each collection (breaker states, outbox backlog). One
 * instrument per name; several callbacks may feed it. Returns a function that unregisters the callback (a
 * closed runtime must not be observed any more).
 */
export function gauge(
  name: string,
  observe: () => Promise<GaugeObservation[]> | GaugeObservation[],
): () => void {
  let instrument = gauges.get(name);
  if (!instrument) {
    const unit = name.endsWith('_ms') ? 'ms' : name.endsWith('_s') ? 's' : undefined;
    instrument = getMeter().createObservableGauge(name, unit ? { unit } : {});
    gauges.set(name, instrument);
  }
  const callback: ObservableCallback = async (result) => {
    try {
      for (const o of await observe()) result.observe(o.value, o.attributes);
    } catch {
      // A failed observation (database down) just skips this collection.
    }
  };
  instrument.addCallback(callback);
  const registered = instrument;
  return () => registered.removeCallback(callback);
}

/** Forgets instruments so the next use binds to the current global MeterProvider (tests). */
export function resetMetricsForTests(): void {
  meter = undefined;
  counters.clear();
  histograms.clear();
  gauges.clear();
}
