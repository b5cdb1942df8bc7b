import { type CircuitBreakerPolicy, CircuitState } from 'cockatiel';

/** The first probe's delay after the breaker opens, and how it grows while the database stays away. */
const FIRST_PROBE_MS = 100;
const GROWTH = 1.5;
/**
 * The longest gap between probes in an outage's first minute, which covers a restart, a scale change and an HA
 * failover: a server that is back waits at most this long for the breaker to close.
 */
const EARLY_MAX_MS = 1000;
const EARLY_OUTAGE_MS = 60_000;
/** After that, one failed connection attempt per instance every few seconds: an outage of hours costs nothing. */
const LATE_MAX_MS = 5000;

export interface DatabaseProber {
  /** When the next probe runs (ms since the epoch), or undefined when none is scheduled (breaker not open). */
  nextProbeAt(): number | undefined;
  stop(): void;
}

/**
 * While the database breaker is open, asks the database itself whether it is back — `probe` opens a fresh
 * connection (not a pooled one, which may predate the outage) and runs `SELECT 1` — with a growing delay, and
 * closes the breaker as soon as a probe succeeds. Without it the breaker waited out its whole half-open delay (5 s)
 * after the server was back, and then let only one trial request through.
 *
 * Closing goes through cockatiel's public isolate/dispose pair (disposing the last isolation closes the breaker);
 * `onProbeClose` is told first so the transition can be reported as open → closed.
 */
export function startDatabaseProber(
  breaker: CircuitBreakerPolicy,
  probe: () => Promise<void>,
  hooks: { onProbeClose(): void; onProbeClosed(): void },
): DatabaseProber {
  let timer: NodeJS.Timeout | undefined;
  let next: number | undefined;
  let outageStarted = 0;
  let delay = FIRST_PROBE_MS;
  let stopped = false;

  const schedule = () => {
    if (stopped || timer) return;
    const max = Date.now() - outageStarted < EARLY_OUTAGE_MS ? EARLY_MAX_MS : LATE_MAX_MS;
    const wait = Math.min(delay, max);
    delay = Math.min(delay * GROWTH, LATE_MAX_MS);
    next = Date.now() + wait;
    timer = setTimeout(run, wait);
    timer.unref();
  };

  const run = async () => {
    timer = undefined;
    next = undefined;
    if (stopped || breaker.state !== CircuitState.Open) return;
    let up = false;
    try {
      await probe();
      up = true;
    } catch {
      // Still away: the next probe, a little later.
    }
    if (stopped || breaker.state !== CircuitState.Open) return;
    if (!up) return schedule();
    hooks.onProbeClose();
    breaker.isolate().dispose();
    hooks.onProbeClosed();
  };

  const listener = breaker.onStateChange((state) => {
    if (state === CircuitState.Open) {
      // A failed half-open trial reopens the breaker within the same outage: the backoff carries on.
      if (outageStarted === 0) {
        outageStarted = Date.now();
        delay = FIRST_PROBE_MS;
      }
      schedule();
    } else if (state === CircuitState.Closed) {
      outageStarted = 0;
      if (timer) clearTimeout(timer);
      timer = undefined;
      next = undefined;
    }
  });

  return {
    nextProbeAt: () => next,
    stop() {
      stopped = true;
      listener.dispose();
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
