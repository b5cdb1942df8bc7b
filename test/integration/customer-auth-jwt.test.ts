import { createHmac, createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64url, type IssuerKey, TEST_AUDIENCE, TestIssuer } from '../support/oidc-issuer.js';
import { postOrder, startTestHost, type TestHost, withFunctionKey } from '../support/test-host.js';

// CUSTOMER_AUTH=jwt end to end over HTTP: real tokens signed with keys made here, verified by the app against a
// real discovery document and JWKS served from 127.0.0.1. Nothing of the verifier is mocked.

let issuer: TestIssuer;
let host: TestHost;
let rsa: IssuerKey;
let ec: IssuerKey;
const line = { productId: 'PROD-003', quantity: 1 };
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  issuer = await new TestIssuer().start();
  rsa = await issuer.addKey('RS256');
  ec = await issuer.addKey('ES256');
  // No refetch cooldown: an unknown kid fetches the JWKS again at once (jose waits 30 s by default).
  host = await startTestHost(issuer.settings(), { runtime: { customerAuth: { jwksCooldownMs: 0 } } });
});
afterAll(async () => {
  await host?.stop();
  await issuer?.stop();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const get = (path: string, headers: Record<string, string> = {}) => fetch(`${host.url}${path}`, { headers });
const cancel = (id: string, headers: Record<string, string>, body?: unknown) =>
  fetch(`${host.url}/api/orders/${id}/cancel`, {
    method: 'POST',
    headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

async function expectRefused(res: Response, reason: RegExp) {
  expect(res.status).toBe(401);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="valerix", error="invalid_token"/);
  const body = (await res.json()) as { detail: string };
  expect(body.detail).toMatch(reason);
}

describe('a valid token', () => {
  it('RS256: the order is the subject’s, whatever customerId the body leaves out', async () => {
    const token = await issuer.token(rsa, { sub: 'customer-rsa' });
    const res = await postOrder(host.url, line, bearer(token));
    expect(res.status).toBe(202);
    const { order } = (await res.json()) as { order: { id: string; customerId: string } };
    expect(order.customerId).toBe('customer-rsa');
    const read = await get(`/api/orders/${order.id}`, bearer(token));
    expect(read.status).toBe(200);
  });

  it('ES256, with the same customerId in the body', async () => {
    const token = await issuer.token(ec, { sub: 'customer-ec' });
    const res = await postOrder(host.url, { customerId: 'customer-ec', ...line }, bearer(token));
    expect(res.status).toBe(202);
    expect(((await res.json()) as { order: { customerId: string } }).order.customerId).toBe('customer-ec');
  });

  it('GET /api/me says who is signed in', async () => {
    const me = await get('/api/me', bearer(await issuer.token(rsa, { sub: 'who-am-i' })));
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ customerAuth: 'jwt', signedIn: true, customerId: 'who-am-i' });
    const anonymous = await get('/api/me');
    expect(await anonymous.json()).toMatchObject({ customerAuth: 'jwt', signedIn: false });
  });
});

describe('401 with WWW-Authenticate: Bearer', () => {
  it('no token at all: a bare challenge (RFC 6750 §3.1: no error code)', async () => {
    const res = await postOrder(host.url, { customerId: 'x', ...line });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="valerix"');
    expect(((await res.json()) as { detail: string }).detail).toMatch(/Authorization: Bearer/);
    expect((await get('/api/me/orders')).status).toBe(401);
  });

  it('expired (beyond the clock skew)', async () => {
    const token = await issuer.token(rsa, { sub: 'late' }, { expiresIn: now() - 120 });
    await expectRefused(await get('/api/me/orders', bearer(token)), /expired/);
  });

  it('expired within the clock skew is still good', async () => {
    const token = await issuer.token(rsa, { sub: 'just-late' }, { expiresIn: now() - 10 });
    expect((await get('/api/me/orders', bearer(token))).status).toBe(200);
  });

  it('not yet valid', async () => {
    const token = await issuer.token(rsa, { sub: 'early' }, { notBefore: now() + 600 });
    await expectRefused(await get('/api/me/orders', bearer(token)), /not valid yet/);
  });

  it('another audience', async () => {
    const token = await issuer.token(rsa, { sub: 'a' }, { audience: 'api://someone-else' });
    await expectRefused(await get('/api/me/orders', bearer(token)), /another audience/);
  });

  it('another issuer', async () => {
    const token = await issuer.token(rsa, { sub: 'a' }, { issuer: 'https://evil.example/' });
    await expectRefused(await get('/api/me/orders', bearer(token)), /another issuer/);
  });

  it('alg none', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'a', iss: issuer.issuer, aud: TEST_AUDIENCE, exp: now() + 600 })}.`;
    await expectRefused(await get('/api/me/orders', bearer(token)), /refused/);
  });

  it('HS256 signed with the public key (the algorithm-confusion attack)', async () => {
    const pem = createPublicKey({ key: rsa.publicJwk as never, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    const input = `${b64url({ alg: 'HS256', kid: rsa.kid, typ: 'JWT' })}.${b64url({ sub: 'a', iss: issuer.issuer, aud: TEST_AUDIENCE, exp: now() + 600 })}`;
    for (const secret of [pem, JSON.stringify(rsa.publicJwk)]) {
      const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      await expectRefused(await get('/api/me/orders', bearer(token)), /algorithm/);
    }
  });

  it('a tampered payload', async () => {
    const [h, , s] = (await issuer.token(rsa, { sub: 'a' })).split('.');
    const token = `${h}.${b64url({ sub: 'b', iss: issuer.issuer, aud: TEST_AUDIENCE, exp: now() + 600 })}.${s}`;
    await expectRefused(await get('/api/me/orders', bearer(token)), /signature/);
  });

  it('a token without a subject', async () => {
    await expectRefused(await get('/api/me/orders', bearer(await issuer.token(rsa, {}))), /"sub" claim/);
  });

  it('garbage in the Authorization header', async () => {
    for (const value of [
      'Bearer',
      'Bearer ',
      'Basic dXNlcjpwYXNz',
      'Bearer a.b.c',
      'Bearer ....',
      'bearer ✓',
    ]) {
      const res = await fetch(`${host.url}/api/me/orders`, { headers: { authorization: value } }).catch(
        () => undefined,
      );
      if (!res) continue; // fetch itself refuses a non-ByteString header value
      expect(res.status, value).toBe(401);
    }
  });
});

describe('keys the app has not seen', () => {
  it('an unknown kid fetches the JWKS again, then answers 401', async () => {
    const unpublished = await issuer.addKey('RS256', false);
    const before = issuer.jwksFetches;
    const token = await issuer.token(unpublished, { sub: 'a' });
    await expectRefused(await get('/api/me/orders', bearer(token)), /not among the issuer's keys/);
    expect(issuer.jwksFetches).toBeGreaterThan(before);
  });

  it('a rotated-in key is picked up by that refetch', async () => {
    const rotated = await issuer.addKey('ES256');
    const res = await get('/api/me/orders', bearer(await issuer.token(rotated, { sub: 'rotated' })));
    expect(res.status).toBe(200);
  });
});

describe('customers see only their own orders', () => {
  let alice: string;
  let bob: string;
  let aliceOrder: string;

  beforeAll(async () => {
    alice = await issuer.token(rsa, { sub: 'alice' });
    bob = await issuer.token(ec, { sub: 'bob' });
    const res = await postOrder(host.url, line, bearer(alice));
    aliceOrder = ((await res.json()) as { order: { id: string } }).order.id;
  });

  it('B reading A’s order: 404, as for an order that does not exist', async () => {
    const res = await get(`/api/orders/${aliceOrder}`, bearer(bob));
    expect(res.status).toBe(404);
    expect(((await res.json()) as { detail: string }).detail).toBe(
      `There is no order with id "${aliceOrder}".`,
    );
    expect((await get(`/api/orders/${aliceOrder}`)).status).toBe(401);
  });

  it('B cancelling A’s order: 404, and the order is untouched', async () => {
    const res = await cancel(aliceOrder, { ...bearer(bob), 'Idempotency-Key': `b-${aliceOrder}` });
    expect(res.status).toBe(404);
    const read = await get(`/api/orders/${aliceOrder}`, bearer(alice));
    expect(((await read.json()) as { order: { status: string } }).order.status).not.toMatch(/cancel/);
  });

  it('B listing: A’s order is not there; A’s list has it, newest first, page by page', async () => {
    const bobs = (await (await get('/api/me/orders', bearer(bob))).json()) as { orders: { id: string }[] };
    expect(bobs.orders.map((o) => o.id)).not.toContain(aliceOrder);
    const second = await postOrder(host.url, line, bearer(alice));
    const secondId = ((await second.json()) as { order: { id: string } }).order.id;
    const page1 = (await (await get('/api/me/orders?limit=1', bearer(alice))).json()) as {
      orders: { id: string; customerId: string }[];
      nextCursor: string | null;
    };
    expect(page1.orders.map((o) => o.id)).toEqual([secondId]);
    expect(page1.nextCursor).not.toBeNull();
    const page2 = (await (
      await get(`/api/me/orders?limit=1&cursor=${page1.nextCursor}`, bearer(alice))
    ).json()) as { orders: { id: string }[] };
    expect(page2.orders.map((o) => o.id)).toEqual([aliceOrder]);
    const all = (await (await get('/api/me/orders?limit=100', bearer(alice))).json()) as {
      orders: { customerId: string }[];
    };
    expect(new Set(all.orders.map((o) => o.customerId))).toEqual(new Set(['alice']));
  });

  it('A cancels A’s own order (and B’s use of the same cancel key did not block it)', async () => {
    const res = await cancel(aliceOrder, { ...bearer(alice), 'Idempotency-Key': `b-${aliceOrder}` });
    expect(res.status).toBe(202);
  });

  it('one Idempotency-Key used by A and B: two orders, each their own', async () => {
    const key = `shared-${Date.now()}`;
    const a = await postOrder(host.url, line, { ...bearer(alice), 'Idempotency-Key': key });
    const b = await postOrder(host.url, line, { ...bearer(bob), 'Idempotency-Key': key });
    const aOrder = ((await a.json()) as { order: { id: string; customerId: string } }).order;
    const bOrder = ((await b.json()) as { order: { id: string; customerId: string } }).order;
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(bOrder.id).not.toBe(aOrder.id);
    expect([aOrder.customerId, bOrder.customerId]).toEqual(['alice', 'bob']);
    const again = await postOrder(host.url, line, { ...bearer(alice), 'Idempotency-Key': key });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it('a body customerId that is not the subject: 403, on placing and on cancelling', async () => {
    const res = await postOrder(host.url, { customerId: 'bob', ...line }, bearer(alice));
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { errors: { field: string }[] }).errors[0]?.field).toBe('customerId');
    expect((await cancel(aliceOrder, bearer(alice), { customerId: 'bob' })).status).toBe(403);
  });
});

describe('operator routes', () => {
  it('accept a token with the Valerix.Operator app role instead of the function key', async () => {
    const operator = await issuer.token(rsa, { sub: 'ops', roles: ['Valerix.Operator'] });
    const res = await get('/api/orders?limit=5', bearer(operator));
    expect(res.status).toBe(200);
  });

  it('refuse a customer token (403 insufficient_scope) and no credentials (401); the key still works', async () => {
    const customer = await issuer.token(rsa, { sub: 'alice' });
    const res = await get('/api/orders', bearer(customer));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
    expect((await get('/api/orders')).status).toBe(401);
    expect((await get('/api/orders', withFunctionKey(host))).status).toBe(200);
  });
});

// Last: it takes the issuer down.
describe('the JWKS endpoint is down', () => {
  it('cached keys keep verifying; a key never seen answers 503, not 500', async () => {
    const fresh = await issuer.addKey('RS256');
    issuer.down = true;
    try {
      const cached = await get('/api/me/orders', bearer(await issuer.token(rsa, { sub: 'alice' })));
      expect(cached.status).toBe(200);
      const res = await get('/api/me/orders', bearer(await issuer.token(fresh, { sub: 'alice' })));
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('retry-after')).toBeTruthy();
      expect(((await res.json()) as { detail: string }).detail).toMatch(/cannot be checked right now/);
    } finally {
      issuer.down = false;
    }
    const back = await get('/api/me/orders', bearer(await issuer.token(fresh, { sub: 'alice' })));
    expect(back.status).toBe(200);
  });
});
