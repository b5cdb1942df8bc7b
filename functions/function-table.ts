import type {
  FunctionDefinition,
  FunctionSpec,
  HandlerLoader,
  HttpFunctionSpec,
  HttpHandler,
} from './definitions.js';
import { inventoryFunctions } from './inventory/index.js';
import { ordersFunctions } from './orders/index.js';
import { platformFunctions } from './platform/index.js';
import type { Runtime } from './runtime.js';

/**
 * GET /api/openapi.json, the document of this whole table: written here, where the table is, so the table is
 * handed to the document rather than imported by it (no import circle through a service's index).
 */
const openApiFunction: HttpFunctionSpec = {
  kind: 'http',
  name: 'openApi',
  route: 'openapi.json',
  methods: ['GET'],
  authLevel: 'anonymous',
  load: async () => {
    const { openApiHandler } = await import('./platform/openapi/openapi-api.js');
    return () => openApiHandler(FUNCTIONS);
  },
};

/** Every function of the app, for both hosts. Importing it loads no handler code. */
export const FUNCTIONS: readonly FunctionSpec[] = [
  ...ordersFunctions,
  ...inventoryFunctions,
  ...platformFunctions,
  openApiFunction,
];

/**
 * An HTTP function's code inside the one error boundary (shared/http/error-boundary.ts), for both hosts. The
 * boundary loads with the handler, on first use, so registering the table still loads nothing.
 */
export function boundedHttpLoader(spec: HttpFunctionSpec): HandlerLoader<HttpHandler> {
  return async () => {
    const [{ withErrorBoundary }, build] = await Promise.all([
      import('../shared/http/error-boundary.js'),
      spec.load(),
    ]);
    return (rt) => withErrorBoundary(spec.name, build(rt), rt.signals, () => rt.policies.retryAfterSeconds);
  };
}

/** Loads every function's code now and binds it to `rt`: the local host and tests, which want it all up front. */
export function loadFunctions(
  rt: Runtime,
  specs: readonly FunctionSpec[] = FUNCTIONS,
): Promise<FunctionDefinition[]> {
  return Promise.all(specs.map((spec) => loadFunction(spec, rt)));
}

export async function loadFunction(spec: FunctionSpec, rt: Runtime): Promise<FunctionDefinition> {
  switch (spec.kind) {
    case 'http': {
      const { load: _load, ...trigger } = spec;
      return { ...trigger, handler: (await boundedHttpLoader(spec)())(rt) };
    }
    case 'serviceBusQueue': {
      const { load, ...trigger } = spec;
      return { ...trigger, handler: (await load())(rt) };
    }
    case 'timer': {
      const { load, localIntervalMs, ...trigger } = spec;
      return { ...trigger, localIntervalMs: localIntervalMs(rt.settings), handler: (await load())(rt) };
    }
  }
}
