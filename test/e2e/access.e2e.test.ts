import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../functions/function-table.js';
import { postOrder, startTestHost, type TestHost, withFunctionKey } from '../support/test-host.js';

// Who may see and change what, over HTTP against the local host, which enforces auth levels like Azure does.
let host: TestHost;
beforeAll(async () => {
  host = await startTestHost({}, { timers: false });
});
afterAll(async () => {
  await host?.stop();
});

const operatorRoutes: { method: string; path: string; body?: unknown; served?: number }[] = [
  { method: 'GET', path: '/api/orders' },
  { method: 'GET', path: '/api/chaos' },
  { method: 'PUT', path: '/api/chaos', body: { gremlin: { enabled: false } } },
  { method: 'POST', path: '/api/inventory/PROD-001/restock', body: { quantity: 1 } },
  { method: 'GET', path: '/api/health/details' },
  { method: 'GET', path: '/api/health/details/orders' },
  { method: 'GET', path: '/api/dead-letters?service=orders' },
  // Let in, and told there is no such dead letter.
  { method: 'GET', path: '/api/dead-letters/orders-1', served: 404 },
  { method: 'POST', path: '/api/dead-letters/orders-1/redrive', served: 404 },
  { method: 'POST', path: '/api/dead-letters/redrive', body: { service: 'inventory' } },
];

function call(route: (typeof operatorRoutes)[number], headers: Record<string, string> = {}, query = '') {
  const search = query && route.path.includes('?') ? `&${query.slice(1)}` : query;
  return fetch(`${host.url}${route.path}${search}`, {
    method: route.method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(route.body ? { body: JSON.stringify(route.body) } : {}),
  });
}

