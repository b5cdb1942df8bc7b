import type { InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { decodeBody, orderIdOf } from './contracts.js';

export interface PoisonInfo {
  body: unknown;
  orderId: string | undefined;
  messageId: string | undefined;
  deliveryCount: number;
  error: string;
}

export interface ConsumeOptions<S extends z.ZodType> {
  schema: S;
  maxDeliveryCount: number;
  /** Keeps one delivery below the message lock duration. */
  deadline: { execute<T>(fn: () => Promise<T>): Promise<T> };
  process(message: z.output<S>): Promise<void>;
  /** Records a poison message durably (and fails its order). Throwing here leaves the message to the broker. */
  deadLetter(info: PoisonInfo): Promise<void>;
}

export function deliveryCountOf(context: InvocationContext): number {
  const n = Number(context.triggerMetadata?.deliveryCount ?? 1);
  return Number.isFinite(n) && n > 0 ? n : 1;
}

/**
 * The contract of every queue consumer. Returning completes the message; throwing abandons it, and the broker
 * redelivers it. A message that can never succeed (fails validation) or that is on its last delivery is
 * recorded as poison instead, so it is visible and its order ends `failed` rather than hanging in `pending`.
 */
export async function consume<S extends z.ZodType>(
  message: unknown,
  context: InvocationContext,
  options: ConsumeOptions<S>,
): Promise<void> {
  const body = decodeBody(message);
  const deliveryCount = deliveryCountOf(context);
  const messageId =
    typeof context.triggerMetadata?.messageId === 'string' ? context.triggerMetadata.messageId : undefined;
  const parsed = options.schema.safeParse(body);
  if (!parsed.success) {
    const error = `invalid message: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
    context.error(`${context.functionName}: ${error}`);
    await options.deadLetter({ body, orderId: orderIdOf(body), messageId, deliveryCount, error });
    return;
  }
  try {
    await options.deadline.execute(() => options.process(parsed.data));
  } catch (err) {
    const error = (err as Error)?.message ?? String(err);
    if (deliveryCount < options.maxDeliveryCount) {
      context.warn(
        `${context.functionName}: delivery ${deliveryCount} failed, the broker will redeliver: ${error}`,
      );
      throw err;
    }
    context.error(`${context.functionName}: giving up after ${deliveryCount} deliveries: ${error}`);
    await options.deadLetter({ body, orderId: orderIdOf(body), messageId, deliveryCount, error });
  }
}
