import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import { round } from '../stats.js';
import type { BenchResult } from './run-bench.js';

/**
 * A-B-B-A: the finished-order suite on a git ref (A) and on this working tree (B), alternated so that a load
 * that drifts during the session hurts both sides alike. On this machine the same commit's figures move by ±25 %
 * within minutes; one run against one run says nothing.
 */
export interface CompareOptions {
  baseRef: string;
  /** A-B-B-A rounds (each is four bench runs). */
  rounds: number;
  /** Passed to every run (e.g. --duration-s 10 --finished-connections 16,64). */
  benchArgs: string[];
  databaseUrl: string;
  progress: (line: string) => void;
}

interface Run {
  side: 'A' | 'B';
  result: BenchResult;
}

const run = promisify(execFile);

export async function compareWithRef(options: CompareOptions): Promise<string> {
  const dir = mkdtempSync(join(os.tmpdir(), 'valerix-bench-base-'));
  const { stdout } = await run('git', ['rev-parse', '--short', options.baseRef], { cwd: PROJECT_ROOT });
  const baseCommit = stdout.trim();
  await run('git', ['worktree', 'add', '--detach', dir, baseCommit], { cwd: PROJECT_ROOT });
  try {
    await installDependencies(dir, baseCommit, options.progress);
    const runs: Run[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const side of ['A', 'B', 'B', 'A'] as const) {
        const cwd = side === 'A' ? dir : PROJECT_ROOT;
        options.progress(`round ${round}: ${side} (${side === 'A' ? baseCommit : 'this tree'})`);
        runs.push({ side, result: await benchOnce(cwd, options) });
      }
    }
    return formatComparison(baseCommit, runs);
  } finally {
    await run('git', ['worktree', 'remove', '--force', dir], { cwd: PROJECT_ROOT }).catch(() => {
      rmSync(dir, { recursive: true, force: true });
    });
  }
}

/** The base shares this tree's node_modules when its lockfile is the same (the usual case), else installs its own. */
async function installDependencies(dir: string, ref: string, progress: (line: string) => void) {
  const same = await run('git', ['diff', '--quiet', ref, '--', 'package-lock.json'], {
    cwd: PROJECT_ROOT,
  }).then(
    () => true,
    () => false,
  );
  if (same && existsSync(join(PROJECT_ROOT, 'node_modules'))) {
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    return;
  }
  progress(`installing ${ref}'s dependencies (npm ci)`);
  await run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir });
}

/** One `npm run bench` of the finished suite in `cwd`, its JSON read back. */
function benchOnce(cwd: string, options: CompareOptions): Promise<BenchResult> {
  const out = join(mkdtempSync(join(os.tmpdir(), 'valerix-bench-run-')), 'bench.json');
  return new Promise((resolve, reject) => {
    const child = spawn(
      'npm',
      ['run', '--silent', 'bench', '--', '--suites', 'finished', ...options.benchArgs, '--out', out],
      {
        cwd,
        env: { ...process.env, DATABASE_URL: options.databaseUrl },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`bench in ${cwd} exited with ${code}:\n${stderr}`));
        return;
      }
      resolve(JSON.parse(readFileSync(out, 'utf8')) as BenchResult);
    });
  });
}

type Scenario = BenchResult['finished']['scenarios'][number];

/** Whole-machine CPU ms per finished order; derived from the run's utilization for a base that did not report it. */
function machineMs(result: BenchResult, s: Scenario): number | null {
  const f = s.finished;
  if (!f || f.finishedOrders === 0) return null;
  if (typeof f.cpuMsPerFinishedOrder.machine === 'number') return f.cpuMsPerFinishedOrder.machine;
  return (
    (s.machineCpuUtilizationDuringLoad * result.machine.cores * s.http.elapsedS * 1000) / f.finishedOrders
  );
}

const fmt = (v: number | null | undefined, digits: number) =>
  v === null || v === undefined ? '—' : v.toFixed(digits);

/** Every run's closed-loop rows, then the median of each side and B's ratio to A. */
function formatComparison(baseCommit: string, runs: readonly Run[]): string {
  const header = [
    'run',
    'load 1 min',
    'conns',
    'finished/s',
    'p99 ms',
    'host ms',
    'pg ms',
    'machine ms',
    'xacts',
    'WAL B',
  ];
  const rows: string[][] = [];
  const levels = new Map<number, { A: number[]; B: number[] }>();
  for (const [i, r] of runs.entries()) {
    for (const s of r.result.finished.scenarios) {
      const f = s.finished;
      rows.push([
        `${i + 1} ${r.side}`,
        fmt(r.result.machine.loadAverageAtStart[0], 2),
        String(s.connections),
        fmt(f?.finishedOrdersPerS, 0),
        fmt(s.http.latencyMs.p99, 1),
        fmt(f?.cpuMsPerFinishedOrder.host, 3),
        fmt(f?.cpuMsPerFinishedOrder.postgres, 3),
        fmt(machineMs(r.result, s), 3),
        fmt(f?.database.transactionsPerOrder, 2),
        fmt(f?.database.walBytesPerOrder, 0),
      ]);
      const level = levels.get(s.connections) ?? { A: [], B: [] };
      level[r.side].push(f?.finishedOrdersPerS ?? 0);
      levels.set(s.connections, level);
    }
  }
  const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / Math.max(1, v.length);
  const summary = [...levels.entries()].map(([conns, { A, B }]) => {
    const a = mean(A);
    const b = mean(B);
    return `${conns} connections: A ${fmt(a, 0)}/s, B ${fmt(b, 0)}/s (mean of ${A.length} runs each): B/A ${a > 0 ? fmt(round(b / a, 2), 2) : '—'}`;
  });
  const table = [header, ...rows].map((r) => `| ${r.join(' | ')} |`);
  table.splice(1, 0, `|${header.map(() => '---').join('|')}|`);
  return [
    `A-B-B-A: A = ${baseCommit}, B = this working tree; the finished-order suite (closed loop, Prefer: wait=10)`,
    '',
    ...table,
    '',
    ...summary,
  ].join('\n');
}