describe('operator routes (authLevel function)', () => {
  it('are exactly the listing, restock, chaos, health details and dead letters', () => {
    const keyed = FUNCTIONS.filter((f) => f.kind === 'http' && f.authLevel === 'function').map((f) => f.name);
    expect(keyed.sort()).toEqual([
      'getChaos',
      'getDeadLetter',
      'healthDetails',
      'listDeadLetters',
      'listOrders',
      'putChaos',
      'redriveDeadLetter',
      'redriveDeadLetters',
      'restockInventory',
    ]);
  });

  it.each(operatorRoutes)('$method $path: 401 without a key or with a wrong one', async (route) => {
    for (const headers of [{}, { 'x-functions-key': 'not-the-key' }] as Record<string, string>[]) {
      const res = await call(route, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(((await res.json()) as { detail: string }).detail).toMatch(/x-functions-key/);
    }
    expect((await call(route, {}, '?code=wrong')).status).toBe(401);
  });

  it.each(operatorRoutes)(
    '$method $path: served with the key in x-functions-key or ?code=',
    async (route) => {
      const served = route.served ?? 200;
      expect((await call(route, withFunctionKey(host))).status).toBe(served);
      expect((await call(route, {}, `?code=${encodeURIComponent(host.functionKey)}`)).status).toBe(served);
    },
  );

  it('the header wins over the query parameter, as on the Functions host', async () => {
    const route = operatorRoutes[0]!;
    const res = await call(route, { 'x-functions-key': 'wrong' }, `?code=${host.functionKey}`);
    expect(res.status).toBe(401);
  });
});

describe('customers', () => {
  it('place an order and read it by its id without a key, but cannot list everyone’s orders', async () => {
    const res = await postOrder(host.url, { customerId: 'anon-1', productId: 'PROD-001', quantity: 1 });
    expect(res.status).toBe(202);
    const { order } = (await res.json()) as { order: { id: string } };
    expect((await fetch(`${host.url}/api/orders/${order.id}`)).status).toBe(200);
    expect((await fetch(`${host.url}/api/orders?limit=5`)).status).toBe(401);
  });

  it("cannot use another customer's Idempotency-Key to read or probe their order", async () => {
    const key = `shared-key-${Date.now()}`;
    const body = { customerId: 'alice', productId: 'PROD-002', quantity: 1 };
    const alice = await postOrder(host.url, body, { 'Idempotency-Key': key });
    const aliceOrder = ((await alice.json()) as { order: { id: string } }).order;
    const mallory = await postOrder(
      host.url,
      { ...body, customerId: 'mallory', quantity: 3 },
      { 'Idempotency-Key': key },
    );
    expect(mallory.status).toBe(202);
    expect(mallory.headers.get('idempotent-replayed')).toBeNull();
    const malloryOrder = ((await mallory.json()) as { order: { id: string; customerId: string } }).order;
    expect(malloryOrder.id).not.toBe(aliceOrder.id);
    expect(malloryOrder.customerId).toBe('mallory');
  });
});

describe('health', () => {
  it('tells anonymous callers up or down and the breaker states; the details need the key', async () => {
    const open = await fetch(`${host.url}/api/health`);
    expect(open.status).toBe(200);
    const body = (await open.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', breakers: { database: 'closed', publish: 'closed' } });
    expect(body).not.toHaveProperty('transport');
    expect(JSON.stringify(body)).not.toMatch(/outbox|deadLetters|latencyMs/);
    const details = await fetch(`${host.url}/api/health/details`, { headers: withFunctionKey(host) });
    expect(((await details.json()) as { services: { orders: object } }).services.orders).toHaveProperty(
      'outbox',
    );
  });
});

describe('security headers', () => {
  it('every response says X-Content-Type-Options: nosniff, errors and 401s included', async () => {
    const responses = [
      await fetch(`${host.url}/api/health`),
      await fetch(`${host.url}/api/orders`),
      await fetch(`${host.url}/api/nothing-here`),
      await fetch(`${host.url}/api/ui`),
      await fetch(`${host.url}/api/ui/app.js`),
      await postOrder(host.url, { customerId: 'x' }),
    ];
    for (const res of responses) expect(res.headers.get('x-content-type-options'), res.url).toBe('nosniff');
  });

  it('the page forbids framing and inline script; its script is a separate file', async () => {
    const page = await fetch(`${host.url}/api/ui`);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    const html = await page.text();
    // Every <script> element loads a file; none has a body.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, content] of scripts) {
      expect(attrs).toMatch(/src="\/api\/ui\/[\w-]+\.js"/);
      expect(content?.trim()).toBe('');
    }
    expect(html).not.toMatch(/\son[a-z]+="/); // no inline event handlers either
    for (const [, attrs] of scripts) {
      const src = /src="([^"]+)"/.exec(attrs ?? '')?.[1];
      const script = await fetch(`${host.url}${src}`);
      expect(script.status, src).toBe(200);
      expect(script.headers.get('content-type'), src).toMatch(/^text\/javascript/);
    }
    expect((await fetch(`${host.url}/api/ui/secrets.txt`)).status).toBe(404);
  });

  it('serves every script the page loads and every module those import (each needs an ASSETS entry)', async () => {
    const html = await (await fetch(`${host.url}/api/ui`)).text();
    const tags = [...html.matchAll(/<script\b([^>]*)>/g)].map(([, attrs]) => attrs ?? '');
    // Modules, since they import one another (a classic script with an import would not run at all).
    for (const attrs of tags) expect(attrs).toMatch(/type="module"/);
    const pending = tags.map(
      (attrs) => new URL(/src="([^"]+)"/.exec(attrs)?.[1] ?? '', `${host.url}/api/ui`),
    );
    const served = new Set<string>();
    for (let url = pending.shift(); url; url = pending.shift()) {
      if (served.has(url.pathname)) continue;
      expect(url.pathname, `imported from the page: ${url.href}`).toMatch(/^\/api\/ui\/[\w-]+\.js$/);
      const res = await fetch(url);
      expect(res.status, url.pathname).toBe(200);
      expect(res.headers.get('content-type'), url.pathname).toMatch(/^text\/javascript/);
      served.add(url.pathname);
      // Static `import … from '…'`, side-effect `import '…'`, dynamic `import('…')` and `export … from '…'`.
      const script = await res.text();
      for (const [, spec] of script.matchAll(/\bimport\b[^'"();]*\(?\s*['"]([^'"]+)['"]/g))
        pending.push(new URL(spec!, url));
      for (const [, spec] of script.matchAll(/\bexport\b[^'"();]*\bfrom\s*['"]([^'"]+)['"]/g))
        pending.push(new URL(spec!, url));
    }
    expect(served).toContain('/api/ui/common.js');
  });
});
