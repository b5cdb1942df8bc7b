import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { sqlState } from '../../shared/db/errors.js';
import { unavailableResponse } from '../../shared/http/failures.js';
import { json } from '../../shared/http/problem.js';
import { readJsonBody } from '../../shared/http/request-body.js';
import {
  fingerprint,
  IDEMPOTENCY_KEY_HEADER,
  REPLAYED_HEADER,
} from '../../shared/idempotency/idempotency-key.js';
import { messageIdFor } from '../../shared/messaging/contracts.js';
import { publishPending, sendOrLeaveToRelay } from '../../shared/messaging/outbox.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import { traceContextOf } from '../../shared/telemetry/trace-context.js';
import type { HttpHandler } from '../definitions.js';
import { crashOrPublish } from '../publish-after-commit.js';
import type { Runtime } from '../runtime.js';
import { inFlightProblem, keyReusedProblem, locationOf, readIdempotencyKey } from './idempotent-request.js';
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
  const { customerId, lines } = body.value;

  const requestKey = readIdempotencyKey(request, body.value.idempotencyKey);
  if (!requestKey.ok) return requestKey.response;
  const key = requestKey.value;

  const { order, message } = pendingOrder({ customerId, lines }, traceContextOf(context, request));
  const accepted = { status: 202, body: { order } };
  // A one-line order has the fingerprint it had before multi-line orders (whichever body form it came in): a
  // retry across a deploy still replays, and the two forms of one order are the same request.
  const payloadFingerprint =
    lines.length === 1
      ? fingerprint({ customerId, productId: lines[0]!.productId, quantity: lines[0]!.quantity })
      : fingerprint({ customerId, lines });

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
    if (sqlState(err) === '55P03') return inFlightProblem();
    return unavailableResponse(err, rt.policies.retryAfterSeconds);
  }

  if (result.kind === 'replay') {
    if (result.stored.fingerprint !== payloadFingerprint) return keyReusedProblem('a new order');
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
  context.log(
    `order ${order.id} accepted (${lines.map((l) => `${l.quantity} × ${l.productId}`).join(', ')})`,
  );

  // Schrödinger's warehouse: the order is committed, but the client is not told. Its retry with the same key
  // must get this very order back.
  await crashOrPublish(
    rt,
    'orders',
    result,
    { orderId: order.id, fallback: 'OrderPlaced is left to the outbox relay' },
    context,
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
