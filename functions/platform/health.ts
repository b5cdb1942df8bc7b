import type { HttpResponseInit } from '@azure/functions';
import type pg from 'pg';
import { json, notFound } from '../../shared/http/problem.js';
import { MAX_RELAY_ATTEMPTS } from '../../shared/messaging/outbox.js';
import type { HttpHandler } from '../definitions.js';
import type { Runtime } from '../runtime.js';

/** Tables each service cannot work without; a missing one means migrations have not run. */
const REQUIRED_TABLES = {
  orders: [
    'orders.orders',
    'orders.idempotency_keys',
    'orders.outbox',
    'orders.processed_messages',
    'orders.dead_letters',
  ],
  inventory: [
    'inventory.products',
    'inventory.reservations',
    'inventory.outbox',
    'inventory.processed_messages',
    'inventory.dead_letters',
  ],
} as const;
type Service = keyof typeof REQUIRED_TABLES;
const SERVICES = Object.keys(REQUIRED_TABLES) as Service[];

export const HEALTH_TIMEOUT_MS = 2000;

export interface ServiceHealth {
  status: 'ok' | 'unavailable';
  detail: string;
  latencyMs?: number;
  outbox?: { unpublished: number; stuck: number; oldestAgeSeconds: number };
  deadLetters?: number;
}

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A real check: one round trip on the service's own tables (not just `SELECT 1`), with a short timeout and
 * outside the breaker, so health tells the truth even while the breaker is open.
 */
export async function checkService(
  pool: pg.Pool,
  service: Service,
  timeoutMs = HEALTH_TIMEOUT_MS,
): Promise<ServiceHealth> {
  const started = performance.now();
  const tables = REQUIRED_TABLES[service];
  try {
    const { rows } = await withTimeout(
      pool.query<{ missing: string[] | null }>(
        'SELECT (SELECT array_agg(t) FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL) AS missing',
        [tables],
      ),
      timeoutMs,
      'the database',
    );
    const row = rows[0]!;
    const latencyMs = Math.round(performance.now() - started);
    if (row.missing?.length) {
      return {
        status: 'unavailable',
        detail: `The ${service} service's tables are missing (${row.missing.join(', ')}): run \`npm run migrate\`.`,
        latencyMs,
      };
    }
    const outbox = await withTimeout(
      pool.query<{ unpublished: number; stuck: number; oldest: number | null; dead: number }>(
        `SELECT count(*)::int AS unpublished, count(*) FILTER (WHERE attempts >= $1)::int AS stuck,
                extract(epoch FROM now() - min(created_at))::float8 AS oldest,
                (SELECT count(*)::int FROM ${service}.dead_letters) AS dead
           FROM ${service}.outbox WHERE published_at IS NULL`,
        [MAX_RELAY_ATTEMPTS],
      ),
      timeoutMs,
      'the database',
    );
    const o = outbox.rows[0]!;
    return {
      status: 'ok',
      detail: `The ${service} service reaches its database and tables.`,
      latencyMs,
      outbox: { unpublished: o.unpublished, stuck: o.stuck, oldestAgeSeconds: Math.round(o.oldest ?? 0) },
      deadLetters: o.dead,
    };
  } catch (err) {
    return {
      status: 'unavailable',
      detail: `The ${service} service cannot reach its database: ${(err as Error).message}.`,
      latencyMs: Math.round(performance.now() - started),
    };
  }
}

/** GET /api/health/{service?}. */
export function healthHandler(rt: Runtime): HttpHandler {
  return async (request): Promise<HttpResponseInit> => {
    const wanted = request.params.service;
    if (wanted !== undefined && !SERVICES.includes(wanted as Service)) {
      return notFound(
        `There is no service "${wanted}" to check; use /api/health/orders or /api/health/inventory.`,
      );
    }
    const services = wanted ? [wanted as Service] : SERVICES;
    const results = await Promise.all(services.map((s) => checkService(rt.db.pool, s)));
    const byName = Object.fromEntries(services.map((s, i) => [s, results[i]!]));
    const ok = results.every((r) => r.status === 'ok');
    const body = {
      status: ok ? 'ok' : 'unavailable',
      services: byName,
      breakers: rt.policies.breakerStates(),
      chaos: rt.chaos.counters,
      transport: rt.publisher.kind,
      checkedAt: new Date().toISOString(),
    };
    return json(ok ? 200 : 503, body, ok ? {} : { 'Retry-After': '5' });
  };
}
