import type { HttpRequest } from '@azure/functions';
import { queryParameters } from '../../shared/http/function-key.js';
import { invalidCursor, json, notFound } from '../../shared/http/problem.js';
import { parseRequestPart } from '../../shared/http/request-body.js';
import type { HttpHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';
import { visibleTo } from './customer-scope.js';
import { timedOrderApi } from './order-api-timing.js';
import { decodeCursor, encodeCursor, getOrderQuery, listOrdersQuery } from './order-model.js';
import { findOrder, listOrders, orderHistory } from './orders-repository.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** GET /api/orders/{id}. */
export function getOrderHandler(rt: Runtime): HttpHandler {
  return timedOrderApi(rt, async (request) => {
    const id = request.params.id ?? '';
    const identified = await rt.customerAuth.identify(request);
    if (!identified.ok) return identified.response;
    if (!UUID.test(id)) return notFound(`There is no order with id "${id}": order ids are UUIDs.`);
    // Only `include` is read: without it the answer is exactly `{order}`, whatever else the query holds.
    const query = parseRequestPart(getOrderQuery, queryParameters(request), 'The query string');
    if (!query.ok) return query.response;
    const order = await findOrder(rt.db, id.toLowerCase());
    // Another customer's order answers exactly like an order that does not exist.
    if (!order || !visibleTo(identified.caller, order.customerId))
      return notFound(`There is no order with id "${id}".`);
    if (query.value.include !== 'history') return json(200, { order });
    return json(200, { order, history: await orderHistory(rt.db, order.id) });
  });
}

/** GET /api/me/orders: the signed-in customer's orders, newest first (CUSTOMER_AUTH other than none). */
export function listMyOrdersHandler(rt: Runtime): HttpHandler {
  return timedOrderApi(rt, async (request) => {
    const identified = await rt.customerAuth.identify(request);
    if (!identified.ok) return identified.response;
    if (!identified.caller) {
      return notFound(
        'Nobody signs in here: this app runs with CUSTOMER_AUTH=none, so there is no "me". Read an order by its id, or list orders with GET /api/orders (operator).',
      );
    }
    return orderPage(rt, request, identified.caller.subject);
  });
}

/** GET /api/orders. */
export function listOrdersHandler(rt: Runtime): HttpHandler {
  return timedOrderApi(rt, (request) => orderPage(rt, request, undefined));
}

/** A page of orders (every customer's, or `customerId`'s) from the query's status, limit and cursor. */
async function orderPage(rt: Runtime, request: HttpRequest, customerId: string | undefined) {
  const query = parseRequestPart(listOrdersQuery, queryParameters(request), 'The query string');
  if (!query.ok) return query.response;
  const { status, limit, cursor } = query.value;
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  if (cursor !== undefined && !after) {
    return invalidCursor();
  }
  const page = await listOrders(rt.db, { status, limit, after, customerId });
  const last = page.orders.at(-1);
  return json(200, {
    orders: page.orders,
    nextCursor: page.hasMore && last ? encodeCursor(last) : null,
  });
}
