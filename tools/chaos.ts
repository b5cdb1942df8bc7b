import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FUNCTION_KEY_HEADER } from '../shared/http/function-key.js';
import { checkInvariants, replayReturnsOriginal } from '../test/support/invariant-oracle.js';
import { type ChaosOptions, parseArgs, USAGE, UsageError } from './chaos/args.js';
import { type ClientOutcome, planOrders, probeReplays, runLoad } from './chaos/driver.js';
import {
  type ChaosEnvironment,
  DELIVERY_COPIES,
  OUTBOX_RELAY_INTERVAL_MS,
  SetupError,
  startEnvironment,
} from './chaos/environment.js';
import { buildReport, renderSummary, type Stats, writeReport } from './chaos/report.js';

/**
 * `npm run chaos`: the pipeline check. Starts the local host over a database of its own, turns the gremlin and
 * the crash simulator on, sends a bounded load of orders whose clients retry with their keys, waits until every
 * order is final, checks the invariants in the database and writes report.json / report.md.
 * Exit code: 0 every invariant holds, 1 an invariant broke, 2 usage or setup error (or interrupted).
 */

interface Clock {
  t0: number;
  /** Sending stops here. */
  sendEnds: number;
  /** Waiting for final statuses stops here. */
  settleEnds: number;
  /** The duration limit. */
  hardEnd: number;
}

interface Control {
  stop: AbortController;
  stoppedEarly: 'duration-limit' | 'interrupted' | undefined;
}

async function main(argv: readonly string[]): Promise<number> {
  let options: ChaosOptions;
  try {
    const parsed = parseArgs(argv);
    if (parsed === 'help') {
      console.log(USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`chaos: ${err.message}\n\n${USAGE}`);
    return 2;
  }

  const startedAt = new Date();
  const t0 = performance.now();
  const limitMs = options.durationLimitS * 1000;
  // Time kept back for settling, turning chaos off, the checks and the report.
  const reserveMs = Math.min(15_000, Math.max(3_000, limitMs * 0.15));
  const clock: Clock = {
    t0,
    sendEnds: t0 + limitMs - reserveMs,
    settleEnds: t0 + limitMs - reserveMs / 2,
    hardEnd: t0 + limitMs,
  };
  const say = options.quiet
    ? () => {}
    : (message: string) =>
        console.log(`[chaos ${((performance.now() - t0) / 1000).toFixed(1)} s] ${message}`);

  const control: Control = { stop: new AbortController(), stoppedEarly: undefined };
  // Every client in flight listens to the one stop signal.
  setMaxListeners(0, control.stop.signal);
  const limitTimer = setTimeout(() => {
    control.stoppedEarly ??= 'duration-limit';
    control.stop.abort();
  }, clock.sendEnds - t0);
  limitTimer.unref();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(2);
    console.error(
      'chaos: interrupted; reporting what was sent and cleaning up (Ctrl+C again to quit at once)',
    );
    control.stoppedEarly = 'interrupted';
    control.stop.abort();
  };
  process.on('SIGINT', onSigint);
  // Last resort if cleanup itself hangs (a stuck database): never run far past the limit.
  setTimeout(() => {
    console.error('chaos: still running 60 s past the duration limit; giving up');
    process.exit(2);
  }, limitMs + 60_000).unref();

  say(`starting the local host (${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL'})`);
  let env: ChaosEnvironment;
  try {
    env = await startEnvironment(options, process.env, (line) => {
      if (!options.quiet) console.error(`  host: ${line}`);
    });
  } catch (err) {
    console.error(`chaos: ${(err as Error).message}`);
    return 2;
  }
  say(`host on ${env.host.url} (watch ${env.host.url}/api/ui), database: ${env.databaseLabel}`);
  try {
    return await run(options, env, clock, control, startedAt, say);
  } catch (err) {
    console.error(`chaos: ${err instanceof SetupError ? err.message : ((err as Error).stack ?? err)}`);
    return 2;
  } finally {
    clearTimeout(limitTimer);
    process.off('SIGINT', onSigint);
    const failed = await env.close();
    for (const f of failed) console.error(`chaos: cleanup failed: ${f}`);
  }
}

