import { randomUUID } from 'node:crypto';
import { silentLog } from '../../infra/local-host/invocation-context.js';
import { type LocalHost, startLocalHost } from '../../infra/local-host/local-host.js';
import { loadSettings } from '../../shared/config/settings.js';
import {
  startThrowawayCluster,
  type ThrowawayCluster,
  throwawayClusterUnavailable,
} from './throwaway-cluster.js';

/** What Azure does to a Flexible Server at maintenance, scale changes and failover, in the order it is tried. */
export const RESTART_CASES = ['restart -m fast', 'restart -m immediate', 'pg_terminate_backend'] as const;
export type RestartCase = (typeof RESTART_CASES)[number];

export interface RetryingLoad {
  /** Every accepted order: its key and when its 202 came back. */
  accepted: { key: string; at: number }[];
  /** Answers by status code (or error name), retries included. */
  statuses: Map<number | string, number>;
  /** The first order accepted at or after `t`, as milliseconds after `t` (waits for it). */
  firstAcceptedAfter(t: number): Promise<number>;
  stop(): Promise<void>;
}

/** Clients placing orders one after another, each retried under its own key until it is accepted (202). */
export function retryingLoad(baseUrl: string, workers = 4): RetryingLoad {
  const accepted: { key: string; at: number }[] = [];
  const statuses = new Map<number | string, number>();
  let running = true;
  const worker = async (w: number) => {
    while (running) {
      const key = randomUUID();
      for (;;) {
        let status: number | string;
        try {
          const res = await fetch(`${baseUrl}/api/orders`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'Idempotency-Key': key },
            body: JSON.stringify({ customerId: `restart-${w}`, productId: 'PROD-001', quantity: 1 }),
          });
          await res.body?.cancel();
          status = res.status;
        } catch (err) {
          status = (err as Error).name;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 202 || status === 200) {
          accepted.push({ key, at: Date.now() });
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const running$ = Array.from({ length: workers }, (_, w) => worker(w));
  return {
    accepted,
    statuses,
    async firstAcceptedAfter(t) {
      for (;;) {
        const first = accepted.find((a) => a.at >= t);
        if (first) return first.at - t;
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async stop() {
      running = false;
      await Promise.all(running$);
    },
  };
}

/**
 * Under `load`, restarts the cluster fast, then immediately, then ends the app's sessions, and returns for each the
 * milliseconds from "the server accepts connections again" (or the termination) to the first accepted order.
 */
export async function restartUnderLoad(
  cluster: ThrowawayCluster,
  load: RetryingLoad,
): Promise<Record<RestartCase, number>> {
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await load.firstAcceptedAfter(Date.now());
  await pause(1000);
  const fast = await load.firstAcceptedAfter(await cluster.restart('fast'));
  await pause(1000);
  const immediate = await load.firstAcceptedAfter(await cluster.restart('immediate'));
  await pause(1000);
  const at = Date.now();
  if ((await cluster.terminate('valerix')) === 0) throw new Error('no app session to terminate');
  const terminated = await load.firstAcceptedAfter(at);
  return { 'restart -m fast': fast, 'restart -m immediate': immediate, pg_terminate_backend: terminated };
}

/**
 * The local host of a restart run: the database timeout bounds each attempt on a dead server, and the relay and
 * delayed retries run on a short clock so the orders of the outage finish within the run.
 */
export function restartHostSettings() {
  return loadSettings({
    OUTBOX_RELAY_INTERVAL_MS: '200',
    DELAYED_RETRY_BASE_MS: '100',
    DELAYED_RETRY_MAX_MS: '1000',
    DATABASE_TIMEOUT_MS: '1000',
  });
}

export interface RestartRecoveryResult {
  /** Why it did not run (no PostgreSQL binaries, not in --suites). */
  skipped?: string;
  /** Per case, ms from the server accepting connections again to the first accepted order. */
  recoveryMs?: Record<RestartCase, number>;
  acceptedOrders?: number;
  answers?: Record<string, number>;
}

/** `npm run bench`'s restart suite: a cluster of its own, the local host in-process, a retrying load of 4 clients. */
export async function measureRestartRecovery(options: { skip?: string }): Promise<RestartRecoveryResult> {
  const skip = options.skip ?? (await throwawayClusterUnavailable());
  if (skip) return { skipped: skip };
  const cluster = await startThrowawayCluster();
  let host: LocalHost | undefined;
  try {
    host = await startLocalHost({
      settings: restartHostSettings(),
      databaseUrl: cluster.url,
      port: 0,
      log: silentLog,
    });
    const load = retryingLoad(host.url);
    try {
      const recoveryMs = await restartUnderLoad(cluster, load);
      return {
        recoveryMs,
        acceptedOrders: load.accepted.length,
        answers: Object.fromEntries([...load.statuses].map(([k, v]) => [String(k), v])),
      };
    } finally {
      await load.stop();
    }
  } finally {
    await host?.close();
    await cluster.stop();
  }
}
