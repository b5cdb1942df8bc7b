import { describe, expect, it } from 'vitest';
import { OrderApiHistory } from '../../shared/telemetry/order-api-history.js';

describe('the 10-minute order-API history behind the chart', () => {
  it('gives p50/p99 and orders per second per 10 s bucket, oldest first, and forgets what is older', () => {
    let now = 1_000_000_000_000;
    const history = new OrderApiHistory(10, 60, () => now);
    for (let ms = 1; ms <= 100; ms++) history.record(ms, ms % 2 === 0);
    now += 10_000;
    history.record(500, true);
    const points = history.points();
    expect(points).toHaveLength(60);
    const [previous, current] = points.slice(-2);
    expect(previous).toMatchObject({ count: 100, p50Ms: 50, p99Ms: 99, ordersPerSecond: 5 });
    expect(current).toMatchObject({ count: 1, p50Ms: 500, p99Ms: 500 });
    expect(points[0]).toMatchObject({ count: 0, p50Ms: null, p99Ms: null, ordersPerSecond: 0 });
    now += 10 * 60_000;
    expect(history.points().every((p) => p.count === 0)).toBe(true);
  });

  it('keeps a bounded sample of a busy bucket', () => {
    const history = new OrderApiHistory(
      10,
      60,
      () => 0,
      () => 0.999,
    );
    for (let i = 0; i < 10_000; i++) history.record(i < 5000 ? 1 : 100, false);
    const last = history.points().at(-1)!;
    expect(last.count).toBe(10_000);
    expect(last.p50Ms).not.toBeNull();
  });
});
