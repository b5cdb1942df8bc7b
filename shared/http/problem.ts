import type { HttpResponseInit } from '@azure/functions';

/** One field that failed validation, as reported in a problem's `errors` member. */
export interface FieldError {
  field: string;
  message: string;
}

export interface ProblemOptions {
  /** Short slug that becomes the problem `type` URI, e.g. 'validation'. */
  type?: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  /** Extra members (RFC 9457 extensions). */
  extensions?: Record<string, unknown>;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** An RFC 9457 problem+json response whose `detail` tells a person what to do next. */
export function problem(
  status: number,
  title: string,
  detail: string,
  options: ProblemOptions = {},
): HttpResponseInit {
  const body: Record<string, unknown> = {
    type: options.type ? `https://valerix.example/problems/${options.type}` : 'about:blank',
    title,
    status,
    detail,
    ...options.extensions,
  };
  if (options.errors?.length) body.errors = options.errors;
  return {
    status,
    headers: { 'Content-Type': PROBLEM_CONTENT_TYPE, 'Cache-Control': 'no-store', ...options.headers },
    body: JSON.stringify(body),
  };
}

/** 400 for one input that is wrong, named in `errors` so a client can point at it. */
export function invalidField(
  title: string,
  detail: string,
  field: string,
  message: string,
): HttpResponseInit {
  return problem(400, title, detail, { type: 'validation', errors: [{ field, message }] });
}

/** 400 for a list's `cursor` that this API did not hand out. */
export function invalidCursor(): HttpResponseInit {
  return invalidField(
    'Invalid cursor',
    'The cursor is not one this API returned; start again without it.',
    'cursor',
    'unrecognised cursor',
  );
}

export function notFound(detail: string): HttpResponseInit {
  return problem(404, 'Not Found', detail, { type: 'not-found' });
}

/** 503 that tells the client when to come back; used by breakers, the bulkhead and failed health checks. */
export function unavailable(detail: string, retryAfterSeconds: number): HttpResponseInit {
  return problem(503, 'Service Unavailable', detail, {
    type: 'unavailable',
    headers: { 'Retry-After': String(retryAfterSeconds) },
  });
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}
