import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ProxiedTestHost, postOrder, startProxiedTestHost } from '../support/test-host.js';

// The app reaches its database through a proxy the test can stop, so "the database is down" is real to the app.
const TIMEOUT_MS = 1000;
let host: ProxiedTestHost;
let proxy: ProxiedTestHost['proxy'];

beforeAll(async () => {
  host = await startProxiedTestHost(
    { DATABASE_TIMEOUT_MS: String(TIMEOUT_MS) },
    { timers: false, runtime: { resilience: { breakerHalfOpenAfterMs: 300 } } },
  );
  proxy = host.proxy;
});
afterAll(async () => {
  await host?.stop();
});

const order = { customerId: 'breaker', productId: 'PROD-001', quantity: 1 };

async function timedPost(key: string) {
  const started = performance.now();
  const res = await postOrder(host.url, order, { 'Idempotency-Key': key });
  return { res, ms: performance.now() - started };
}

/** Posts until an order is accepted again (the breaker half-opens and a trial succeeds). */
const untilAccepted = (key: string) =>
  vi.waitFor(
    async () => {
      const { res } = await timedPost(key);
      expect(res.status, 'the order API did not recover').toBe(202);
      return res;
    },
    { timeout: 10_000, interval: 100 },
  );

describe.each(['down', 'blackhole'] as const)('database %s', (failure) => {
  it('order requests fail fast with 503 + Retry-After, and recover by themselves when it is back', async () => {
    expect((await timedPost(`${failure}-before`)).res.status).toBe(202);
    if (failure === 'down') {
      await proxy.stop();
    } else {
      await proxy.stop();
      proxy.mode = 'blackhole';
      await proxy.start(proxy.port);
    }
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await timedPost(`${failure}-during-${i}`));
    for (const { res, ms } of results) {
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      // Bounded by the configured timeout (plus scheduling slack), never by TCP's own minutes-long timeouts.
      expect(ms).toBeLessThan(TIMEOUT_MS + 1500);
    }
    // Once the breaker is open, requests are refused at once without touching the pool.
    const body = (await results.at(-1)!.res.json()) as { detail: string };
    expect(body.detail).toMatch(/circuit breaker open|unavailable|cannot be reached|did not answer/);
    expect(host.runtime.policies.breakerStates().database).toBe('open');
    const health = await fetch(`${host.url}/api/health`);
    expect(health.status).toBe(503);

    await proxy.stop();
    proxy.mode = 'up';
    await proxy.start(proxy.port);
    const recovered = await untilAccepted(`${failure}-after`);
    expect(recovered.status).toBe(202);
    expect(host.runtime.policies.breakerStates().database).toBe('closed');
    expect((await fetch(`${host.url}/api/health`)).status).toBe(200);
  });
});
