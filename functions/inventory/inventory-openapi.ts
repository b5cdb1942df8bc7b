import { z } from 'zod';
import { header, jsonResponse, problemResponse, type RouteDocs } from '../platform/openapi/route-doc.js';
import { productPath, restockBody } from './inventory-http.js';

// The Inventory API in the OpenAPI document; a new route of functions/inventory/index.ts gets its entry here.

const item = z
  .object({ productId: z.string(), name: z.string(), available: z.number().int(), updatedAt: z.string() })
  .meta({ id: 'InventoryItem' });
const GREMLIN = { 'X-Gremlin-Delay-Ms': header('How long the gremlin delayed this read (when it did).') };

export const INVENTORY_ROUTE_DOCS: RouteDocs = {
  listInventory: {
    summary: 'Stock levels of every product',
    responses: { 200: jsonResponse('Every product.', z.object({ items: z.array(item) }), GREMLIN) },
  },
  getInventoryItem: {
    summary: "One product's stock level",
    request: { params: productPath },
    responses: {
      200: jsonResponse('The product.', z.object({ item }), GREMLIN),
      400: problemResponse('The product id fails validation.'),
      404: problemResponse('No such product.'),
    },
  },
  restockInventory: {
    summary: 'Add stock to a product',
    request: { params: productPath, body: { content: { 'application/json': { schema: restockBody } } } },
    responses: {
      200: jsonResponse('The product, restocked.', z.object({ item })),
      400: problemResponse('The body or product id fails validation.'),
      404: problemResponse('No such product.'),
      415: problemResponse('The body is not JSON.'),
    },
  },
};
