import type { HttpFunctionDefinition } from '../../functions/definitions.js';

export interface RouteMatch {
  fn: HttpFunctionDefinition;
  params: Record<string, string>;
}

interface CompiledRoute {
  fn: HttpFunctionDefinition;
  pattern: RegExp;
  names: string[];
  /** Literal routes win over parameterised ones, like the Functions host. */
  literalSegments: number;
}

/**
 * Compiles Azure route templates (`orders/{id}`, `health/{service?}`) into matchers under `/<routePrefix>/`
 * (host.json's `extensions.http.routePrefix`; `api`, the Functions default, is what the contract uses).
 */
export function compileRoutes(functions: HttpFunctionDefinition[], routePrefix = 'api'): CompiledRoute[] {
  const prefix = routePrefix ? `/${routePrefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}` : '';
  return functions
    .map((fn) => {
      const names: string[] = [];
      let literalSegments = 0;
      const body = fn.route
        .split('/')
        .map((segment) => {
          const param = /^\{([A-Za-z0-9_]+)(\?)?(?::[^}]*)?\}$/.exec(segment);
          if (!param) {
            literalSegments++;
            return `/${segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
          }
          names.push(param[1]!);
          return param[2] ? '(?:/([^/]+))?' : '/([^/]+)';
        })
        .join('');
      return { fn, names, literalSegments, pattern: new RegExp(`^${prefix}${body}/?$`, 'i') };
    })
    .sort((a, b) => b.literalSegments - a.literalSegments);
}

export type RouteLookup =
  | { kind: 'match'; match: RouteMatch }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' }
  /** The route matched, but a parameter's percent-encoding is not valid UTF-8 (`%E0%A4%A`). */
  | { kind: 'undecodable'; param: string; segment: string };

export function findRoute(routes: CompiledRoute[], method: string, path: string): RouteLookup {
  const allow = new Set<string>();
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    if (!route.fn.methods.includes(method.toUpperCase() as never)) {
      for (const verb of route.fn.methods) allow.add(verb);
      continue;
    }
    const params: Record<string, string> = {};
    for (const [i, name] of route.names.entries()) {
      const segment = m[i + 1];
      if (segment === undefined) continue;
      try {
        params[name] = decodeURIComponent(segment);
      } catch {
        return { kind: 'undecodable', param: name, segment };
      }
    }
    return { kind: 'match', match: { fn: route.fn, params } };
  }
  return allow.size ? { kind: 'method-not-allowed', allow: [...allow] } : { kind: 'not-found' };
}
