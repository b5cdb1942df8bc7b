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
          const operation = (openApiDocument.paths?.[path] as Record<string, { security?: unknown[] }>)?.[
            method.toLowerCase()
          ];
          expect(operation, `${method} ${path}`).toBeDefined();
          expect(operation?.security?.length ? 'function' : 'anonymous', `${method} ${path}`).toBe(
            spec.authLevel,
          );
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
