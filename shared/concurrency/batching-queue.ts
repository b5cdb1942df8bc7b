/**
 * Coalesces concurrent calls into batches, group-commit style: the first caller runs at once; callers that
 * arrive while a batch is in flight queue up and go together in the next one (at most `maxBatch`). There is no
 * timer, so a quiet instance adds no delay, and under load one statement serves a whole burst of messages.
 * A batch of one goes through `one`; a batch that fails is retried item by item through `one` (unless
 * `oneByOneAfterFailure` is false), so every caller ends up with exactly the result (or the error) it would have
 * got on its own.
 */
export class BatchingQueue<I, O> {
  private queue: { item: I; resolve(result: O): void; reject(err: unknown): void }[] = [];
  private running = false;

  constructor(
    private readonly handlers: {
      many(items: I[]): Promise<O[]>;
      one(item: I): Promise<O>;
      oneByOneAfterFailure?: boolean;
      /**
       * Start a batch on the next turn of the event loop (setImmediate) instead of at once, so that callers set off
       * by one event (say every order a status-change batch finished) go in one batch rather than the first alone
       * and the rest after it. No timer: a quiet instance waits for nothing but the current turn.
       */
      gatherTurn?: boolean;
    },
    private readonly maxBatch = 64,
  ) {}

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.running) return;
      if (this.handlers.gatherTurn) {
        this.running = true;
        setImmediate(() => void this.drain());
      } else void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        let results: O[] | undefined;
        if (batch.length > 1) {
          try {
            results = await this.handlers.many(batch.map((b) => b.item));
          } catch (err) {
            if (this.handlers.oneByOneAfterFailure === false) {
              for (const b of batch) b.reject(err);
              continue;
            }
            results = undefined; // one by one below: each caller gets its own outcome
          }
        }
        if (results) {
          for (const [i, b] of batch.entries()) b.resolve(results[i]!);
          continue;
        }
        await Promise.all(
          batch.map((b) =>
            this.handlers.one(b.item).then(
              (result) => b.resolve(result),
              (err: unknown) => b.reject(err),
            ),
          ),
        );
      }
    } finally {
      this.running = false;
    }
  }
}