async function run(
  options: ChaosOptions,
  env: ChaosEnvironment,
  clock: Clock,
  control: Control,
  startedAt: Date,
  say: (m: string) => void,
): Promise<number> {
  const base = env.host.url;
  const api = hostApi(base, env.host.functionKey);
  const phasesMs: Record<string, number> = { startup: Math.round(performance.now() - clock.t0) };
  const phase = (name: string, since: number) => {
    phasesMs[name] = Math.round(performance.now() - since);
  };

  // 1. Starting stock (chaos is still off: the gremlin also delays Inventory reads).
  const inventory = await api<{ items: { productId: string; available: number }[] }>('GET', '/api/inventory');
  const startingStock = Object.fromEntries(inventory.items.map((i) => [i.productId, i.available]));

  // 2. Chaos on.
  const chaos = await api('PUT', '/api/chaos', {
    gremlin: { enabled: true, mode: 'deterministic', everyN: options.everyN, latencyMs: options.gremlinMs },
    crash: { enabled: true, target: 'both', mode: 'deterministic', everyN: options.crashEveryN },
  });
  say(`chaos on: ${JSON.stringify(chaos)}`);

  // 3. The load.
  const runId = randomBytes(3).toString('hex');
  const plan = planOrders(options.orders, options.seed, runId);
  let loadStart = performance.now();
  let done = 0;
  const progress = setInterval(() => say(`sent ${done}/${plan.length}`), 3000);
  let clients: ClientOutcome[];
  try {
    clients = await runLoad(plan, {
      baseUrl: base,
      concurrency: options.concurrency,
      signal: control.stop.signal,
      loadStart,
      onProgress: (n) => {
        done = n;
      },
    });
  } finally {
    clearInterval(progress);
  }
  phase('load', loadStart);
  const accepted = clients.filter((c) => c.result === 'accepted').length;
  say(`load done: ${accepted} accepted of ${clients.filter((c) => c.attempts.length > 0).length} sent`);

  // 4. Every order final (bounded).
  loadStart = performance.now();
  let lastSaid = 0;
  for (;;) {
    const { rows } = await env.db.query<{ pending: number; total: number }>(
      `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending, count(*)::int AS total FROM orders.orders`,
    );
    const { pending, total } = rows[0]!;
    if (pending === 0) break;
    if (performance.now() > clock.settleEnds || control.stoppedEarly === 'interrupted') {
      control.stoppedEarly ??= 'duration-limit';
      say(`duration limit: ${pending} of ${total} orders still pending`);
      break;
    }
    if (performance.now() - lastSaid > 3000) {
      lastSaid = performance.now();
      say(`waiting for final statuses: ${pending} of ${total} pending`);
    }
    await sleep(200);
  }
  phase('settle', loadStart);

  // 5. Chaos off, then let redeliveries and the outbox drain, so the checks see a quiet database.
  loadStart = performance.now();
  const chaosOff = await api('PUT', '/api/chaos', {
    gremlin: { enabled: false },
    crash: { enabled: false },
  }).catch((err: Error) => `could not turn chaos off: ${err.message}`);
  if (typeof chaosOff === 'string') console.error(`chaos: ${chaosOff}`);
  await quiesce(env, Math.min(clock.hardEnd - reserveFor(clock) / 4, performance.now() + 10_000));
  phase('quiesce', loadStart);
  const stats = await api<Stats>('GET', '/api/stats').catch(() => undefined);

  // 6. Replay probe and invariants.
  loadStart = performance.now();
  const probes = await probeReplays(clients, {
    baseUrl: base,
    concurrency: options.concurrency,
    signal: timeLeft(clock.hardEnd),
  });
  phase('replayProbe', loadStart);
  loadStart = performance.now();
  const { snapshot, results } = await env.withConnection((db) =>
    checkInvariants(db, { startingStock, clients }),
  );
  results.push(replayReturnsOriginal(probes));
  phase('checks', loadStart);

  // 7. Report.
  const report = buildReport({
    runId,
    startedAt,
    finishedAt: new Date(),
    options,
    databaseLabel: env.databaseLabel,
    deliveryCopies: DELIVERY_COPIES,
    outboxRelayIntervalMs: OUTBOX_RELAY_INTERVAL_MS,
    chaos,
    stoppedEarly: control.stoppedEarly,
    phasesMs,
    startingStock,
    clients,
    snapshot,
    invariants: results,
    stats,
    observer: env.observer,
    transport: env.host.transport
      ? {
          duplicatesDropped: env.host.transport.duplicatesDropped,
          deadLetters: env.host.transport.deadLetters.length,
        }
      : undefined,
  });
  const files = await writeReport(resolve(options.out), report);
  console.log(renderSummary(report, files));
  if (control.stoppedEarly === 'interrupted') return 2;
  return report.result === 'pass' ? 0 : 1;
}

/** Aborts at `until` (at once if it has passed). */
function timeLeft(until: number): AbortSignal {
  const ms = Math.round(until - performance.now());
  return ms > 0 ? AbortSignal.timeout(ms) : AbortSignal.abort();
}

function reserveFor(clock: Clock): number {
  return clock.hardEnd - clock.sendEnds;
}

/** Waits (bounded) until the in-process queues are idle and no outbox row is left unpublished. */
async function quiesce(env: ChaosEnvironment, until: number): Promise<void> {
  for (;;) {
    const idle = env.host.transport ? env.host.transport.inFlight === 0 : true;
    const { rows } = await env.db.query<{ n: number }>(
      `SELECT ((SELECT count(*) FROM orders.outbox WHERE published_at IS NULL)
             + (SELECT count(*) FROM inventory.outbox WHERE published_at IS NULL))::int AS n`,
    );
    if ((idle && rows[0]!.n === 0) || performance.now() > until) return;
    await sleep(100);
  }
}

/**
 * One JSON call to the host, with the function key (chaos is an operator route); anything but 2xx is an error
 * naming the route and the answer.
 */
const hostApi =
  (base: string, functionKey: string) =>
  async <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        [FUNCTION_KEY_HEADER]: functionKey,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new SetupError(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  };

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`chaos: ${(err as Error).stack ?? err}`);
    process.exitCode = 2;
  },
);
