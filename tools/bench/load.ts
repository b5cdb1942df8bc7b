import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { SEED_PRODUCT_IDS } from '../../shared/seed-catalog.js';
import { type Percentiles, percentiles, round, Samples } from '../stats.js';

/** The slice of autocannon 9's library API the bench uses (the package ships no types). */
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest;
  /** Called with each response's body (autocannon only collects bodies when this is set). */
  onResponse?: (status: number, body: string) => void;
}

interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  overallRate?: number;
  timeout?: number;
  requests: AutocannonRequest[];
}

interface AutocannonResult {
  duration: number;
  start: Date;
  finish: Date;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
  requests: { total: number; average: number };
}

interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(
    event: 'response',
    listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void,
  ): void;
  stop(): void;
}

const autocannon = createRequire(import.meta.url)('autocannon') as (
  options: AutocannonOptions,
) => AutocannonInstance;

export interface LoadResult {
  /** Wall-clock window of the run (what the database queries of the scenario use). */
  startedAt: Date;
  finishedAt: Date;
  elapsedS: number;
  requests: number;
  /** 202 Accepted: a new order (every request carries a fresh Idempotency-Key, so there are no replays). */
  acceptedOrders: number;
  acceptedOrdersPerS: number;
  /** Response time of every response, from autocannon's per-response timings (float ms, not its 1 ms histogram). */
  latencyMs: Percentiles;
  non2xx: number;
  /** Socket errors and timeouts (autocannon counts timeouts among errors). */
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** With `preferWait`: answers that came back final (201 with the order shipped), and that per second. */
  finishedOrders: number;
  finishedOrdersPerS: number;
  /** CPU seconds of this process (autocannon, the load generator) over the run. */
  loadGeneratorCpuS: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  /** Requests per second over all connections (open-loop pacing); omitted = as fast as the server answers. */
  ratePerS?: number;
  /** Prefix of the Idempotency-Key of this run, so keys never repeat across runs of the bench. */
  keyPrefix?: string;
  /** Send `Prefer: wait=N` (the finished-order scenarios): the answer is final unless the wait ran out. */
  preferWait?: number;
}

/**
 * Drives `POST /api/orders` with autocannon: every request gets its own Idempotency-Key (built in
 * `setupRequest`, which autocannon calls before each request), products rotate over the seed catalog.
 */
export async function postOrders(options: LoadOptions): Promise<LoadResult> {
  const prefix = options.keyPrefix ?? `bench-${randomBytes(4).toString('hex')}`;
  let n = 0;
  let finishedOrders = 0;
  const latencies = new Samples();
  const cpuBefore = process.cpuUsage();
  const startedAt = new Date();
  const started = performance.now();
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationS,
    timeout: 30,
    ...(options.ratePerS ? { overallRate: Math.max(1, Math.round(options.ratePerS)) } : {}),
    requests: [
      {
        method: 'POST',
        path: '/api/orders',
        setupRequest(request) {
          const i = n++;
          request.headers = {
            'content-type': 'application/json',
            'idempotency-key': `${prefix}-${i}`,
            ...(options.preferWait ? { prefer: `wait=${options.preferWait}` } : {}),
          };
          request.body = JSON.stringify({
            customerId: `bench-customer-${i % 997}`,
            productId: SEED_PRODUCT_IDS[i % SEED_PRODUCT_IDS.length],
            quantity: 1,
          });
          return request;
        },
        ...(options.preferWait
          ? {
              onResponse(status: number, body: string) {
                // 201 = the wait saw a final status; only a shipped order counts as finished.
                if (status === 201 && body.includes('"status":"shipped"')) finishedOrders++;
              },
            }
          : {}),
      },
    ],
  });
  instance.on('response', (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  const result = await instance;
  const elapsedS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]),
  );
  const acceptedOrders = statusCodes['202'] ?? 0;
  return {
    startedAt,
    finishedAt: new Date(),
    elapsedS: round(elapsedS, 3),
    requests: Object.values(statusCodes).reduce((a, b) => a + b, 0),
    acceptedOrders,
    acceptedOrdersPerS: round(acceptedOrders / elapsedS, 1),
    latencyMs: roundPercentiles(percentiles(latencies.view())),
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    finishedOrders,
    finishedOrdersPerS: round(finishedOrders / elapsedS, 1),
    loadGeneratorCpuS: round((cpu.user + cpu.system) / 1e6, 3),
  };
}

function roundPercentiles(p: Percentiles): Percentiles {
  return { p50: round(p.p50), p90: round(p.p90), p99: round(p.p99), max: round(p.max), mean: round(p.mean) };
}
