import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpFunctionSpec } from '../../functions/definitions.js';
import { FUNCTIONS } from '../../functions/function-table.js';
import {
  authorizationValue,
  forgedCursor,
  type HostileRequest,
  keyed,
  requestFor,
  unroutedRequest,
} from '../support/hostile-requests.js';
import { TestIssuer } from '../support/oidc-issuer.js';
import { type RawResponse, sendRaw } from '../support/raw-http.js';
import { startTestHost, type TestHost } from '../support/test-host.js';

/**
 * Property-based fuzzing of every route through the real local host over HTTP: whatever arrives, the answer is
 * never a 5xx or a dropped connection, every 4xx is a problem document with a `detail`, and nothing changes unless
 * the request was valid. Seeded and bounded; a failure prints the shrunk counterexample and the seed to replay it
 * (FUZZ_SEED=… FUZZ_RUNS=… to explore further).
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_201);
const SCALE = Number(process.env.FUZZ_RUNS ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

let host: TestHost;
beforeAll(async () => {
  host = await startTestHost();
});
afterAll(async () => {
  await host?.stop();
});

interface State {
  orders: number;
  stock: Record<string, number>;
}

async function state(): Promise<State> {
  const { rows } = await host.runtime.db.query<{ orders: number; stock: Record<string, number> }>(
    `SELECT (SELECT count(*)::int FROM orders.orders) AS orders,
            (SELECT json_object_agg(product_id, available) FROM inventory.products) AS stock`,
  );
  return rows[0]!;
}

const UNSAFE = /[\p{Cc}\p{Cs}]/u;
const text = (value: unknown, max: number) =>
  typeof value === 'string' && !UNSAFE.test(value) && value.trim().length > 0 && value.trim().length <= max;

/** The order contract as the README states it (independent of the zod schema that implements it). */
function validOrder(body: Buffer): { customerId: string; productId: string; quantity: number } | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const allowed = ['customerId', 'productId', 'quantity', 'productName', 'idempotencyKey'];
  if (Object.keys(value).some((k) => !allowed.includes(k))) return undefined;
  const { customerId, productId, quantity, productName, idempotencyKey } = value;
  if (!text(customerId, 128) || !text(productId, 64)) return undefined;
  if (!Number.isInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 1000)
    return undefined;
  if (productName !== undefined && (typeof productName !== 'string' || UNSAFE.test(productName)))
    return undefined;
  if (idempotencyKey !== undefined && typeof idempotencyKey !== 'string') return undefined;
  return {
    customerId: (customerId as string).trim(),
    productId: (productId as string).trim(),
    quantity: quantity as number,
  };
}

function validRestockQuantity(body: Buffer): number | undefined {
  try {
    const value = JSON.parse(body.toString('utf8'));
    const keys = value && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
    if (keys.length !== 1 || keys[0] !== 'quantity') return undefined;
    const q = value.quantity;
    return Number.isInteger(q) && q >= 1 && q <= 100_000 ? q : undefined;
  } catch {
    return undefined;
  }
}

const seen = { accepted: 0, refused: 0, restocked: 0 };

/** Sends one request and checks the answer and its effect on orders and stock. */
async function exchange(request: HostileRequest): Promise<void> {
  await host.settle();
  const before = await state();
  const outcome = await sendRaw(host.url, request);
  if (outcome.kind === 'dropped') throw new Error(`connection dropped: ${outcome.detail}`);
  const res = outcome.response;
  if (request.aimedAt === 'putChaos' && res.status === 200) {
    // A valid patch may turn the gremlin or the crash simulator on; later requests must not see them.
    await host.runtime.chaos.update({ gremlin: { enabled: false }, crash: { enabled: false } });
  }
  checkAnswer(request, res);
  await host.settle();
  const after = await state();
  await checkEffect(request, res, before, after);
}

function checkAnswer(request: HostileRequest, res: RawResponse): void {
  expect(res.status, 'never a 5xx').toBeLessThan(500);
  if (res.status < 400) return;
  seen.refused++;
  expect(res.headers['content-type'], `${res.status} is a problem document`).toBe('application/problem+json');
  if (request.method === 'HEAD') return; // a HEAD answer has no body
  const problem = JSON.parse(res.body) as { status?: unknown; detail?: unknown };
  expect(problem.status).toBe(res.status);
  expect(typeof problem.detail === 'string' && problem.detail.length > 0, `a detail: ${res.body}`).toBe(true);
}

