import { describe, expect, it } from 'vitest';
import type { HttpFunctionDefinition } from '../../functions/definitions.js';
import { compileRoutes, findRoute } from '../../infra/local-host/router.js';

const fn = (
  name: string,
  route: string,
  methods: HttpFunctionDefinition['methods'],
): HttpFunctionDefinition => ({
  kind: 'http',
  name,
  route,
  methods,
  authLevel: 'anonymous',
  handler: async () => ({ status: 200 }),
});

const routes = compileRoutes([
  fn('listOrders', 'orders', ['GET']),
  fn('createOrder', 'orders', ['POST']),
  fn('getOrder', 'orders/{id}', ['GET']),
  fn('restock', 'inventory/{productId}/restock', ['POST']),
  fn('health', 'health/{service?}', ['GET']),
]);

describe('local host router (Azure route templates)', () => {
  it('matches by method and path, with parameters', () => {
    const m = findRoute(routes, 'GET', '/api/orders/abc');
    expect(m).toMatchObject({ kind: 'match', match: { fn: { name: 'getOrder' }, params: { id: 'abc' } } });
    expect(findRoute(routes, 'POST', '/api/orders')).toMatchObject({
      match: { fn: { name: 'createOrder' } },
    });
    expect(findRoute(routes, 'POST', '/api/inventory/PROD-001/restock')).toMatchObject({
      match: { params: { productId: 'PROD-001' } },
    });
  });

  it("serves under host.json's routePrefix (the contract's `api`), or at the root when it is empty", async () => {
    const { readFile } = await import('node:fs/promises');
    const hostJson = JSON.parse(await readFile(new URL('../../host.json', import.meta.url), 'utf8'));
    expect(hostJson.extensions.http.routePrefix).toBe('api');
    const v1 = compileRoutes([fn('getOrder', 'orders/{id}', ['GET'])], 'v1');
    expect(findRoute(v1, 'GET', '/v1/orders/abc')).toMatchObject({ kind: 'match' });
    expect(findRoute(v1, 'GET', '/api/orders/abc')).toEqual({ kind: 'not-found' });
    const root = compileRoutes([fn('getOrder', 'orders/{id}', ['GET'])], '');
    expect(findRoute(root, 'GET', '/orders/abc')).toMatchObject({ kind: 'match' });
  });

  it('supports optional parameters', () => {
    expect(findRoute(routes, 'GET', '/api/health')).toMatchObject({
      match: { fn: { name: 'health' }, params: {} },
    });
    expect(findRoute(routes, 'GET', '/api/health/orders')).toMatchObject({
      match: { params: { service: 'orders' } },
    });
  });

  it('tells 405 (with the allowed methods) from 404', () => {
    expect(findRoute(routes, 'DELETE', '/api/orders')).toEqual({
      kind: 'method-not-allowed',
      allow: ['GET', 'POST'],
    });
    expect(findRoute(routes, 'GET', '/api/nope')).toEqual({ kind: 'not-found' });
    expect(findRoute(routes, 'GET', '/orders')).toEqual({ kind: 'not-found' });
  });

  it('reports a parameter that is not valid percent-encoded UTF-8 instead of throwing', () => {
    expect(findRoute(routes, 'GET', '/api/orders/%E0%A4%A')).toEqual({
      kind: 'undecodable',
      param: 'id',
      segment: '%E0%A4%A',
    });
    expect(findRoute(routes, 'GET', '/api/orders/caf%C3%A9%2F1')).toMatchObject({
      match: { params: { id: 'café/1' } },
    });
  });
});
