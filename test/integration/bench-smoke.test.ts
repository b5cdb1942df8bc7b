import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import { RESTART_CASES } from '../../tools/bench/database-restart.js';
import { runBench } from '../../tools/bench/run-bench.js';
import { throwawayClusterUnavailable } from '../../tools/bench/throwaway-cluster.js';
import { realPostgres } from '../support/test-database.js';

// `npm run bench` end to end, shrunk to about a second per scenario. No timing assertions: timings belong in the
// bench's output, never in a pass/fail test. This checks that the JSON has every field.

const SCENARIO_FIELDS = [
  'name',
  'connections',
  'durationS',
  'targetRatePerS',
  'gremlin',
  'http.elapsedS',
  'http.requests',
  'http.acceptedOrders',
  'http.acceptedOrdersPerS',
  'http.latencyMs.p50',
  'http.latencyMs.p90',
  'http.latencyMs.p99',
  'http.latencyMs.max',
  'http.latencyMs.mean',
  'http.non2xx',
  'http.errors',
  'http.timeouts',
  'http.statusCodes',
  'endToEnd.finalOrders',
  'endToEnd.p50Ms',
  'endToEnd.p99Ms',
  'endToEnd.maxMs',
  'endToEnd.rejected',
  'endToEnd.failed',
  'inventory.finalsDuringLoad',
  'inventory.drainRatePerS',
  'inventory.pendingAtStart',
  'inventory.pendingAtEnd',
  'inventory.backlogGrowthPerS',
  'inventory.backlogSlopePerS',
  'inventory.backlogSamples',
  'inventory.drainSecondsAfterLoad',
  'inventory.pendingAfterDrain',
  'inventory.keepsUp',
  'hostCpu.cpuSecondsDuringLoad',
  'hostCpu.systemSecondsDuringLoad',
  'hostCpu.coresDuringLoad',
  'hostCpu.cpuSecondsUntilDrained',
  'hostCpu.cpuSecondsPer1000Orders',
  'hostCpu.rssMb',
  'hostCpu.eventLoopDelayP99Ms',
  'hostCpu.warnings',
  'hostCpu.errors',
  'machineCpuUtilizationDuringLoad',
  'postgresCpuSecondsPer1000Orders',
  'finished',
];

/** The finished-order runs (Prefer: wait) have these on top of every scenario field. */
const FINISHED_FIELDS = [
  'finished.preferWaitS',
  'finished.finishedOrders',
  'finished.finishedOrdersPerS',
  'finished.notFinished',
  'finished.cpuMsPerFinishedOrder.host',
  'finished.cpuMsPerFinishedOrder.postgres',
  'finished.cpuMsPerFinishedOrder.loadGenerator',
  'finished.database.walBytesPerOrder',
  'finished.database.transactionsPerOrder',
  'finished.database.statementsPerOrder',
  'finished.database.statementMsPerOrder',
  'finished.database.topStatements',
];

const TOP_FIELDS = [
  'schemaVersion',
  'startedAt',
  'finishedAt',
  'benchSeconds',
  'options.connections',
  'options.durationS',
  'options.gremlinConnections',
  'machine.cpuModel',
  'machine.cores',
  'machine.totalMemoryGb',
  'machine.os',
  'machine.nodeVersion',
  'machine.postgresVersion',
  'machine.postgresSettings',
  'machine.gitCommit',
  'machine.gitDirty',
  'machine.loadAverageAtStart',
  'databases.host',
  'host.mode',
  'host.poolMax',
  'host.cpuMeasurement',
  'scenarios',
  'sustained.fractionOfBestRate',
  'gremlin.connections',
  'gremlin.everyN',
  'gremlin.latencyMs',
  'gremlin.p99OffMs',
  'gremlin.p99OnMs',
  'gremlin.p99Ratio',
  'coldStart.skipped',
  'coldStart.runs',
  'coldStart.entry',
  'coldStart.entryMedianMs',
  'coldStart.bareMedianMs',
  'coldStart.ratio',
  'coldStart.entryImportMedianMs',
  'coldStart.bareImportMedianMs',
  'coldStart.entrySamplesMs',
  'coldStart.bareSamplesMs',
  'coldStart.entryFirstUseMedianMs',
  'finished.scenarios',
  'finished.sustained.fractionOfBestRate',
  ...['finishedKeepsUpAt80Percent', 'drainKeepsUpAt80Percent', 'gremlinP99Ratio', 'coldStartRatio'].flatMap(
    (t) => ['description', 'value', 'target', 'met'].map((f) => `targets.${t}.${f}`),
  ),
  'outputFile',
];

