import pg from 'pg';
import { expect, vi } from 'vitest';
import { SEED_STOCK } from '../../shared/seed-catalog.js';
import { type PipelineState, readSnapshot, pipelineState as stateOf } from './invariant-oracle.js';

// The pipeline's state as the tests assert on it, read through the invariant oracle (invariant-oracle.ts, which
// the chaos tool imports too: one reader of the tables for both).

export type { PipelineState };
export { SEED_STOCK };

/** Reads what the pipeline invariants are about, straight from the database. */
export async function pipelineState(
  url: string,
  seed: Readonly<Record<string, number>> = SEED_STOCK,
): Promise<PipelineState> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return stateOf(await readSnapshot(client), seed);
  } finally {
    await client.end();
  }
}

/** Polls until no order is pending (bounded), then returns the state. */
export async function settledState(url: string, timeoutMs = 30_000): Promise<PipelineState> {
  // Still pending at the deadline: the state as it is, so the caller's assertion says what it saw.
  return vi
    .waitFor(
      async () => {
        const state = await pipelineState(url);
        expect(state.pending).toBe(0);
        return state;
      },
      { timeout: timeoutMs, interval: 100 },
    )
    .catch(() => pipelineState(url));
}
