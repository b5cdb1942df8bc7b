/**
 * The last 10 minutes of the order API, for the page's chart (GET /api/stats `history`): per 10 s bucket, the
 * p50 and p99 latency and the orders placed per second. Bounded: at most `buckets` buckets, and at most
 * SAMPLES_PER_BUCKET latencies kept per bucket (a reservoir sample, so a busy bucket's percentiles stay fair).
 */
export interface HistoryPoint {
  /** The bucket's start (ISO 8601). */
  at: string;
  count: number;
  p50Ms: number | null;
  p99Ms: number | null;
  ordersPerSecond: number;
}

const SAMPLES_PER_BUCKET = 2048;

interface Bucket {
  start: number;
  samples: number[];
  seen: number;
  orders: number;
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return Math.round((sorted[at] as number) * 10) / 10;
}

export class OrderApiHistory {
  private readonly buckets: Bucket[] = [];

  constructor(
    readonly bucketSeconds = 10,
    private readonly bucketCount = 60,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  /** One order-API request; `placed` when it placed an order. */
  record(durationMs: number, placed: boolean): void {
    const bucket = this.current();
    bucket.seen++;
    if (placed) bucket.orders++;
    if (bucket.samples.length < SAMPLES_PER_BUCKET) bucket.samples.push(durationMs);
    else {
      const slot = Math.floor(this.random() * bucket.seen);
      if (slot < SAMPLES_PER_BUCKET) bucket.samples[slot] = durationMs;
    }
  }

  /** Oldest first, one point per bucket of the window (empty ones included, so the chart's time axis is even). */
  points(): HistoryPoint[] {
    const size = this.bucketSeconds * 1000;
    const newest = Math.floor(this.now() / size) * size;
    this.evict(newest);
    const byStart = new Map(this.buckets.map((b) => [b.start, b]));
    const points: HistoryPoint[] = [];
    for (let start = newest - (this.bucketCount - 1) * size; start <= newest; start += size) {
      const bucket = byStart.get(start);
      const sorted = bucket ? [...bucket.samples].sort((a, b) => a - b) : [];
      // The bucket still filling counts its orders over the seconds it has had so far.
      const seconds = start === newest ? Math.max(1, (this.now() - start) / 1000) : this.bucketSeconds;
      points.push({
        at: new Date(start).toISOString(),
        count: bucket?.seen ?? 0,
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
        ordersPerSecond: Math.round(((bucket?.orders ?? 0) / seconds) * 100) / 100,
      });
    }
    return points;
  }

  private current(): Bucket {
    const size = this.bucketSeconds * 1000;
    const start = Math.floor(this.now() / size) * size;
    const last = this.buckets.at(-1);
    if (last && last.start === start) return last;
    this.evict(start);
    const bucket = { start, samples: [], seen: 0, orders: 0 };
    this.buckets.push(bucket);
    return bucket;
  }

  private evict(newest: number): void {
    const oldest = newest - (this.bucketCount - 1) * this.bucketSeconds * 1000;
    while (this.buckets.length > 0 && (this.buckets[0] as Bucket).start < oldest) this.buckets.shift();
  }
}
