import { z } from 'zod';

/**
 * The principal App Service authentication (Easy Auth) injects in `X-MS-CLIENT-PRINCIPAL`: base64 of
 * `{auth_typ, claims: [{typ, val}], name_typ, role_typ}`. App Service strips the header from client requests,
 * so it is trusted only where the platform says authentication is on (shared/config/settings.ts refuses
 * CUSTOMER_AUTH=appservice elsewhere), and read in no other mode.
 */
export const CLIENT_PRINCIPAL_HEADER = 'x-ms-client-principal';

const principalSchema = z.object({
  auth_typ: z.string().optional(),
  claims: z.array(z.object({ typ: z.string(), val: z.string() })).max(500),
  name_typ: z.string().optional(),
  role_typ: z.string().optional(),
});

/** The object id first (stable across apps of a tenant), then `sub`; App Service maps some names to URIs. */
const SUBJECT_CLAIMS = [
  ['http://schemas.microsoft.com/identity/claims/objectidentifier', 'oid'],
  ['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier', 'sub'],
] as const;

/** Larger than any principal Easy Auth sends (it caps headers itself), small enough to parse on every request. */
const MAX_HEADER_LENGTH = 32 * 1024;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export type DecodedPrincipal = { ok: true; subject: string; roles: string[] } | { ok: false; reason: string };

export function decodeClientPrincipal(header: string): DecodedPrincipal {
  const value = header.trim();
  if (value.length > MAX_HEADER_LENGTH || value.length % 4 !== 0 || !BASE64.test(value)) {
    return { ok: false, reason: 'the principal header is not base64' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch {
    return { ok: false, reason: 'the principal header is not base64 of JSON' };
  }
  const principal = principalSchema.safeParse(parsed);
  if (!principal.success) return { ok: false, reason: 'the principal header has no claims array' };
  const { claims } = principal.data;
  const first = (types: readonly string[]) => claims.find((c) => types.includes(c.typ))?.val.trim();
  let subject: string | undefined;
  for (const types of SUBJECT_CLAIMS) subject ??= first(types) || undefined;
  if (!subject || subject.length > 128) {
    return {
      ok: false,
      reason: 'the principal has no object id or subject claim (of at most 128 characters)',
    };
  }
  const roleTypes = [principal.data.role_typ ?? 'roles', 'roles'];
  const roles = claims.filter((c) => roleTypes.includes(c.typ)).map((c) => c.val);
  return { ok: true, subject, roles };
}
