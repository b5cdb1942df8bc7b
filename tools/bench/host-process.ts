import { type ChildProcess, fork } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';

export type HostRequest = { type: 'stats'; id: number; resetLoopDelay?: boolean } | { type: 'close' };

export interface HostStats {
  cpu: NodeJS.CpuUsage;
  rssBytes: number;
  eventLoopDelayP99Ms: number;
  queueInFlight: number;
  deadLetters: number;
  warnings: number;
  errors: number;
  logSamples: string[];
}

export type HostReply =
  | { type: 'ready'; url: string; pid: number; poolMax: number }
  | ({ type: 'stats'; id: number } & HostStats)
  | { type: 'closed' };

export interface HostProcess {
  url: string;
  pid: number;
  poolMax: number;
  stats(options?: { resetLoopDelay?: boolean }): Promise<HostStats>;
  close(): Promise<void>;
  /** SIGKILL: the process dies at once, with whatever it holds in memory (the recovery tests). */
  kill(): Promise<void>;
}

/** CPU seconds (user + system) between two `process.cpuUsage()` readings. */
export const cpuSeconds = (from: NodeJS.CpuUsage, to: NodeJS.CpuUsage): number =>
  (to.user - from.user + (to.system - from.system)) / 1e6;

/**
 * Starts the local host in a child process. From dist/ it forks the compiled host-child.js; from the TypeScript
 * sources (the smoke test under vitest) it forks host-child.ts through tsx.
 */
export async function startHostProcess(
  env: Record<string, string | undefined>,
  options: { nodeArgs?: string[] } = {},
): Promise<HostProcess> {
  const ext = extname(fileURLToPath(import.meta.url));
  const script = fileURLToPath(new URL(`./host-child${ext}`, import.meta.url));
  const child: ChildProcess = fork(script, [], {
    cwd: PROJECT_ROOT,
    env,
    execArgv: [...(ext === '.ts' ? ['--import', 'tsx'] : []), ...(options.nodeArgs ?? [])],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  const ready = await new Promise<Extract<HostReply, { type: 'ready' }>>((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`the bench host exited (code ${code}) before it was ready:\n${output}`));
    child.once('exit', onExit);
    child.on('message', (reply: HostReply) => {
      if (reply.type !== 'ready') return;
      child.off('exit', onExit);
      resolve(reply);
    });
  });

  let nextId = 1;
  const waiting = new Map<number, (stats: HostStats) => void>();
  child.on('message', (reply: HostReply) => {
    if (reply.type !== 'stats') return;
    const { type: _type, id, ...stats } = reply;
    waiting.get(id)?.(stats);
    waiting.delete(id);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  return {
    url: ready.url,
    pid: ready.pid,
    poolMax: ready.poolMax,
    stats(options = {}) {
      const id = nextId++;
      return new Promise<HostStats>((resolve, reject) => {
        if (!child.connected) return reject(new Error(`the bench host is gone:\n${output}`));
        waiting.set(id, resolve);
        child.send({
          type: 'stats',
          id,
          ...(options.resetLoopDelay === undefined ? {} : { resetLoopDelay: options.resetLoopDelay }),
        } satisfies HostRequest);
      });
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    async close() {
      if (child.exitCode === null && child.connected) child.send({ type: 'close' } satisfies HostRequest);
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
