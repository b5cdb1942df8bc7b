import {
  BrokenCircuitError,
  bulkhead,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  IsolatedCircuitError,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import { isConnectionError, isTransientDbError } from '../db/errors.js';
import { startDatabaseProber } from './database-prober.js';

/**
 * Every resilience policy of the app, named and configured in one place. Each I/O boundary goes through one:
 *   database  timeout per attempt → retry transient SQLSTATEs (backoff + jitter) → breaker on unreachability
 *   publish   timeout → retry → breaker; when open, the outbox relay sends later
 *   intake    bulkhead: a flood gets a fast 503 instead of exhausting the pool (intakeAdmission counts orders,
 *             intake the connections their batches and the cancels hold)
 *   consumer  processing deadline below the Service Bus lock duration
 *   housekeeping  retention DELETEs: a timeout of their own and no breaker, so a slow prune never opens the
 *             database breaker that order intake answers 503 behind
 */
export interface ResilienceOptions {
  databaseTimeoutMs: number;
  publishTimeoutMs: number;
  /** Concurrent order writes per instance before intake sheds load. */
  intakeConcurrency?: number;
  intakeQueue?: number;
  /** Orders admitted per instance (written, batched or waiting for a batch) before intake sheds load. */
  intakeAdmitted?: number;
  /** How long a breaker stays open before it lets one trial call through. */
  breakerHalfOpenAfterMs?: number;
  /** Deadline for one reservation/status message, kept below the 60 s message lock. */
  consumerDeadlineMs?: number;
  /** Longest a retention statement may run (the server cancels it: `statement_timeout`). */
  housekeepingTimeoutMs?: number;
  /**
   * Whether the database is reachable, on a connection of its own (`SELECT 1`): while the database breaker is
   * open it is asked with a growing delay, and the first success closes the breaker (see database-prober.ts).
   * Without one the breaker only tries again after `breakerHalfOpenAfterMs`.
   */
  databaseProbe?: () => Promise<void>;
  /** Told about every breaker transition (the runtime logs it); the time is also kept for `/api/stats`. */
  onBreakerChange?: (change: BreakerChange) => void;
}

/** A breaker's latest transition: what it is now, what it was, and when it changed. */
export interface BreakerChange {
  breaker: 'database' | 'publish';
  state: BreakerStateName;
  from: BreakerStateName;
  at: string;
}

export type BreakerStateName = 'closed' | 'open' | 'halfOpen' | 'isolated';
const STATE_NAMES: Record<CircuitState, BreakerStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'halfOpen',
  [CircuitState.Isolated]: 'isolated',
};

/** What callers need of a policy. */
export interface Executor {
  execute<T>(fn: () => PromiseLike<T> | T): Promise<T>;
}

/**
 * The parent signal of every call: it never aborts and keeps no listeners. Nothing here cancels a call from
 * outside (the functions ignore signals; a timeout only stops waiting), and cockatiel's default — one shared
 * real signal — collects a listener per concurrent call, so Node warns about a leak past ten; a fresh
 * `AbortController` per call avoided that but cost an allocation and two listener registrations per query.
 */
const NEVER_ABORTED = {
  aborted: false,
  addEventListener() {},
  removeEventListener() {},
} as unknown as AbortSignal;

/**
 * An aggressive timeout stops waiting but cannot stop the call: its promise settles later, unobserved. An
 * unhandled rejection would take the process down, so every call run under a timeout is observed here.
 */
function observed(policy: IPolicy): Executor {
  return {
    execute<T>(fn: () => PromiseLike<T> | T): Promise<T> {
      return policy.execute(() => {
        const running = Promise.resolve(fn());
        running.catch(() => {});
        return running;
      }, NEVER_ABORTED) as Promise<T>;
    },
  };
}

/**
 * Aggressive (stop waiting at the deadline) and not aborting on return: cockatiel would otherwise abort each
 * call's signal when it finishes, which builds a DOMException per query for listeners nobody registers.
 */
const stopWaitingAfter = (ms: number) =>
  timeout(ms, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });

/** A timeout fired: the call may still be running, so it is not retried (it might have committed). */
const isTimeout = (err: Error) => err instanceof TaskCancelledError;

/** A retention statement's default bound: a prune batch takes well under a second; this is for lock waits. */
const HOUSEKEEPING_TIMEOUT_MS = 30_000;
/**
 * The client stops waiting this long after the server should have cancelled the statement: normally the server's
 * cancel comes first and the connection goes back to the pool clean.
 */
const HOUSEKEEPING_CLIENT_SLACK_MS = 2000;

