import { z } from 'zod';
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER } from '../../shared/idempotency/idempotency-key.js';
import {
  header,
  jsonResponse,
  problemResponse,
  RETRY_AFTER,
  type RouteDocs,
} from '../platform/openapi/route-doc.js';
import {
  cancelOrderBody,
  createOrderBody,
  getOrderQuery,
  listOrdersQuery,
  ORDER_STATUSES,
} from './order-model.js';

// The Orders API in the OpenAPI document (GET /api/openapi.json). A new route of functions/orders/index.ts gets
// its entry here, under its function name; a new body field belongs in the zod schema the handler validates with.

const orderSchema = z
  .object({
    id: z.uuid(),
    customerId: z.string(),
    productId: z.string().meta({ description: 'The first line’s product (one-line clients read this).' }),
    quantity: z.number().int().meta({ description: 'The first line’s quantity.' }),
    lines: z
      .array(z.object({ productId: z.string(), quantity: z.number().int() }))
      .meta({ description: 'Every line of the order, reserved all or nothing.' }),
    status: z.enum(ORDER_STATUSES),
    reason: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Order' });

/** GET /api/orders/{id}?include=history: the order, and each status it took, oldest first. */
const orderWithHistory = z
  .strictObject({
    order: orderSchema,
    history: z
      .array(
        z.strictObject({
          status: z.enum(ORDER_STATUSES),
          reason: z.string().nullable(),
          changedAt: z.string().meta({
            description:
              'When the change committed: the time of the transaction that made it (PostgreSQL now()), so orders ' +
              'changed in one group-committed transaction share it; the first entry (pending) is the order’s ' +
              'createdAt.',
          }),
        }),
      )
      .meta({ description: 'Oldest first: placed (pending), then every status change.' }),
  })
  .meta({ id: 'OrderWithHistory' });

const orderBody = z
  .object({ order: orderSchema, message: z.string().optional() })
  .meta({ id: 'OrderResponse' });
const orderPage = z.object({ orders: z.array(orderSchema), nextCursor: z.string().nullable() });
const LOCATION = header('The order: GET it for its current status.');
const orderHeaders = {
  Location: LOCATION,
  [IDEMPOTENCY_KEY_HEADER]: header('The key the request was sent with.'),
  'Preference-Applied': header('`wait=N`: the Prefer: wait the server honoured.'),
  [REPLAYED_HEADER]: header('`true`: a replay of the first response for this key.'),
};

export const ORDERS_ROUTE_DOCS: RouteDocs = {
  createOrder: {
    signedIn: true,
    summary: 'Place an order',
    description:
      'Answers 202 with the pending order at once; with `Prefer: wait=N` (N ≤ 10) 201 with the final order if it is decided in time.',
    request: {
      headers: z.object({
        [IDEMPOTENCY_KEY_HEADER]: z
          .string()
          .optional()
          .meta({ description: 'IETF Idempotency-Key: a retry gets the first answer back.' }),
        Prefer: z
          .string()
          .optional()
          .meta({ description: 'RFC 7240 `wait=N`: wait up to N seconds for the final status.' }),
      }),
      body: { content: { 'application/json': { schema: createOrderBody } } },
    },
    responses: {
      201: jsonResponse('The order, final within the wait.', orderBody, orderHeaders),
      202: jsonResponse('The order, accepted and pending.', orderBody, orderHeaders),
      400: problemResponse('The body fails validation; `errors` names the fields.'),
      409: problemResponse('A request with the same Idempotency-Key is still in flight.', {
        'Retry-After': RETRY_AFTER,
      }),
      413: problemResponse('The body is too large.'),
      415: problemResponse('The body is not JSON.'),
      403: problemResponse(
        'Signed in (CUSTOMER_AUTH appservice or jwt): the body’s `customerId` is not the signed-in customer (leave it out).',
      ),
      422: problemResponse('The Idempotency-Key was used with a different body.'),
    },
  },
  cancelOrder: {
    signedIn: true,
    summary: 'Cancel an order',
    description:
      'A pending or shipped order becomes `cancel_requested` at once (202) and `cancelled` once Inventory has given its stock back; poll the Location. Whoever holds the order id may cancel it.',
    request: {
      params: z.object({ id: z.string() }),
      headers: z.object({
        [IDEMPOTENCY_KEY_HEADER]: z
          .string()
          .optional()
          .meta({ description: 'IETF Idempotency-Key: a retry gets the first answer back.' }),
      }),
      body: { required: false, content: { 'application/json': { schema: cancelOrderBody } } },
    },
    responses: {
      202: jsonResponse('The order, cancel requested.', orderBody, {
        Location: LOCATION,
        [IDEMPOTENCY_KEY_HEADER]: header('The key the request was sent with.'),
        [REPLAYED_HEADER]: header('`true`: a replay of the first response for this key.'),
      }),
      400: problemResponse('The body fails validation; `errors` names the fields.'),
      403: problemResponse(
        'The body’s `customerId` is not the order’s customer (signed in: not the signed-in customer).',
      ),
      404: problemResponse('No such order (signed in: or another customer’s).'),
      409: problemResponse(
        'The order can no longer be cancelled (rejected, failed, already cancelled: `orderStatus` says which), or a cancel with the same Idempotency-Key is still in flight.',
        { 'Retry-After': RETRY_AFTER },
      ),
      413: problemResponse('The body is too large.'),
      415: problemResponse('The body is not JSON.'),
      422: problemResponse('The Idempotency-Key was used with a different body.'),
    },
  },
  getOrder: {
    signedIn: true,
    summary: 'Read an order',
    request: { params: z.object({ id: z.string() }), query: getOrderQuery },
    responses: {
      200: jsonResponse(
        'The order; with `include=history`, also its status history.',
        z.union([z.strictObject({ order: orderSchema }), orderWithHistory]),
      ),
      400: problemResponse('`include` is not `history`.'),
      404: problemResponse('No such order (signed in: or another customer’s, which answers the same).'),
    },
  },
  listMyOrders: {
    signedIn: true,
    summary: 'The signed-in customer’s orders, newest first',
    description: 'CUSTOMER_AUTH appservice or jwt. With CUSTOMER_AUTH=none there is nobody signed in: 404.',
    request: { query: listOrdersQuery },
    responses: {
      200: jsonResponse('A page of orders.', orderPage),
      400: problemResponse('A query parameter fails validation.'),
      404: problemResponse('CUSTOMER_AUTH=none: customers do not sign in here.'),
    },
  },
  listOrders: {
    summary: 'List orders, newest first',
    request: { query: listOrdersQuery },
    responses: {
      200: jsonResponse('A page of orders.', orderPage),
      400: problemResponse('A query parameter fails validation.'),
    },
  },
};
