import { APP_SERVICE_SIGN_IN } from '../../shared/auth/customer-auth.js';
import { json } from '../../shared/http/problem.js';
import type { HttpHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';

/**
 * GET /api/me: how customers sign in here (CUSTOMER_AUTH) and who the caller is. The page reads it to show a
 * sign-in and "My orders" only where customers sign in. No credentials: 200 with `signedIn: false`; credentials
 * that are not good: the same 401 (or 503) as any customer route, so a pasted token is checked at once.
 */
export function meHandler(rt: Runtime): HttpHandler {
  return async (request) => {
    const mode = rt.customerAuth.mode;
    const signIn =
      mode === 'appservice' ? { signInUrl: APP_SERVICE_SIGN_IN, signOutUrl: '/.auth/logout' } : {};
    if (mode === 'none') return json(200, { customerAuth: mode, signedIn: false });
    const presented =
      mode === 'jwt' ? request.headers.get('authorization') : request.headers.get('x-ms-client-principal');
    if (presented === null) return json(200, { customerAuth: mode, signedIn: false, ...signIn });
    const identified = await rt.customerAuth.identify(request);
    if (!identified.ok) return identified.response;
    return json(200, {
      customerAuth: mode,
      signedIn: true,
      customerId: identified.caller?.subject,
      roles: identified.caller?.roles ?? [],
      ...signIn,
    });
  };
}
