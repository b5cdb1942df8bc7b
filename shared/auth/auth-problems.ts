import type { HttpResponseInit } from '@azure/functions';
import { problem } from '../http/problem.js';

/**
 * The answers of a route that needs a signed-in caller. RFC 6750 §3: a request without a token gets a bare
 * `Bearer` challenge; a bad token `error="invalid_token"`; a good token without the role `insufficient_scope`
 * (403). The problem body says the same thing to a person.
 */

const quoted = (text: string) => text.replace(/["\\]/g, "'");

function challenge(error?: 'invalid_token' | 'insufficient_scope', description?: string): string {
  const parts = ['realm="valerix"'];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${quoted(description)}"`);
  return `Bearer ${parts.join(', ')}`;
}

/** 401: no credentials (`description` undefined) or credentials that are not good (`invalid_token`). */
export function unauthenticated(detail: string, invalid?: string): HttpResponseInit {
  return problem(401, 'Unauthorized', detail, {
    type: 'unauthorized',
    headers: { 'WWW-Authenticate': invalid ? challenge('invalid_token', invalid) : challenge() },
  });
}

/** 403: a verified caller without the app role a route needs. */
export function missingRole(role: string): HttpResponseInit {
  return problem(
    403,
    'Forbidden',
    `This route needs the app role ${role}: assign it to the user or client in the API's Entra app registration (Enterprise applications → Users and groups), then get a new token.`,
    {
      type: 'forbidden',
      headers: { 'WWW-Authenticate': challenge('insufficient_scope', `needs the app role ${role}`) },
    },
  );
}

/** 503: the issuer's keys could not be fetched, so a token signed with a key not in the cache cannot be checked. */
export function keysUnavailable(detail: string): HttpResponseInit {
  return problem(503, 'Service Unavailable', detail, {
    type: 'unavailable',
    headers: { 'Retry-After': '30' },
  });
}
