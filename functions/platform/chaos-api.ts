import { chaosPatch } from '../../shared/chaos/chaos-flags.js';
import { json } from '../../shared/http/problem.js';
import { readJsonBody } from '../../shared/http/request-body.js';
import type { HttpHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';

/** GET /api/chaos: the gremlin and crash-simulator flags, shared by every instance through the database. */
export function getChaosHandler(rt: Runtime): HttpHandler {
  return async () => {
    return json(200, await rt.chaos.current());
  };
}

/** PUT /api/chaos: changes the flags (a partial document; what is left out keeps its value). */
export function putChaosHandler(rt: Runtime): HttpHandler {
  return async (request, context) => {
    const body = await readJsonBody(request, chaosPatch);
    if (!body.ok) return body.response;
    const doc = await rt.chaos.update(body.value);
    context.log(`chaos flags changed: ${JSON.stringify(doc)}`);
    return json(200, doc);
  };
}
