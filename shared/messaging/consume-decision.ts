import { isDatabaseDown, isTransientFailure } from '../resilience/policies.js';

/**
 * What a consumer does with a delivery that failed. `dead-letter` records it in `dead_letters` (its order ends failed);
 * `schedule-delayed-retry` re-sends a copy for later and completes this one; `redeliver` and `leave-to-broker`
 * abandon it (the broker redelivers it, or on the last delivery keeps it in its own dead-letter queue).
 */
export type FailureDecision = 'dead-letter' | 'schedule-delayed-retry' | 'redeliver' | 'leave-to-broker';

/**
 * `invalid`: the message can never succeed (fails validation, unknown type). `database-down`: the message is fine,
 * the database is not there (also transient). `transient`: a timeout or an open breaker. `permanent`: anything else.
 */
export type FailureKind = 'invalid' | 'database-down' | 'transient' | 'permanent';

export function failureKindOf(err: unknown): Exclude<FailureKind, 'invalid'> {
  if (isDatabaseDown(err)) return 'database-down';
  return isTransientFailure(err) ? 'transient' : 'permanent';
}

/**
 * The consumer's rule, as a table: error kind × delivery count × policy → decision. `delayedRoundLeft`: delayed
 * retries are configured and a round is left (false again when scheduling the copy failed).
 */
export function decideFailure(input: {
  kind: FailureKind;
  deliveryCount: number;
  maxDeliveryCount: number;
  delayedRoundLeft: boolean;
}): FailureDecision {
  if (input.kind === 'invalid') return 'dead-letter';
  if (input.kind !== 'permanent' && input.delayedRoundLeft) return 'schedule-delayed-retry';
  if (input.deliveryCount < input.maxDeliveryCount) return 'redeliver';
  // Failing the order of a message that is fine, because the database is away, would give it a false final
  // status: the broker keeps it, and the relay or the pending-order sweeper sends it again later.
  if (input.kind === 'database-down') return 'leave-to-broker';
  return 'dead-letter';
}
