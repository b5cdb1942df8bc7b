import { checkAgainstOpenApi, routeOf } from './openapi-contract.js';

// A vitest setup file: every answer a test fetches from a host on loopback is checked against the OpenAPI document
// (see openapi-contract.ts). Only routed /api/ answers; a violation fails the fetch, so the test that made it fails.
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const originalFetch = globalThis.fetch;

globalThis.fetch = async (input, init) => {
  const response = await originalFetch(input, init);
  const request = new Request(input, init);
  const url = new URL(request.url);
  if (!LOOPBACK.has(url.hostname) || !url.pathname.startsWith('/api/')) return response;
  const spec = routeOf(request.method, url.pathname);
  // The host's own key check (401) and the app's sign-in answers are documented too, so they are checked as well.
  if (!spec) return response;
  const contentType = response.headers.get('content-type');
  let body: unknown;
  if (contentType?.includes('json')) {
    const text = await response.clone().text();
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
  }
  checkAgainstOpenApi(spec, request.method, response.status, contentType, body);
  return response;
};
