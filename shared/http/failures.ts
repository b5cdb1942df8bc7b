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
 * Maps "a dependency is down or we are shedding load" to a fast 503 with Retry-After. Anything else is a bug
 * and is rethrown to the error boundary (shared/http/error-boundary.ts), which logs it and answers a 500 problem.
 */
export function unavailableResponse(err: unknown, retryAfterSeconds: number): HttpResponseInit {
  if (err instanceof BulkheadRejectedError) {
    return unavailable('Too many requests are being processed right now; retry shortly.', retryAfterSeconds);
  }
  if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) {
    return unavailable(
      `The database is unavailable (circuit breaker open); retry in ${retryAfterSeconds} s.`,
      retryAfterSeconds,
    );
  }
  if (err instanceof TaskCancelledError) {
    return unavailable('The database did not answer in time; retry shortly.', retryAfterSeconds);
  }
  if (isConnectionError(err)) {
    return unavailable('The database cannot be reached; retry shortly.', retryAfterSeconds);
  }
  throw err;
}
