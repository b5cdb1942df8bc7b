import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postOrder, startTestHost, type TestHost } from '../support/test-host.js';

// CUSTOMER_AUTH=appservice through the host: the customer is the principal App Service would inject. Here the test
// plays App Service (the platform strips a client's own X-MS-CLIENT-PRINCIPAL; the settings refuse this mode
// where WEBSITE_AUTH_ENABLED does not say it runs).

let host: TestHost;
const line = { productId: 'PROD-005', quantity: 1 };
const principalOf = (oid: string) =>
  Buffer.from(
    JSON.stringify({
      auth_typ: 'aad',
      claims: [
        { typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: oid },
        { typ: 'name', val: oid },
      ],
      name_typ: 'name',
      role_typ: 'roles',
    }),
  ).toString('base64');
const as = (oid: string) => ({ 'x-ms-client-principal': principalOf(oid) });

beforeAll(async () => {
  host = await startTestHost({ CUSTOMER_AUTH: 'appservice', WEBSITE_AUTH_ENABLED: 'True' });
});
afterAll(async () => {
  await host?.stop();
});

describe('CUSTOMER_AUTH=appservice', () => {
  it('the order belongs to the principal; another principal does not see it', async () => {
    const res = await postOrder(host.url, line, as('oid-carol'));
    expect(res.status).toBe(202);
    const { order } = (await res.json()) as { order: { id: string; customerId: string } };
    expect(order.customerId).toBe('oid-carol');
    expect((await fetch(`${host.url}/api/orders/${order.id}`, { headers: as('oid-carol') })).status).toBe(
      200,
    );
    expect((await fetch(`${host.url}/api/orders/${order.id}`, { headers: as('oid-dave') })).status).toBe(404);
    const mine = (await (await fetch(`${host.url}/api/me/orders`, { headers: as('oid-carol') })).json()) as {
      orders: { id: string }[];
    };
    expect(mine.orders.map((o) => o.id)).toEqual([order.id]);
  });

  it('no principal: 401 pointing at /.auth/login/aad; a malformed one: 401, never 5xx', async () => {
    const none = await postOrder(host.url, line);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { detail: string }).detail).toMatch(/\/\.auth\/login\/aad/);
    for (const bad of ['not base64!', Buffer.from('{"claims":').toString('base64'), 'e30=']) {
      const res = await fetch(`${host.url}/api/me/orders`, { headers: { 'x-ms-client-principal': bad } });
      expect(res.status, bad).toBe(401);
    }
  });

  it('GET /api/me tells the page where to sign in', async () => {
    const me = await (await fetch(`${host.url}/api/me`)).json();
    expect(me).toEqual({
      customerAuth: 'appservice',
      signedIn: false,
      signInUrl: '/.auth/login/aad',
      signOutUrl: '/.auth/logout',
    });
  });
});
