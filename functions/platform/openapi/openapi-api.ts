import { json } from '../../../shared/http/problem.js';
import type { FunctionSpec, HttpHandler } from '../../definitions.js';
import { buildOpenApiDocument } from './document.js';

/**
 * GET /api/openapi.json: the document of the function table it is handed (functions/function-table.ts), built
 * once per instance (it depends on the code only).
 */
export function openApiHandler(specs: readonly FunctionSpec[]): HttpHandler {
  let body: unknown;
  return async () => {
    body ??= buildOpenApiDocument(specs);
    return json(200, body, { 'Cache-Control': 'public, max-age=300' });
  };
}
