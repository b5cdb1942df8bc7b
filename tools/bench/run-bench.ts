import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import pg from 'pg';
import { generateFunctionKey } from '../../infra/local-host/function-keys.js';
import { migrate } from '../../shared/db/migrate.js';
import { createPool } from '../../shared/db/pool.js';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import { FUNCTION_KEY_HEADER } from '../../shared/http/function-key.js';
import { round, slope } from '../stats.js';
import { type ColdStartResult, measureColdStart } from './cold-start.js';
import { measureRestartRecovery, type RestartRecoveryResult } from './database-restart.js';
import { cpuSeconds, type HostProcess, startHostProcess } from './host-process.js';
import { type LoadResult, postOrders } from './load.js';
import {
  type MachineInfo,
  machineCpuTimes,
  machineInfo,
  machineUtilization,
  postgresCpuSeconds,
} from './machine.js';

export const DEFAULT_OUTPUT = join('artifacts', 'bench', 'bench.json');

/** The finished-order runs wait as long as the API allows (RFC 7240 `Prefer: wait`, capped at 10 s). */
const PREFER_WAIT_S = 10;

export interface BenchOptions {
  /** A real PostgreSQL server (maintenance URL): the bench creates its own databases there and drops them. */
  databaseUrl: string;
  /** Concurrency levels (HTTP connections). */
  connections?: number[];
  /** Seconds per timed run. */
  durationS?: number;
  warmupS?: number;
  /** Concurrency of the gremlin off/on pair. */
  gremlinConnections?: number;
  gremlin?: { everyN: number; latencyMs: number };
  /** The sustained run paces intake at this share of the best accepted rate. */
  sustainedFraction?: number;
  coldStartRuns?: number;
  /** How long to wait after a run for every order of it to reach a final status. */
  drainTimeoutS?: number;
  /** Where the JSON goes (relative to the project root); null writes nothing. */
  outputFile?: string | null;
  /** Concurrency levels of the closed-loop finished-order runs (`Prefer: wait=10`, only shipped answers count). */
  finishedConnections?: number[];
  /**
   * Which parts run: intake (with the sustained run), finished (closed loop + its 80 % open loop), gremlin,
   * cold-start, restart (a throwaway cluster of its own restarted under a retrying load: time to the first order).
   */
  suites?: Suite[];
  /** Write a V8 CPU profile of the local host here (`node --cpu-prof`), for the whole time the host runs. */
  hostCpuProfileDir?: string;
  /** Extra settings for the local host (e.g. DATABASE_POOL_MAX), as app settings strings. */
  hostEnv?: Record<string, string>;
  /** Progress lines (stderr in the CLI). */
  progress?: (line: string) => void;
  signal?: AbortSignal;
}

export const SUITES = ['intake', 'finished', 'gremlin', 'cold-start', 'restart'] as const;
export type Suite = (typeof SUITES)[number];

/** What one finished order (a `Prefer: wait` answer that came back shipped) cost, split by process. */
export interface FinishedStats {
  preferWaitS: number;
  finishedOrders: number;
  finishedOrdersPerS: number;
  /** Answers that were not a shipped order (the wait ran out, or an error). */
  notFinished: number;
  /** CPU ms per finished order: the local host (its own process), PostgreSQL (sum of its backends' /proc stat), autocannon. */
  cpuMsPerFinishedOrder: {
    host: number;
    postgres: number | null;
    loadGenerator: number;
    /** The whole machine's busy CPU (every process and the kernel, all cores) during the run. */
    machine: number;
  };
  /** Database work per finished order over the run and its drain (server-wide counters, this bench's database). */
  database: DatabaseWork;
}

export interface DatabaseWork {
  walBytesPerOrder: number | null;
  transactionsPerOrder: number | null;
  /** pg_stat_statements calls (null when the extension is not loaded on the server). */
  statementsPerOrder: number | null;
  /** pg_stat_statements execution time (ms) per order, all statements (null without the extension). */
  statementMsPerOrder: number | null;
  /**
   * The statements that took the most execution time per order (text cut to 160 characters): where the
   * database's share of an order goes, as far as a statement accounts for it (commits, WAL flushes and the
   * protocol are outside it).
   */
  topStatements: { callsPerOrder: number; execMsPerOrder: number; query: string }[];
}

