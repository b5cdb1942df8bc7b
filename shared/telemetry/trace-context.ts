import { randomBytes } from 'node:crypto';
import type { HttpRequest, InvocationContext } from '@azure/functions';

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

export interface TraceContext {
  traceparent: string;
  tracestate?: string | undefined;
}

export function isTraceparent(value: string | null | undefined): value is string {
  return !!value && TRACEPARENT.test(value) && !/^[0-9a-f]{2}-0{32}-/.test(value);
}

export function traceIdOf(traceparent: string): string | undefined {
  return TRACEPARENT.exec(traceparent)?.[1];
}

export function newTraceparent(traceId = randomBytes(16).toString('hex')): string {
  return `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
}

/**
 * The W3C trace context this invocation runs in: the Functions host's (it continues the caller's and is what
 * Application Insights records), else the caller's header, else a new trace. Messages carry it onward so the
 * consumers continue the same operation.
 */
export function traceContextOf(context: InvocationContext, request?: HttpRequest): TraceContext {
  const fromHost = context.traceContext?.traceParent;
  if (isTraceparent(fromHost))
    return { traceparent: fromHost, tracestate: context.traceContext?.traceState || undefined };
  const fromHeader = request?.headers.get('traceparent');
  if (isTraceparent(fromHeader)) {
    return { traceparent: fromHeader, tracestate: request?.headers.get('tracestate') ?? undefined };
  }
  return { traceparent: newTraceparent() };
}
