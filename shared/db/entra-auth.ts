import type { PasswordProvider } from './pool.js';

/** The scope Azure Database for PostgreSQL accepts Entra access tokens for. */
export const POSTGRES_TOKEN_SCOPE = 'https://ossrdbms-aad.database.windows.net/.default';
/** Fetch a new token this long before the current one expires. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export interface TokenSource {
  getToken(scope: string): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

/**
 * `pg` calls this for every new connection: it returns a cached Entra access token as the password and fetches a
 * fresh one shortly before expiry, so no password is stored anywhere.
 */
export function entraPasswordProvider(
  credential: TokenSource,
  now: () => number = Date.now,
): PasswordProvider {
  let cached: { token: string; expiresAt: number } | undefined;
  let inflight: Promise<string> | undefined;
  return async () => {
    if (cached && cached.expiresAt - REFRESH_MARGIN_MS > now()) return cached.token;
    inflight ??= (async () => {
      try {
        const token = await credential.getToken(POSTGRES_TOKEN_SCOPE);
        if (!token)
          throw new Error('no Entra token for PostgreSQL: is the managed identity assigned to the app?');
        cached = { token: token.token, expiresAt: token.expiresOnTimestamp };
        return token.token;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
}

/** The managed identity's credential (user-assigned when a client id is given). Loaded lazily: it is heavy. */
export async function managedIdentityCredential(clientId: string | undefined): Promise<TokenSource> {
  const identity = await import('@azure/identity');
  return clientId
    ? new identity.ManagedIdentityCredential({ clientId })
    : new identity.DefaultAzureCredential();
}