export interface HttpStats {
  elapsedS: number;
  requests: number;
  acceptedOrders: number;
  acceptedOrdersPerS: number;
  latencyMs: LoadResult['latencyMs'];
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

export interface ScenarioResult {
  name: string;
  connections: number;
  durationS: number;
  /** Paced runs only: the requested intake rate. */
  targetRatePerS: number | null;
  gremlin: boolean;
  http: HttpStats;
  /** Acceptance (orders.created_at) → final status (updated_at), over every order the run created. */
  endToEnd: {
    finalOrders: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    rejected: number;
    failed: number;
  };
  inventory: {
    /** Orders that reached a final status while the load ran, and that per second: the drain rate. */
    finalsDuringLoad: number;
    drainRatePerS: number;
    pendingAtStart: number;
    pendingAtEnd: number;
    /** (pendingAtEnd − pendingAtStart) / run time. */
    backlogGrowthPerS: number;
    /** Least-squares slope of the pending count sampled during the run. */
    backlogSlopePerS: number;
    backlogSamples: { tS: number; pending: number }[];
    /** After the load stopped: time until no order of the run was pending, and what was left at the timeout. */
    drainSecondsAfterLoad: number;
    pendingAfterDrain: number;
    /** The backlog did not grow: slope ≤ 5 % of the accepted rate. */
    keepsUp: boolean;
  };
  hostCpu: {
    cpuSecondsDuringLoad: number;
    /** The kernel's share of it (socket writes and reads, mostly). */
    systemSecondsDuringLoad: number;
    coresDuringLoad: number;
    /** From the start of the run until its backlog drained: all the work its orders caused. */
    cpuSecondsUntilDrained: number;
    cpuSecondsPer1000Orders: number;
    rssMb: number;
    eventLoopDelayP99Ms: number;
    warnings: number;
    errors: number;
  };
  machineCpuUtilizationDuringLoad: number;
  /** CPU seconds of the PostgreSQL server processes per 1000 accepted orders, until drained (null when not visible). */
  postgresCpuSecondsPer1000Orders: number | null;
  /** The finished-order runs only (`Prefer: wait`); null for intake runs. */
  finished: FinishedStats | null;
}

export interface Target {
  description: string;
  value: number | null;
  target: number;
  met: boolean | null;
}

export interface BenchResult {
  schemaVersion: 1;
  startedAt: string;
  finishedAt: string;
  benchSeconds: number;
  options: Required<
    Omit<
      BenchOptions,
      'databaseUrl' | 'progress' | 'signal' | 'outputFile' | 'hostEnv' | 'suites' | 'hostCpuProfileDir'
    >
  > & {
    suites: Suite[];
    hostEnv: Record<string, string>;
  };
  machine: MachineInfo;
  /** The database this run created on the server (dropped before runBench returns). */
  databases: { host: string };
  host: {
    mode: 'child-process';
    poolMax: number;
    cpuMeasurement: string;
    logSamples: string[];
  };
  scenarios: ScenarioResult[];
  sustained: (ScenarioResult & { fractionOfBestRate: number }) | null;
  /** Closed loop: every request places an order with `Prefer: wait=10`; plus an open loop at 80 % of the best. */
  finished: {
    scenarios: ScenarioResult[];
    sustained: (ScenarioResult & { fractionOfBestRate: number }) | null;
  };
  gremlin: null | {
    connections: number;
    everyN: number;
    latencyMs: number;
    off: ScenarioResult;
    on: ScenarioResult;
    p99OffMs: number;
    p99OnMs: number;
    /** p99 on / p99 off; the target is ≤ 1.2. */
    p99Ratio: number;
  };
  coldStart: ColdStartResult;
  /** Database restarts: ms from the server accepting connections again to the first accepted order. */
  restart: RestartRecoveryResult;
  targets: {
    finishedKeepsUpAt80Percent: Target;
    drainKeepsUpAt80Percent: Target;
    gremlinP99Ratio: Target;
    coldStartRatio: Target;
  };
  outputFile: string | null;
}

export class BenchRefusedError extends Error {
  override name = 'BenchRefusedError';
}

const withDatabase = (url: string, database: string) => {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
};

/**
 * `npm run bench`: a fresh database, the local host in a child process, autocannon against `POST /api/orders`
 * (load, then drain), the sustained run, the gremlin pair, cold start. The database is dropped at the end,
 * whatever happens.
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const opts = {
    connections: options.connections ?? [1, 16, 64],
    durationS: options.durationS ?? 10,
    warmupS: options.warmupS ?? 3,
    gremlinConnections: options.gremlinConnections ?? 16,
    gremlin: options.gremlin ?? { everyN: 5, latencyMs: 3000 },
    sustainedFraction: options.sustainedFraction ?? 0.8,
    finishedConnections: options.finishedConnections ?? [16, 64],
    suites: options.suites ?? [...SUITES],
    coldStartRuns: options.coldStartRuns ?? 5,
    drainTimeoutS: options.drainTimeoutS ?? 120,
    hostEnv: options.hostEnv ?? {},
  };
  const progress = options.progress ?? (() => {});
  const checkAborted = () => {
    if (options.signal?.aborted) throw new Error('bench aborted');
  };
  if (opts.connections.length === 0 || opts.connections.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new BenchRefusedError('--connections needs positive whole numbers, e.g. 1,16,64');
  }
  const started = new Date();

  const admin = new pg.Client({ connectionString: options.databaseUrl, application_name: 'valerix-bench' });
  await admin.connect();
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const { rows } = await admin.query<{ version: string }>('SELECT version()');
    if (/pglite|emscripten|wasm/i.test(rows[0]?.version ?? '')) {
      throw new BenchRefusedError(
        'DATABASE_URL points at the embedded PostgreSQL (PGlite): it runs every connection through one session, so its numbers say nothing about production. Point DATABASE_URL at a real PostgreSQL server.',
      );
    }
    const suffix = randomBytes(4).toString('hex');
    const hostDb = `valerix_bench_${suffix}`;
    await admin.query(`CREATE DATABASE ${hostDb}`);
    cleanups.unshift(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${hostDb} WITH (FORCE)`);
    });
    const hostUrl = withDatabase(options.databaseUrl, hostDb);
    progress(`database ${hostDb} created`);

    // Migrated here (the host would do it too) so the stock can be set before it starts.
    const migrator = createPool({ connectionString: hostUrl, max: 1, connectionTimeoutMs: 30_000 });
    try {
      await migrate(migrator);
    } finally {
      await migrator.end();
    }
    const machine = await machineInfo(admin);

    // The bench's own view of the host's database: stock, pending counts, end-to-end times.
    const observer = createPool({
      connectionString: hostUrl,
      max: 2,
      connectionTimeoutMs: 30_000,
      applicationName: 'valerix-bench-observer',
    });
    cleanups.unshift(() => observer.end());

    // The bench knows the child's function key (chaos is an operator route) because it chooses it.
    const functionKey = generateFunctionKey();
    const env: Record<string, string | undefined> = {
      ...process.env,
      ...opts.hostEnv,
      DATABASE_URL: hostUrl,
      LOCAL_FUNCTION_KEY: functionKey,
    };
    for (const name of [
      'ServiceBusConnection',
      'ServiceBusConnection__fullyQualifiedNamespace',
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
      'FEATURE_GREMLIN',
      'FEATURE_CRASH_AFTER_COMMIT',
      'PORT',
      'NODE_OPTIONS',
    ]) {
      delete env[name];
    }
    const host = await startHostProcess(
      env,
      options.hostCpuProfileDir
        ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${options.hostCpuProfileDir}`] }
        : {},
    );
    let hostClosed = false;
    cleanups.unshift(async () => {
      if (!hostClosed) await host.close();
    });
    progress(`local host started in child process ${host.pid} at ${host.url} (pool max ${host.poolMax})`);

    // Stock never runs out during a run: every scenario starts with a billion of each product.
    const restock = () =>
      observer.query('UPDATE inventory.products SET available = 1000000000, updated_at = now()');

    const databaseWork = databaseCounters(admin, hostDb);
    const scenario = (name: string, connections: number, extra: ScenarioExtra = {}) =>
      runScenario({
        databaseWork,
        host,
        observer,
        name,
        connections,
        durationS: opts.durationS,
        drainTimeoutS: opts.drainTimeoutS,
        restock,
        ...extra,
      });

    // Warm-up: JIT, connections, caches, on both sides.
    progress(`warm-up ${opts.warmupS} s`);
    await restock();
    await postOrders({ url: host.url, connections: 16, durationS: opts.warmupS });
    await waitForDrain(observer, opts.drainTimeoutS);
    // A fresh database has no statistics until autovacuum's first pass (a minute or more away), and the host's
    // prepared statements keep the generic plans made for nearly empty tables (sequential scans) however much the
    // tables grow. A shop's database has been analysed; so is this one, before anything is measured.
    await observer.query('ANALYZE');
    await host.stats({ resetLoopDelay: true });
    checkAborted();

    const scenarios: ScenarioResult[] = [];
    let sustained: BenchResult['sustained'] = null;
    const maxConnections = Math.max(...opts.connections);
    if (opts.suites.includes('intake')) {
      for (const connections of opts.connections) {
        progress(`local host: POST /api/orders, ${connections} connection(s), ${opts.durationS} s`);
        await checkpoint(admin);
        const result = await scenario(`intake-c${connections}`, connections);
        scenarios.push(result);
        progress(`  ${result.http.acceptedOrdersPerS} orders/s, p99 ${result.http.latencyMs.p99} ms`);
        checkAborted();
      }

      const best = Math.max(...scenarios.map((s) => s.http.acceptedOrdersPerS));
      const rate = Math.max(1, Math.round(best * opts.sustainedFraction));
      progress(
        `sustained: ${rate} orders/s (${opts.sustainedFraction * 100} % of ${best}), ${maxConnections} connections`,
      );
      await checkpoint(admin);
      sustained = Object.assign(
        await scenario(`sustained-${Math.round(opts.sustainedFraction * 100)}pct`, maxConnections, {
          ratePerS: rate,
        }),
        { fractionOfBestRate: opts.sustainedFraction },
      );
      checkAborted();
    }

    // What a user gets is a finished order: closed loop with `Prefer: wait`, only shipped answers count.
    const finishedRuns: BenchResult['finished'] = { scenarios: [], sustained: null };
    if (opts.suites.includes('finished')) {
      for (const connections of opts.finishedConnections) {
        progress(
          `finished orders: Prefer: wait=${PREFER_WAIT_S}, ${connections} connection(s), ${opts.durationS} s`,
        );
        await checkpoint(admin);
        const result = await scenario(`finished-c${connections}`, connections, { preferWait: PREFER_WAIT_S });
        finishedRuns.scenarios.push(result);
        progress(
          `  ${result.finished?.finishedOrdersPerS} finished/s, p99 ${result.http.latencyMs.p99} ms, cpu ms/order host ${result.finished?.cpuMsPerFinishedOrder.host} pg ${result.finished?.cpuMsPerFinishedOrder.postgres}`,
        );
        checkAborted();
      }
      const best = Math.max(...finishedRuns.scenarios.map((s) => s.finished?.finishedOrdersPerS ?? 0));
      const rate = Math.max(1, Math.round(best * opts.sustainedFraction));
      const connections = Math.max(...opts.finishedConnections);
      progress(`finished, open loop: ${rate} orders/s (${opts.sustainedFraction * 100} % of ${best})`);
      await checkpoint(admin);
      finishedRuns.sustained = Object.assign(
        await scenario(`finished-${Math.round(opts.sustainedFraction * 100)}pct`, connections, {
          ratePerS: rate,
          preferWait: PREFER_WAIT_S,
        }),
        { fractionOfBestRate: opts.sustainedFraction },
      );
      checkAborted();
    }

    let gremlin: BenchResult['gremlin'] = null;
    if (opts.suites.includes('gremlin')) {
      progress(
        `gremlin off/on at ${opts.gremlinConnections} connections (every ${opts.gremlin.everyN}th reservation +${opts.gremlin.latencyMs} ms)`,
      );
      await checkpoint(admin);
      const off = await scenario(`gremlin-off-c${opts.gremlinConnections}`, opts.gremlinConnections);
      checkAborted();
      await checkpoint(admin);
      const on = await scenario(`gremlin-on-c${opts.gremlinConnections}`, opts.gremlinConnections, {
        gremlin: opts.gremlin,
        chaos: { url: `${host.url}/api/chaos`, functionKey },
      });
      checkAborted();
      const p99Ratio =
        off.http.latencyMs.p99 > 0 ? round(on.http.latencyMs.p99 / off.http.latencyMs.p99, 3) : 0;
      gremlin = {
        connections: opts.gremlinConnections,
        everyN: opts.gremlin.everyN,
        latencyMs: opts.gremlin.latencyMs,
        off,
        on,
        p99OffMs: off.http.latencyMs.p99,
        p99OnMs: on.http.latencyMs.p99,
        p99Ratio,
      };
    }

    const finalStats = await host.stats();
    await host.close();
    hostClosed = true;

    if (opts.suites.includes('cold-start'))
      progress(`cold start: ${opts.coldStartRuns} fresh processes each`);
    const coldStart = await measureColdStart({
      runs: opts.coldStartRuns,
      databaseUrl: hostUrl,
      ...(opts.suites.includes('cold-start') ? {} : { skip: 'not in --suites' }),
    });

    if (opts.suites.includes('restart')) progress('database restart: fast, immediate, sessions terminated');
    const restart = await measureRestartRecovery(
      opts.suites.includes('restart') ? {} : { skip: 'not in --suites' },
    );

    const finished = new Date();
    const result: BenchResult = {
      schemaVersion: 1,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      benchSeconds: round((finished.getTime() - started.getTime()) / 1000, 1),
      options: opts,
      machine,
      databases: { host: hostDb },
      host: {
        mode: 'child-process',
        poolMax: host.poolMax,
        cpuMeasurement:
          'process.cpuUsage() of the local host child process (user + system), read over IPC; autocannon runs in the bench process and is not counted',
        logSamples: finalStats.logSamples,
      },
      scenarios,
      sustained,
      finished: finishedRuns,
      gremlin,
      coldStart,
      restart,
      targets: {
        finishedKeepsUpAt80Percent: keepsUpTarget(
          `finished orders keep up at ${opts.sustainedFraction * 100} % of the best closed-loop rate (finished / asked)`,
          finishedRuns.sustained,
          (s) => (s.finished?.finishedOrdersPerS ?? 0) / (s.targetRatePerS ?? 0),
        ),
        drainKeepsUpAt80Percent: keepsUpTarget(
          `inventory drain keeps up at ${opts.sustainedFraction * 100} % of the best intake rate (drain rate / accepted rate)`,
          sustained,
          (s) => s.inventory.drainRatePerS / s.http.acceptedOrdersPerS,
        ),
        gremlinP99Ratio: target(
          'order API p99 with the gremlin on ≤ 1.2 × off',
          gremlin?.p99Ratio ?? null,
          1.2,
          (v, t) => v <= t,
        ),
        coldStartRatio: target(
          'importing the entry point ≤ 1.5 × a bare @azure/functions app',
          coldStart.ratio,
          1.5,
          (v, t) => v <= t,
        ),
      },
      outputFile: null,
    };
    if (options.outputFile !== null) {
      const file = options.outputFile ?? DEFAULT_OUTPUT;
      const path = isAbsolute(file) ? file : join(PROJECT_ROOT, file);
      await mkdir(dirname(path), { recursive: true });
      result.outputFile = path;
      await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
    }
    return result;
  } finally {
    for (const cleanup of cleanups) {
      try {
        await cleanup();
      } catch (err) {
        progress(`cleanup: ${(err as Error).message}`);
      }
    }
    await admin.end();
  }
}

/** A paced run keeps up when its ratio (finished or drained per asked or accepted) is ≥ 0.95 and its backlog did not grow. */
function keepsUpTarget(
  description: string,
  run: ScenarioResult | null,
  ratio: (run: ScenarioResult) => number,
): Target {
  const value = run ? ratio(run) : Number.NaN;
  return target(description, Number.isFinite(value) ? round(value, 3) : null, 0.95, (v, t) =>
    Boolean(v >= t && run?.inventory.keepsUp),
  );
}

function target(
  description: string,
  value: number | null,
  goal: number,
  meets: (value: number, goal: number) => boolean,
): Target {
  return { description, value, target: goal, met: value === null ? null : meets(value, goal) };
}

/** Flushes dirty buffers before a timed run so that a checkpoint does not land in the middle of one. */
async function checkpoint(admin: pg.Client): Promise<void> {
  await admin.query('CHECKPOINT').catch(() => {});
}

async function pendingCount(observer: pg.Pool): Promise<number> {
  const { rows } = await observer.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM orders.orders WHERE status = 'pending'",
  );
  return rows[0]?.n ?? 0;
}

