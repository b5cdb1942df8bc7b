import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey, RemoteJWKSet } from 'jose';
import { z } from 'zod';
import type { Settings } from '../config/settings.js';

type JwtSettings = Extract<Settings['customerAuth'], { mode: 'jwt' }>;

export interface VerifierOptions {
  /** After a successful JWKS fetch, how long an unknown `kid` waits before it may fetch again (jose's default 30 s). */
  jwksCooldownMs?: number;
  /** Timeout of the discovery and JWKS requests. */
  fetchTimeoutMs?: number;
}

export type Verified =
  | { ok: true; subject: string; roles: string[] }
  /** The token is not good: 401 `invalid_token`, `reason` says why. */
  | { ok: false; kind: 'invalid'; reason: string }
  /** The issuer's keys could not be fetched: 503, the token may well be good. */
  | { ok: false; kind: 'unavailable'; reason: string };

const discoverySchema = z.object({ issuer: z.string(), jwks_uri: z.url() });

/** Thrown by our key lookup when the keys cannot be fetched and none cached fits (becomes 503, not 401). */
class KeysUnavailable extends Error {}

/**
 * Verifies `Authorization: Bearer` tokens against an OpenID issuer with jose: the JWKS is found through the
 * issuer's discovery document, fetched once and cached by jose's remote key set, which fetches again for an
 * unknown `kid` (a rotated key) at most once per cooldown. When the JWKS endpoint fails, keys fetched earlier
 * keep verifying (even past jose's cache age) so an issuer outage does not sign every customer out; only a token
 * whose key we have never seen gets 503.
 */
export class BearerVerifier {
  private keys: Promise<JWTVerifyGetKey> | undefined;

  constructor(
    private readonly config: JwtSettings,
    private readonly options: VerifierOptions = {},
  ) {}

  async verify(token: string): Promise<Verified> {
    let getKey: JWTVerifyGetKey;
    try {
      getKey = await this.keySet();
    } catch (err) {
      return { ok: false, kind: 'unavailable', reason: describe(err) };
    }
    const jose = await import('jose');
    try {
      const { payload } = await jose.jwtVerify(token, getKey, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: this.config.algorithms,
        clockTolerance: this.config.clockSkewSeconds,
        requiredClaims: ['exp'],
      });
      return this.caller(payload);
    } catch (err) {
      if (err instanceof KeysUnavailable) return { ok: false, kind: 'unavailable', reason: err.message };
      if (err instanceof jose.errors.JOSEError) return { ok: false, kind: 'invalid', reason: reasonOf(err) };
      if (err instanceof TypeError) return { ok: false, kind: 'invalid', reason: 'the token is malformed' };
      throw err;
    }
  }

  private caller(payload: JWTPayload): Verified {
    const subject = payload[this.config.subjectClaim];
    if (typeof subject !== 'string' || subject.trim() === '' || subject.length > 128) {
      return {
        ok: false,
        kind: 'invalid',
        reason: `the token has no "${this.config.subjectClaim}" claim of at most 128 characters`,
      };
    }
    const roles = Array.isArray(payload.roles)
      ? payload.roles.filter((r): r is string => typeof r === 'string')
      : [];
    return { ok: true, subject, roles };
  }

  /** Discovery, then jose's remote key set; a failed discovery is retried by the next request. */
  private keySet(): Promise<JWTVerifyGetKey> {
    this.keys ??= this.discover().catch((err: unknown) => {
      this.keys = undefined;
      throw err;
    });
    return this.keys;
  }

  private async discover(): Promise<JWTVerifyGetKey> {
    const timeout = this.options.fetchTimeoutMs ?? 5000;
    // OpenID Connect Discovery §4: the issuer without a trailing slash, then the well-known path.
    const url = `${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const response = await fetch(url, { signal: AbortSignal.timeout(timeout), redirect: 'error' });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    const doc = discoverySchema.safeParse(await response.json().catch(() => undefined));
    if (!doc.success) throw new Error(`${url} is not an OpenID discovery document (issuer, jwks_uri)`);
    // §4.3: the document must name the issuer it was fetched for, else tokens from another issuer could pass.
    if (doc.data.issuer !== this.config.issuer) {
      throw new Error(`${url} names issuer ${doc.data.issuer}, not JWT_ISSUER ${this.config.issuer}`);
    }
    const jose = await import('jose');
    const remote = jose.createRemoteJWKSet(new URL(doc.data.jwks_uri), {
      timeoutDuration: timeout,
      ...(this.options.jwksCooldownMs === undefined ? {} : { cooldownDuration: this.options.jwksCooldownMs }),
    });
    return withStaleKeys(remote, jose.createLocalJWKSet, jose.errors, doc.data.jwks_uri);
  }
}

/** jose's remote set, falling back to the last keys it fetched when a fetch fails. */
function withStaleKeys(
  remote: RemoteJWKSet,
  createLocal: (jwks: JSONWebKeySet) => JWTVerifyGetKey,
  errors: typeof import('jose').errors,
  jwksUri: string,
): JWTVerifyGetKey {
  let stale: { jwks: JSONWebKeySet; getKey: JWTVerifyGetKey } | undefined;
  return async (header, token) => {
    try {
      const key = await remote(header, token);
      const current = remote.jwks();
      if (current && current !== stale?.jwks) stale = { jwks: current, getKey: createLocal(current) };
      return key;
    } catch (err) {
      // A verdict about the token (no such key, several keys): the keys were fetched fine.
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
        throw err;
      const cached = remote.jwks() ?? stale?.jwks;
      if (!cached)
        throw new KeysUnavailable(`the issuer's keys (${jwksUri}) could not be fetched: ${describe(err)}`);
      try {
        return await createLocal(cached)(header, token);
      } catch (lookup) {
        if (lookup instanceof errors.JWKSNoMatchingKey) {
          throw new KeysUnavailable(
            `the token's key is not among the cached keys and ${jwksUri} could not be fetched: ${describe(err)}`,
          );
        }
        throw lookup;
      }
    }
  };
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`;
}

/** What a person needs to know about a rejected token, without echoing it. */
function reasonOf(err: import('jose').errors.JOSEError): string {
  switch (err.code) {
    case 'ERR_JWT_EXPIRED':
      return 'the token has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (err as import('jose').errors.JWTClaimValidationFailed).claim;
      if (claim === 'nbf') return 'the token is not valid yet';
      if (claim === 'iss') return 'the token is from another issuer';
      if (claim === 'aud') return 'the token is for another audience';
      return `the token's "${claim}" claim is not acceptable`;
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'the token is signed with an algorithm this API does not accept';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return "the token is signed with a key that is not among the issuer's keys";
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the token signature does not verify';
    default:
      return 'the token is malformed';
  }
}
