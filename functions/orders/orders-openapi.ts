import { z } from 'zod';
import { IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER } from '../../shared/idempotency/idempotency-key.js';
import {
  header,
  jsonResponse,
  problemResponse,
  RETRY_AFTER,
  type RouteDocs,
} from '../platform/openapi/route-doc.js';
import { createOrderBody, listOrdersQuery, ORDER_STATUSES } from './order-model.js';

// The Orders API in the OpenAPI document (GET /api/openapi.json). A new route of functions/orders/index.ts gets
// its entry here, under its function name; a new body field belongs in the zod schema the handler validates with.

export const orderSchema = z
  .object({
    id: z.uuid(),
    customerId: z.string(),
    productId: z.string(),
    quantity: z.number().int(),
    status: z.enum(ORDER_STATUSES),
    reason: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Order' });

const orderBody = z
  .object({ order: orderSchema, message: z.string().optional() })
  .meta({ id: 'OrderResponse' });
const LOCATION = header('The order: GET it for its current status.');
const orderHeaders = {
  Location: LOCATION,
  [IDEMPOTENCY_KEY_HEADER]: header('The key the request was sent with.'),
  'Preference-Applied': header('`wait=N`: the Prefer: wait the server honoured.'),
  [REPLAYED_HEADER]: header('`true`: a replay of the first response for this key.'),
};

export const ORDERS_ROUTE_DOCS: RouteDocs = {
  createOrder: {
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
      422: problemResponse('The Idempotency-Key was used with a different body.'),
    },
  },
  getOrder: {
    summary: 'Read an order',
    request: { params: z.object({ id: z.string() }) },
    responses: {
      200: jsonResponse('The order.', z.object({ order: orderSchema })),
      404: problemResponse('No such order.'),
    },
  },
  listOrders: {
    summary: 'List orders, newest first',
    request: { query: listOrdersQuery },
    responses: {
      200: jsonResponse(
        'A page of orders.',
        z.object({ orders: z.array(orderSchema), nextCursor: z.string().nullable() }),
      ),
      400: problemResponse('A query parameter fails validation.'),
    },
  },
};
