import type { HttpResponseInit } from '@azure/functions';
import type { Settings } from '../config/settings.js';
import { CLIENT_PRINCIPAL_HEADER, decodeClientPrincipal } from './app-service-principal.js';
import { keysUnavailable, missingRole, unauthenticated } from './auth-problems.js';
import { BearerVerifier, type VerifierOptions } from './bearer-verifier.js';

/** The app role that lets a token call operator routes in `jwt` mode (besides a function key). */
const OPERATOR_ROLE = 'Valerix.Operator';

/** Where App Service authentication signs a customer in with Entra ID. */
export const APP_SERVICE_SIGN_IN = '/.auth/login/aad';

/** What identifying a caller reads: the request's headers (an HttpRequest, or the local host's before one exists). */
export interface WithHeaders {
  headers: { get(name: string): string | null };
}

export interface Caller {
  /** The verified customer id: the token's subject (or object id), App Service's principal's object id. */
  subject: string;
  roles: string[];
}

export type Identified =
  /** `caller` undefined: CUSTOMER_AUTH=none, the body says who the customer is (today's behaviour). */
  { ok: true; caller: Caller | undefined } | { ok: false; response: HttpResponseInit };

export interface CustomerAuth {
  readonly mode: Settings['customerAuth']['mode'];
  /** The caller of a customer route; in a mode other than `none`, a 401 (or 503) when there is none. */
  identify(request: WithHeaders): Promise<Identified>;
  /** In `jwt` mode: a bearer token with the operator role, for operator routes; undefined when none was sent. */
  operatorToken(request: WithHeaders): Promise<Identified | undefined>;
}

/** Longer than any real access token (Entra's are 1–3 kB; with many groups ~8 kB), short enough to refuse early. */
const MAX_TOKEN_LENGTH = 16 * 1024;

type BearerOf = { kind: 'none' } | { kind: 'token'; token: string } | { kind: 'malformed'; reason: string };

/** RFC 6750 §2.1: `Bearer <b64token>`; the scheme is case-insensitive. Anything else is no usable token. */
function bearerOf(request: WithHeaders): BearerOf {
  const header = request.headers.get('authorization');
  if (header === null || header.trim() === '') return { kind: 'none' };
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!match?.[1]) {
    return /^Bearer(\s|$)/i.test(header)
      ? { kind: 'malformed', reason: 'the Authorization header is not "Bearer <token>"' }
      : { kind: 'malformed', reason: 'the Authorization header is not a Bearer token' };
  }
  if (match[1].length > MAX_TOKEN_LENGTH) return { kind: 'malformed', reason: 'the token is too long' };
  return { kind: 'token', token: match[1] };
}

const SIGN_IN_JWT =
  'Sign in: send "Authorization: Bearer <access token>" with a token the API\'s issuer gave you for this API.';

export function createCustomerAuth(
  settings: Settings['customerAuth'],
  options: VerifierOptions = {},
): CustomerAuth {
  switch (settings.mode) {
    case 'none':
      return {
        mode: 'none',
        identify: async () => ({ ok: true, caller: undefined }),
        operatorToken: async () => undefined,
      };
    case 'appservice':
      return {
        mode: 'appservice',
        identify: async (request) => {
          const header = request.headers.get(CLIENT_PRINCIPAL_HEADER);
          if (header === null) {
            return {
              ok: false,
              response: unauthenticated(
                `Sign in first: open ${APP_SERVICE_SIGN_IN} (App Service authentication with Entra ID), or send an Entra access token for this app as "Authorization: Bearer <token>".`,
              ),
            };
          }
          const principal = decodeClientPrincipal(header);
          if (!principal.ok) {
            return {
              ok: false,
              response: unauthenticated(
                `The sign-in could not be read: ${principal.reason}. Sign in again at ${APP_SERVICE_SIGN_IN}.`,
                principal.reason,
              ),
            };
          }
          return { ok: true, caller: { subject: principal.subject, roles: principal.roles } };
        },
        operatorToken: async () => undefined,
      };
    case 'jwt': {
      const verifier = new BearerVerifier(settings, options);
      const verify = async (request: WithHeaders): Promise<Identified> => {
        const bearer = bearerOf(request);
        if (bearer.kind === 'none') return { ok: false, response: unauthenticated(SIGN_IN_JWT) };
        if (bearer.kind === 'malformed') {
          return {
            ok: false,
            response: unauthenticated(`${SIGN_IN_JWT} Here ${bearer.reason}.`, bearer.reason),
          };
        }
        const verified = await verifier.verify(bearer.token);
        if (verified.ok) return { ok: true, caller: { subject: verified.subject, roles: verified.roles } };
        if (verified.kind === 'unavailable') {
          return {
            ok: false,
            response: keysUnavailable(
              `The token cannot be checked right now: ${verified.reason}. Try again in a moment.`,
            ),
          };
        }
        return {
          ok: false,
          response: unauthenticated(
            `The token was refused: ${verified.reason}. Get a new token and try again.`,
            verified.reason,
          ),
        };
      };
      return {
        mode: 'jwt',
        identify: verify,
        operatorToken: async (request) => {
          if (request.headers.get('authorization') === null) return undefined;
          const identified = await verify(request);
          if (identified.ok && !identified.caller?.roles.includes(OPERATOR_ROLE)) {
            return { ok: false, response: missingRole(OPERATOR_ROLE) };
          }
          return identified;
        },
      };
    }
  }
}
