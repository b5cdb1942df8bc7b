import { BrokenCircuitError, TaskCancelledError } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import {
  decideFailure,
  type FailureDecision,
  type FailureKind,
  failureKindOf,
} from '../../shared/messaging/consume-decision.js';

// The queue consumer's rule as a table: what a failed delivery leads to, by the kind of error, the delivery count
// (3 of 3 is the last) and whether a delayed-retry round is left.
describe('what a failed delivery leads to', () => {
  const MAX = 3;
  it.each<[FailureKind, number, boolean, FailureDecision]>([
    ['invalid', 1, true, 'dead-letter'],
    ['invalid', 3, false, 'dead-letter'],
    ['database-down', 1, true, 'schedule-delayed-retry'],
    ['database-down', 1, false, 'redeliver'],
    ['database-down', 3, true, 'schedule-delayed-retry'],
    ['database-down', 3, false, 'leave-to-broker'],
    ['transient', 1, true, 'schedule-delayed-retry'],
    ['transient', 2, false, 'redeliver'],
    ['transient', 3, false, 'dead-letter'],
    ['permanent', 1, true, 'redeliver'],
    ['permanent', 2, false, 'redeliver'],
    ['permanent', 3, true, 'dead-letter'],
    ['permanent', 4, false, 'dead-letter'],
  ])(
    '%s error, delivery %i of 3, delayed round left %s → %s',
    (kind, deliveryCount, delayedRoundLeft, decision) => {
      expect(decideFailure({ kind, deliveryCount, maxDeliveryCount: MAX, delayedRoundLeft })).toBe(decision);
    },
  );

  it('classifies errors: an unreachable database, a timeout or open breaker, anything else', () => {
    expect(failureKindOf(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(
      'database-down',
    );
    expect(failureKindOf(new TaskCancelledError())).toBe('transient');
    expect(failureKindOf(new BrokenCircuitError())).not.toBe('permanent');
    expect(failureKindOf(new Error('bug'))).toBe('permanent');
  });
});
