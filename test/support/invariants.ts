import pg from 'pg';
import { SEED_STOCK } from '../../shared/seed-catalog.js';
import { type PipelineState, readSnapshot, pipelineState as stateOf } from '../../tools/chaos/invariants.js';

// The pipeline's state as the tests assert on it, read through the chaos tool's invariant checker (one reader of
// the tables for both).

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
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await pipelineState(url);
    if (state.pending === 0 || Date.now() > deadline) return state;
    await new Promise((r) => setTimeout(r, 100));
  }
}
