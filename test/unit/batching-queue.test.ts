import { describe, expect, it } from 'vitest';
import { BatchingQueue } from '../../shared/concurrency/batching-queue.js';

/** A deferred promise, to hold a batch in flight while more callers arrive. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('BatchingQueue', () => {
  it('runs a lone call at once through `one`, with no batch and no timer', async () => {
    const calls: string[] = [];
    const q = new BatchingQueue<number, number>({
      many: async (items) => {
        calls.push(`many(${items})`);
        return items.map((i) => i * 10);
      },
      one: async (item) => {
        calls.push(`one(${item})`);
        return item * 10;
      },
    });
    expect(await q.run(1)).toBe(10);
    expect(calls).toEqual(['one(1)']);
  });

  it('with gatherTurn, callers set off in the same turn (by one event) go in one batch, not the first alone', async () => {
    const batches: number[][] = [];
    const q = new BatchingQueue<number, number>({
      many: async (items) => {
        batches.push(items);
        return items.map((i) => i * 10);
      },
      one: async (item) => {
        batches.push([item]);
        return item * 10;
      },
      gatherTurn: true,
    });
    // As when one status-change batch wakes several waits: each continues in a microtask of the same turn.
    const results = await Promise.all([1, 2, 3].map((i) => Promise.resolve().then(() => q.run(i))));
    expect(results).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(await q.run(4)).toBe(40);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('groups the callers that arrive while a batch is in flight, each getting its own result', async () => {
    const first = gate();
    const batches: number[][] = [];
    const q = new BatchingQueue<number, string>({
      many: async (items) => {
        batches.push(items);
        return items.map((i) => `r${i}`);
      },
      one: async (item) => {
        batches.push([item]);
        await first.opened;
        return `r${item}`;
      },
    });
    const results = [q.run(1), q.run(2), q.run(3), q.run(4)];
    first.open();
    expect(await Promise.all(results)).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('never puts more than maxBatch items in one batch', async () => {
    const first = gate();
    const sizes: number[] = [];
    const q = new BatchingQueue<number, number>(
      {
        many: async (items) => {
          sizes.push(items.length);
          return items;
        },
        one: async (item) => {
          sizes.push(1);
          await first.opened;
          return item;
        },
      },
      3,
    );
    const all = Array.from({ length: 8 }, (_, i) => q.run(i));
    first.open();
    expect(await Promise.all(all)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(sizes).toEqual([1, 3, 3, 1]);
  });

  it('retries a failed batch item by item, so one bad item fails only its own caller', async () => {
    const first = gate();
    const q = new BatchingQueue<number, number>({
      many: async () => {
        throw new Error('batch failed');
      },
      one: async (item) => {
        if (item === 0) await first.opened;
        if (item === 2) throw new Error(`item ${item} is bad`);
        return item;
      },
    });
    const runs = [0, 1, 2, 3].map((i) =>
      q.run(i).then(
        (v) => `ok ${v}`,
        (e: Error) => e.message,
      ),
    );
    first.open();
    expect(await Promise.all(runs)).toEqual(['ok 0', 'ok 1', 'item 2 is bad', 'ok 3']);
  });

  it('when splitAfter refuses the failure, a failed batch fails every caller in it with the batch error', async () => {
    const first = gate();
    const q = new BatchingQueue<number, number>({
      many: async () => {
        throw new Error('batch failed');
      },
      one: async (item) => {
        await first.opened;
        return item;
      },
      splitAfter: (err) => (err as Error).message !== 'batch failed',
    });
    const runs = [0, 1, 2].map((i) =>
      q.run(i).then(
        (v) => `ok ${v}`,
        (e: Error) => e.message,
      ),
    );
    first.open();
    expect(await Promise.all(runs)).toEqual(['ok 0', 'batch failed', 'batch failed']);
  });

  it('keeps working after a failure: the next caller starts a new batch', async () => {
    let fail = true;
    const q = new BatchingQueue<number, number>({
      many: async (items) => items,
      one: async (item) => {
        if (fail) throw new Error('down');
        return item;
      },
    });
    await expect(q.run(1)).rejects.toThrow('down');
    fail = false;
    expect(await q.run(2)).toBe(2);
  });
  it('with concurrency N, N callers run at once and only those arriving while every slot is busy are batched', async () => {
    const gates = [gate(), gate()];
    const calls: string[] = [];
    const q = new BatchingQueue<number, number>({
      many: async (items) => {
        calls.push(`many(${items})`);
        return items;
      },
      one: async (item) => {
        calls.push(`one(${item})`);
        if (item < 2) await gates[item]!.opened;
        return item;
      },
      concurrency: 2,
    });
    const first = [q.run(0), q.run(1)];
    // Both slots are busy: these wait for the first slot that frees, and go together.
    const queued = [q.run(2), q.run(3), q.run(4)];
    expect(calls).toEqual(['one(0)', 'one(1)']);
    gates[1]!.open();
    expect(await Promise.all(queued)).toEqual([2, 3, 4]);
    expect(calls).toEqual(['one(0)', 'one(1)', 'many(2,3,4)']);
    gates[0]!.open();
    expect(await Promise.all(first)).toEqual([0, 1]);
    // A lone caller on a quiet queue runs at once again.
    expect(await q.run(5)).toBe(5);
    expect(calls.at(-1)).toBe('one(5)');
  });
});
