import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RollingLatency } from '../../shared/telemetry/order-api-stats.js';
import { postOrder, startTestHost, type TestHost } from '../support/test-host.js';

/**
 * The challenge's visual alert: the order API's average latency over the last 30 s, red above 1000 ms. Time is a
 * fake clock moved by the test, so nothing here waits or depends on how fast the machine is.
 */

function fakeClock(start = Date.UTC(2025, 0, 1)) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('RollingLatency', () => {
  it('is green with no samples', () => {
    const clock = fakeClock();
    expect(new RollingLatency(1000, 30_000, clock.now).snapshot()).toEqual({
      windowSeconds: 30,
      averageMs: 0,
      count: 0,
      state: 'green',
      thresholdMs: 1000,
    });
  });

  it('turns red when the 30 s average passes the threshold, and green once the slow samples leave', () => {
    const clock = fakeClock();
    const window = new RollingLatency(1000, 30_000, clock.now);
    for (let i = 0; i < 10; i++) window.record(100);
    expect(window.snapshot()).toMatchObject({ state: 'green', averageMs: 100, count: 10 });

    clock.advance(5_000);
    for (let i = 0; i < 10; i++) window.record(2_500); // a gremlin-sized stall
    expect(window.snapshot()).toMatchObject({ state: 'red', averageMs: 1300, count: 20 });

    // The fast samples leave first (30 s after they were taken): the average gets worse, still red.
    clock.advance(26_000);
    expect(window.snapshot()).toMatchObject({ state: 'red', averageMs: 2500, count: 10 });

    // Fast traffic comes back; once the slow samples are older than 30 s the tile is green again.
    for (let i = 0; i < 5; i++) window.record(80);
    expect(window.snapshot().state).toBe('red');
    clock.advance(5_000);
    expect(window.snapshot()).toMatchObject({ state: 'green', averageMs: 80, count: 5 });
  });

  it('red means strictly above the threshold', () => {
    const clock = fakeClock();
    const window = new RollingLatency(1000, 30_000, clock.now);
    window.record(900);
    window.record(1100);
    expect(window.snapshot()).toMatchObject({ averageMs: 1000, state: 'green' });
    window.record(1003);
    expect(window.snapshot()).toMatchObject({ averageMs: 1001, state: 'red' });
  });

  it('keeps one bucket per second, however many samples', () => {
    const clock = fakeClock();
    const window = new RollingLatency(1000, 30_000, clock.now);
    for (let i = 0; i < 100_000; i++) {
      window.record(i % 2 === 0 ? 10 : 30);
      if (i % 1000 === 0) clock.advance(100);
    }
    const buckets = (window as unknown as { buckets: Map<number, unknown> }).buckets;
    expect(buckets.size).toBeLessThanOrEqual(30);
    expect(window.snapshot().averageMs).toBe(20);
  });
});

describe('GET /api/stats', () => {
  const clock = fakeClock();
  let host: TestHost;

  beforeAll(async () => {
    // The default threshold (LATENCY_RED_THRESHOLD_MS = 1000), the window on the fake clock.
    host = await startTestHost({}, { runtime: { clock: clock.now } });
  });
  afterAll(async () => {
    await host?.stop();
  });

  async function stats() {
    const res = await fetch(`${host.url}/api/stats`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { orderApi: Record<string, unknown> }).orderApi;
  }

  it('counts real order API requests in the window', async () => {
    expect(await stats()).toMatchObject({ count: 0, state: 'green', thresholdMs: 1000, windowSeconds: 30 });
    expect(
      (await postOrder(host.url, { customerId: 'stats', productId: 'PROD-003', quantity: 1 })).status,
    ).toBe(202);
    expect(await stats()).toMatchObject({ count: 1 });
    await host.settle();
  });

  it('turns red when the 30 s average passes 1 s, and back to green after', async () => {
    clock.advance(31_000);
    expect(await stats()).toMatchObject({ count: 0, state: 'green' });

    // What timedOrderApi records for slow order API calls (the gremlin never delays the order API itself).
    for (let i = 0; i < 3; i++) host.runtime.orderApiLatency.record(1_500);
    expect(await stats()).toMatchObject({ state: 'red', averageMs: 1500, count: 3 });

    clock.advance(10_000);
    expect((await stats()).state).toBe('red');

    clock.advance(21_000);
    expect(await stats()).toMatchObject({ state: 'green', count: 0 });
  });
});
