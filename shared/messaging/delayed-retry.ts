import type { Envelope } from './contracts.js';
import type { OutgoingMessage } from './publisher.js';
import type { QueueName } from './queue-names.js';

/**
 * Delayed retries ("second-level retries", as NServiceBus and MassTransit call them). Service Bus redelivers a
 * message whose handler threw at once, and dead-letters it after maxDeliveryCount deliveries: a database outage
 * longer than those few milliseconds would exhaust every delivery. A failure classed as transient is therefore
 * not thrown back to the broker: the consumer re-sends the message scheduled for later (exponential backoff)
 * and completes the original. After `rounds` delayed rounds it goes the ordinary way (immediate redeliveries,
 * then a dead letter).
 *
 * Ids: the envelope keeps its logical `messageId`, which the consumer's processed-message record is keyed on, so
 * the effect still happens once. The broker sees a derived id per round (`transportMessageId`): a scheduled copy
 * under the original id, sent inside the duplicate-detection window, would be accepted and silently DROPPED by
 * Service Bus — and the original has been completed. The derived id is deterministic, so a round scheduled twice
 * (a crash between scheduling and completing) is still dropped once.
 */
export interface DelayedRetryPolicy {
  rounds: number;
  baseMs: number;
  maxMs: number;
}

/** The delay before round `round` (1-based): exponential from baseMs, capped at maxMs. */
export function delayedRetryDelayMs(policy: DelayedRetryPolicy, round: number): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, round - 1));
}

/** How long after its first failure a message may still come back through delayed retries (every round). */
export function delayedRetrySpanMs(policy: DelayedRetryPolicy): number {
  let total = 0;
  for (let round = 1; round <= policy.rounds; round++) total += delayedRetryDelayMs(policy, round);
  return total;
}

/**
 * The id the broker deduplicates on: the logical id for the first send, a derived one for each delayed round and
 * for a dead letter's redrive (and each delayed round of that).
 */
export function transportMessageId(
  envelope: Pick<Envelope, 'messageId' | 'retryRound' | 'redriveId'>,
): string {
  const sent = envelope.redriveId
    ? `${envelope.messageId}:redrive-${envelope.redriveId}`
    : envelope.messageId;
  return envelope.retryRound ? `${sent}:retry-${envelope.retryRound}` : sent;
}

/**
 * The next delayed round of a message, or undefined when its rounds are used up. `random` spreads the copies
 * of many messages that failed together (±20 %), so they do not all return in the same instant.
 */
export function nextDelayedRetry(
  body: Envelope,
  queue: QueueName,
  policy: DelayedRetryPolicy,
  now: Date = new Date(),
  random: () => number = Math.random,
): { message: OutgoingMessage; round: number; delayMs: number } | undefined {
  const round = (body.retryRound ?? 0) + 1;
  if (round > policy.rounds) return undefined;
  const delayMs = Math.round(delayedRetryDelayMs(policy, round) * (0.8 + 0.4 * random()));
  return {
    message: {
      queue,
      envelope: { ...body, retryRound: round },
      scheduledEnqueueTime: new Date(now.getTime() + delayMs),
    },
    round,
    delayMs,
  };
}
