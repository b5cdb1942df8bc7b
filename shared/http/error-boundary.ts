import { randomBytes } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { SimulatedCrashError } from '../chaos/chaos-flags.js';
import { METRICS } from '../telemetry/metric-names.js';
import { count } from '../telemetry/metrics.js';
import { traceIdOf } from '../telemetry/trace-context.js';
import { unavailableResponse } from './failures.js';
import { problem } from './problem.js';

type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** Where an unexpected failure is counted; a runtime's `Signals` also shows it in /api/stats. */
export interface FailureCounter {
  count(name: string, attributes?: Record<string, string>): void;
}

const otelCounter: FailureCounter = { count: (name, attributes) => count(name, 1, attributes) };

/**
 * The operation id Application Insights files the request under (`operation_Id`, the W3C trace id): the one id
 * an operator can search the logs, traces and exceptions by. A fresh one when the invocation has no trace.
 */
export function operationIdOf(context: Pick<InvocationContext, 'traceContext'>): string {
  const traceparent = context.traceContext?.traceParent;
  return (traceparent && traceIdOf(traceparent)) || randomBytes(16).toString('hex');
}

export interface UnexpectedFailure {
  /** The function (or host component) that failed, a metric dimension. */
  where: string;
  operationId: string;
  invocationId?: string | undefined;
  log: (level: 'warning' | 'error', message: string) => void;
  counter?: FailureCounter | undefined;
}

/**
 * What the client gets when code failed in a way no handler anticipated: a 500 problem with the operation id,
 * never the error's message, stack or SQL. The error itself is logged under that id, recorded on the active span
 * (Application Insights `exceptions`) and counted. A simulated crash (the chaos crash simulator) answers the same
 * way, is logged as a warning and counted as a crash where it is thrown, not here.
 */
export function unexpectedFailureResponse(err: unknown, failure: UnexpectedFailure): HttpResponseInit {
  const { operationId, invocationId, where } = failure;
  const ids = `operation ${operationId}${invocationId ? `, invocation ${invocationId}` : ''}`;
  if (err instanceof SimulatedCrashError) {
    failure.log('warning', `${err.message} (${ids})`);
  } else {
    failure.log('error', `unexpected failure (${ids}): ${(err as Error)?.stack ?? String(err)}`);
    const span = trace.getActiveSpan();
    span?.recordException(err instanceof Error ? err : String(err));
    span?.setStatus({ code: SpanStatusCode.ERROR });
    (failure.counter ?? otelCounter).count(METRICS.httpUnexpectedFailures, { function: where });
  }
  return problem(
    500,
    'Internal Server Error',
    `The request failed on the server (operation ${operationId}). Retry it — an order with the same ` +
      'Idempotency-Key, so that it is never placed twice; if it keeps failing, give the operator this operation id.',
    { type: 'internal', extensions: { operationId, ...(invocationId ? { invocationId } : {}) } },
  );
}

/**
 * The one error boundary around every HTTP function, in both hosts: a dependency that is down or shedding load
 * (`unavailableResponse`) answers 503 with Retry-After, whatever else a handler throws becomes
 * `unexpectedFailureResponse`. Handlers answer only what they anticipate themselves (400, 404, 409…).
 */
export function withErrorBoundary(
  name: string,
  handler: HttpHandler,
  counter?: FailureCounter,
  /** The Retry-After of a 503, read when one is answered (the breaker's half-open delay). */
  retryAfterSeconds: () => number = () => 1,
): HttpHandler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (err) {
      return (
        unavailableResponse(err, retryAfterSeconds()) ??
        unexpectedFailureResponse(err, {
          where: name,
          operationId: operationIdOf(context),
          invocationId: context.invocationId,
          log: (level, message) => (level === 'error' ? context.error(message) : context.warn(message)),
          counter,
        })
      );
    }
  };
}
