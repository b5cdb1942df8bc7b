import type { Settings } from '../config/settings.js';
import { entraPasswordProvider, managedIdentityCredential } from './entra-auth.js';
import type { PasswordProvider } from './pool.js';

/**
 * The password source the settings ask for: with DATABASE_AUTH=entra, the managed identity's token (the credential
 * is built on the first connection, so nothing heavy loads before it is needed); otherwise none (URL/PGPASSWORD).
 */
export function passwordForSettings(
  settings: Pick<Settings, 'database' | 'azureClientId'>,
): PasswordProvider | undefined {
  if (settings.database.auth !== 'entra') return undefined;
  let provider: PasswordProvider | undefined;
  return async () => {
    provider ??= entraPasswordProvider(await managedIdentityCredential(settings.azureClientId));
    return provider();
  };
}
