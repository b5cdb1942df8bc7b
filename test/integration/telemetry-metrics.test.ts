import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Timer } from '@azure/functions';
import { type Attributes, metrics } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneOrders } from '../../functions/orders/retention.js';
import { outboxRelayHandler } from '../../functions/platform/outbox-relay.js';
import type { Database } from '../../shared/db/database.js';
import { InvocationContext } from '../../shared/http/azure-functions.js';
import type { Envelope } from '../../shared/messaging/contracts.js';
import { outboxBacklog } from '../../shared/messaging/outbox.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import { resetMetricsForTests } from '../../shared/telemetry/metrics.js';
import { OUTBOX_READ_INTERVAL_MS, registerRuntimeGauges } from '../../shared/telemetry/runtime-gauges.js';
import {
  postOrder,
  startTestHost,
  type TestHost,
  waitForOrderFinal,
  withFunctionKey,
} from '../support/test-host.js';

/**
 * Every custom metric, read through an in-memory OpenTelemetry reader installed as the global MeterProvider before
 * the app creates its instruments (what Application Insights does in Azure). Each test makes one thing happen and
 * checks that the matching metric moved with the right dimensions. The host delivers every message twice
 * (LOCAL_DELIVERY_COPIES=2), so duplicates are absorbed all along.
 */

/** Collects on demand only: nothing is exported on a timer. */
class InMemoryReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

interface Point {
  attributes: Attributes;
  /** Counter: the cumulative sum; histogram: the sum of the recorded values; gauge: the last value. */
  value: number;
  /** Histogram only: how many values were recorded. */
  count?: number;
}

const reader = new InMemoryReader();
const provider = new MeterProvider({ readers: [reader] });
let host: TestHost;

async function collect(): Promise<Map<string, Point[]>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const byName = new Map<string, Point[]>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      const points = byName.get(metric.descriptor.name) ?? [];
      for (const dp of metric.dataPoints) {
        if (metric.dataPointType === DataPointType.HISTOGRAM) {
          const h = dp.value as { sum?: number; count: number };
          points.push({ attributes: dp.attributes, value: h.sum ?? 0, count: h.count });
        } else {
          points.push({ attributes: dp.attributes, value: dp.value as number });
        }
      }
      byName.set(metric.descriptor.name, points);
    }
  }
  return byName;
}

const matches = (p: Point, dims: Attributes) => Object.entries(dims).every(([k, v]) => p.attributes[k] === v);

/** The point of `name` whose attributes include `dims` (the sum over several, for counters). */
function total(snapshot: Map<string, Point[]>, name: string, dims: Attributes = {}): number {
  return (snapshot.get(name) ?? [])
    .filter((p) => matches(p, dims))
    .reduce((n, p) => n + (p.count ?? p.value), 0);
}

/** Runs `action` and returns how much each (name, dims) moved. */
async function moved(action: () => Promise<void>) {
  const before = await collect();
  await action();
  const after = await collect();
  return (name: string, dims: Attributes = {}) => total(after, name, dims) - total(before, name, dims);
}

const order = (productId = 'PROD-001', quantity = 1) => ({ customerId: 'metrics', productId, quantity });

async function placeAndFinish(body = order(), headers: Record<string, string> = {}) {
  const res = await postOrder(host.url, body, headers);
  expect(res.status).toBe(202);
  const { order: placed } = (await res.json()) as { order: { id: string } };
  const final = await waitForOrderFinal(host.url, placed.id);
  await host.settle();
  return { id: placed.id, final };
}

async function putChaos(patch: unknown): Promise<void> {
  const res = await fetch(`${host.url}/api/chaos`, {
    method: 'PUT',
    headers: withFunctionKey(host, { 'content-type': 'application/json' }),
    body: JSON.stringify(patch),
  });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  // Before the app creates an instrument: instruments made earlier would stay bound to the no-op provider.
  metrics.setGlobalMeterProvider(provider);
  resetMetricsForTests();
  host = await startTestHost({ LOCAL_DELIVERY_COPIES: '2' });
});

afterAll(async () => {
  host?.transport?.setAvailable(true);
  await host?.stop();
  await provider.shutdown();
  metrics.disable();
});

