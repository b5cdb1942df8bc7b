import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import { median, round } from '../stats.js';

export interface ColdStartResult {
  /** Set when the measurement could not run (the entry point is not built); the numbers are null then. */
  skipped: string | null;
  runs: number;
  entry: string;
  /** Wall time of a fresh `node -e "await import(entry)"` process, spawn to exit (median of `runs`). */
  entryMedianMs: number | null;
  /** The same for a bare app: `@azure/functions` plus one registered HTTP function. */
  bareMedianMs: number | null;
  /** entryMedianMs / bareMedianMs; the target is ≤ 1.5. */
  ratio: number | null;
  /** Time spent inside `import()` alone, measured in the child (median). */
  entryImportMedianMs: number | null;
  bareImportMedianMs: number | null;
  entrySamplesMs: number[];
  bareSamplesMs: number[];
  /**
   * What the entry defers to the first invocation, measured in the same child right after the import: settings,
   * telemetry (off here), the runtime, and the code of `createOrder` (median). The bare app has nothing to defer.
   */
  entryFirstUseMedianMs: number | null;
}

const BARE_APP = (functionsUrl: string) => `
import azureFunctions from ${JSON.stringify(functionsUrl)};
azureFunctions.app.http('hello', {
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async () => ({ body: 'hello' }),
});
`;

/**
 * Cold start as the Functions worker pays it: a fresh Node process that imports the app's entry point
 * (`dist/functions/index.js`, which registers every function; settings, runtime and handler code load on first use)
 * versus one that imports a bare `@azure/functions` app. Runs alternate so drift hits both equally.
 */
export async function measureColdStart(options: {
  runs: number;
  databaseUrl: string;
  entry?: string;
  /** Not measured this time (e.g. left out of `--suites`): the reason goes into `skipped`. */
  skip?: string;
}): Promise<ColdStartResult> {
  const entry = options.entry ?? join(PROJECT_ROOT, 'dist', 'functions', 'index.js');
  const empty: ColdStartResult = {
    skipped: null,
    runs: options.runs,
    entry,
    entryMedianMs: null,
    bareMedianMs: null,
    ratio: null,
    entryImportMedianMs: null,
    bareImportMedianMs: null,
    entrySamplesMs: [],
    bareSamplesMs: [],
    entryFirstUseMedianMs: null,
  };
  if (options.skip) return { ...empty, skipped: options.skip };
  if (!existsSync(entry)) return { ...empty, skipped: `${entry} not found: run \`npm run build\` first` };

  const dir = await mkdtemp(join(tmpdir(), 'valerix-bench-'));
  try {
    const functionsUrl = pathToFileURL(
      createRequire(join(PROJECT_ROOT, 'package.json')).resolve('@azure/functions'),
    ).href;
    const bare = join(dir, 'bare-app.mjs');
    await writeFile(bare, BARE_APP(functionsUrl));
    // What the entry needs to load outside Azure: a Service Bus namespace (nothing connects at import time).
    const env: Record<string, string | undefined> = {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      ServiceBusConnection__fullyQualifiedNamespace: 'bench.servicebus.windows.net',
    };
    delete env.ServiceBusConnection;
    delete env.APPLICATIONINSIGHTS_CONNECTION_STRING;
    delete env.NODE_OPTIONS;

    const entryRuns: ChildTimings[] = [];
    const bareRuns: ChildTimings[] = [];
    const firstUseRuns: ChildTimings[] = [];
    // In processes of their own, so that the entry's wall time is the import alone.
    const firstUse = FIRST_USE(
      join(dirname(entry), 'app-runtime.js'),
      join(dirname(entry), 'function-table.js'),
    );
    try {
      // One unmeasured run of each first: the OS file cache is warm for both, like a recycled worker.
      await importInFreshProcess(entry, env);
      await importInFreshProcess(bare, env);
      for (let i = 0; i < options.runs; i++) {
        entryRuns.push(await importInFreshProcess(entry, env));
        bareRuns.push(await importInFreshProcess(bare, env));
        firstUseRuns.push(await importInFreshProcess(entry, env, firstUse));
      }
    } catch (err) {
      // Reported, not thrown: the rest of the bench's results are still worth having.
      return { ...empty, skipped: (err as Error).message.slice(0, 2000) };
    }
    const entryMedianMs = median(entryRuns.map((r) => r.wallMs));
    const bareMedianMs = median(bareRuns.map((r) => r.wallMs));
    return {
      ...empty,
      entryMedianMs: round(entryMedianMs, 1),
      bareMedianMs: round(bareMedianMs, 1),
      ratio: round(entryMedianMs / bareMedianMs, 2),
      entryImportMedianMs: round(median(entryRuns.map((r) => r.importMs)), 1),
      bareImportMedianMs: round(median(bareRuns.map((r) => r.importMs)), 1),
      entrySamplesMs: entryRuns.map((r) => round(r.wallMs, 1)),
      bareSamplesMs: bareRuns.map((r) => round(r.wallMs, 1)),
      entryFirstUseMedianMs: round(median(firstUseRuns.map((r) => r.firstUseMs ?? Number.NaN)), 1),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const MARK = '__valerix_bench_import_ms__=';
const FIRST_USE_MARK = '__valerix_bench_first_use_ms__=';

/**
 * Child code run after the import was reported: what the first `createOrder` invocation loads before it can
 * run (the runtime is closed again; it has not connected to anything).
 */
const FIRST_USE = (appRuntime: string, functionTable: string) => `
const t1 = performance.now();
const { appRuntime } = await import(${JSON.stringify(pathToFileURL(appRuntime).href)});
const { FUNCTIONS } = await import(${JSON.stringify(pathToFileURL(functionTable).href)});
const rt = await appRuntime();
(await FUNCTIONS.find((f) => f.name === 'createOrder').load())(rt);
process.stdout.write('\\n${FIRST_USE_MARK}' + (performance.now() - t1) + '\\n');
await rt.close();
`;

interface ChildTimings {
  wallMs: number;
  importMs: number;
  firstUseMs?: number;
}

/** Spawn to exit of a process that imports `file` (then runs `afterImport`, which times itself). */
function importInFreshProcess(
  file: string,
  env: Record<string, string | undefined>,
  afterImport = '',
): Promise<ChildTimings> {
  const code = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write('\\n${MARK}' + (performance.now() - t) + '\\n'); ${afterImport}; process.exit(0);`;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const wallMs = performance.now() - started;
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      if (code !== 0 || !line) {
        reject(new Error(`importing ${file} failed (exit ${code}):\n${out.slice(-2000)}`));
        return;
      }
      const firstUse = out.split('\n').find((l) => l.startsWith(FIRST_USE_MARK));
      resolve({
        wallMs,
        importMs: Number(line.slice(MARK.length)),
        ...(firstUse ? { firstUseMs: Number(firstUse.slice(FIRST_USE_MARK.length)) } : {}),
      });
    });
  });
}
