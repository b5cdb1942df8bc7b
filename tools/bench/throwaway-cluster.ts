import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
const BIN = process.env.VALERIX_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL cluster of a test's own, to restart without disturbing anyone else's server. The binaries refuse to
 * run as root, so as root they run as the `postgres` OS user.
 */
export interface ThrowawayCluster {
  url: string;
  /** Restarts the server; resolves with the time it first accepted a connection again (polled every 10 ms). */
  restart(mode: 'fast' | 'immediate'): Promise<number>;
  /** Ends every backend of `applicationName` (what a failover or an operator does to the app's sessions). */
  terminate(applicationName: string): Promise<number>;
  stop(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;

/** Why a throwaway cluster cannot be started here, or undefined when it can. */
export async function throwawayClusterUnavailable(): Promise<string | undefined> {
  if (!existsSync(join(BIN, 'initdb')) || !existsSync(join(BIN, 'pg_ctl')))
    return `no PostgreSQL binaries at ${BIN} (set VALERIX_PG_BIN)`;
  if (asRoot) {
    try {
      await run('id', ['-u', 'postgres']);
    } catch {
      return 'running as root and there is no `postgres` OS user to run the server as';
    }
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function pgBin(name: string, args: string[]) {
  const file = join(BIN, name);
  return asRoot ? run('runuser', ['-u', 'postgres', '--', file, ...args]) : run(file, args);
}

export async function startThrowawayCluster(): Promise<ThrowawayCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'valerix-pg-'));
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const port = await freePort();
  await pgBin('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40`;
  const ctl = (args: string[]) =>
    pgBin('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), ...args]);
  await ctl(['start', '-w']);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

  const withClient = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    // The server may go away under this client (that is the point): an unheard 'error' would be uncaught.
    client.on('error', () => {});
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  };

  return {
    url,
    async restart(mode) {
      const restarted = ctl(['restart', '-w', '-m', mode]);
      const accepts = () =>
        withClient((c) => c.query('SELECT 1')).then(
          () => true,
          () => false,
        );
      while (await accepts()) await new Promise((r) => setTimeout(r, 10));
      while (!(await accepts())) await new Promise((r) => setTimeout(r, 10));
      const back = Date.now();
      await restarted;
      return back;
    },
    async terminate(applicationName) {
      return withClient(async (c) => {
        const { rows } = await c.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) t',
          [applicationName],
        );
        return rows[0]!.n;
      });
    },
    async stop() {
      await ctl(['stop', '-m', 'immediate']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
