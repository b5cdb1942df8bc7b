import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SEED_PRODUCT_IDS } from '../../shared/seed-catalog.js';

/**
 * The load driver: a bounded number of concurrent clients, each placing one order over plain `fetch` and retrying
 * it the way a well-behaved client must (same Idempotency-Key, same body) until it learns the outcome.
 */

const UNKNOWN_PRODUCT = 'PROD-404';
export const MAX_ATTEMPTS = 8;

export type OrderKind = 'normal' | 'large' | 'unknown-product';

export interface OrderBody {
  customerId: string;
  lines: { productId: string; quantity: number }[];
}

export interface PlannedOrder {
  index: number;
  key: string;
  kind: OrderKind;
  body: OrderBody;
  /** Cancel the order this long after it was accepted (0: at once, most likely still pending). */
  cancelAfterMs?: number;
}

/** What the client's cancel got: accepted (202), refused (a final 4xx, e.g. 409 for a rejected order), or none. */
export interface CancelOutcome {
  result: 'accepted' | 'refused' | 'gave-up' | 'aborted';
  status: number;
  /** The key the cancel was sent with (its own, reused on every retry). */
  key: string;
  attempts: number;
  error?: string;
}

export interface Attempt {
  n: number;
  /** ms since the load started */
  startedAtMs: number;
  latencyMs: number;
  /** HTTP status, or 0 for a network error / aborted request */
  status: number;
  replayed: boolean;
  orderId?: string;
  error?: string;
}

/** accepted: 2xx with an order; refused: a final 4xx; gave-up: MAX_ATTEMPTS without an answer; aborted: the
 * duration limit cut it short; not-sent: the limit came before its turn. */
export type ClientResult = 'accepted' | 'refused' | 'gave-up' | 'aborted' | 'not-sent';

export interface ClientOutcome extends PlannedOrder {
  result: ClientResult;
  attempts: Attempt[];
  /** The order id the client ended up with (2xx), if any. */
  orderId?: string;
  /** Every distinct order id seen in any answer for this key (must be at most one). */
  orderIdsSeen: string[];
  /** Some answer carried `Idempotent-Replayed: true`. */
  replayed: boolean;
  /** The cancel, when the plan had one for this order and the order was accepted. */
  cancel?: CancelOutcome;
}

/** mulberry32: a tiny seeded PRNG, so a run's order mix can be repeated. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The order mix: about 3 % name an unknown product (every 33rd), 10 % large quantities (every 10th) that drain
 * stock so that later orders are rejected out_of_stock, the rest 1–3 units of PROD-001..005; every third normal
 * order has 2–3 lines (distinct products), so all-or-nothing reservations overlap. A share (`cancelShare`) is
 * cancelled by its client, half at once (mostly still pending) and half 0.5–3 s later (mostly shipped). Each
 * order has its own customer id, so that a duplicated order is visible as two orders of one customer.
 */
export function planOrders(count: number, seed: number, runId: string, cancelShare = 0.2): PlannedOrder[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const plan: PlannedOrder[] = [];
  for (let index = 0; index < count; index++) {
    let kind: OrderKind = 'normal';
    if (index % 33 === 16) kind = 'unknown-product';
    else if (index % 10 === 7) kind = 'large';
    const first = kind === 'unknown-product' ? UNKNOWN_PRODUCT : pick(SEED_PRODUCT_IDS);
    const lines = [{ productId: first, quantity: kind === 'large' ? between(15, 40) : between(1, 3) }];
    if (kind !== 'large' && index % 3 === 0) {
      const others = SEED_PRODUCT_IDS.filter((p) => p !== first);
      for (let extra = between(1, 2); extra > 0; extra--) {
        const productId = others.splice(Math.floor(random() * others.length), 1)[0]!;
        lines.push({ productId, quantity: between(1, 3) });
      }
    }
    const order: PlannedOrder = {
      index,
      key: `chaos-${runId}-${index}-${randomUUID()}`,
      kind,
      body: { customerId: `chaos-${runId}-c${index}`, lines },
    };
    if (random() < cancelShare) order.cancelAfterMs = random() < 0.5 ? 0 : between(500, 3000);
    plan.push(order);
  }
  return plan;
}

