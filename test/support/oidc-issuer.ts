import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

/**
 * A real OpenID issuer for tests, on 127.0.0.1: a discovery document and a JWKS, keys made here, tokens signed
 * with them. Nothing about verification is faked: the app fetches these documents over HTTP like Entra's.
 */
export interface IssuerKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'PS256' | 'ES384';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export class TestIssuer {
  readonly keys: IssuerKey[] = [];
  /** Keys in the JWKS the server publishes (a key can sign without being published: "unknown kid"). */
  published = new Set<string>();
  /** While true, the discovery and JWKS endpoints answer 503. */
  down = false;
  jwksFetches = 0;
  private server: Server | undefined;
  private base = '';

  get issuer(): string {
    return this.base;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      if (this.down) {
        res.writeHead(503).end();
        return;
      }
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ issuer: this.issuer, jwks_uri: `${this.issuer}/keys` }));
        return;
      }
      if (req.url === '/keys') {
        this.jwksFetches++;
        const keys = this.keys.filter((k) => this.published.has(k.kid)).map((k) => k.publicJwk);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys }));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** A new key pair; published in the JWKS unless `publish` is false. */
  async addKey(alg: IssuerKey['alg'], publish = true): Promise<IssuerKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `${alg.toLowerCase()}-${this.keys.length + 1}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    const key = { kid, alg, privateKey, publicJwk };
    this.keys.push(key);
    if (publish) this.published.add(kid);
    return key;
  }

  /** A token signed with `key`: this issuer, `audience`, an hour of validity, unless `claims`/`times` say otherwise. */
  async token(
    key: IssuerKey,
    claims: JWTPayload & { sub?: string },
    options: {
      audience?: string;
      issuer?: string;
      expiresIn?: string | number;
      notBefore?: string | number;
    } = {},
  ): Promise<string> {
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuedAt()
      .setIssuer(options.issuer ?? this.issuer)
      .setAudience(options.audience ?? TEST_AUDIENCE)
      .setExpirationTime(options.expiresIn ?? '1h');
    if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
    return jwt.sign(key.privateKey);
  }

  /** The settings that point the app at this issuer. */
  settings(): Record<string, string> {
    return { CUSTOMER_AUTH: 'jwt', JWT_ISSUER: this.issuer, JWT_AUDIENCE: TEST_AUDIENCE };
  }
}

export const TEST_AUDIENCE = 'api://valerix-test';

/** base64url of a JSON value (hand-made token parts: `alg: none`, HS256 with the public key). */
export const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
