import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

/**
 * What the OpenAPI document says about one HTTP function of the table, keyed by the function's name. Method, path
 * and security come from the table itself (functions/function-table.ts), so only this is written per route: its summary,
 * the zod schemas its handler validates with, and its answers. Every route answers problem documents for the rest.
 */
export type RouteDoc = Omit<RouteConfig, 'method' | 'path' | 'security'> & {
  /** A customer route: with CUSTOMER_AUTH other than none it needs a signed-in customer (bearer or App Service). */
  signedIn?: boolean;
};
export type RouteDocs = Record<string, RouteDoc>;

/** RFC 9457 problem document, as shared/http/problem.ts writes it. */
const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .catchall(z.unknown())
  .meta({
    id: 'Problem',
    description: 'RFC 9457 problem document; `errors` names the fields that failed validation.',
  });

export const header = (description: string) => ({ description, schema: { type: 'string' as const } });

export const RETRY_AFTER = header('Seconds to wait before trying again.');

/** A problem answer with `status`'s meaning. */
export function problemResponse(description: string, headers?: Record<string, ReturnType<typeof header>>) {
  return {
    description,
    content: { 'application/problem+json': { schema: problemSchema } },
    ...(headers ? { headers } : {}),
  };
}

export function jsonResponse(
  description: string,
  schema: z.ZodType,
  headers?: Record<string, ReturnType<typeof header>>,
) {
  return { description, content: { 'application/json': { schema } }, ...(headers ? { headers } : {}) };
}

const CHALLENGE = header(
  'RFC 6750 challenge: `Bearer realm="valerix"`, with `error="invalid_token"` (and a description) for a bad token.',
);

/** Answered by a customer route when customers sign in (CUSTOMER_AUTH appservice or jwt). */
export const SIGNED_IN_RESPONSES = {
  401: problemResponse('No sign-in, or a token that is not good (expired, another audience or issuer, …).', {
    'WWW-Authenticate': CHALLENGE,
  }),
};

/** Answered by an operator route: no key (and no operator token), or a token without the operator role. */
export const OPERATOR_RESPONSES = {
  401: problemResponse('No function key (and, with CUSTOMER_AUTH=jwt, no good bearer token).', {
    'WWW-Authenticate': CHALLENGE,
  }),
  403: problemResponse('CUSTOMER_AUTH=jwt: the bearer token lacks the Valerix.Operator app role.', {
    'WWW-Authenticate': CHALLENGE,
  }),
};

/** Answered by every route: a body the schema refuses, the database down or load shed (with Retry-After). */
export const COMMON_RESPONSES = {
  503: problemResponse('A dependency is unavailable or the service is shedding load.', {
    'Retry-After': RETRY_AFTER,
  }),
  default: problemResponse('Any other error, as a problem document.'),
};