describe('custom metrics (in-memory OpenTelemetry reader)', () => {
  // First, before any collection has read the outbox: the gauges read it at most once per 10 s per service.
  it('outbox backlog and oldest-row age per service, while the broker is unreachable', async () => {
    expect((await outboxBacklog(host.runtime.db, 'orders')).unpublished).toBe(0);
    host.transport!.setAvailable(false);
    try {
      for (let i = 0; i < 2; i++) expect((await postOrder(host.url, order())).status).toBe(202);
      const snapshot = await collect();
      expect(total(snapshot, METRICS.outboxBacklog, { service: 'orders' })).toBeGreaterThanOrEqual(2);
      expect(total(snapshot, METRICS.outboxOldestAge, { service: 'orders' })).toBeGreaterThanOrEqual(0);
      for (const name of [METRICS.outboxBacklog, METRICS.outboxOldestAge]) {
        expect(
          snapshot
            .get(name)
            ?.map((p) => p.attributes.service)
            .sort(),
        ).toEqual(['inventory', 'orders']);
      }
    } finally {
      // The relay sends the two orders once their grace period is over; they finish in the background.
      host.transport!.setAvailable(true);
    }
  });

  it('orders accepted, and the order API latency by method and status code', async () => {
    let id = '';
    const delta = await moved(async () => {
      const res = await postOrder(host.url, order());
      expect(res.status).toBe(202);
      id = ((await res.json()) as { order: { id: string } }).order.id;
      expect((await fetch(`${host.url}/api/orders/${id}`)).status).toBe(200);
    });
    expect(delta(METRICS.ordersAccepted)).toBe(1);
    // A lone order is an intake batch of one (group commit only gathers what queued behind a busy writer).
    expect(delta(METRICS.intakeBatchSize, { split: 'false' })).toBe(1);
    expect(delta(METRICS.orderApiLatency, { method: 'POST', status_code: 202 })).toBe(1);
    expect(delta(METRICS.orderApiLatency, { method: 'GET', status_code: 200 })).toBeGreaterThanOrEqual(1);
    await waitForOrderFinal(host.url, id);
  });

  it('finalized shipped, end-to-end duration, reservations reserved, duplicates absorbed', async () => {
    const delta = await moved(async () => {
      const { final } = await placeAndFinish();
      expect(final.status).toBe('shipped');
    });
    expect(delta(METRICS.ordersFinalized, { status: 'shipped', reason: '' })).toBeGreaterThanOrEqual(1);
    expect(delta(METRICS.orderEndToEnd, { status: 'shipped' })).toBeGreaterThanOrEqual(1);
    expect(delta(METRICS.reservations, { result: 'reserved' })).toBeGreaterThanOrEqual(1);
    // Every message arrived twice; the second copy changed nothing and was counted.
    expect(delta(METRICS.duplicatesAbsorbed, { consumer: 'reserveStock' })).toBeGreaterThanOrEqual(1);
    expect(delta(METRICS.duplicatesAbsorbed, { consumer: 'applyInventoryResult' })).toBeGreaterThanOrEqual(1);
  });

  it('finalized rejected, by reason, and reservations by result', async () => {
    const delta = await moved(async () => {
      expect((await placeAndFinish(order('PROD-404'))).final).toMatchObject({
        status: 'rejected',
        reason: 'unknown_product',
      });
      expect((await placeAndFinish(order('PROD-004', 1000))).final).toMatchObject({
        status: 'rejected',
        reason: 'out_of_stock',
      });
    });
    for (const reason of ['unknown_product', 'out_of_stock']) {
      expect(delta(METRICS.ordersFinalized, { status: 'rejected', reason })).toBe(1);
      expect(delta(METRICS.reservations, { result: reason })).toBe(1);
    }
    expect(delta(METRICS.orderEndToEnd, { status: 'rejected' })).toBe(2);
  });

  it('idempotent replays', async () => {
    const key = `metrics-replay-${Date.now()}`;
    const delta = await moved(async () => {
      const first = await postOrder(host.url, order(), { 'Idempotency-Key': key });
      const again = await postOrder(host.url, order(), { 'Idempotency-Key': key });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      const idOf = async (res: Response) => ((await res.json()) as { order: { id: string } }).order.id;
      expect(await idOf(again)).toBe(await idOf(first));
    });
    expect(delta(METRICS.idempotentReplays)).toBe(1);
    expect(delta(METRICS.ordersAccepted)).toBe(1);
    await host.settle();
  });

  it('gremlin delays, in reservations and in inventory reads', async () => {
    await putChaos({ gremlin: { enabled: true, mode: 'deterministic', everyN: 1, latencyMs: 1 } });
    try {
      const delta = await moved(async () => {
        expect((await placeAndFinish()).final.status).toBe('shipped');
        expect((await fetch(`${host.url}/api/inventory`)).headers.get('x-gremlin-delay-ms')).toBe('1');
      });
      expect(delta(METRICS.gremlinDelays, { where: 'reservation' })).toBeGreaterThanOrEqual(1);
      expect(delta(METRICS.gremlinDelays, { where: 'inventory_http' })).toBe(1);
    } finally {
      await putChaos({ gremlin: { enabled: false } });
    }
  });

  it('crash simulations, by target', async () => {
    const delta = await moved(async () => {
      await putChaos({ crash: { enabled: true, target: 'inventory', mode: 'deterministic', everyN: 1 } });
      try {
        // Inventory commits, then "crashes": the broker redelivers and the copy is absorbed as a duplicate.
        expect((await postOrder(host.url, order())).status).toBe(202);
        await host.settle();
      } finally {
        await putChaos({ crash: { enabled: false } });
      }
      await putChaos({ crash: { enabled: true, target: 'orders', mode: 'deterministic', everyN: 1 } });
      try {
        // Orders commits, then "crashes" before answering: the client sees a 500 and would retry with its key.
        expect((await postOrder(host.url, order())).status).toBe(500);
      } finally {
        await putChaos({ crash: { enabled: false } });
      }
    });
    expect(delta(METRICS.crashSimulations, { target: 'inventory' })).toBeGreaterThanOrEqual(1);
    expect(delta(METRICS.crashSimulations, { target: 'orders' })).toBe(1);
  });

  it('dead letters, by queue', async () => {
    const invalid = (type: string) =>
      ({
        messageId: `invalid-${type}-${Date.now()}`,
        type,
        occurredAt: new Date().toISOString(),
        correlationId: 'none',
        data: { nonsense: true },
      }) as unknown as Envelope;
    const delta = await moved(async () => {
      await host.transport!.publish([
        { queue: QUEUES.reservations, envelope: invalid('OrderPlaced') },
        { queue: QUEUES.orderStatus, envelope: invalid('InventoryReserved') },
      ]);
      await host.settle();
    });
    expect(delta(METRICS.deadLetters, { queue: QUEUES.reservations })).toBeGreaterThanOrEqual(1);
    expect(delta(METRICS.deadLetters, { queue: QUEUES.orderStatus })).toBeGreaterThanOrEqual(1);
  });

  it('delayed retries, by queue: a transient failure is re-sent for later instead of redelivered at once', async () => {
    const res = await postOrder(host.url, order());
    const { order: placed } = (await res.json()) as { order: { id: string } };
    await host.settle();
    // The database breaker isolated: every consumer call fails as if the database were unreachable.
    const reservations = { queue: QUEUES.reservations };
    const retriesBefore = total(await collect(), METRICS.delayedRetries, reservations);
    const isolation = host.runtime.policies.breakers.database.isolate();
    const delta = await moved(async () => {
      try {
        await host.transport!.publish([
          {
            queue: QUEUES.reservations,
            envelope: {
              messageId: `OrderPlaced:${placed.id}-again`,
              type: 'OrderPlaced',
              occurredAt: new Date().toISOString(),
              correlationId: placed.id,
              data: { orderId: placed.id, customerId: 'metrics', productId: 'PROD-001', quantity: 1 },
            },
          },
        ]);
        // Isolated until the failed delivery has been handed on to a delayed retry.
        await expect
          .poll(async () => total(await collect(), METRICS.delayedRetries, reservations), { interval: 10 })
          .toBeGreaterThan(retriesBefore);
      } finally {
        isolation.dispose();
      }
      await host.settle();
    });
    expect(delta(METRICS.delayedRetries, { queue: QUEUES.reservations })).toBeGreaterThanOrEqual(1);
    expect(host.transport!.deadLetters).toEqual([]);
  });

  it('rows pruned by retention, by table', async () => {
    await host.runtime.db.query(
      `INSERT INTO orders.processed_messages (message_id, type, processed_at)
       VALUES ('metrics-old', 'InventoryReserved', now() - interval '400 days')`,
    );
    const relay = outboxRelayHandler(host.runtime, 'orders', pruneOrders);
    const delta = await moved(() =>
      relay({} as Timer, new InvocationContext({ functionName: 'ordersOutboxRelay', logHandler: () => {} })),
    );
    expect(delta(METRICS.rowsPruned, { table: 'orders.processed_messages' })).toBe(1);
  });

  it('failures survived on purpose, by kind', async () => {
    // The broker refuses: the publish after commit fails and OrderPlaced is left to the relay.
    host.transport!.setAvailable(false);
    try {
      const delta = await moved(async () => {
        expect((await postOrder(host.url, order())).status).toBe(202);
      });
      expect(delta(METRICS.ignoredFailures, { kind: 'publish_after_commit' })).toBe(1);
    } finally {
      host.transport!.setAvailable(true);
    }
    await host.settle();
  });

  // Last: it leaves the publish breaker open for its half-open delay.
  it('circuit breaker state per policy: 0 closed, 3 isolated, 2 open', async () => {
    const state = async (policy: string) => {
      const points = (await collect()).get(METRICS.breakerState) ?? [];
      expect(points.map((p) => p.attributes.policy).sort()).toEqual(['database', 'publish']);
      return points.find((p) => p.attributes.policy === policy)?.value;
    };
    const { breakers } = host.runtime.policies;
    expect(await state('database')).toBe(0);
    expect(await state('publish')).toBe(0);

    const isolation = breakers.database.isolate();
    expect(await state('database')).toBe(3);
    isolation.dispose();
    expect(await state('database')).toBe(0);

    // Three consecutive failures open the publish breaker; it stays open for its half-open delay (seconds).
    for (let i = 0; i < 3; i++) {
      await breakers.publish.execute(() => Promise.reject(new Error('broker unreachable'))).catch(() => {});
    }
    expect(host.runtime.policies.breakerStates().publish).toBe('open');
    expect(await state('publish')).toBe(2);
    // /api/stats says since when.
    const stats = (await (await fetch(`${host.url}/api/stats`)).json()) as {
      breakerChanges: Record<string, { state: string; from: string; at: string } | null>;
    };
    expect(stats.breakerChanges.publish).toMatchObject({ state: 'open', from: 'closed' });
    expect(Date.parse(stats.breakerChanges.publish!.at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('unexpected failures of an HTTP function, per function', async () => {
    // A missing table is no connection problem: the handler does not expect it and the error boundary answers.
    await host.runtime.db.query('ALTER TABLE orders.orders RENAME TO orders_gone');
    let status = 0;
    const delta = await moved(async () => {
      try {
        status = (await fetch(`${host.url}/api/orders/${crypto.randomUUID()}`)).status;
      } finally {
        await host.runtime.db.query('ALTER TABLE orders.orders_gone RENAME TO orders');
      }
    });
    expect(status).toBe(500);
    expect(delta(METRICS.httpUnexpectedFailures, { function: 'getOrder' })).toBe(1);
  });

  it('every metric in METRICS has a test here that asserts it moved (a new metric without one fails)', async () => {
    // Read from this file, not from what earlier tests happened to record: the check stands alone (and with -t).
    const source = await readFile(fileURLToPath(import.meta.url), 'utf8');
    const asserted = new Set([...source.matchAll(/METRICS\.(\w+)/g)].map((m) => m[1]));
    expect(Object.keys(METRICS).filter((name) => !asserted.has(name))).toEqual([]);
  });

  it('reads each outbox at most once per 10 s, however often the gauges are collected', async () => {
    let now = 0;
    const queried: unknown[] = [];
    const db = {
      query: async (_sql: string, params: unknown[]) => {
        queried.push(params);
        return { rows: [{ unpublished: 7, stuck: 0, oldest: 12.34 }] };
      },
    } as unknown as Database;
    const unregister = registerRuntimeGauges(
      { db, policies: { breakerStates: () => ({}) } },
      { now: () => now },
    );
    try {
      for (let i = 0; i < 3; i++) await collect();
      expect(queried).toHaveLength(2); // one per service, shared by the backlog and the age gauge
      now += OUTBOX_READ_INTERVAL_MS - 1;
      await collect();
      expect(queried).toHaveLength(2);
      now += 1;
      await collect();
      expect(queried).toHaveLength(4);
    } finally {
      unregister();
    }
  });
});