async function checkEffect(request: HostileRequest, res: RawResponse, before: State, after: State) {
  const expected = { ...before.stock };
  const created = after.orders - before.orders;
  if (created !== 0) {
    expect(created, 'at most one order per request').toBe(1);
    expect([201, 202], 'an order is created only by an accepted request').toContain(res.status);
    const order = validOrder(request.body ?? Buffer.alloc(0));
    expect(order, 'the accepted body is a valid order').toBeDefined();
    const placed = JSON.parse(res.body).order as { id: string };
    const { rows } = await host.runtime.db.query<{
      customer_id: string;
      product_id: string;
      quantity: number;
      status: string;
    }>('SELECT customer_id, product_id, quantity, status FROM orders.orders WHERE id = $1', [placed.id]);
    expect(rows[0]).toMatchObject({
      customer_id: order!.customerId,
      product_id: order!.productId,
      quantity: order!.quantity,
    });
    if (rows[0]!.status === 'shipped') expected[order!.productId]! -= order!.quantity;
    seen.accepted++;
  }
  if (request.aimedAt === 'restockInventory' && res.status === 200) {
    const quantity = validRestockQuantity(request.body ?? Buffer.alloc(0));
    expect(quantity, 'a restock is applied only for a valid body').toBeDefined();
    const item = JSON.parse(res.body).item as { productId: string };
    expected[item.productId]! += quantity!;
    seen.restocked++;
  }
  expect(after.stock, 'stock moves only by accepted orders and restocks').toEqual(expected);
}

const property = (arb: fc.Arbitrary<HostileRequest>) => fc.asyncProperty(arb, exchange);

const keyHeader = (): [string, string] => ['x-functions-key', host.functionKey];
const httpFunctions = FUNCTIONS.filter((f): f is HttpFunctionSpec => f.kind === 'http');
/** More runs where the input is richer (bodies, queries). */
const RUNS: Record<string, number> = {
  createOrder: 300,
  restockInventory: 120,
  putChaos: 100,
  listOrders: 120,
};