/** Dotted path → [segments], for toHaveProperty (which would read "p0.5" style keys wrongly as a string). */
const path = (p: string) => p.split('.');

describe('npm run bench: refusal', () => {
  it('refuses to run without DATABASE_URL, with a message saying what to do', () => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    delete env.NODE_OPTIONS;
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'tools/bench.ts'], {
      cwd: PROJECT_ROOT,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/needs DATABASE_URL pointing at a real PostgreSQL server/);
    expect(run.stderr).toMatch(/refuses the embedded PostgreSQL/);
  });
});

describe.runIf(realPostgres)('npm run bench: smoke run against real PostgreSQL', () => {
  let dir: string;
  let json: Record<string, unknown>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'valerix-bench-smoke-'));
    const outputFile = join(dir, 'bench.json');
    const result = await runBench({
      databaseUrl: process.env.DATABASE_URL!,
      connections: [4],
      finishedConnections: [4],
      durationS: 1,
      warmupS: 1,
      gremlinConnections: 4,
      coldStartRuns: 1,
      drainTimeoutS: 60,
      outputFile,
    });
    expect(result.outputFile).toBe(outputFile);
    json = JSON.parse(await readFile(outputFile, 'utf8'));
  }, 240_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('has every top-level field, machine info and target', () => {
    for (const field of TOP_FIELDS) expect(json, field).toHaveProperty(path(field));
    expect(json.scenarios).toHaveLength(1);
  });

  it('has every field in every scenario: the concurrency level, the sustained run, gremlin off and on', () => {
    const j = json as {
      scenarios: unknown[];
      sustained: unknown;
      gremlin: { off: unknown; on: unknown };
    };
    for (const scenario of [...j.scenarios, j.sustained, j.gremlin.off, j.gremlin.on]) {
      for (const field of SCENARIO_FIELDS) expect(scenario, field).toHaveProperty(path(field));
    }
  });

  it('measures finished orders: a closed-loop run and its open-loop 80 % run, with CPU per finished order', () => {
    const { finished } = json as { finished: { scenarios: unknown[]; sustained: unknown } };
    expect(finished.scenarios).toHaveLength(1);
    for (const scenario of [...finished.scenarios, finished.sustained]) {
      for (const field of [...SCENARIO_FIELDS, ...FINISHED_FIELDS]) {
        expect(scenario, field).toHaveProperty(path(field));
      }
    }
    // With stock for a billion orders every waited answer of the closed loop comes back shipped.
    const closed = finished.scenarios[0] as {
      finished: { finishedOrders: number };
      http: { requests: number };
    };
    expect(closed.finished.finishedOrders).toBeGreaterThan(0);
  });

  it('restarted a cluster of its own and timed the first accepted order of each case (or says why not)', async () => {
    const { restart } = json as { restart: { skipped?: string; recoveryMs?: Record<string, number> } };
    const unavailable = await throwawayClusterUnavailable();
    if (unavailable) {
      expect(restart.skipped).toBe(unavailable);
      return;
    }
    expect(Object.keys(restart.recoveryMs ?? {})).toEqual([...RESTART_CASES]);
    for (const ms of Object.values(restart.recoveryMs ?? {})) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('dropped the database it created', async () => {
    const { databases } = json as { databases: { host: string } };
    expect(databases.host).toMatch(/^valerix_bench_[0-9a-f]{8}$/);
    const pg = (await import('pg')).default;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query('SELECT datname FROM pg_database WHERE datname = ANY($1)', [
        [databases.host],
      ]);
      expect(rows).toEqual([]);
    } finally {
      await admin.end();
    }
  });
});