export function createPolicies(options: ResilienceOptions) {
  const halfOpenAfter = options.breakerHalfOpenAfterMs ?? 5000;
  const housekeepingTimeoutMs = options.housekeepingTimeoutMs ?? HOUSEKEEPING_TIMEOUT_MS;

  const databaseBreaker = circuitBreaker(
    handleWhen((err) => isConnectionError(err) || isTimeout(err)),
    { halfOpenAfter, breaker: new ConsecutiveBreaker(5) },
  );
  const databaseRetry = retry(
    handleWhen((err) => isTransientDbError(err)),
    { maxAttempts: 3, backoff: new ExponentialBackoff({ initialDelay: 25, maxDelay: 500 }) },
  );
  const databaseTimeout = stopWaitingAfter(options.databaseTimeoutMs);

  const publishBreaker = circuitBreaker(
    handleWhen(() => true),
    {
      halfOpenAfter,
      breaker: new ConsecutiveBreaker(3),
    },
  );
  const publishRetry = retry(
    handleWhen((err) => !(err instanceof BrokenCircuitError)),
    { maxAttempts: 2, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 400 }) },
  );
  const publishTimeout = stopWaitingAfter(options.publishTimeoutMs);

  const breakers = { database: databaseBreaker, publish: publishBreaker };

  // The last transition of each breaker (null until the first), kept so `/api/stats` can say since when.
  const lastChange: Record<keyof typeof breakers, BreakerChange | null> = { database: null, publish: null };
  // A probe closes the database breaker through isolate/dispose: that passing 'isolated' is not reported.
  let probeClosing = false;
  for (const name of Object.keys(breakers) as (keyof typeof breakers)[]) {
    let previous: BreakerStateName = 'closed';
    breakers[name].onStateChange((next) => {
      if (probeClosing && next === CircuitState.Isolated) return;
      const change: BreakerChange = {
        breaker: name,
        state: STATE_NAMES[next],
        from: previous,
        at: new Date().toISOString(),
      };
      previous = change.state;
      lastChange[name] = change;
      options.onBreakerChange?.(change);
    });
  }

  const prober =
    options.databaseProbe &&
    startDatabaseProber(databaseBreaker, options.databaseProbe, {
      onProbeClose: () => {
        probeClosing = true;
      },
      onProbeClosed: () => {
        probeClosing = false;
      },
    });
  const halfOpenRetryAfter = Math.max(1, Math.ceil(halfOpenAfter / 1000));

  return {
    /** Breaker outermost: while open, calls fail at once without touching the pool. */
    database: observed(wrap(databaseBreaker, databaseRetry, databaseTimeout) as IPolicy),
    publish: observed(wrap(publishBreaker, publishRetry, publishTimeout) as IPolicy),
    intake: bulkhead(options.intakeConcurrency ?? 64, options.intakeQueue ?? 256),
    /**
     * New orders in this instance (each waiting for, or in, an intake batch), so that a flood gets a fast 503: the
     * batches themselves hold `intake` slots, which would otherwise never fill.
     */
    intakeAdmission: bulkhead(options.intakeAdmitted ?? 320, 0),
    consumerDeadline: observed(stopWaitingAfter(options.consumerDeadlineMs ?? 45_000)),
    /**
     * Retention: no retry (the next run, a minute later, is the retry) and none of the database breaker, whose
     * open state answers order intake with 503. Each statement is also bounded on the server (see
     * createHousekeepingDatabase), so a prune stuck behind a lock never keeps a pooled connection.
     */
    housekeeping: observed(stopWaitingAfter(housekeepingTimeoutMs + HOUSEKEEPING_CLIENT_SLACK_MS)),
    housekeepingTimeoutMs,
    /**
     * What a 503 tells the client to wait: while the database breaker is open and probing, the time to the next
     * probe (whole seconds, at least 1); otherwise the half-open delay.
     */
    get retryAfterSeconds(): number {
      const next = prober?.nextProbeAt();
      if (next === undefined) return halfOpenRetryAfter;
      return Math.max(1, Math.ceil((next - Date.now()) / 1000));
    },
    /** Stops the database probe (the runtime closes). */
    stopProbing(): void {
      prober?.stop();
    },
    breakers,
    breakerStates(): Record<keyof typeof breakers, BreakerStateName> {
      return {
        database: STATE_NAMES[databaseBreaker.state],
        publish: STATE_NAMES[publishBreaker.state],
      };
    },
    /**
     * Whether a call through this breaker would be tried now: not while it is isolated, or open and still inside
     * its half-open delay (once that has passed, the next call is the trial that can close it).
     */
    breakerWouldTry(name: keyof typeof breakers): boolean {
      const state = STATE_NAMES[breakers[name].state];
      if (state === 'isolated') return false;
      if (state !== 'open') return true;
      const openedAt = Date.parse(lastChange[name]?.at ?? '');
      return !(Date.now() - openedAt < halfOpenAfter);
    },
    /**
     * How long an open breaker's trial has been due and not taken (ms; 0 unless it is open and past its half-open
     * delay). The writers leave the publish breaker's trials to the relay until one is this overdue.
     */
    breakerTrialOverdueMs(name: keyof typeof breakers): number {
      if (STATE_NAMES[breakers[name].state] !== 'open') return 0;
      const openedAt = Date.parse(lastChange[name]?.at ?? '');
      return Math.max(0, Date.now() - openedAt - halfOpenAfter);
    },
    /** The half-open delay of both breakers (ms). */
    breakerHalfOpenAfterMs: halfOpenAfter,
    /** Each breaker's last transition (`null`: unchanged since this instance started). */
    breakerChanges(): Record<keyof typeof breakers, BreakerChange | null> {
      return { ...lastChange };
    },
  };
}

export type Policies = ReturnType<typeof createPolicies>;

/** The database could not be reached at all (or its breaker is open), as opposed to rejecting the work. */
export function isDatabaseDown(err: unknown): boolean {
  return err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError || isConnectionError(err);
}

/**
 * Worth trying again later rather than at once: the database unreachable (connection refused, lost, breaker
 * open) or too slow (a timeout). A crash, a constraint violation or a bug is not: immediate redelivery and, in
 * the end, the dead-letter path stay right for those.
 */
export function isTransientFailure(err: unknown): boolean {
  return isDatabaseDown(err) || err instanceof TaskCancelledError || isTransientDbError(err);
}

export { BrokenCircuitError, TaskCancelledError };
