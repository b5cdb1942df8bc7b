import { setTimeout as sleep } from 'node:timers/promises';
import type { HttpRequest } from '@azure/functions';
import { z } from 'zod';
import { json, notFound } from '../../shared/http/problem.js';
import { parseRequestPart, readJsonBody } from '../../shared/http/request-body.js';
import { identifierText } from '../../shared/http/text-field.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import type { HttpHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';
import { findProduct, listProducts, restock } from './inventory-repository.js';

export const GREMLIN_HEADER = 'X-Gremlin-Delay-Ms';

export const restockBody = z.strictObject({
  quantity: z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100_000, 'must be at most 100000'),
});

/** The `{productId}` of a route: the same rule as the productId of an order. */
export const productPath = z.strictObject({ productId: identifierText(64) });

const productIdOf = (request: HttpRequest) =>
  parseRequestPart(productPath, { productId: request.params.productId ?? '' }, 'The path');

/** Inventory reads are Inventory work too: the gremlin may delay them, and says so in a header. */
async function gremlin(rt: Runtime): Promise<Record<string, string>> {
  const delay = await rt.chaos.gremlinDelayMs();
  if (delay === 0) return {};
  rt.signals.count(METRICS.gremlinDelays, { where: 'inventory_http' });
  await sleep(delay);
  return { [GREMLIN_HEADER]: String(delay) };
}

/** GET /api/inventory. */
export function listInventoryHandler(rt: Runtime): HttpHandler {
  return async () => {
    const headers = await gremlin(rt);
    return json(200, { items: await listProducts(rt.db) }, headers);
  };
}

/** GET /api/inventory/{productId}. */
export function getInventoryItemHandler(rt: Runtime): HttpHandler {
  return async (request) => {
    const path = productIdOf(request);
    if (!path.ok) return path.response;
    const { productId } = path.value;
    const headers = await gremlin(rt);
    const item = await findProduct(rt.db, productId);
    return item
      ? json(200, { item }, headers)
      : notFound(`There is no product "${productId}" in the catalog.`);
  };
}

/** POST /api/inventory/{productId}/restock (function key in Azure). */
export function restockInventoryHandler(rt: Runtime): HttpHandler {
  return async (request) => {
    const path = productIdOf(request);
    if (!path.ok) return path.response;
    const { productId } = path.value;
    const body = await readJsonBody(request, restockBody);
    if (!body.ok) return body.response;
    const item = await restock(rt.db, productId, body.value.quantity);
    return item ? json(200, { item }) : notFound(`There is no product "${productId}" in the catalog.`);
  };
}
