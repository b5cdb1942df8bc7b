import type { InvocationContext } from '@azure/functions';
import {
  type Attributes,
  type Context,
  context as otelContext,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { z } from 'zod';
import { contextFromTraceContext, isTraceparent } from '../telemetry/trace-context.js';
import { decideFailure, failureKindOf } from './consume-decision.js';
import { decodeBody, type Envelope, orderIdOf } from './contracts.js';
import { type DelayedRetryPolicy, nextDelayedRetry } from './delayed-retry.js';
import type { OutgoingMessage } from './publisher.js';
import type { QueueName } from './queue-names.js';

export interface DeadLetter {
  body: unknown;
  orderId: string | undefined;
  /** The message's logical id (its envelope's, which processed-message records are keyed on). */
  messageId: string | undefined;
  deliveryCount: number;
  error: string;
}

export interface ConsumeOptions<S extends z.ZodType> {
  schema: S;
  /**
   * The message types this consumer understands (its queue's, TYPES_ON): any other type is dead-lettered at
   * once with a reason that says so, instead of a schema error listing every union member.
   */
  types?: readonly string[];
  maxDeliveryCount: number;
  /** Keeps one delivery below the message lock duration. */
  deadline: { execute<T>(fn: () => Promise<T>): Promise<T> };
  process(message: z.output<S>): Promise<void>;
  /** Records a dead letter durably (and fails its order). Throwing here leaves the message to the broker. */
  deadLetter(letter: DeadLetter): Promise<void>;
  /** Delayed retries of transient failures (see delayed-retry.ts); absent: every failure is redelivered at once. */
  delayedRetry?: DelayedRetryOptions;
}

export interface DelayedRetryOptions {
  /** The queue this consumer reads: the copy goes back to it. */
  queue: QueueName;
  policy: DelayedRetryPolicy;
  /** Sends the copy, scheduled for later (through the broker, never the database, which may be the thing down). */
  schedule(message: OutgoingMessage, round: number): Promise<void>;
}

function deliveryCountOf(context: InvocationContext): number {
  const n = Number(context.triggerMetadata?.deliveryCount ?? 1);
  return Number.isFinite(n) && n > 0 ? n : 1;
}

/**
 * The contract of every queue consumer. Returning completes the message; throwing abandons it, and the broker
 * redelivers it at once. A transient failure (database unreachable, breaker open, timeout) is instead re-sent
 * scheduled for later and the original completed (delayed retries), for a bounded number of rounds. A message
 * that can never succeed (fails validation) or that is on its last delivery is recorded as a dead letter, so it is
 * visible and its order ends `failed` rather than hanging in `pending`.
 *
 * Each delivery runs in a CONSUMER span (`process <type>`) whose parent is the message's `traceparent`, so the
 * order's HTTP request, its reservation and its status update are one trace (one operation in Application
 * Insights). Messages published inside the span carry the span's context onward (see `activeTraceContext`).
 * Without an OpenTelemetry SDK the span is a no-op and the envelope's `traceparent` still travels as a field.
 */
export async function consume<S extends z.ZodType>(
  message: unknown,
  context: InvocationContext,
  options: ConsumeOptions<S>,
): Promise<void> {
  const body = decodeBody(message);
  const deliveryCount = deliveryCountOf(context);
  // The broker's id differs from the envelope's for a delayed-retry copy (`…:retry-<n>`); the envelope's is the
  // one processed-message records are keyed on, so it is the one a dead letter claims.
  const brokerMessageId =
    typeof context.triggerMetadata?.messageId === 'string' ? context.triggerMetadata.messageId : undefined;
  const carriedId = (body as { messageId?: unknown } | undefined)?.messageId;
  const messageId = typeof carriedId === 'string' && carriedId ? carriedId : brokerMessageId;
  const type =
    typeof (body as { type?: unknown })?.type === 'string' ? (body as { type: string }).type : undefined;
  const orderId = orderIdOf(body);
  const attributes: Attributes = {
    'messaging.operation.type': 'process',
    'messaging.message.delivery_count': deliveryCount,
    'valerix.function': context.functionName,
  };
  if (brokerMessageId) attributes['messaging.message.id'] = brokerMessageId;
  if (orderId) attributes['valerix.order_id'] = orderId;
  const parent = parentContextOf(body, context);
  const span = trace
    .getTracer('valerix')
    .startSpan(`process ${type ?? context.functionName}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  try {
    await otelContext.with(trace.setSpan(parent, span), () =>
      consumeInSpan(body, context, options, { deliveryCount, messageId, orderId, span }),
    );
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
    throw err;
  } finally {
    span.end();
  }
}

async function consumeInSpan<S extends z.ZodType>(
  body: unknown,
  context: InvocationContext,
  options: ConsumeOptions<S>,
  delivery: { deliveryCount: number; messageId: string | undefined; orderId: string | undefined; span: Span },
): Promise<void> {
  const { deliveryCount, messageId, orderId, span } = delivery;
  // Every line names the order (when the message has one), so the host's log search finds it by order id.
  const about = `${context.functionName}: ${orderId ? `order ${orderId}` : `message ${messageId ?? '(no id)'}`}`;
  const type = (body as { type?: unknown } | undefined)?.type;
  const unknownType =
    options.types && !options.types.includes(typeof type === 'string' ? type : '')
      ? `unknown message type ${JSON.stringify(type ?? null)}: ${context.functionName} understands ${options.types.join(', ')}`
      : undefined;
  const parsed = options.schema.safeParse(body);
  if (unknownType || !parsed.success) {
    const error = unknownType ?? `invalid message: ${messageIssues(parsed.error?.issues ?? []).join('; ')}`;
    context.error(`${about}: ${error}`);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    await options.deadLetter({ body, orderId, messageId, deliveryCount, error });
    return;
  }
  try {
    await options.deadline.execute(() => options.process(parsed.data));
  } catch (err) {
    const error = (err as Error)?.message ?? String(err);
    const kind = failureKindOf(err);
    const delayed = options.delayedRetry;
    const retry =
      delayed && delayed.policy.rounds > 0 && kind !== 'permanent'
        ? nextDelayedRetry(parsed.data as Envelope, delayed.queue, delayed.policy)
        : undefined;
    if (delayed && delayed.policy.rounds > 0 && kind !== 'permanent' && !retry) {
      context.warn(`${about}: delayed retries used up (${delayed.policy.rounds} rounds)`);
    }
    const rule = { kind, deliveryCount, maxDeliveryCount: options.maxDeliveryCount };
    let decision = decideFailure({ ...rule, delayedRoundLeft: retry !== undefined });
    if (decision === 'schedule-delayed-retry' && delayed && retry) {
      try {
        await delayed.schedule(retry.message, retry.round);
        context.warn(
          `${about}: transient failure, retrying in ${retry.delayMs} ms (delayed round ${retry.round} of ${delayed.policy.rounds}): ${error}`,
        );
        span.addEvent('delayed retry scheduled', { round: retry.round, delay_ms: retry.delayMs });
        return; // completes this copy; the scheduled one carries on
      } catch (scheduleErr) {
        context.warn(
          `${about}: could not schedule delayed round ${retry.round} (${(scheduleErr as Error)?.message ?? scheduleErr}); the broker redelivers instead`,
        );
        decision = decideFailure({ ...rule, delayedRoundLeft: false });
      }
    }
    switch (decision) {
      case 'redeliver':
        context.warn(`${about}: delivery ${deliveryCount} failed, the broker will redeliver: ${error}`);
        throw err;
      case 'leave-to-broker':
        // The broker keeps the message (Service Bus dead-letters it durably; the in-process transport forgets it
        // and its outbox row stays unpublished) until the relay or the sweeper sends it again.
        context.error(
          `${about}: ${deliveryCount} deliveries failed while the database was down; left to the broker: ${error}`,
        );
        throw err;
      default:
        context.error(`${about}: giving up after ${deliveryCount} deliveries: ${error}`);
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered: ${error}` });
        await options.deadLetter({ body, orderId, messageId, deliveryCount, error });
    }
  }
}

