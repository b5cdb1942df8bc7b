import { randomBytes } from 'node:crypto';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Envelope, messageIdFor } from '../../shared/messaging/contracts.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { traceIdOf } from '../../shared/telemetry/trace-context.js';
import { postOrder, startTestHost, type TestHost, waitForOrderFinal } from '../support/test-host.js';

/**
 * One trace per order: the caller's `traceparent` reaches the OrderPlaced message, the reservation consumer's span,
 * the InventoryReserved message and the status consumer's span. First with the no-op OpenTelemetry API (no SDK,
 * as locally and in tests: the trace context still travels in the envelope), then with an in-memory SDK.
 */

let host: TestHost;

beforeAll(async () => {
  host = await startTestHost();
});
afterAll(async () => {
  await host?.stop();
  trace.disable();
  context.disable();
});

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const spanIdOf = (traceparent: string | undefined) => traceparent?.split('-')[2];

/** The envelope as it was written to the owner's outbox (what the broker got or will get). */
async function outboxEnvelope(owner: 'orders' | 'inventory', messageId: string): Promise<Envelope> {
  const { rows } = await host.runtime.db.query<{ body: Envelope }>(
    `SELECT body FROM ${owner}.outbox WHERE message_id = $1`,
    [messageId],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!.body;
}

/** Places an order as a caller in trace `traceId` and waits until it is shipped. */
async function shipOrder(traceId: string): Promise<string> {
  const res = await postOrder(
    host.url,
    { customerId: 'tracing', productId: 'PROD-002', quantity: 1 },
    { traceparent: `00-${traceId}-${hex(8)}-01`, tracestate: 'caller=1' },
  );
  expect(res.status).toBe(202);
  const { order } = (await res.json()) as { order: { id: string } };
  expect((await waitForOrderFinal(host.url, order.id)).status).toBe('shipped');
  await host.settle();
  return order.id;
}

describe('without an OpenTelemetry SDK (no-op API)', () => {
  it('the caller trace id still travels in every envelope', async () => {
    const traceId = hex(16);
    const orderId = await shipOrder(traceId);
    const placed = await outboxEnvelope('orders', messageIdFor('OrderPlaced', orderId));
    const reserved = await outboxEnvelope('inventory', messageIdFor('InventoryReserved', orderId));
    expect(traceIdOf(placed.traceparent!)).toBe(traceId);
    expect(traceIdOf(reserved.traceparent!)).toBe(traceId);
  });
});

describe('with an OpenTelemetry SDK (in-memory spans)', () => {
  const exporter = new InMemorySpanExporter();

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
  });

  const spansOf = (orderId: string): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((s) => s.attributes['valerix.order_id'] === orderId);

  it('consumer spans continue the trace, and the messages they send carry their span', async () => {
    const traceId = hex(16);
    const orderId = await shipOrder(traceId);

    const placed = await outboxEnvelope('orders', messageIdFor('OrderPlaced', orderId));
    expect(traceIdOf(placed.traceparent!)).toBe(traceId);

    const spans = spansOf(orderId);
    const reserve = spans.find((s) => s.name === 'process OrderPlaced');
    const apply = spans.find((s) => s.name === 'process InventoryReserved');
    expect(reserve, 'reserveStock span').toBeDefined();
    expect(apply, 'applyInventoryResult span').toBeDefined();
    for (const span of [reserve!, apply!]) {
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(span.spanContext().traceId).toBe(traceId);
      expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
    }
    expect(reserve!.attributes['valerix.function']).toBe('reserveStock');
    expect(apply!.attributes['valerix.function']).toBe('applyInventoryResult');

    // HTTP → reservation: the reservation span's parent is the request's context, as carried by OrderPlaced.
    expect(reserve!.parentSpanContext?.spanId).toBe(spanIdOf(placed.traceparent));
    expect(reserve!.parentSpanContext?.isRemote).toBe(true);

    // reservation → status update: InventoryReserved was sent from inside the reservation span.
    const reserved = await outboxEnvelope('inventory', messageIdFor('InventoryReserved', orderId));
    expect(traceIdOf(reserved.traceparent!)).toBe(traceId);
    expect(spanIdOf(reserved.traceparent)).toBe(reserve!.spanContext().spanId);
    expect(apply!.parentSpanContext?.spanId).toBe(reserve!.spanContext().spanId);
  });

  it('a dead-lettered message gets an error span in the trace it carries', async () => {
    const traceId = hex(16);
    const orderId = '00000000-0000-4000-8000-0000000000aa';
    await host.transport!.publish([
      {
        queue: QUEUES.reservations,
        envelope: {
          messageId: `dead-letter-${hex(4)}`,
          type: 'OrderPlaced',
          occurredAt: new Date().toISOString(),
          correlationId: orderId,
          traceparent: `00-${traceId}-${hex(8)}-01`,
          data: { orderId, quantity: 'many' },
        } as unknown as Envelope,
      },
    ]);
    await host.settle();
    const span = spansOf(orderId).find((s) => s.name === 'process OrderPlaced');
    expect(span?.spanContext().traceId).toBe(traceId);
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.status.message).toMatch(/invalid message/);
  });
});