const RETRYABLE = new Set([409, 425, 429, 500, 502, 503, 504]);

/** Backoff before attempt n+1: the server's Retry-After when it gave one (capped), else 50 ms × 2^(n-1) ± jitter. */
function backoffMs(attempt: number, retryAfter: string | null, random = Math.random): number {
  const seconds = retryAfter === null ? Number.NaN : Number(retryAfter);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 2000);
  const base = Math.min(50 * 2 ** (attempt - 1), 1000);
  return Math.round(base / 2 + random() * base);
}

interface SendOptions {
  baseUrl: string;
  /** Aborted when the duration limit is reached: in-flight requests end and nothing new is sent. */
  signal: AbortSignal;
  loadStart: number;
}

/** One client: up to MAX_ATTEMPTS, reusing the key and the body; never gives up because an answer is slow. */
async function placeOrder(order: PlannedOrder, options: SendOptions): Promise<ClientOutcome> {
  const outcome: ClientOutcome = {
    ...order,
    result: 'gave-up',
    attempts: [],
    orderIdsSeen: [],
    replayed: false,
  };
  const body = JSON.stringify(order.body);
  for (let n = 1; n <= MAX_ATTEMPTS; n++) {
    if (options.signal.aborted) {
      outcome.result = outcome.attempts.length === 0 ? 'not-sent' : 'aborted';
      return outcome;
    }
    const started = performance.now();
    const attempt: Attempt = {
      n,
      startedAtMs: Math.round(started - options.loadStart),
      latencyMs: 0,
      status: 0,
      replayed: false,
    };
    outcome.attempts.push(attempt);
    let retryAfter: string | null = null;
    try {
      const res = await fetch(`${options.baseUrl}/api/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': order.key },
        body,
        signal: options.signal,
      });
      const text = await res.text();
      attempt.latencyMs = round(performance.now() - started);
      attempt.status = res.status;
      attempt.replayed = res.headers.get('idempotent-replayed') === 'true';
      retryAfter = res.headers.get('retry-after');
      const id = orderIdIn(text);
      if (id) {
        attempt.orderId = id;
        if (!outcome.orderIdsSeen.includes(id)) outcome.orderIdsSeen.push(id);
      }
      if (attempt.replayed) outcome.replayed = true;
      if (res.status >= 200 && res.status < 300) {
        if (id) {
          outcome.result = 'accepted';
          outcome.orderId = id;
        } else {
          attempt.error = 'a 2xx answer without an order id';
          outcome.result = 'refused';
        }
        return outcome;
      }
      if (!RETRYABLE.has(res.status)) {
        attempt.error = problemDetail(text);
        outcome.result = 'refused';
        return outcome;
      }
    } catch (err) {
      attempt.latencyMs = round(performance.now() - started);
      attempt.error = errorText(err);
      if (options.signal.aborted) {
        outcome.result = 'aborted';
        return outcome;
      }
    }
    if (n < MAX_ATTEMPTS) {
      try {
        await sleep(backoffMs(n, retryAfter), undefined, { signal: options.signal });
      } catch {
        outcome.result = 'aborted';
        return outcome;
      }
    }
  }
  return outcome;
}

/**
 * The client's cancel of its accepted order, after `cancelAfterMs`: its own Idempotency-Key, retried like the
 * order (409 only while a twin is in flight; a 409 saying the order cannot be cancelled is an answer).
 */
async function cancelOrder(
  orderId: string,
  order: PlannedOrder,
  options: SendOptions,
): Promise<CancelOutcome> {
  const outcome: CancelOutcome = { result: 'gave-up', status: 0, key: `${order.key}-cancel`, attempts: 0 };
  try {
    await sleep(order.cancelAfterMs ?? 0, undefined, { signal: options.signal });
  } catch {
    outcome.result = 'aborted';
    return outcome;
  }
  for (let n = 1; n <= MAX_ATTEMPTS; n++) {
    if (options.signal.aborted) {
      outcome.result = 'aborted';
      return outcome;
    }
    outcome.attempts = n;
    let retryAfter: string | null = null;
    try {
      const res = await fetch(`${options.baseUrl}/api/orders/${orderId}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': outcome.key },
        body: JSON.stringify({ customerId: order.body.customerId }),
        signal: options.signal,
      });
      const text = await res.text();
      outcome.status = res.status;
      retryAfter = res.headers.get('retry-after');
      if (res.status === 202) {
        outcome.result = 'accepted';
        return outcome;
      }
      const inFlight = res.status === 409 && text.includes('idempotency-in-flight');
      if (!RETRYABLE.has(res.status) || (res.status === 409 && !inFlight)) {
        outcome.result = 'refused';
        outcome.error = problemDetail(text);
        return outcome;
      }
    } catch (err) {
      outcome.error = errorText(err);
      if (options.signal.aborted) {
        outcome.result = 'aborted';
        return outcome;
      }
    }
    try {
      await sleep(backoffMs(n, retryAfter), undefined, { signal: options.signal });
    } catch {
      outcome.result = 'aborted';
      return outcome;
    }
  }
  return outcome;
}