/**
 * The parent of a delivery's span: the trace context the message carries (the order's trace), else the one the
 * Functions host gives the invocation, else whatever is active.
 */
function parentContextOf(body: unknown, context: InvocationContext): Context {
  const carried = body as { traceparent?: unknown; tracestate?: unknown } | undefined;
  if (typeof carried?.traceparent === 'string' && isTraceparent(carried.traceparent)) {
    return contextFromTraceContext({
      traceparent: carried.traceparent,
      tracestate: typeof carried.tracestate === 'string' ? carried.tracestate : undefined,
    });
  }
  const fromHost = context.traceContext?.traceParent;
  if (isTraceparent(fromHost)) {
    return contextFromTraceContext({
      traceparent: fromHost,
      tracestate: context.traceContext?.traceState || undefined,
    });
  }
  return otelContext.active();
}

/**
 * A schema's issues as `path: message`. A union (the versions of a message, the types of a queue) reports every
 * branch: the one meant is the one whose `type` and `version` matched, so its issues are the ones to read.
 */
function messageIssues(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): string[] {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const envelopeMiss = (branch: readonly z.core.$ZodIssue[]) =>
        branch.some((i) => i.path.length === 1 && (i.path[0] === 'type' || i.path[0] === 'version'));
      const meant = issue.errors.filter((branch) => !envelopeMiss(branch));
      const best = (meant.length > 0 ? meant : issue.errors).reduce((a, b) => (b.length < a.length ? b : a));
      return messageIssues(best, path);
    }
    return [`${path.map(String).join('.')}: ${issue.message}`];
  });
}