/** Waits until no order is pending; returns how long it took and what was left at the timeout. */
async function waitForDrain(observer: pg.Pool, timeoutS: number): Promise<{ seconds: number; left: number }> {
  const started = performance.now();
  for (;;) {
    const left = await pendingCount(observer);
    const seconds = (performance.now() - started) / 1000;
    if (left === 0 || seconds > timeoutS) return { seconds: round(seconds, 2), left };
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface ScenarioExtra {
  ratePerS?: number;
  /** `Prefer: wait=N` on every request: the scenario reports what a finished order cost. */
  preferWait?: number;
  gremlin?: { everyN: number; latencyMs: number };
  chaos?: { url: string; functionKey: string };
}

async function putChaos(
  chaos: { url: string; functionKey: string },
  gremlin: Record<string, unknown>,
): Promise<void> {
  const res = await fetch(chaos.url, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', [FUNCTION_KEY_HEADER]: chaos.functionKey },
    body: JSON.stringify({ gremlin }),
  });
  if (!res.ok) throw new Error(`PUT /api/chaos answered ${res.status}: ${await res.text()}`);
}

async function runScenario(
  input: {
    host: HostProcess;
    observer: pg.Pool;
    name: string;
    connections: number;
    durationS: number;
    drainTimeoutS: number;
    restock: () => Promise<unknown>;
    databaseWork: DatabaseCounters;
  } & ScenarioExtra,
): Promise<ScenarioResult> {
  const { host, observer } = input;
  await input.restock();
  if (input.gremlin && input.chaos) {
    await putChaos(input.chaos, {
      enabled: true,
      mode: 'deterministic',
      everyN: input.gremlin.everyN,
      latencyMs: input.gremlin.latencyMs,
    });
  }
  const pendingAtStart = await pendingCount(observer);
  const samples: { tS: number; pending: number }[] = [{ tS: 0, pending: pendingAtStart }];
  const before = await host.stats({ resetLoopDelay: true });
  const machineBefore = machineCpuTimes();
  const postgresBefore = postgresCpuSeconds();
  const databaseBefore = await input.databaseWork.read();
  const t0 = performance.now();

  // Sample the backlog while the load runs (one cheap query per interval).
  const every = Math.max(200, Math.min(1000, (input.durationS * 1000) / 10));
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await new Promise((r) => setTimeout(r, every));
      if (!sampling) break;
      const pending = await pendingCount(observer).catch(() => undefined);
      if (pending !== undefined) samples.push({ tS: round((performance.now() - t0) / 1000, 2), pending });
    }
  })();

  const load = await postOrders({
    url: host.url,
    connections: input.connections,
    durationS: input.durationS,
    ...(input.ratePerS ? { ratePerS: input.ratePerS } : {}),
    ...(input.preferWait ? { preferWait: input.preferWait } : {}),
  });
  sampling = false;
  const during = await host.stats();
  const machineAfter = machineCpuTimes();
  await sampler;
  const pendingAtEnd = await pendingCount(observer);
  samples.push({ tS: round((performance.now() - t0) / 1000, 2), pending: pendingAtEnd });

  if (input.gremlin && input.chaos) await putChaos(input.chaos, { enabled: false });
  const drain = await waitForDrain(observer, input.drainTimeoutS);
  const after = await host.stats();
  const postgresAfter = postgresCpuSeconds();
  const databaseAfter = await input.databaseWork.read();

  const window = [load.startedAt, load.finishedAt];
  const { rows } = await observer.query<{
    finals_during: number;
    final_orders: number;
    p50: number | null;
    p99: number | null;
    max: number | null;
    rejected: number;
    failed: number;
  }>(
    `WITH created AS (
       SELECT status, extract(epoch FROM updated_at - created_at) * 1000 AS ms
         FROM orders.orders WHERE created_at >= $1 AND created_at < $2
     )
     SELECT (SELECT count(*)::int FROM orders.orders
              WHERE status <> 'pending' AND updated_at >= $1 AND updated_at < $2) AS finals_during,
            count(*) FILTER (WHERE status <> 'pending')::int AS final_orders,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE status <> 'pending') AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FILTER (WHERE status <> 'pending') AS p99,
            max(ms) FILTER (WHERE status <> 'pending') AS max,
            count(*) FILTER (WHERE status = 'rejected')::int AS rejected,
            count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM created`,
    window,
  );
  const e2e = rows[0]!;
  const elapsed = load.elapsedS;
  const cpuDuring = cpuSeconds(before.cpu, during.cpu);
  const cpuUntilDrained = cpuSeconds(before.cpu, after.cpu);
  const backlogSlopePerS = round(slope(samples.map((s) => ({ x: s.tS, y: s.pending }))), 1);
  const accepted = load.acceptedOrders;
  return {
    name: input.name,
    connections: input.connections,
    durationS: input.durationS,
    targetRatePerS: input.ratePerS ?? null,
    gremlin: Boolean(input.gremlin),
    http: {
      elapsedS: load.elapsedS,
      requests: load.requests,
      acceptedOrders: accepted,
      acceptedOrdersPerS: load.acceptedOrdersPerS,
      latencyMs: load.latencyMs,
      non2xx: load.non2xx,
      errors: load.errors,
      timeouts: load.timeouts,
      statusCodes: load.statusCodes,
    },
    endToEnd: {
      finalOrders: e2e.final_orders,
      p50Ms: round(Number(e2e.p50 ?? 0), 1),
      p99Ms: round(Number(e2e.p99 ?? 0), 1),
      maxMs: round(Number(e2e.max ?? 0), 1),
      rejected: e2e.rejected,
      failed: e2e.failed,
    },
    inventory: {
      finalsDuringLoad: e2e.finals_during,
      drainRatePerS: round(e2e.finals_during / elapsed, 1),
      pendingAtStart,
      pendingAtEnd,
      backlogGrowthPerS: round((pendingAtEnd - pendingAtStart) / elapsed, 1),
      backlogSlopePerS,
      backlogSamples: samples,
      drainSecondsAfterLoad: drain.seconds,
      pendingAfterDrain: drain.left,
      // Orders placed per second: 202 answers, or 201 (final) ones in the Prefer: wait runs.
      keepsUp: backlogSlopePerS <= 0.05 * Math.max(load.acceptedOrdersPerS, load.finishedOrdersPerS),
    },
    hostCpu: {
      cpuSecondsDuringLoad: round(cpuDuring, 3),
      systemSecondsDuringLoad: round((during.cpu.system - before.cpu.system) / 1e6, 3),
      coresDuringLoad: round(cpuDuring / elapsed, 2),
      cpuSecondsUntilDrained: round(cpuUntilDrained, 3),
      cpuSecondsPer1000Orders: accepted > 0 ? round((cpuUntilDrained / accepted) * 1000, 3) : 0,
      rssMb: round(after.rssBytes / 1024 ** 2, 1),
      eventLoopDelayP99Ms: round(during.eventLoopDelayP99Ms, 2),
      warnings: after.warnings - before.warnings,
      errors: after.errors - before.errors,
    },
    machineCpuUtilizationDuringLoad: machineUtilization(machineBefore, machineAfter),
    postgresCpuSecondsPer1000Orders:
      postgresBefore !== null && postgresAfter !== null && accepted > 0
        ? round(((postgresAfter - postgresBefore) / accepted) * 1000, 3)
        : null,
    finished: input.preferWait
      ? finishedStats({
          preferWaitS: input.preferWait,
          load,
          hostCpuS: cpuUntilDrained,
          postgresCpuS:
            postgresBefore !== null && postgresAfter !== null ? postgresAfter - postgresBefore : null,
          database: input.databaseWork.perOrder(databaseBefore, databaseAfter, load.finishedOrders),
          machineCpuS: machineAfter.busyS - machineBefore.busyS,
        })
      : null,
  };
}

