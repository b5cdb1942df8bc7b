import { randomBytes } from 'node:crypto';
import { pendingOrder } from '../../functions/orders/order-model.js';
import { placeOrder } from '../../functions/orders/orders-repository.js';
import { SEED_PRODUCT_IDS } from '../../shared/catalog.js';
import { createDatabase } from '../../shared/db/database.js';
import { createPool } from '../../shared/db/pool.js';
import { fingerprint } from '../../shared/idempotency/idempotency-key.js';
import type { Policies } from '../../shared/resilience/policies.js';
import { newTraceparent } from '../../shared/telemetry/trace-context.js';
import { roundPercentiles } from './load.js';
import { postgresCpuSeconds } from './machine.js';
import { type Percentiles, percentiles, round, Samples } from './stats.js';

export interface CeilingResult {
  /** Intake transactions committed per second: what PostgreSQL allows at this concurrency, with no app around it. */
  ordersPerS: number;
  transactions: number;
  errors: number;
  firstError: string | null;
  latencyMs: Percentiles;
  /** Connections: one per concurrent client (like pgbench -c N), or the local host's pool size. */
  poolSize: number;
  elapsedS: number;
  /** CPU seconds per 1000 transactions of the bench process driving them (pg client work). */
  driverCpuSecondsPer1000: number;
  /** CPU seconds per 1000 transactions of the PostgreSQL server processes (null when not visible). */
  postgresCpuSecondsPer1000: number | null;
}

/** Policies that add nothing: the ceiling measures the database, not cockatiel. */
const passThrough = { execute: <T>(fn: () => Promise<T>) => fn() } as unknown as Policies['database'];

/**
 * The ceiling: the intake transaction of `POST /api/orders` (`placeOrder`, the very function the handler calls,
 * with an Idempotency-Key like every bench request) issued straight through `pg` by `connections` concurrent
 * loops for `durationS`, over `poolSize` connections. No HTTP, no validation, no publishing, no inventory work.
 */
export async function runCeiling(options: {
  databaseUrl: string;
  connections: number;
  durationS: number;
  /** Defaults to `connections`. */
  poolSize?: number;
  ttlHours?: number;
}): Promise<CeilingResult> {
  const poolSize = options.poolSize ?? options.connections;
  const pool = createPool({
    connectionString: options.databaseUrl,
    max: poolSize,
    connectionTimeoutMs: 30_000,
    applicationName: 'valerix-bench-ceiling',
  });
  const db = createDatabase(pool, { database: passThrough });
  const prefix = `ceiling-${randomBytes(4).toString('hex')}`;
  let n = 0;
  let errors = 0;
  let firstError: string | null = null;
  const latencies = new Samples();
  try {
    // Open every connection before the clock starts.
    await Promise.all(Array.from({ length: poolSize }, () => pool.query('SELECT 1')));
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const postgresBefore = postgresCpuSeconds();
    const deadline = started + options.durationS * 1000;
    const loop = async () => {
      while (performance.now() < deadline) {
        const i = n++;
        const t0 = performance.now();
        try {
          await placeOrder(db, intakeInput(`${prefix}-${i}`, i, options.ttlHours ?? 24));
          latencies.push(performance.now() - t0);
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    };
    await Promise.all(Array.from({ length: options.connections }, loop));
    const elapsedS = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const postgresAfter = postgresCpuSeconds();
    const per1000 = (seconds: number) =>
      latencies.length > 0 ? round((seconds / latencies.length) * 1000, 3) : 0;
    return {
      ordersPerS: round(latencies.length / elapsedS, 1),
      transactions: latencies.length,
      errors,
      firstError,
      latencyMs: roundPercentiles(percentiles(latencies.view())),
      poolSize,
      elapsedS: round(elapsedS, 3),
      driverCpuSecondsPer1000: per1000((cpu.user + cpu.system) / 1e6),
      postgresCpuSecondsPer1000:
        postgresBefore !== null && postgresAfter !== null ? per1000(postgresAfter - postgresBefore) : null,
    };
  } finally {
    await db.close();
  }
}

/** What `createOrder` hands `placeOrder` for a new order with an Idempotency-Key. */
function intakeInput(key: string, i: number, ttlHours: number) {
  const customerId = `ceiling-customer-${i % 997}`;
  const productId = SEED_PRODUCT_IDS[i % SEED_PRODUCT_IDS.length]!;
  const quantity = 1;
  const { order, message } = pendingOrder(
    { customerId, productId, quantity },
    { traceparent: newTraceparent() },
  );
  return {
    order,
    message,
    response: { status: 202, body: { order } },
    idempotency: {
      scope: customerId,
      key,
      fingerprint: fingerprint({ customerId, productId, quantity }),
      ttlHours,
    },
  };
}