describe('hostile requests against the local host (fast-check)', () => {
  it.each(httpFunctions.map((fn) => [fn.name, fn] as const))(
    '%s: never a 5xx or a dropped connection, a problem for every 4xx, no effect unless valid',
    async (_name, fn) => {
      await fc.assert(property(keyed(fn, requestFor(fn), host.functionKey)), {
        seed: SEED,
        numRuns: runs(RUNS[fn.name] ?? 80),
      });
    },
  );

  it('GET /api/orders with forged and tampered cursors: 400 naming the cursor unless it is a real position', async () => {
    for (const quantity of [1, 2, 3]) {
      await fetch(`${host.url}/api/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ customerId: 'cursor', productId: 'PROD-003', quantity }),
      });
    }
    const page = (await (
      await fetch(`${host.url}/api/orders?limit=1`, { headers: { 'x-functions-key': host.functionKey } })
    ).json()) as { nextCursor: string };
    const real = page.nextCursor;
    const tampered = fc
      .tuple(fc.nat({ max: real.length - 1 }), fc.constantFrom(...'AZaz09-_=.%+/'))
      .map(([i, c]) => `${real.slice(0, i)}${c}${real.slice(i + 1)}`);
    await fc.assert(
      fc.asyncProperty(fc.oneof(forgedCursor, tampered), async (cursor) => {
        const outcome = await sendRaw(host.url, {
          method: 'GET',
          target: `/api/orders?cursor=${cursor}`,
          headers: [keyHeader()],
        });
        if (outcome.kind === 'dropped') throw new Error(`connection dropped: ${outcome.detail}`);
        const { status, body } = outcome.response;
        expect([200, 400]).toContain(status);
        if (status === 400) expect(JSON.parse(body).errors[0].field).toBe('cursor');
      }),
      { seed: SEED, numRuns: runs(200) },
    );
  });

  it('unrouted requests (any method, path, version) get a problem document, never a dropped connection', async () => {
    await fc.assert(property(unroutedRequest), { seed: SEED, numRuns: runs(300) });
  });

  it('generated some valid requests, so that "no effect unless valid" was put to the test', () => {
    expect(seen.accepted).toBeGreaterThan(10);
    expect(seen.restocked).toBeGreaterThan(3);
    expect(seen.refused).toBeGreaterThan(500);
  });
});

/**
 * CUSTOMER_AUTH=jwt: garbage in Authorization (and in X-MS-CLIENT-PRINCIPAL, which this mode never reads) against
 * every route. Never a 5xx: a token that cannot be verified is a 401 problem, whatever it is made of.
 */
describe('hostile Authorization headers with CUSTOMER_AUTH=jwt', () => {
  let issuer: TestIssuer;
  let jwtHost: TestHost;
  beforeAll(async () => {
    issuer = await new TestIssuer().start();
    await issuer.addKey('RS256');
    jwtHost = await startTestHost(issuer.settings());
  });
  afterAll(async () => {
    await jwtHost?.stop();
    await issuer?.stop();
  });

  it.each(httpFunctions.map((fn) => [fn.name, fn] as const))(
    '%s: garbage tokens are 401 problems (or the route’s own 4xx), never a 5xx',
    async (_name, fn) => {
      const arb = fc.tuple(requestFor(fn), authorizationValue).map(
        ([request, value]): HostileRequest => ({
          ...request,
          headers: [...request.headers, ['Authorization', value]],
        }),
      );
      await fc.assert(
        fc.asyncProperty(arb, async (request) => {
          const outcome = await sendRaw(jwtHost.url, request);
          if (outcome.kind === 'dropped') throw new Error(`connection dropped: ${outcome.detail}`);
          checkAnswer(request, outcome.response);
        }),
        { seed: SEED, numRuns: runs(40) },
      );
    },
  );
});

/** The cases of the report that started this suite, one by one, so that each stays fixed by name. */
describe('the reported cases', () => {
  const send = async (
    request: Omit<HostileRequest, 'aimedAt' | 'headers'> & { headers?: [string, string][] },
  ) => {
    const outcome = await sendRaw(host.url, { headers: [], ...request });
    if (outcome.kind === 'dropped') throw new Error(`connection dropped: ${outcome.detail}`);
    const { response } = outcome;
    const problem =
      response.headers['content-type'] === 'application/problem+json' ? JSON.parse(response.body) : undefined;
    return { ...response, problem };
  };
  const json: [string, string][] = [['Content-Type', 'application/json']];

  it('a NUL in customerId or productId is a 400 naming the field', async () => {
    for (const field of ['customerId', 'productId']) {
      const body = { customerId: 'c', productId: 'PROD-001', quantity: 1, [field]: 'PROD\u0000' };
      const res = await send({
        method: 'POST',
        target: '/api/orders',
        headers: json,
        body: Buffer.from(JSON.stringify(body)),
      });
      expect(res.status).toBe(400);
      expect(res.problem.errors).toEqual([{ field, message: expect.stringMatching(/control characters/) }]);
    }
  });

  it('a path segment that is not valid percent-encoded UTF-8 is a 400, under orders, inventory and restock', async () => {
    for (const [method, target] of [
      ['GET', '/api/orders/%E0%A4%A'],
      ['GET', '/api/inventory/%E0%A4%A'],
      ['POST', '/api/inventory/%E0%A4%A/restock'],
    ] as const) {
      const res = await send({ method, target, body: Buffer.from('{"quantity":1}'), headers: json });
      expect(res.status, target).toBe(400);
      expect(res.problem.detail).toMatch(/not valid percent-encoded UTF-8/);
    }
    const nul = await send({ method: 'GET', target: '/api/inventory/%00' });
    expect(nul.status).toBe(400);
    expect(nul.problem.errors[0].field).toBe('productId');
  });

  it('a forged, well-formed cursor is a 400', async () => {
    const cursor = Buffer.from(JSON.stringify(['0000-01-01T00:00:00.000Z', crypto.randomUUID()])).toString(
      'base64url',
    );
    const res = await send({ method: 'GET', target: `/api/orders?cursor=${cursor}`, headers: [keyHeader()] });
    expect(res.status).toBe(400);
    expect(res.problem.errors[0].field).toBe('cursor');
  });

  it('an unknown method, CONNECT and OPTIONS get 405 with Allow; an unknown path 404', async () => {
    for (const method of ['FOO', 'CONNECT', 'OPTIONS', 'get']) {
      const res = await send({ method, target: '/api/orders' });
      expect(res.status, method).toBe(405);
      expect(res.headers.allow, method).toMatch(/GET/);
      expect(res.problem.detail).toMatch(/is not supported/);
    }
    expect((await send({ method: 'FOO', target: '/api/nowhere' })).status).toBe(404);
  });

  it('odd Host, Expect and malformed header lines are problem documents, not bare statuses', async () => {
    const cases: [Partial<HostileRequest>, number][] = [
      [{ host: 'a b' }, 400],
      [{ host: null }, 400],
      [{ headers: [['Expect', 'nothing']] }, 417],
      [{ headers: [['Bad Header', 'x']] }, 400],
      [{ headers: [['X-Long', 'y'.repeat(20_000)]] }, 431],
    ];
    for (const [request, status] of cases) {
      const res = await send({ method: 'GET', target: '/api/health', ...request });
      expect(res.status, JSON.stringify(request).slice(0, 80)).toBe(status);
      expect(res.problem.detail).toBeTruthy();
    }
  });

  it('a body over the host limit (1 MiB) is a 413 problem, not a closed connection', async () => {
    const res = await send({
      method: 'POST',
      target: '/api/orders',
      headers: json,
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    });
    expect(res.status).toBe(413);
    expect(res.problem.detail).toMatch(/at most/);
  });

  it('an oversized tracestate is dropped at intake: the order still ships', async () => {
    const res = await send({
      method: 'POST',
      target: '/api/orders',
      headers: [
        ['Content-Type', 'application/json'],
        ['Prefer', 'wait=5'],
        ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
        ['tracestate', `vendor=${'x'.repeat(600)}`],
      ],
      body: Buffer.from(JSON.stringify({ customerId: 'trace', productId: 'PROD-005', quantity: 1 })),
    });
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body).order).toMatchObject({ status: 'shipped', reason: null });
  });
});
