import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { SimulatedCrashError } from '../../shared/chaos/chaos-flags.js';
import { sqlState } from '../../shared/db/errors.js';
import { unavailableResponse } from '../../shared/http/failures.js';
import { invalidField, json, problem } from '../../shared/http/problem.js';
import { readJsonBody } from '../../shared/http/request-body.js';
import {
  fingerprint,
  IDEMPOTENCY_KEY_HEADER,
  idempotencyKey,
  REPLAYED_HEADER,
} from '../../shared/idempotency/idempotency-key.js';
import { messageIdFor } from '../../shared/messaging/contracts.js';
import { publishCommitted, publishPending, sendOrLeaveToRelay } from '../../shared/messaging/outbox.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import { traceContextOf } from '../../shared/telemetry/trace-context.js';
import type { HttpHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';
import { timedOrderApi } from './order-api-timing.js';
import { createOrderBody, pendingOrder } from './order-model.js';
import { placeOrder, updateStoredResponse } from './orders-repository.js';
import { waitForFinal } from './wait-for-final.js';

/** RFC 7240 `Prefer: wait=N`, capped at 10 s. */
export const MAX_WAIT_SECONDS = 10;

export function parsePreferWait(header: string | null): number | undefined {
  const match = header?.match(/(?:^|[,;\s])wait\s*=\s*"?(\d+)"?/i);
  if (!match) return undefined;
  return Math.min(Number(match[1]), MAX_WAIT_SECONDS);
}

const locationOf = (id: string) => `/api/orders/${id}`;

/** POST /api/orders. */
export function createOrderHandler(rt: Runtime): HttpHandler {
  return timedOrderApi(rt, (request, context) => createOrder(rt, request, context));
}

async function createOrder(
  rt: Runtime,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const body = await readJsonBody(request, createOrderBody);
  if (!body.ok) return body.response;
  const { customerId, productId, quantity } = body.value;

  const headerKey = request.headers.get(IDEMPOTENCY_KEY_HEADER);
  if (
    headerKey !== null &&
    body.value.idempotencyKey !== undefined &&
    headerKey !== body.value.idempotencyKey
  ) {
    return invalidField(
      'Conflicting idempotency keys',
      'The Idempotency-Key header and the body field idempotencyKey differ; send one of them.',
      'idempotencyKey',
      'differs from the Idempotency-Key header',
    );
  }
  const rawKey = headerKey ?? body.value.idempotencyKey;
  let key: string | undefined;
  if (rawKey !== undefined) {
    const parsed = idempotencyKey.safeParse(rawKey);
    if (!parsed.success) {
      const message = parsed.error.issues[0]?.message ?? 'is invalid';
      return invalidField(
        'Invalid Idempotency-Key',
        `The Idempotency-Key ${message}.`,
        'Idempotency-Key',
        message,
      );
    }
    key = parsed.data;
  }

  const { order, message } = pendingOrder(
    { customerId, productId, quantity },
    traceContextOf(context, request),
  );
  const accepted = { status: 202, body: { order } };
  const payloadFingerprint = fingerprint({ customerId, productId, quantity });

  let result: Awaited<ReturnType<typeof placeOrder>>;
  try {
    result = await rt.policies.intake.execute(() =>
      placeOrder(rt.db, {
        order,
        message,
        response: accepted,
        ...(key
          ? {
              idempotency: {
                // The customer's own key: another customer sending it gets neither this order nor a 422.
                scope: customerId,
                key,
                fingerprint: payloadFingerprint,
                ttlHours: rt.settings.idempotencyTtlHours,
              },
            }
          : {}),
      }),
    );
  } catch (err) {
    if (sqlState(err) === '55P03') {
      return problem(
        409,
        'Request in progress',
        'A request with this Idempotency-Key is still being processed; retry it in a moment to get its result.',
        { type: 'idempotency-in-flight', headers: { 'Retry-After': '1' } },
      );
    }
    return unavailableResponse(err, rt.policies.retryAfterSeconds);
  }

  if (result.kind === 'replay') {
    if (result.stored.fingerprint !== payloadFingerprint) {
      return problem(
        422,
        'Idempotency-Key reused',
        'This Idempotency-Key was already used with a different request body. Use a new key for a new order.',
        { type: 'idempotency-key-reused' },
      );
    }
    rt.signals.count(METRICS.idempotentReplays);
    // A retry after a crash: the first attempt may have committed without publishing. Send it now.
    const storedOrderId = result.stored.orderId;
    if (storedOrderId) {
      await sendOrLeaveToRelay(
        rt.publishDeps,
        publishPending(rt.publishDeps, 'orders', [messageIdFor('OrderPlaced', storedOrderId)]),
        {
          kind: 'publish_pending',
          orderId: storedOrderId,
          fallback: 'the outbox relay sends OrderPlaced later',
        },
        (line) => context.warn(line),
      );
    }
    const headers: Record<string, string> = { [REPLAYED_HEADER]: 'true' };
    if (result.stored.orderId) headers.Location = locationOf(result.stored.orderId);
    return {
      status: result.stored.status,
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
      body: result.stored.body,
    };
  }

  rt.signals.count(METRICS.ordersAccepted);
  context.log(`order ${order.id} accepted (${quantity} × ${productId})`);

  // Schrödinger's warehouse: the order is committed, but the client is not told. Its retry with the same key
  // must get this very order back.
  if (await rt.chaos.shouldCrash('orders')) {
    rt.signals.count(METRICS.crashSimulations, { target: 'orders' });
    throw new SimulatedCrashError('orders');
  }

  await sendOrLeaveToRelay(
    rt.publishDeps,
    publishCommitted(rt.publishDeps, 'orders', result.outboxIds, result.messages),
    { kind: 'publish_after_commit', orderId: order.id, fallback: 'OrderPlaced is left to the outbox relay' },
    (line) => context.warn(line),
  );

  const headers: Record<string, string> = { Location: locationOf(order.id) };
  if (key) headers[IDEMPOTENCY_KEY_HEADER] = key;
  const wait = parsePreferWait(request.headers.get('prefer'));
  if (wait === undefined) return json(202, accepted.body, headers);

  headers['Preference-Applied'] = `wait=${wait}`;
  const final = await waitForFinal(rt, order.id, wait * 1000);
  if (final) {
    const finalBody = { order: final };
    if (key) {
      await updateStoredResponse(rt.db, { scope: customerId, key }, 201, finalBody).catch((error: unknown) =>
        rt.reportIgnored(
          {
            kind: 'store_final_response',
            orderId: order.id,
            error,
            fallback: 'a replay of this key answers with the accepted (pending) response',
          },
          (line) => context.warn(line),
        ),
      );
    }
    return json(201, finalBody, headers);
  }
  return json(
    202,
    {
      ...accepted.body,
      message: `Stock confirmation is delayed: the order is accepted and pending. Poll ${locationOf(order.id)} for its final status.`,
    },
    headers,
  );
}