/** Sends every planned order with at most `concurrency` clients at once; stops taking new ones when aborted. */
export async function runLoad(
  plan: readonly PlannedOrder[],
  options: SendOptions & { concurrency: number; onProgress?: (done: number) => void },
): Promise<ClientOutcome[]> {
  const outcomes: ClientOutcome[] = new Array(plan.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= plan.length) return;
      const order = plan[index]!;
      outcomes[index] = options.signal.aborted
        ? { ...order, result: 'not-sent', attempts: [], orderIdsSeen: [], replayed: false }
        : await placeOrder(order, options);
      const placed = outcomes[index]!;
      if (order.cancelAfterMs !== undefined && placed.result === 'accepted' && placed.orderId) {
        // Not awaited by this worker: the cancel waits its delay while the worker places the next order.
        cancels.push(
          cancelOrder(placed.orderId, order, options).then((c) => {
            placed.cancel = c;
          }),
        );
      }
      options.onProgress?.(++done);
    }
  };
  const cancels: Promise<void>[] = [];
  await Promise.all(Array.from({ length: Math.min(options.concurrency, plan.length) }, worker));
  await Promise.all(cancels);
  return outcomes;
}

function orderIdIn(text: string): string | undefined {
  try {
    const id = (JSON.parse(text) as { order?: { id?: unknown } }).order?.id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

function problemDetail(text: string): string {
  try {
    const p = JSON.parse(text) as { title?: string; detail?: string };
    return [p.title, p.detail].filter(Boolean).join(': ').slice(0, 300) || text.slice(0, 300);
  } catch {
    return text.slice(0, 300);
  }
}

function errorText(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return `${e.name}: ${e.message}${cause ? ` (${cause})` : ''}`.slice(0, 300);
}

const round = (ms: number) => Math.round(ms * 10) / 10;

export interface ReplayProbe {
  key: string;
  expectedOrderId: string;
  /** 0 = no answer */
  status: number;
  replayed: boolean;
  /** Not asked, or cut off, because the duration limit came first. */
  skipped?: boolean;
  orderId?: string;
}

/**
 * After the run, every accepted client asks once more with its key and body: the answer must be a replay of
 * the very order it got (a late duplicate, the way a client that lost the answer would retry tomorrow).
 */
export async function probeReplays(
  clients: readonly ClientOutcome[],
  options: { baseUrl: string; concurrency: number; signal: AbortSignal },
): Promise<ReplayProbe[]> {
  const accepted = clients.filter((c) => c.result === 'accepted' && c.orderId);
  const probes: ReplayProbe[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < accepted.length; i = next++) {
      const c = accepted[i]!;
      const probe: ReplayProbe = { key: c.key, expectedOrderId: c.orderId!, status: 0, replayed: false };
      probes.push(probe);
      if (options.signal.aborted) {
        probe.skipped = true;
        continue;
      }
      try {
        const res = await fetch(`${options.baseUrl}/api/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': c.key },
          body: JSON.stringify(c.body),
          signal: options.signal,
        });
        const id = orderIdIn(await res.text());
        probe.status = res.status;
        probe.replayed = res.headers.get('idempotent-replayed') === 'true';
        if (id) probe.orderId = id;
      } catch {
        if (options.signal.aborted) probe.skipped = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, accepted.length) }, worker));
  return probes;
}
