import { describe, expect, it } from 'vitest';
import { decodeClientPrincipal } from '../../shared/auth/app-service-principal.js';
import { createCustomerAuth } from '../../shared/auth/customer-auth.js';
import { loadSettings, SettingsError } from '../../shared/config/settings.js';

const principal = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');
const headers = (values: Record<string, string>) => ({
  headers: new Headers(values),
});

/** As App Service sends it for an Entra sign-in (claim names mapped to their URIs, as the platform does). */
const ENTRA_PRINCIPAL = {
  auth_typ: 'aad',
  claims: [
    { typ: 'aud', val: '4a1c…-client-id' },
    { typ: 'iss', val: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0' },
    { typ: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier', val: 'pairwise-sub-Xyz' },
    {
      typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
      val: '5f9c8a1e-0b8d-4c55-9d5e-1a2b3c4d5e6f',
    },
    { typ: 'name', val: 'Ada Lovelace' },
    { typ: 'roles', val: 'Valerix.Operator' },
  ],
  name_typ: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  role_typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
};

describe('CUSTOMER_AUTH settings', () => {
  it('defaults to none, today’s behaviour', () => {
    expect(loadSettings({}).customerAuth).toEqual({ mode: 'none' });
  });

  it('appservice refuses to start where the platform does not say App Service authentication is on', () => {
    expect(() => loadSettings({ CUSTOMER_AUTH: 'appservice' })).toThrow(/WEBSITE_AUTH_ENABLED=True/);
    expect(() => loadSettings({ CUSTOMER_AUTH: 'appservice', WEBSITE_AUTH_ENABLED: 'False' })).toThrow(
      SettingsError,
    );
    expect(loadSettings({ CUSTOMER_AUTH: 'appservice', WEBSITE_AUTH_ENABLED: 'True' }).customerAuth).toEqual({
      mode: 'appservice',
    });
  });

  it('jwt needs an issuer and an audience, and takes only asymmetric algorithms', () => {
    expect(() => loadSettings({ CUSTOMER_AUTH: 'jwt' })).toThrow(
      /JWT_ISSUER: required[\s\S]*JWT_AUDIENCE: required/,
    );
    const jwt = {
      CUSTOMER_AUTH: 'jwt',
      JWT_ISSUER: 'https://issuer.example/v2.0',
      JWT_AUDIENCE: 'api://a, b',
    };
    expect(loadSettings(jwt).customerAuth).toEqual({
      mode: 'jwt',
      issuer: 'https://issuer.example/v2.0',
      audience: ['api://a', 'b'],
      algorithms: ['RS256', 'ES256'],
      clockSkewSeconds: 60,
      subjectClaim: 'sub',
    });
    for (const alg of ['HS256', 'none', 'RS256,HS512']) {
      expect(() => loadSettings({ ...jwt, JWT_ALGORITHMS: alg }), alg).toThrow(/JWT_ALGORITHMS/);
    }
    expect(() => loadSettings({ ...jwt, JWT_ISSUER: 'http://issuer.example' })).toThrow(/JWT_ISSUER/);
    expect(() => loadSettings({ ...jwt, JWT_CLOCK_SKEW_SECONDS: '3600' })).toThrow(/JWT_CLOCK_SKEW_SECONDS/);
  });
});

describe('X-MS-CLIENT-PRINCIPAL', () => {
  it('a real-shaped Entra principal: the object id is the customer, roles come along', () => {
    expect(decodeClientPrincipal(principal(ENTRA_PRINCIPAL))).toEqual({
      ok: true,
      subject: '5f9c8a1e-0b8d-4c55-9d5e-1a2b3c4d5e6f',
      roles: ['Valerix.Operator'],
    });
  });

  it('without an object id, the subject (unmapped names too)', () => {
    const claims = [{ typ: 'sub', val: 'sub-123' }];
    expect(decodeClientPrincipal(principal({ auth_typ: 'google', claims }))).toMatchObject({
      ok: true,
      subject: 'sub-123',
    });
  });

  it('malformed: not base64, not JSON, no claims, no subject', () => {
    for (const bad of [
      '%%%not-base64%%%',
      'abc',
      Buffer.from('{not json').toString('base64'),
      principal({ auth_typ: 'aad' }),
      principal({ claims: 'nope' }),
      principal({ claims: [{ typ: 'name', val: 'Ada' }] }),
      principal([1, 2]),
    ]) {
      expect(decodeClientPrincipal(bad).ok, bad).toBe(false);
    }
  });
});

describe('the header of one mode is never read in another', () => {
  it('appservice: a principal identifies, garbage is a 401, and a bearer token alone is no sign-in', async () => {
    const auth = createCustomerAuth({ mode: 'appservice' });
    const ok = await auth.identify(headers({ 'x-ms-client-principal': principal(ENTRA_PRINCIPAL) }));
    expect(ok).toMatchObject({ ok: true, caller: { subject: '5f9c8a1e-0b8d-4c55-9d5e-1a2b3c4d5e6f' } });
    const bad = await auth.identify(headers({ 'x-ms-client-principal': 'e30=!' }));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.response.status).toBe(401);
    const bearerOnly = await auth.identify(headers({ authorization: 'Bearer a.b.c' }));
    expect(bearerOnly.ok).toBe(false);
  });

  it('jwt and none ignore X-MS-CLIENT-PRINCIPAL', async () => {
    const sent = headers({ 'x-ms-client-principal': principal(ENTRA_PRINCIPAL) });
    const jwt = createCustomerAuth({
      mode: 'jwt',
      issuer: 'https://127.0.0.1:9/never-fetched',
      audience: ['a'],
      algorithms: ['RS256'],
      clockSkewSeconds: 60,
      subjectClaim: 'sub',
    });
    const refused = await jwt.identify(sent);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.response.status).toBe(401);
    expect(await createCustomerAuth({ mode: 'none' }).identify(sent)).toEqual({
      ok: true,
      caller: undefined,
    });
  });
});
