import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpResponseInit } from '@azure/functions';
import type { HttpFunctionDefinition } from '../../functions/definitions.js';
import { FUNCTION_KEY_HEADER, FUNCTION_KEY_QUERY } from '../../shared/http/function-key.js';
import { problem } from '../../shared/http/problem.js';

/**
 * Authorization levels as the Functions host applies them: an `anonymous` route is open; a `function` route
 * needs a key, sent in the `x-functions-key` header or the `code` query parameter (the header wins when both are
 * there), and anything else gets 401 before the function runs. The local host has one key (LOCAL_FUNCTION_KEY,
 * or one generated at start-up) where Azure has function, host and master keys.
 */

/** A key good enough for a local secret: 32 random bytes, URL-safe (it may travel as `?code=`). */
export function generateFunctionKey(): string {
  return randomBytes(32).toString('base64url');
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The key a request presents, the way the host reads it. */
export function presentedKey(headers: IncomingHttpHeaders, query: URLSearchParams): string | undefined {
  const header = headers[FUNCTION_KEY_HEADER];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  if (fromHeader) return fromHeader;
  return query.get(FUNCTION_KEY_QUERY) ?? undefined;
}

/** Returns the 401 to send, or undefined when the route is anonymous or the key matches. */
export function authorize(
  fn: Pick<HttpFunctionDefinition, 'authLevel' | 'name'>,
  key: string,
  presented: string | undefined,
): HttpResponseInit | undefined {
  if (fn.authLevel === 'anonymous') return undefined;
  // Compared as digests: constant time, and the lengths always match.
  if (presented !== undefined && timingSafeEqual(digest(presented), digest(key))) return undefined;
  return problem(
    401,
    'Unauthorized',
    `${fn.name} is an operator route: send a function key in the ${FUNCTION_KEY_HEADER} header (or the ${FUNCTION_KEY_QUERY} query parameter). \`npm run dev\` prints its key at start-up (or set LOCAL_FUNCTION_KEY); in Azure: \`az functionapp keys list\`.`,
    { type: 'unauthorized' },
  );
}
