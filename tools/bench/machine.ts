import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import type pg from 'pg';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import { round } from '../stats.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  totalMemoryGb: number;
  os: string;
  nodeVersion: string;
  postgresVersion: string;
  /** The server settings that move these numbers most. */
  postgresSettings: Record<string, string>;
  gitCommit: string | null;
  gitDirty: boolean | null;
  /** 1/5/15-minute load averages when the bench started: other work on the machine skews every number. */
  loadAverageAtStart: number[];
}

const PG_SETTINGS = [
  'server_version',
  'max_connections',
  'shared_buffers',
  'synchronous_commit',
  'fsync',
  'wal_level',
  'commit_delay',
];

export async function machineInfo(client: pg.ClientBase): Promise<MachineInfo> {
  const cpus = os.cpus();
  const { rows } = await client.query<{ version: string }>('SELECT version()');
  const settings = await client.query<{ name: string; setting: string; unit: string | null }>(
    'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)',
    [PG_SETTINGS],
  );
  const git = await gitState();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    totalMemoryGb: round(os.totalmem() / 1024 ** 3, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    nodeVersion: process.version,
    postgresVersion: rows[0]?.version ?? 'unknown',
    postgresSettings: Object.fromEntries(
      settings.rows.map((r) => [r.name, r.unit ? `${r.setting} (${r.unit})` : r.setting]),
    ),
    ...git,
    loadAverageAtStart: os.loadavg().map((l) => round(l, 2)),
  };
}

async function gitState(): Promise<{ gitCommit: string | null; gitDirty: boolean | null }> {
  const run = promisify(execFile);
  try {
    const { stdout: commit } = await run('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT });
    const { stdout: status } = await run('git', ['status', '--porcelain'], { cwd: PROJECT_ROOT });
    return { gitCommit: commit.trim(), gitDirty: status.trim().length > 0 };
  } catch {
    return { gitCommit: null, gitDirty: null };
  }
}

/** Machine-wide CPU busy time so far (all cores, seconds), from os.cpus(). */
export function machineCpuTimes(): { busyS: number; totalS: number } {
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busyS: busy / 1000, totalS: total / 1000 };
}

/** Share of the whole machine busy between two readings (0–1). */
export function machineUtilization(
  from: ReturnType<typeof machineCpuTimes>,
  to: ReturnType<typeof machineCpuTimes>,
): number {
  const total = to.totalS - from.totalS;
  return total > 0 ? round((to.busyS - from.busyS) / total, 3) : 0;
}

/**
 * CPU seconds used so far by every process named `postgres` on this machine (Linux /proc; null elsewhere or when
 * none is visible, e.g. PostgreSQL on another host). Backends that exit between two readings take their time
 * with them, so it is a lower bound; the bench's pooled connections live through a whole run.
 */
export function postgresCpuSeconds(): number | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  let ticks = 0;
  let seen = 0;
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
    // Fields after the command: state is field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(close + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
    seen++;
  }
  return seen > 0 ? ticks / CLOCK_TICKS_PER_SECOND : null;
}

/** USER_HZ: 100 on every mainstream Linux build. */
const CLOCK_TICKS_PER_SECOND = 100;
