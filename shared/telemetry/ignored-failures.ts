import { METRICS } from './metric-names.js';
import type { Signals } from './signals.js';

/**
 * Failures the app survives on purpose, because something else takes over (the outbox relay, a later replay):
 * each is logged once, naming the order it concerns, and counted, so "nothing went wrong" and "something went
 * wrong and was covered" can be told apart in the logs and in `valerix.failures.ignored`.
 */
export type IgnoredFailureKind =
  /** The publish right after a commit failed (broker down, breaker open): the outbox relay sends it. */
  | 'publish_after_commit'
  /** Sent, but the outbox row could not be marked: the relay sends it again (a duplicate, absorbed). */
  | 'mark_published'
  /** A replay or duplicate tried to send what its first attempt left in the outbox: the relay will. */
  | 'publish_pending'
  /** A dead-lettered OrderPlaced's InventoryFailed could not be sent right away: the relay will. */
  | 'publish_dead_letter_result'
  /** A redriven dead letter's copy could not be sent right away: the relay will. */
  | 'publish_redrive'
  /** `Prefer: wait` saw the final status but could not store it: a replay answers 202 pending instead. */
  | 'store_final_response'
  /** A `Prefer: wait` poll for the final status failed: the wait goes on (reported once per wait). */
  | 'wait_poll'
  /** A pooled connection broke: the pool replaces it; the query in flight (if any) failed on its own. */
  | 'pool_connection';

export interface IgnoredFailure {
  kind: IgnoredFailureKind;
  orderId?: string | undefined;
  error: unknown;
  /** What covers it, said in the log line ("the outbox relay sends it"). */
  fallback: string;
}

export type Log = (message: string) => void;

/** Reports one ignored failure: a warning line with the order id, and one count by kind. */
export type IgnoredFailureReporter = (failure: IgnoredFailure, log?: Log) => void;

export function ignoredFailureReporter(signals: Signals, defaultLog: Log): IgnoredFailureReporter {
  return (failure, log = defaultLog) => {
    signals.count(METRICS.ignoredFailures, { kind: failure.kind });
    const about = failure.orderId ? `order ${failure.orderId}: ` : '';
    const reason = (failure.error as Error)?.message ?? String(failure.error);
    log(`${about}${failure.kind.replaceAll('_', ' ')} failed (${reason}); ${failure.fallback}`);
  };
}
