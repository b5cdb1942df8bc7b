import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { FunctionSpec, HttpFunctionSpec } from '../../definitions.js';
import { INVENTORY_ROUTE_DOCS } from '../../inventory/inventory-openapi.js';
import { ORDERS_ROUTE_DOCS } from '../../orders/orders-openapi.js';
import { PLATFORM_ROUTE_DOCS } from './platform-openapi.js';
import {
  COMMON_RESPONSES,
  OPERATOR_RESPONSES,
  type RouteDoc,
  type RouteDocs,
  SIGNED_IN_RESPONSES,
} from './route-doc.js';

/** Every route's description, by function name: one entry per HTTP function of the table. */
const ROUTE_DOCS: RouteDocs = {
  ...ORDERS_ROUTE_DOCS,
  ...INVENTORY_ROUTE_DOCS,
  ...PLATFORM_ROUTE_DOCS,
};

/** `health/{service?}` → `/api/health` and `/api/health/{service}`: OpenAPI has no optional path segments. */
export function openApiPaths(route: string): string[] {
  const optional = /\/\{(\w+)\?\}$/.exec(route);
  if (!optional) return [`/api/${route}`];
  const base = route.slice(0, optional.index);
  return [`/api/${base}`, `/api/${base}/{${optional[1]}}`];
}

/**
 * Who may call: an operator route a function key (or an operator token in jwt mode); a customer route anyone when
 * CUSTOMER_AUTH=none (`{}`), else a signed-in customer; other routes anyone.
 */
function securityOf(spec: HttpFunctionSpec, signedIn: RouteDoc['signedIn']) {
  if (spec.authLevel === 'function') return [{ functionKey: [] }, { functionKeyQuery: [] }, { bearer: [] }];
  return signedIn ? [{}, { bearer: [] }, { appServicePrincipal: [] }] : [];
}

class UndocumentedRouteError extends Error {}

/**
 * The OpenAPI 3.1 document of the whole API, generated from the function table it is given (paths, methods, who
 * needs the function key) and each route's zod schemas (functions/<service>/<service>-openapi.ts), never written
 * by hand.
 */
export function buildOpenApiDocument(
  specs: readonly FunctionSpec[],
): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'functionKey', {
    type: 'apiKey',
    in: 'header',
    name: 'x-functions-key',
    description: 'The Functions host key of an operator route (`authLevel: function`).',
  });
  registry.registerComponent('securitySchemes', 'functionKeyQuery', {
    type: 'apiKey',
    in: 'query',
    name: 'code',
  });
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'CUSTOMER_AUTH=jwt: an access token of JWT_ISSUER for JWT_AUDIENCE (RS256/ES256…). Customer routes take any signed-in customer; operator routes a token with the Valerix.Operator app role.',
  });
  registry.registerComponent('securitySchemes', 'appServicePrincipal', {
    type: 'apiKey',
    in: 'header',
    name: 'X-MS-CLIENT-PRINCIPAL',
    description:
      'CUSTOMER_AUTH=appservice: set by App Service authentication after a sign-in at /.auth/login/aad (never by a client).',
  });
  for (const spec of specs.filter((s): s is HttpFunctionSpec => s.kind === 'http')) {
    const routeDoc = ROUTE_DOCS[spec.name];
    if (!routeDoc)
      throw new UndocumentedRouteError(`HTTP function "${spec.name}" has no entry in ROUTE_DOCS`);
    const { signedIn, ...doc } = routeDoc;
    const paths = openApiPaths(spec.route);
    for (const [n, path] of paths.entries()) {
      // The optional segment's parameter belongs to the longer path only.
      const request = n === 0 && paths.length > 1 ? { ...doc.request, params: undefined } : doc.request;
      for (const method of spec.methods) {
        registry.registerPath({
          ...doc,
          ...(request ? { request } : {}),
          operationId: paths.length > 1 ? `${spec.name}${n === 0 ? '' : 'ByService'}` : spec.name,
          method: method.toLowerCase() as 'get',
          path,
          security: securityOf(spec, signedIn),
          responses: {
            ...COMMON_RESPONSES,
            ...(spec.authLevel === 'function' ? OPERATOR_RESPONSES : {}),
            ...(signedIn ? SIGNED_IN_RESPONSES : {}),
            ...doc.responses,
          },
        });
      }
    }
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Valerix order pipeline',
      version: '1.0.0',
      description:
        'Orders and Inventory over a message queue. Errors are RFC 9457 problem documents. Operator routes need the function key.',
    },
    servers: [{ url: '/' }],
  });
}
