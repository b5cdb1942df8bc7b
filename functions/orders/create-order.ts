import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import type { Caller } from '../../shared/auth/customer-auth.js';
import { json } from '../../shared/http/problem.js';
import { type Parsed, readJsonBody } from '../../shared/http/request-body.js';
import { fingerprint, IDEMPOTENCY_KEY_HEADER } from '../../shared/idempotency/idempotency-key.js';
import { messageIdFor, type OrderLine } from '../../shared/messaging/contracts.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import { traceContextOf } from '../../shared/telemetry/trace-context.js';
import type { HttpHandler } from '../definitions.js';
import { crashOrPublish } from '../publish-after-commit.js';
import type { Runtime } from '../runtime.js';
import { notTheCaller, withCallerCustomer } from './customer-scope.js';
import {
  inFlightProblem,
  keyReusedProblem,
  locationOf,
  readIdempotencyKey,
  replayedResponse,
} from './idempotent-request.js';
import { timedOrderApi } from './order-api-timing.js';
import { createOrderBody, type Order, pendingOrder } from './order-model.js';
import type { PlaceOrderInput, ReplayedResponse } from './orders-repository.js';
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

/** A valid order request: its body, its key (if any) and the fingerprint a retry must match. */
interface OrderRequest {
  customerId: string;
  lines: OrderLine[];
  key: string | undefined;
  fingerprint: string;
}

async function createOrder(
  rt: Runtime,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const identified = await rt.customerAuth.identify(request);
  if (!identified.ok) return identified.response;
  const valid = await validate(request, identified.caller);
  if (!valid.ok) return valid.response;
  const req = valid.value;
  const { order, message } = pendingOrder(req, traceContextOf(context, request));
  const accepted = { status: 202, body: { order } };

  const result = await rt.policies.intakeAdmission.execute(() =>
    rt.writers.orders.placeOrder({ order, message, response: accepted, ...idempotencyOf(rt, req) }),
  );
  switch (result.kind) {
    case 'in-flight':
      return inFlightProblem();
    case 'conflict':
      return keyReusedProblem('a new order');
    case 'replayed':
      return replay(rt, result.stored, context);
    case 'placed':
      break;
  }

  rt.signals.count(METRICS.ordersAccepted);
  context.log(
    `order ${order.id} accepted (${req.lines.map((l) => `${l.quantity} × ${l.productId}`).join(', ')})`,
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
  if (req.key) headers[IDEMPOTENCY_KEY_HEADER] = req.key;
  const wait = parsePreferWait(request.headers.get('prefer'));
  if (wait === undefined) return json(202, accepted.body, headers);
  headers['Preference-Applied'] = `wait=${wait}`;
  return waitThenAnswer(rt, { order, req, wait, headers }, context);
}

/**
 * Step 1 and 2: the body, and the request's Idempotency-Key (header or seed clients' body field). A signed-in
 * caller is the customer: their id fills in a body without one, and a body naming another customer is refused.
 */
async function validate(request: HttpRequest, caller: Caller | undefined): Promise<Parsed<OrderRequest>> {
  const body = await readJsonBody(
    request,
    caller ? z.preprocess(withCallerCustomer(caller), createOrderBody) : createOrderBody,
  );
  if (!body.ok) return body;
  const { customerId, lines } = body.value;
  if (caller && customerId !== caller.subject) return { ok: false, response: notTheCaller(caller) };
  const key = readIdempotencyKey(request, body.value.idempotencyKey);
  if (!key.ok) return key;
  // A one-line order has the fingerprint it had before multi-line orders (whichever body form it came in): a
  // retry across a deploy still replays, and the two forms of one order are the same request.
  const payloadFingerprint =
    lines.length === 1
      ? fingerprint({ customerId, productId: lines[0]!.productId, quantity: lines[0]!.quantity })
      : fingerprint({ customerId, lines });
  return { ok: true, value: { customerId, lines, key: key.value, fingerprint: payloadFingerprint } };
}

function idempotencyOf(rt: Runtime, req: OrderRequest): Pick<PlaceOrderInput, 'idempotency'> {
  if (!req.key) return {};
  // The customer's own key: another customer sending it gets neither this order nor a 422. Signed in, the
  // customer id is the verified subject, so the scope is whoever really sent the key.
  return {
    idempotency: {
      scope: req.customerId,
      key: req.key,
      fingerprint: req.fingerprint,
      ttlHours: rt.settings.idempotencyTtlHours,
    },
  };
}

/** Step 3, a retry: the stored answer again. */
async function replay(
  rt: Runtime,
  stored: ReplayedResponse,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  rt.signals.count(METRICS.idempotentReplays);
  // A retry after a crash: the first attempt may have committed without publishing. Send it now.
  const storedOrderId = stored.orderId;
  if (storedOrderId) {
    await rt.outbox('orders').resendPending(
      [messageIdFor('OrderPlaced', storedOrderId)],
      {
        kind: 'publish_pending',
        orderId: storedOrderId,
        fallback: 'the outbox relay sends OrderPlaced later',
      },
      context,
    );
  }
  return replayedResponse(stored, storedOrderId ? { Location: locationOf(storedOrderId) } : {});
}

/**
 * Step 5, `Prefer: wait`: the final status if it comes in time (201, and stored under the key so that a replay
 * answers the same), else 202 with the pending order and a note that stock confirmation is delayed.
 */
async function waitThenAnswer(
  rt: Runtime,
  placed: { order: Order; req: OrderRequest; wait: number; headers: Record<string, string> },
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { order, req, wait, headers } = placed;
  const final = await waitForFinal(rt, order.id, wait * 1000);
  if (!final) {
    return json(
      202,
      {
        order,
        message: `Stock confirmation is delayed: the order is accepted and pending. Poll ${locationOf(order.id)} for its final status.`,
      },
      headers,
    );
  }
  const finalBody = { order: final };
  if (req.key) {
    await rt.writers.orders
      .updateStoredResponse({ scope: req.customerId, key: req.key, orderId: order.id }, 201, finalBody)
      .catch((error: unknown) =>
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
