import { randomFillSync } from 'node:crypto';
import type { HttpRequest, InvocationContext } from '@azure/functions';
import {
  type Context,
  createTraceState,
  isSpanContextValid,
  context as otelContext,
  propagation,
  trace,
} from '@opentelemetry/api';

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

export interface TraceContext {
  traceparent: string;
  tracestate?: string | undefined;
}

export function isTraceparent(value: string | null | undefined): value is string {
  return !!value && TRACEPARENT.test(value) && !/^[0-9a-f]{2}-0{32}-/.test(value);
}

/** One W3C tracestate list member: `key=value`, printable ASCII, no `,` or `=` in the value. */
const TRACESTATE_MEMBER =
  /^[a-z0-9][a-z0-9_\-*/]{0,240}(?:@[a-z][a-z0-9_\-*/]{0,13})?=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_TRACESTATE_LENGTH = 512;
const MAX_TRACESTATE_MEMBERS = 32;

/**
 * A tracestate that W3C Trace Context allows (at most 32 members, 512 characters: what messages carry). An invalid
 * one is dropped rather than refused, as the spec says, and never travels into a message the consumer would reject.
 */
export function isTracestate(value: string | null | undefined): value is string {
  if (!value || value.length > MAX_TRACESTATE_LENGTH) return false;
  const members = value
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
  return (
    members.length > 0 &&
    members.length <= MAX_TRACESTATE_MEMBERS &&
    members.every((m) => TRACESTATE_MEMBER.test(m))
  );
}

const validTracestate = (value: string | null | undefined) => (isTracestate(value) ? value : undefined);

export function traceIdOf(traceparent: string): string | undefined {
  return TRACEPARENT.exec(traceparent)?.[1];
}

/**
 * Random bytes for ids, drawn from a pool refilled 4 KiB at a time: one `getrandom` system call per ~170
 * traceparents instead of two per traceparent (the same trick `crypto.randomUUID` uses internally).
 */
const entropy = Buffer.alloc(4096);
let entropyUsed = entropy.length;

function randomHex(bytes: number): string {
  if (entropyUsed + bytes > entropy.length) {
    randomFillSync(entropy);
    entropyUsed = 0;
  }
  entropyUsed += bytes;
  return entropy.toString('hex', entropyUsed - bytes, entropyUsed);
}

export function newTraceparent(traceId = randomHex(16)): string {
  return `00-${traceId}-${randomHex(8)}-01`;
}

/**
 * The W3C trace context this invocation runs in: the Functions host's (it continues the caller's and is what
 * Application Insights records), else the caller's header, else a new trace. Messages carry it onward so the
 * consumers continue the same operation.
 */
export function traceContextOf(context: InvocationContext, request?: HttpRequest): TraceContext {
  const fromHost = context.traceContext?.traceParent;
  if (isTraceparent(fromHost))
    return { traceparent: fromHost, tracestate: validTracestate(context.traceContext?.traceState) };
  const fromHeader = request?.headers.get('traceparent');
  if (isTraceparent(fromHeader)) {
    return { traceparent: fromHeader, tracestate: validTracestate(request?.headers.get('tracestate')) };
  }
  return { traceparent: newTraceparent() };
}

/**
 * An OpenTelemetry context whose (remote) parent is the given W3C trace context, on top of `base`. Uses the
 * global propagator when one is registered (Application Insights registers W3C trace context + baggage); with the
 * no-op API (no SDK) it parses the header itself, so the result is the same either way.
 */
export function contextFromTraceContext(tc: TraceContext, base: Context = otelContext.active()): Context {
  const carrier: Record<string, string> = { traceparent: tc.traceparent };
  if (tc.tracestate) carrier.tracestate = tc.tracestate;
  const extracted = propagation.extract(base, carrier);
  if (trace.getSpanContext(extracted)?.traceId === traceIdOf(tc.traceparent)) return extracted;
  const [, traceId, spanId, flags] = tc.traceparent.split('-') as [string, string, string, string];
  return trace.setSpanContext(base, {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16) & 1,
    isRemote: true,
    ...(tc.tracestate ? { traceState: createTraceState(tc.tracestate) } : {}),
  });
}

/**
 * The trace context of the active span, for messages sent while handling another one (so they continue the same
 * trace, with the consumer's span as their parent). Undefined without an active span: the no-op API (no SDK, or
 * no context manager) never has one, and the caller falls back to the incoming message's `traceparent`.
 */
export function activeTraceContext(ctx: Context = otelContext.active()): TraceContext | undefined {
  const spanContext = trace.getSpanContext(ctx);
  if (!spanContext || !isSpanContextValid(spanContext)) return undefined;
  const flags = (spanContext.traceFlags & 1).toString(16).padStart(2, '0');
  const traceparent = `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
  const tracestate = spanContext.traceState?.serialize();
  return { traceparent, tracestate: tracestate || undefined };
}
