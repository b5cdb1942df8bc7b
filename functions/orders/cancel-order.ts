import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { json, notFound, PROBLEM_CONTENT_TYPE } from '../../shared/http/problem.js';
import { readJsonBody } from '../../shared/http/request-body.js';
import { fingerprint, IDEMPOTENCY_KEY_HEADER } from '../../shared/idempotency/idempotency-key.js';
import { messageIdFor } from '../../shared/messaging/contracts.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import { traceContextOf } from '../../shared/telemetry/trace-context.js';
import type { HttpHandler } from '../definitions.js';
import { crashOrPublish } from '../publish-after-commit.js';
import type { Runtime } from '../runtime.js';
import { notTheCaller } from './customer-scope.js';
import {
  inFlightProblem,
  keyReusedProblem,
  locationOf,
  readIdempotencyKey,
  replayedResponse,
} from './idempotent-request.js';
import { timedOrderApi } from './order-api-timing.js';
import { cancelMessage, cancelOrderBody } from './order-model.js';
import { type CancelOutcome, requestCancel } from './orders-repository.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Why an order in each status can no longer be cancelled: the detail of its 409. */
const NOT_CANCELLABLE: Record<string, string> = {
  rejected: 'it was rejected, so it never took any stock: there is nothing to cancel',
  failed: 'it failed, so it never took any stock: there is nothing to cancel',
  cancelled: 'it is already cancelled and its stock is back in inventory',
};

/**
 * POST /api/orders/{id}/cancel. The same rule as reading the order: whoever holds its (unguessable) id — the
 * customer, who got it when ordering, or an operator, who finds it in the keyed listing — may cancel it; a body
 * `customerId` that is not the order's is refused (403), a client's guard against cancelling the wrong order.
 * A pending or shipped order becomes cancel_requested at once and OrderCancelled goes to Inventory, which gives
 * back whatever the order reserved (now, or when a reservation lands after the cancel) and answers StockReleased;
 * the order is then cancelled. 202 with the order and a Location to poll; an Idempotency-Key replays the answer.
 */
export function cancelOrderHandler(rt: Runtime): HttpHandler {
  return timedOrderApi(rt, (request, context) => cancelOrder(rt, request, context));
}

/** An empty body is a cancel with no reason given. */
async function readCancelBody(request: HttpRequest) {
  const length = request.headers.get('content-length');
  if (!request.headers.get('content-type') && (length === null || length === '0')) {
    return { ok: true as const, value: {} };
  }
  return readJsonBody(request, cancelOrderBody);
}

/** What a cancel answers; a signed-in caller's cancel of another customer's order is an unknown order (404). */
function responseOf(
  outcome: CancelOutcome,
  orderId: string,
  signedIn: boolean,
): { status: number; body: unknown } {
  const seen: CancelOutcome =
    signedIn && outcome.kind === 'not-your-order' ? { kind: 'unknown-order' } : outcome;
  switch (seen.kind) {
    case 'requested':
    case 'already-requested':
      return { status: 202, body: { order: seen.order } };
    case 'not-cancellable': {
      const why = NOT_CANCELLABLE[seen.order.status] ?? `it is ${seen.order.status}`;
      return {
        status: 409,
        body: {
          type: 'https://valerix.example/problems/not-cancellable',
          title: 'Order cannot be cancelled',
          status: 409,
          detail: `Order ${orderId} cannot be cancelled: ${why}.`,
          orderStatus: seen.order.status,
        },
      };
    }
    case 'not-your-order':
      return {
        status: 403,
        body: {
          type: 'https://valerix.example/problems/not-your-order',
          title: 'Not your order',
          status: 403,
          detail: `Order ${orderId} belongs to another customer: check customerId, or leave it out.`,
          errors: [{ field: 'customerId', message: "is not this order's customer" }],
        },
      };
    case 'unknown-order':
      return {
        status: 404,
        body: {
          type: 'https://valerix.example/problems/not-found',
          title: 'Not Found',
          status: 404,
          detail: `There is no order with id "${orderId}".`,
        },
      };
  }
}

/** A cancel that changed nothing: its 409/403 problem, or 202 for a cancel already requested. */
function answer(
  response: { status: number; body: unknown },
  headers: Record<string, string>,
): HttpResponseInit {
  const contentType = response.status >= 400 ? PROBLEM_CONTENT_TYPE : 'application/json';
  return {
    status: response.status,
    headers: { 'Content-Type': contentType, 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify(response.body),
  };
}

async function cancelOrder(
  rt: Runtime,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const identified = await rt.customerAuth.identify(request);
  if (!identified.ok) return identified.response;
  const { caller } = identified;
  const raw = request.params.id ?? '';
  if (!UUID.test(raw)) return notFound(`There is no order with id "${raw}": order ids are UUIDs.`);
  const orderId = raw.toLowerCase();
  const body = await readCancelBody(request);
  if (!body.ok) return body.response;
  const requestKey = readIdempotencyKey(request);
  if (!requestKey.ok) return requestKey.response;
  const key = requestKey.value;
  const { customerId: bodyCustomerId, reason } = body.value as { customerId?: string; reason?: string };
  if (caller && bodyCustomerId !== undefined && bodyCustomerId !== caller.subject)
    return notTheCaller(caller);
  // Signed in, the cancel is always the caller's: the repository's customer check keeps others' orders out.
  const customerId = caller?.subject ?? bodyCustomerId;
  const payloadFingerprint = fingerprint({ orderId, customerId, reason });

  const result = await rt.policies.intake.execute(() =>
    requestCancel(rt.db, {
      orderId,
      customerId,
      reason,
      message: cancelMessage(orderId, traceContextOf(context, request)),
      // A cancel's key belongs to its order (and, signed in, to its caller): the same key on another order, or
      // from another customer, is another request.
      ...(key
        ? {
            idempotency: {
              scope: caller ? `cancel:${orderId}:${caller.subject}` : `cancel:${orderId}`,
              key,
              fingerprint: payloadFingerprint,
              ttlHours: rt.settings.idempotencyTtlHours,
            },
          }
        : {}),
      respond: (outcome) => responseOf(outcome, orderId, caller !== undefined),
    }),
  );

  const headers: Record<string, string> = { Location: locationOf(orderId) };
  switch (result.kind) {
    case 'in-flight':
      return inFlightProblem();
    case 'conflict':
      return keyReusedProblem('another cancel');
    case 'replayed': {
      rt.signals.count(METRICS.idempotentReplays);
      // A retry after a crash: the first attempt may have committed without publishing. Send it now.
      const left = {
        kind: 'publish_pending',
        orderId,
        fallback: 'the outbox relay sends OrderCancelled later',
      } as const;
      await rt.outbox('orders').resendPending([messageIdFor('OrderCancelled', orderId)], left, context);
      return replayedResponse(result.stored, headers);
    }
    case 'done':
      break;
  }

  const { outcome } = result;
  const response = responseOf(outcome, orderId, caller !== undefined);
  if (outcome.kind !== 'requested') {
    if (response.status === 404) return notFound(`There is no order with id "${orderId}".`);
    return answer(response, headers);
  }
  context.log(`order ${orderId}: cancel requested`);
  await crashOrPublish(
    rt,
    'orders',
    outcome,
    { orderId, fallback: 'OrderCancelled is left to the outbox relay' },
    context,
  );
  if (key) headers[IDEMPOTENCY_KEY_HEADER] = key;
  return json(202, response.body, headers);
}
