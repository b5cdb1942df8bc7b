import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compareWithRef } from './bench/compare.js';
import { formatReport } from './bench/report.js';
import { BenchRefusedError, DEFAULT_OUTPUT, runBench, SUITES } from './bench/run-bench.js';

export { type BenchOptions, type BenchResult, runBench } from './bench/run-bench.js';

const USAGE = `npm run bench -- [options]      (needs DATABASE_URL to a real PostgreSQL server)

  --suites intake,finished,gremlin,cold-start,restart   which parts run (default: all; restart needs the
                               PostgreSQL server binaries, initdb and pg_ctl, to start a cluster of its own)
  --connections 1,16,64        concurrency levels of the intake runs (HTTP connections)
  --finished-connections 16,64 concurrency levels of the finished-order runs (Prefer: wait=10, closed loop)
  --duration-s 10              seconds per timed run
  --warmup-s 3                 warm-up seconds
  --gremlin-connections 16     concurrency of the gremlin off/on pair
  --sustained-fraction 0.8     pace of the sustained run, as a share of the best accepted rate
  --cold-start-runs 5          fresh processes per cold-start measurement
  --drain-timeout-s 120        how long to wait for a run's orders to reach a final status
  --out ${DEFAULT_OUTPUT}   where the JSON goes
  --pool-max N                 DATABASE_POOL_MAX of the local host (default: the app's default)
  --compare REF                A-B-B-A: the finished suite on git REF (A) and on this tree (B), alternated,
                               with each run's figures and the medians (the way to tell a change from drift)
  --rounds 1                   A-B-B-A rounds of --compare (four runs each)
  --host-cpu-prof DIR          write a CPU profile of the local host (node --cpu-prof) to DIR; read it with
                               npx tsx tools/bench/profile-top.ts DIR/*.cpuprofile

Creates valerix_bench_<random> on that server and drops it at the end.`;

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>;
  try {
    values = parse();
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const databaseUrl = process.env.DATABASE_URL?.trim();
  if (!databaseUrl) {
    console.error(
      'npm run bench needs DATABASE_URL pointing at a real PostgreSQL server, e.g.\n' +
        '  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench\n' +
        'It refuses the embedded PostgreSQL (PGlite): that runs every connection through one session, so its\n' +
        'numbers would say nothing about production. The bench creates its own databases there and drops them.',
    );
    return 2;
  }
  const numbers = (v: string, name: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0)
      throw new BenchRefusedError(`--${name} must be a positive number, got "${v}"`);
    return n;
  };
  if (values.compare) {
    const passed = (['duration-s', 'warmup-s', 'finished-connections', 'drain-timeout-s'] as const).flatMap(
      (name) => [`--${name}`, values[name]],
    );
    if (values['pool-max']) passed.push('--pool-max', values['pool-max']);
    console.log(
      await compareWithRef({
        baseRef: values.compare,
        rounds: numbers(values.rounds, 'rounds'),
        benchArgs: passed,
        databaseUrl,
        progress: (line) => console.error(`[bench] ${line}`),
      }),
    );
    return 0;
  }
  const abort = new AbortController();
  process.on('SIGINT', () => {
    if (abort.signal.aborted) process.exit(130);
    console.error(
      '\nstopping after the current step and dropping the bench databases (Ctrl+C again to quit now)…',
    );
    abort.abort();
  });
  try {
    const result = await runBench({
      databaseUrl,
      connections: values.connections.split(',').map((c) => numbers(c.trim(), 'connections')),
      finishedConnections: values['finished-connections']
        .split(',')
        .map((c) => numbers(c.trim(), 'finished-connections')),
      suites: values.suites.split(',').map((name) => {
        const suite = SUITES.find((s) => s === name.trim());
        if (!suite) throw new BenchRefusedError(`--suites takes ${SUITES.join(', ')}; got "${name}"`);
        return suite;
      }),
      durationS: numbers(values['duration-s'], 'duration-s'),
      warmupS: numbers(values['warmup-s'], 'warmup-s'),
      gremlinConnections: numbers(values['gremlin-connections'], 'gremlin-connections'),
      sustainedFraction: numbers(values['sustained-fraction'], 'sustained-fraction'),
      coldStartRuns: numbers(values['cold-start-runs'], 'cold-start-runs'),
      drainTimeoutS: numbers(values['drain-timeout-s'], 'drain-timeout-s'),
      outputFile: values.out,
      hostEnv: values['pool-max'] ? { DATABASE_POOL_MAX: values['pool-max'] } : {},
      ...(values['host-cpu-prof'] ? { hostCpuProfileDir: values['host-cpu-prof'] } : {}),
      progress: (line) => console.error(`[bench] ${line}`),
      signal: abort.signal,
    });
    console.log(formatReport(result));
    return 0;
  } catch (err) {
    console.error(
      err instanceof BenchRefusedError ? err.message : `bench failed: ${(err as Error).stack ?? err}`,
    );
    return err instanceof BenchRefusedError ? 2 : 1;
  }
}

function parse() {
  return parseArgs({
    options: {
      connections: { type: 'string', default: '1,16,64' },
      'finished-connections': { type: 'string', default: '16,64' },
      suites: { type: 'string', default: SUITES.join(',') },
      'duration-s': { type: 'string', default: '10' },
      'warmup-s': { type: 'string', default: '3' },
      'gremlin-connections': { type: 'string', default: '16' },
      'sustained-fraction': { type: 'string', default: '0.8' },
      'cold-start-runs': { type: 'string', default: '5' },
      'drain-timeout-s': { type: 'string', default: '120' },
      out: { type: 'string', default: DEFAULT_OUTPUT },
      'pool-max': { type: 'string' },
      'host-cpu-prof': { type: 'string' },
      compare: { type: 'string' },
      rounds: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
}

const invokedDirectly =
  process.argv[1] !== undefined &&
  realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) process.exitCode = await main();
