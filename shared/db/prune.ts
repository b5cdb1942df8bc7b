import type { Database } from './database.js';

/** Rows one retention statement deletes at most: short enough to hold no lock for long. */
export const PRUNE_BATCH = 5000;
/** Statements per table per housekeeping run; what is left goes in the next run. */
export const PRUNE_MAX_BATCHES = 5;

/**
 * Runs a retention DELETE until it deletes fewer than PRUNE_BATCH rows or PRUNE_MAX_BATCHES statements ran, and
 * returns how many rows went. `sql` takes the batch size as its first parameter and deletes at most that many rows
 * (`… LIMIT $1::int` in a subquery); `values` are its parameters from $2 on. So every statement is bounded and a
 * backlog is worked off over several runs instead of one long transaction.
 */
export async function pruneInBatches(db: Database, sql: string, values: unknown[] = []): Promise<number> {
  let total = 0;
  for (let batch = 0; batch < PRUNE_MAX_BATCHES; batch++) {
    const { rowCount } = await db.query(sql, [PRUNE_BATCH, ...values]);
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < PRUNE_BATCH) break;
  }
  return total;
}
