/**
 * The challenge's visual alert, computed in-process: the rolling average latency of the order API over the
 * last `windowMs`, and green/red against a threshold. Samples are bucketed per second, so memory stays
 * constant under load.
 */
export interface LatencyWindow {
  windowSeconds: number;
  averageMs: number;
  count: number;
  state: 'green' | 'red';
  thresholdMs: number;
}

export class RollingLatency {
  private readonly buckets = new Map<number, { sum: number; count: number }>();

  constructor(
    private readonly thresholdMs: number,
    private readonly windowMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  record(durationMs: number): void {
    const second = Math.floor(this.now() / 1000);
    const bucket = this.buckets.get(second) ?? { sum: 0, count: 0 };
    bucket.sum += durationMs;
    bucket.count++;
    this.buckets.set(second, bucket);
    this.evict(second);
  }

  snapshot(): LatencyWindow {
    const nowSecond = Math.floor(this.now() / 1000);
    this.evict(nowSecond);
    let sum = 0;
    let count = 0;
    for (const b of this.buckets.values()) {
      sum += b.sum;
      count += b.count;
    }
    const averageMs = count === 0 ? 0 : Math.round((sum / count) * 10) / 10;
    return {
      windowSeconds: this.windowMs / 1000,
      averageMs,
      count,
      state: averageMs > this.thresholdMs ? 'red' : 'green',
      thresholdMs: this.thresholdMs,
    };
  }

  private evict(nowSecond: number): void {
    const oldest = nowSecond - Math.ceil(this.windowMs / 1000) + 1;
    for (const second of this.buckets.keys()) if (second < oldest) this.buckets.delete(second);
  }
}
