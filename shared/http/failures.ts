import type { HttpResponseInit } from '@azure/functions';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  IsolatedCircuitError,
  TaskCancelledError,
} from 'cockatiel';
import { isConnectionError } from '../db/errors.js';
import { unavailable } from './problem.js';

/**
 * Maps "a dependency is down or we are shedding load" to a fast 503 with Retry-After; undefined for anything
 * else, a bug, which the error boundary (shared/http/error-boundary.ts) logs and answers with a 500 problem.
 */
export function unavailableResponse(err: unknown, retryAfterSeconds: number): HttpResponseInit | undefined {
  const detail = unavailableDetail(err, retryAfterSeconds);
  return detail === undefined ? undefined : unavailable(detail, retryAfterSeconds);
}

/** The status an error thrown by a handler is answered with (the order API's latency records it). */
export function failureStatus(err: unknown): 500 | 503 {
  return unavailableDetail(err, 1) === undefined ? 500 : 503;
}

function unavailableDetail(err: unknown, retryAfterSeconds: number): string | undefined {
  if (err instanceof BulkheadRejectedError) {
    return 'Too many requests are being processed right now; retry shortly.';
  }
  if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) {
    return `The database is unavailable (circuit breaker open); retry in ${retryAfterSeconds} s.`;
  }
  if (err instanceof TaskCancelledError) {
    return 'The database did not answer in time; retry shortly.';
  }
  if (isConnectionError(err)) {
    return 'The database cannot be reached; retry shortly.';
  }
  return undefined;
}