function finishedStats(input: {
  preferWaitS: number;
  load: LoadResult;
  hostCpuS: number;
  postgresCpuS: number | null;
  database: DatabaseWork;
  machineCpuS: number;
}): FinishedStats {
  const n = input.load.finishedOrders;
  const msPerOrder = (seconds: number) => (n > 0 ? round((seconds / n) * 1000, 3) : 0);
  return {
    preferWaitS: input.preferWaitS,
    finishedOrders: n,
    finishedOrdersPerS: input.load.finishedOrdersPerS,
    notFinished: input.load.requests - n,
    cpuMsPerFinishedOrder: {
      host: msPerOrder(input.hostCpuS),
      postgres: input.postgresCpuS === null ? null : msPerOrder(input.postgresCpuS),
      loadGenerator: msPerOrder(input.load.loadGeneratorCpuS),
      machine: msPerOrder(input.machineCpuS),
    },
    database: input.database,
  };
}

interface DatabaseSnapshot {
  /** Bytes of WAL written since the server's first (pg_wal_lsn_diff against 0/0). */
  walBytes: number;
  transactions: number;
  statements: Map<string, { calls: number; execMs: number; query: string }> | null;
}

interface DatabaseCounters {
  read(): Promise<DatabaseSnapshot>;
  perOrder(from: DatabaseSnapshot, to: DatabaseSnapshot, orders: number): DatabaseWork;
}

