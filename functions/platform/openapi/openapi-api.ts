import { json } from '../../../shared/http/problem.js';
import type { HttpHandler } from '../../definitions.js';
import type { Runtime } from '../../runtime.js';
import { buildOpenApiDocument } from './document.js';

/** GET /api/openapi.json: the document, built once per instance (it depends on the code only). */
export function openApiHandler(_rt: Runtime): HttpHandler {
  let body: unknown;
  return async () => {
    body ??= buildOpenApiDocument();
    return json(200, body, { 'Cache-Control': 'public, max-age=300' });
  };
}
