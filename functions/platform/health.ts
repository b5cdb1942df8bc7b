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

const HEALTH_TIMEOUT_MS = 2000;

/** The health check's statements: which of the tables $1 are missing, then the service's outbox and dead letters. */
export const HEALTH_STATEMENTS = {
  missingTables:
    'SELECT (SELECT array_agg(t) FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL) AS missing',
  /** Unpublished outbox rows, those at $1 attempts or more (stuck), the oldest's age and the dead letters. */
  outbox: {
    orders: `
SELECT count(*)::int AS unpublished, count(*) FILTER (WHERE attempts >= $1)::int AS stuck,
       extract(epoch FROM now() - min(created_at))::float8 AS oldest,
       (SELECT count(*)::int FROM orders.dead_letters) AS dead
  FROM orders.outbox WHERE published_at IS NULL`,
    inventory: `
SELECT count(*)::int AS unpublished, count(*) FILTER (WHERE attempts >= $1)::int AS stuck,
       extract(epoch FROM now() - min(created_at))::float8 AS oldest,
       (SELECT count(*)::int FROM inventory.dead_letters) AS dead
  FROM inventory.outbox WHERE published_at IS NULL`,
  },
  /**
   * Cancels waiting on a dead letter: orders still cancel_requested whose StockReleased (Orders) or OrderCancelled
   * (Inventory) is an open dead letter, oldest first, at most $1: each with the dead letter's id to redrive.
   */
  cancelsWaiting: `
SELECT o.id AS order_id, 'orders-' || d.id AS dead_letter, d.created_at AS dead_lettered_at
  FROM orders.dead_letters d JOIN orders.orders o ON o.id = d.order_id
 WHERE d.redriven_at IS NULL AND o.status = 'cancel_requested' AND d.body ->> 'type' = 'StockReleased'
UNION ALL
SELECT o.id, 'inventory-' || d.id, d.created_at
  FROM inventory.dead_letters d JOIN orders.orders o ON o.id = d.order_id
 WHERE d.redriven_at IS NULL AND o.status = 'cancel_requested' AND d.body ->> 'type' = 'OrderCancelled'
 ORDER BY 3
 LIMIT $1::int`,
} as const satisfies { missingTables: string; outbox: Record<Service, string>; cancelsWaiting: string };

/** At most this many cancels waiting on a dead letter are listed by /api/health/details. */
const CANCELS_LISTED = 20;

export interface CancelWaiting {
  orderId: string;
  /** The dead letter to redrive (POST /api/dead-letters/{id}/redrive). */
  deadLetter: string;
  deadLetteredAt: string;
  detail: string;
}

/** The cancels waiting on a dead letter; undefined when the database cannot say (the checks above tell why). */
async function cancelsWaiting(pool: pg.Pool): Promise<CancelWaiting[] | undefined> {
  try {
    const { rows } = await withTimeout(
      pool.query<{ order_id: string; dead_letter: string; dead_lettered_at: Date }>(
        HEALTH_STATEMENTS.cancelsWaiting,
        [CANCELS_LISTED],
      ),
      HEALTH_TIMEOUT_MS,
      'the database',
    );
    return rows.map((r) => ({
      orderId: r.order_id,
      deadLetter: r.dead_letter,
      deadLetteredAt: r.dead_lettered_at.toISOString(),
      detail: `cancel waiting on a dead letter: redrive ${r.dead_letter} to finish it (or wait for the sweeper's re-ask)`,
    }));
  } catch {
    return undefined;
  }
}

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
      pool.query<{ missing: string[] | null }>(HEALTH_STATEMENTS.missingTables, [tables]),
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
        HEALTH_STATEMENTS.outbox[service],
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

/** The database breaker is open: every order gets 503 at once, so health says so rather than "ok". */
function breakerOpen(rt: Runtime): boolean {
  const { database } = rt.policies.breakerStates();
  return database === 'open' || database === 'isolated';
}

async function checkServices(
  rt: Runtime,
  services: Service[],
  open: boolean,
): Promise<Record<Service, ServiceHealth>> {
  const results = await Promise.all(services.map((s) => checkService(rt.db.pool, s)));
  if (open) {
    for (const r of results) {
      r.status = 'unavailable';
      r.detail = `The database circuit breaker is open: requests are refused at once until a trial call succeeds (${r.detail})`;
    }
  }
  return Object.fromEntries(services.map((s, i) => [s, results[i]!])) as Record<Service, ServiceHealth>;
}

/** The services a request asks about, or the 404 for an unknown one. */
function servicesOf(param: string | undefined): Service[] | HttpResponseInit {
  if (param === undefined) return SERVICES;
  if (!SERVICES.includes(param as Service)) {
    return notFound(
      `There is no service "${param}" to check; use /api/health/orders or /api/health/inventory.`,
    );
  }
  return [param as Service];
}

function answer(ok: boolean, body: Record<string, unknown>): HttpResponseInit {
  return json(
    ok ? 200 : 503,
    { status: ok ? 'ok' : 'unavailable', ...body },
    ok ? {} : { 'Retry-After': '5' },
  );
}

/**
 * GET /api/health/{service?}, anonymous: up or not, with a generic reason. Why exactly (driver errors name the
 * server, the user, the network) is for operators: GET /api/health/details, which needs a function key.
 */
export function healthHandler(rt: Runtime): HttpHandler {
  return async (request): Promise<HttpResponseInit> => {
    const services = servicesOf(request.params.service);
    if (!Array.isArray(services)) return services;
    // Read once: the breaker may change while the checks run, and the answer must agree with itself.
    const open = breakerOpen(rt);
    const checked = await checkServices(rt, services, open);
    const generic = Object.fromEntries(
      Object.entries(checked).map(([name, r]) => [
        name,
        {
          status: r.status,
          detail:
            r.status === 'ok'
              ? `The ${name} service is available.`
              : open
                ? `The ${name} service is refusing requests while its database recovers (circuit breaker open); retry shortly.`
                : `The ${name} service cannot reach its database or tables; operators see why at /api/health/details.`,
        },
      ]),
    );
    const ok = Object.values(checked).every((r) => r.status === 'ok');
    return answer(ok, {
      services: generic,
      breakers: rt.policies.breakerStates(),
      checkedAt: new Date().toISOString(),
    });
  };
}

/** GET /api/health/details/{service?}, function key: the same checks with their reasons, backlogs and counters. */
export function healthDetailsHandler(rt: Runtime): HttpHandler {
  return async (request): Promise<HttpResponseInit> => {
    const services = servicesOf(request.params.service);
    if (!Array.isArray(services)) return services;
    const [checked, cancels] = await Promise.all([
      checkServices(rt, services, breakerOpen(rt)),
      cancelsWaiting(rt.db.pool),
    ]);
    const ok = Object.values(checked).every((r) => r.status === 'ok');
    return answer(ok, {
      services: checked,
      // Not a failure of health: orders an operator can finish with one redrive.
      ...(cancels ? { cancelsWaitingOnDeadLetter: cancels } : {}),
      breakers: rt.policies.breakerStates(),
      chaos: rt.chaos.counters,
      transport: rt.publisher.kind,
      checkedAt: new Date().toISOString(),
    });
  };
}