/**
 * WAL bytes (pg_current_wal_lsn), committed transactions (pg_stat_database) and statement calls
 * (pg_stat_statements, when the server loads it) of the bench's database. Server-wide WAL includes the observer's
 * few queries; per thousands of orders that is noise.
 */
function databaseCounters(admin: pg.Client, database: string): DatabaseCounters {
  let statementsAvailable: boolean | undefined;
  return {
    async read() {
      await admin.query('SELECT pg_stat_force_next_flush()').catch(() => {});
      const { rows } = await admin.query<{ wal: string; xacts: string | null }>(
        `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS wal,
                (SELECT xact_commit FROM pg_stat_database WHERE datname = $1)::text AS xacts`,
        [database],
      );
      let statements: DatabaseSnapshot['statements'] = null;
      if (statementsAvailable !== false) {
        try {
          const res = await admin.query<{ queryid: string; calls: string; exec_ms: number; query: string }>(
            `SELECT queryid::text, calls::text, total_exec_time AS exec_ms, left(query, 160) AS query
               FROM pg_stat_statements
              WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)`,
            [database],
          );
          statements = new Map(
            res.rows.map((r) => [r.queryid, { calls: Number(r.calls), execMs: r.exec_ms, query: r.query }]),
          );
          statementsAvailable = true;
        } catch {
          statementsAvailable = false;
        }
      }
      return { walBytes: Number(rows[0]!.wal), transactions: Number(rows[0]!.xacts ?? 0), statements };
    },
    perOrder(from, to, orders) {
      const per = (v: number) => (orders > 0 ? round(v / orders, 2) : null);
      let statementsPerOrder: number | null = null;
      let statementMsPerOrder: number | null = null;
      const topStatements: DatabaseWork['topStatements'] = [];
      if (from.statements && to.statements) {
        const deltas = [...to.statements].map(([id, s]) => ({
          calls: s.calls - (from.statements?.get(id)?.calls ?? 0),
          execMs: s.execMs - (from.statements?.get(id)?.execMs ?? 0),
          query: s.query.replace(/\s+/g, ' '),
        }));
        statementsPerOrder = per(deltas.reduce((a, d) => a + d.calls, 0));
        statementMsPerOrder = orders > 0 ? round(deltas.reduce((a, d) => a + d.execMs, 0) / orders, 3) : null;
        for (const d of deltas.sort((a, b) => b.execMs - a.execMs).slice(0, 12)) {
          if (d.calls > 0) {
            topStatements.push({
              callsPerOrder: per(d.calls) ?? 0,
              execMsPerOrder: orders > 0 ? round(d.execMs / orders, 3) : 0,
              query: d.query,
            });
          }
        }
      }
      return {
        walBytesPerOrder: per(to.walBytes - from.walBytes),
        transactionsPerOrder: per(to.transactions - from.transactions),
        statementsPerOrder,
        statementMsPerOrder,
        topStatements,
      };
    },
  };
}
