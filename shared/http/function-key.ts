import type { HttpRequest } from '@azure/functions';

/** Where a caller sends the function key of an operator route (the Functions host's names; the header wins). */
export const FUNCTION_KEY_HEADER = 'x-functions-key';
export const FUNCTION_KEY_QUERY = 'code';

/** The query string a handler validates: without `code`, which is the host's business, not a filter. */
export function queryParameters(request: Pick<HttpRequest, 'query'>): Record<string, string> {
  const { [FUNCTION_KEY_QUERY]: _functionKey, ...query } = Object.fromEntries(request.query.entries());
  return query;
}
