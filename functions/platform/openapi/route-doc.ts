import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

/**
 * What the OpenAPI document says about one HTTP function of the table, keyed by the function's name. Method, path
 * and security come from the table itself (functions/function-table.ts), so only this is written per route: its summary,
 * the zod schemas its handler validates with, and its answers. Every route answers problem documents for the rest.
 */
export type RouteDoc = Omit<RouteConfig, 'method' | 'path' | 'security'>;
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

/** Answered by every route: a body the schema refuses, the database down or load shed (with Retry-After). */
export const COMMON_RESPONSES = {
  503: problemResponse('A dependency is unavailable or the service is shedding load.', {
    'Retry-After': RETRY_AFTER,
  }),
  default: problemResponse('Any other error, as a problem document.'),
};
