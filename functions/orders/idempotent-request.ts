import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { invalidField, PROBLEM_CONTENT_TYPE, problem } from '../../shared/http/problem.js';
import type { Parsed } from '../../shared/http/request-body.js';
import {
  IDEMPOTENCY_KEY_HEADER,
  idempotencyKey,
  REPLAYED_HEADER,
  type StoredResponse,
} from '../../shared/idempotency/idempotency-key.js';

// What the Orders routes that take an Idempotency-Key (create, cancel) say about it, in one place.

export const locationOf = (id: string) => `/api/orders/${id}`;

/**
 * The request's Idempotency-Key: the header, or (seed clients that cannot set headers) the body's
 * `idempotencyKey`; both present must agree. Undefined without one; a 400 naming the field if it is malformed.
 */
export function readIdempotencyKey(
  request: HttpRequest,
  bodyKey?: string | undefined,
): Parsed<string | undefined> {
  const headerKey = request.headers.get(IDEMPOTENCY_KEY_HEADER);
  if (headerKey !== null && bodyKey !== undefined && headerKey !== bodyKey) {
    return {
      ok: false,
      response: invalidField(
        'Conflicting idempotency keys',
        'The Idempotency-Key header and the body field idempotencyKey differ; send one of them.',
        'idempotencyKey',
        'differs from the Idempotency-Key header',
      ),
    };
  }
  const rawKey = headerKey ?? bodyKey;
  if (rawKey === undefined) return { ok: true, value: undefined };
  const parsed = idempotencyKey.safeParse(rawKey);
  if (parsed.success) return { ok: true, value: parsed.data };
  const message = parsed.error.issues[0]?.message ?? 'is invalid';
  return {
    ok: false,
    response: invalidField(
      'Invalid Idempotency-Key',
      `The Idempotency-Key ${message}.`,
      'Idempotency-Key',
      message,
    ),
  };
}

/** 409 while a twin request with the same Idempotency-Key is still in flight (it holds the key's record). */
export function inFlightProblem(): HttpResponseInit {
  return problem(
    409,
    'Request in progress',
    'A request with this Idempotency-Key is still being processed; retry it in a moment to get its result.',
    { type: 'idempotency-in-flight', headers: { 'Retry-After': '1' } },
  );
}

/** 422: the key was used before with a different body. */
export function keyReusedProblem(what: string): HttpResponseInit {
  return problem(
    422,
    'Idempotency-Key reused',
    `This Idempotency-Key was already used with a different request body. Use a new key for ${what}.`,
    { type: 'idempotency-key-reused' },
  );
}

/** The answer stored under a key, again, marked `Idempotent-Replayed: true`. */
export function replayedResponse(
  stored: Pick<StoredResponse, 'status' | 'body'>,
  headers: Record<string, string>,
): HttpResponseInit {
  return {
    status: stored.status,
    headers: {
      'Content-Type': stored.status >= 400 ? PROBLEM_CONTENT_TYPE : 'application/json',
      'Cache-Control': 'no-store',
      ...headers,
      [REPLAYED_HEADER]: 'true',
    },
    body: stored.body,
  };
}
