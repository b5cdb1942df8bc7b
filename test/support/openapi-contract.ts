import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { HttpFunctionDefinition, HttpFunctionSpec } from '../../functions/definitions.js';
import { FUNCTIONS } from '../../functions/function-table.js';
import { buildOpenApiDocument, openApiPaths } from '../../functions/platform/openapi/document.js';
import { compileRoutes, findRoute } from '../../infra/local-host/router.js';

/**
 * The contract check every test answer passes through: invokeHttp (handlers called in-process) and every fetch a
 * test makes to a host on loopback (test/support/openapi-fetch-hook.ts) validate the response against GET
 * /api/openapi.json — its status must be documented for the route (or fall under `default`, a problem document),
 * its media type too, and a JSON body must match the schema. A new route, or a changed answer, is checked without
 * anyone writing a contract test for it.
 */
const document = buildOpenApiDocument(FUNCTIONS);
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
ajv.addSchema({ ...document, $id: 'openapi.json' });
const validators = new Map<string, ValidateFunction>();

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

interface Operation {
  responses: Record<string, { content?: Record<string, unknown> }>;
}

export class ContractViolation extends Error {}

/** Checks one answer of the route `spec` (the function table's entry) against the document. */
export function checkAgainstOpenApi(
  spec: Pick<HttpFunctionSpec, 'name' | 'route'>,
  method: string,
  status: number,
  contentType: string | null,
  body: unknown,
): void {
  const path = openApiPaths(spec.route).at(-1) as string;
  const verb = method.toLowerCase();
  const operation = (document.paths?.[path] as Record<string, Operation> | undefined)?.[verb];
  const where = `${method} ${path} (${spec.name}) answered ${status}`;
  if (!operation) throw new ContractViolation(`${where}, but the OpenAPI document has no such operation`);
  const key = operation.responses[String(status)] ? String(status) : 'default';
  const response = operation.responses[key];
  if (!response?.content) return;
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (!response.content[mediaType]) {
    throw new ContractViolation(
      `${where} with "${mediaType}", but the document says ${Object.keys(response.content).join(' or ')} for ${key}`,
    );
  }
  if (!mediaType.includes('json')) return;
  const ref = `openapi.json#/${pointer('paths', path, verb, 'responses', key, 'content', mediaType, 'schema')}`;
  let validate = validators.get(ref);
  if (!validate) {
    validate = ajv.compile({ $ref: ref });
    validators.set(ref, validate);
  }
  if (!validate(body)) {
    throw new ContractViolation(
      `${where}: the body does not match the document: ${ajv.errorsText(validate.errors)}`,
    );
  }
}

const routes = compileRoutes(
  FUNCTIONS.filter((f): f is HttpFunctionSpec => f.kind === 'http').map(
    (spec) => ({ ...spec, handler: undefined }) as unknown as HttpFunctionDefinition,
  ),
);

/** The route of the function table a request path and method reach, if any (unrouted answers are the host's). */
export function routeOf(method: string, pathname: string): HttpFunctionSpec | undefined {
  const found = findRoute(routes, method, pathname);
  return found.kind === 'match' ? (found.match.fn as unknown as HttpFunctionSpec) : undefined;
}

export { document as openApiDocument };
