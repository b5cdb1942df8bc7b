import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import type { HttpFunctionSpec } from '../../functions/definitions.js';
import { FUNCTIONS, loadFunctions } from '../../functions/function-table.js';
import { openApiPaths } from '../../functions/platform/openapi/document.js';
import type { Runtime } from '../../functions/runtime.js';
import { httpFunction, invokeHttp } from '../support/invoke.js';
import { ContractViolation, checkAgainstOpenApi, openApiDocument } from '../support/openapi-contract.js';

// GET /api/openapi.json is generated from the function table and the handlers' zod schemas; it is a valid OpenAPI
// 3.1 document, it describes every route, and every answer the test suites receive is checked against it.
const httpSpecs = FUNCTIONS.filter((f): f is HttpFunctionSpec => f.kind === 'http');

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(structuredClone(openApiDocument) as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(openApiDocument.openapi).toBe('3.1.0');
  });

  it('has an operation for every method of every HTTP route of the function table, keyed where the table says', () => {
    for (const spec of httpSpecs) {
      for (const path of openApiPaths(spec.route)) {
        for (const method of spec.methods) {
          const operation = (
            openApiDocument.paths?.[path] as Record<string, { security?: Record<string, unknown>[] }>
          )?.[method.toLowerCase()];
          expect(operation, `${method} ${path}`).toBeDefined();
          const keyed = operation?.security?.some((s) => 'functionKey' in s);
          expect(keyed ? 'function' : 'anonymous', `${method} ${path}`).toBe(spec.authLevel);
          // A customer route may be called anonymously (CUSTOMER_AUTH=none: `{}`) or signed in.
          if (!keyed && operation?.security?.length) {
            expect(operation.security, `${method} ${path}`).toEqual([
              {},
              { bearer: [] },
              { appServicePrincipal: [] },
            ]);
          }
        }
      }
    }
  });

  it('documents the headers and the function-key security scheme', () => {
    const text = JSON.stringify(openApiDocument);
    for (const name of [
      'Idempotency-Key',
      'Prefer',
      'Preference-Applied',
      'Idempotent-Replayed',
      'Retry-After',
      'Location',
    ]) {
      expect(text).toContain(`"${name}"`);
    }
    expect(openApiDocument.components?.securitySchemes?.functionKey).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'x-functions-key',
    });
    expect(openApiDocument.components?.schemas?.Problem).toBeDefined();
  });

  it('documents the bearer scheme, and the 401/403/404 answers of signed-in customers and operator tokens', () => {
    expect(openApiDocument.components?.securitySchemes?.bearer).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    const spec = (name: string) => httpSpecs.find((s) => s.name === name)!;
    const problemOf = (status: number) => ({
      type: 'https://valerix.example/problems/x',
      title: 't',
      status,
      detail: 'd',
    });
    const answers: [string, string, number][] = [
      ['createOrder', 'POST', 401],
      ['createOrder', 'POST', 403],
      ['getOrder', 'GET', 401],
      ['getOrder', 'GET', 404],
      ['cancelOrder', 'POST', 401],
      ['cancelOrder', 'POST', 403],
      ['cancelOrder', 'POST', 404],
      ['listMyOrders', 'GET', 401],
      ['listMyOrders', 'GET', 404],
      ['me', 'GET', 401],
      ['listOrders', 'GET', 401],
      ['listOrders', 'GET', 403],
    ];
    type Operations = Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>;
    const paths = (openApiDocument.paths ?? {}) as Record<string, Operations>;
    for (const [name, method, status] of answers) {
      const responses = paths[openApiPaths(spec(name).route).at(-1)!]?.[method.toLowerCase()]?.responses;
      expect(responses?.[String(status)], `${name} ${status}`).toBeDefined();
      expect(() =>
        checkAgainstOpenApi(spec(name), method, status, 'application/problem+json', problemOf(status)),
      ).not.toThrow();
    }
    const unauthorized = paths['/api/orders/{id}']?.get?.responses['401'];
    expect(unauthorized?.headers?.['WWW-Authenticate']).toBeDefined();
  });

  it('is served anonymously at GET /api/openapi.json', async () => {
    const functions = await loadFunctions(
      {} as Runtime,
      httpSpecs.filter((s) => s.name === 'openApi'),
    );
    const res = await invokeHttp(httpFunction(functions, 'openApi'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
  });

  it('refuses an answer that breaks it: an undocumented media type, a wrong body', () => {
    const getOrder = httpSpecs.find((s) => s.name === 'getOrder')!;
    expect(() => checkAgainstOpenApi(getOrder, 'GET', 200, 'application/json', { order: { id: 1 } })).toThrow(
      ContractViolation,
    );
    expect(() => checkAgainstOpenApi(getOrder, 'GET', 404, 'text/plain', 'nope')).toThrow(/problem\+json/);
    expect(() =>
      checkAgainstOpenApi(getOrder, 'GET', 404, 'application/problem+json', {
        type: 'about:blank',
        title: 'Not Found',
        status: 404,
        detail: 'no such order',
      }),
    ).not.toThrow();
  });

  it("checks what a test fetches from a host: a host that breaks the contract fails the test's fetch", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ order: { id: 'not-an-order' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await expect(fetch(`http://127.0.0.1:${port}/api/orders/123`)).rejects.toThrow(
        /does not match the document/,
      );
    } finally {
      server.close();
    }
  });
});
