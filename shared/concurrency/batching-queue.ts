/**
 * Coalesces concurrent calls into batches, group-commit style: a caller runs at once while fewer than
 * `concurrency` batches are in flight; callers that arrive while every slot is busy queue up and go together in
 * the next batch a slot starts (at most `maxBatch`). There is no timer, so a quiet instance adds no delay, and
 * under load one statement serves a whole burst of callers.
 * A batch of one goes through `one`; a batch that fails is retried item by item through `one` (when `splitAfter`
 * says the failure allows it), so every caller ends up with exactly the result (or the error) it would have got
 * on its own.
 */
export class BatchingQueue<I, O> {
  private queue: { item: I; resolve(result: O): void; reject(err: unknown): void }[] = [];
  private active = 0;
  private readonly concurrency: number;

  constructor(
    private readonly handlers: {
      many(items: I[]): Promise<O[]>;
      one(item: I): Promise<O>;
      /**
       * Whether a failed batch may be retried item by item (default: always). A failure that leaves the batch's
       * outcome unknown (a timeout: the statement may still commit) must not be: every caller gets that error,
       * as it would have on its own.
       */
      splitAfter?: (err: unknown) => boolean;
      /**
       * Start a batch on the next turn of the event loop (setImmediate) instead of at once, so that callers set off
       * by one event (say every order a status-change batch finished) go in one batch rather than the first alone
       * and the rest after it. No timer: a quiet instance waits for nothing but the current turn.
       */
      gatherTurn?: boolean;
      /**
       * Start a batch this many milliseconds after its first caller, so that callers of the next few milliseconds
       * join it. Only for work nobody waits on (the outbox's marks): a caller that waits would pay it in latency.
       */
      gatherMs?: number;
      /** Batches in flight at once (default 1): each holds a connection while it runs. */
      concurrency?: number;
      /** Told of every batch that ran as one statement (its size) or was split (`split`), for the metrics. */
      onBatch?: ((size: number, split: boolean) => void) | undefined;
    },
    private readonly maxBatch = 64,
  ) {
    this.concurrency = Math.max(1, handlers.concurrency ?? 1);
  }

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.active >= this.concurrency) return;
      this.active++;
      if (this.handlers.gatherMs) setTimeout(() => void this.drain(), this.handlers.gatherMs);
      else if (this.handlers.gatherTurn) setImmediate(() => void this.drain());
      else void this.drain();
    });
  }

  /** One slot: runs batches until the queue is empty. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.runBatch(this.queue.splice(0, this.maxBatch));
    } finally {
      this.active--;
    }
  }

  private async runBatch(batch: typeof this.queue): Promise<void> {
    if (batch.length > 1) {
      try {
        const results = await this.handlers.many(batch.map((b) => b.item));
        this.handlers.onBatch?.(batch.length, false);
        for (const [i, b] of batch.entries()) b.resolve(results[i]!);
        return;
      } catch (err) {
        this.handlers.onBatch?.(batch.length, true);
        if (this.handlers.splitAfter && !this.handlers.splitAfter(err)) {
          for (const b of batch) b.reject(err);
          return;
        }
        // one by one below: each caller gets its own outcome
      }
    } else this.handlers.onBatch?.(1, false);
    await Promise.all(
      batch.map((b) =>
        this.handlers.one(b.item).then(
          (result) => b.resolve(result),
          (err: unknown) => b.reject(err),
        ),
      ),
    );
  }
}
