import { queryParameters } from '../../shared/http/function-key.js';
import { invalidCursor, json, notFound } from '../../shared/http/problem.js';
import { parseRequestPart } from '../../shared/http/request-body.js';
import type { HttpHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';
import { timedOrderApi } from './order-api-timing.js';
import { decodeCursor, encodeCursor, getOrderQuery, listOrdersQuery } from './order-model.js';
import { findOrder, listOrders, orderHistory } from './orders-repository.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** GET /api/orders/{id}. */
export function getOrderHandler(rt: Runtime): HttpHandler {
  return timedOrderApi(rt, async (request) => {
    const id = request.params.id ?? '';
    if (!UUID.test(id)) return notFound(`There is no order with id "${id}": order ids are UUIDs.`);
    // Only `include` is read: without it the answer is exactly `{order}`, whatever else the query holds.
    const query = parseRequestPart(getOrderQuery, queryParameters(request), 'The query string');
    if (!query.ok) return query.response;
    const order = await findOrder(rt.db, id.toLowerCase());
    if (!order) return notFound(`There is no order with id "${id}".`);
    if (query.value.include !== 'history') return json(200, { order });
    return json(200, { order, history: await orderHistory(rt.db, order.id) });
  });
}

/** GET /api/orders. */
export function listOrdersHandler(rt: Runtime): HttpHandler {
  return timedOrderApi(rt, async (request) => {
    const query = parseRequestPart(listOrdersQuery, queryParameters(request), 'The query string');
    if (!query.ok) return query.response;
    const { status, limit, cursor } = query.value;
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    if (cursor !== undefined && !after) {
      return invalidCursor();
    }
    const page = await listOrders(rt.db, { status, limit, after });
    const last = page.orders.at(-1);
    return json(200, {
      orders: page.orders,
      nextCursor: page.hasMore && last ? encodeCursor(last) : null,
    });
  });
}
