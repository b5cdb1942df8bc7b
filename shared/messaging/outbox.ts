import type pg from 'pg';
import type { Database } from '../db/database.js';
import type { Queryable } from '../db/pool.js';
import type { OutgoingMessage, Publisher } from './publisher.js';

/** The services that own an outbox table (`<schema>.outbox`). */
export type OutboxOwner = 'orders' | 'inventory';

/** Grace period during which a fresh row is left to the request that wrote it before the relay picks it up. */
export const RELAY_GRACE_MS = 5000;
/** A row that failed this many times stops being retried and shows up as stuck in health. */
export const MAX_RELAY_ATTEMPTS = 25;

export interface OutboxRow {
  id: number;
  queue: string;
  body: OutgoingMessage['envelope'];
}

const table = (owner: OutboxOwner) => (owner === 'orders' ? 'orders.outbox' : 'inventory.outbox');

/**
 * Writes messages to the owner's outbox inside the caller's transaction. A message id already present is
 * skipped (the same logical message is written once). Returns the ids of the rows written.
 */
export async function addToOutbox(
  client: Queryable,
  owner: OutboxOwner,
  messages: readonly OutgoingMessage[],
): Promise<number[]> {
  if (messages.length === 0) return [];
  const { rows } = await client.query<{ id: number }>(
    `INSERT INTO ${table(owner)} (message_id, queue, type, body, next_attempt_at)
     SELECT m.message_id, m.queue, m.type, m.body, now() + make_interval(secs => $2::int / 1000.0)
       FROM jsonb_to_recordset($1::jsonb) AS m(message_id text, queue text, type text, body jsonb)
     ON CONFLICT (message_id) DO NOTHING
     RETURNING id`,
    [
      JSON.stringify(
        messages.map((m) => ({
          message_id: m.envelope.messageId,
          queue: m.queue,
          type: m.envelope.type,
          body: m.envelope,
        })),
      ),
      RELAY_GRACE_MS,
    ],
  );
  return rows.map((r) => r.id);
}

export interface PublishDeps {
  db: Database;
  publisher: Publisher;
  /** Timeout + retry + breaker for the broker. */
  publishPolicy: { execute<T>(fn: () => Promise<T>): Promise<T> };
}

/**
 * Right after commit: sends what was just written and marks it published. Any failure is fine and only
 * reported: the rows stay unpublished and the relay sends them later.
 */
export async function publishCommitted(
  deps: PublishDeps,
  owner: OutboxOwner,
  ids: readonly number[],
  messages: readonly OutgoingMessage[],
): Promise<{ published: boolean; error?: Error }> {
  if (ids.length === 0) return { published: true };
  try {
    await deps.publishPolicy.execute(() => deps.publisher.publish(messages));
  } catch (err) {
    return { published: false, error: err as Error };
  }
  try {
    await deps.db.query(`UPDATE ${table(owner)} SET published_at = now() WHERE id = ANY($1::bigint[])`, [
      ids,
    ]);
  } catch {
    // Sent but not marked: the relay sends it again; duplicate detection and idempotent consumers absorb it.
  }
  return { published: true };
}

export interface RelayResult {
  sent: number;
  failed: number;
}

/**
 * One relay pass: oldest-first batch of due rows, locked with SKIP LOCKED so several relays (instances) never
 * send the same row at once; failures back off exponentially and stop after MAX_RELAY_ATTEMPTS.
 */
export async function relayOutbox(
  deps: PublishDeps,
  owner: OutboxOwner,
  batchSize = 100,
): Promise<RelayResult> {
  return deps.db.transaction(async (client: pg.PoolClient) => {
    const { rows } = await client.query<OutboxRow>(
      `SELECT id, queue, body FROM ${table(owner)}
        WHERE published_at IS NULL AND next_attempt_at <= now() AND attempts < $2
        ORDER BY id
        LIMIT $1
        FOR UPDATE SKIP LOCKED`,
      [batchSize, MAX_RELAY_ATTEMPTS],
    );
    if (rows.length === 0) return { sent: 0, failed: 0 };
    const messages = rows.map((r) => ({ queue: r.queue, envelope: r.body }) as OutgoingMessage);
    try {
      await deps.publishPolicy.execute(() => deps.publisher.publish(messages));
    } catch (err) {
      await client.query(
        `UPDATE ${table(owner)}
            SET attempts = attempts + 1, last_error = $2,
                next_attempt_at = now() + make_interval(secs => least(300, power(2, attempts + 1)))
          WHERE id = ANY($1::bigint[])`,
        [rows.map((r) => r.id), String((err as Error).message).slice(0, 500)],
      );
      return { sent: 0, failed: rows.length };
    }
    await client.query(
      `UPDATE ${table(owner)} SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])`,
      [rows.map((r) => r.id)],
    );
    return { sent: rows.length, failed: 0 };
  });
}

/** Deletes published rows older than the retention period, in bounded batches. */
export async function pruneOutbox(db: Database, owner: OutboxOwner, retentionHours: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM ${table(owner)} WHERE id IN (
       SELECT id FROM ${table(owner)}
        WHERE published_at IS NOT NULL AND published_at < now() - make_interval(hours => $1::int)
        LIMIT 5000)`,
    [retentionHours],
  );
  return rowCount ?? 0;
}

export interface OutboxBacklog {
  unpublished: number;
  stuck: number;
  oldestAgeSeconds: number;
}

export async function outboxBacklog(db: Database, owner: OutboxOwner): Promise<OutboxBacklog> {
  const { rows } = await db.query<{ unpublished: number; stuck: number; oldest: number | null }>(
    `SELECT count(*)::int AS unpublished,
            count(*) FILTER (WHERE attempts >= $1)::int AS stuck,
            extract(epoch FROM now() - min(created_at))::float8 AS oldest
       FROM ${table(owner)} WHERE published_at IS NULL`,
    [MAX_RELAY_ATTEMPTS],
  );
  const row = rows[0];
  return { unpublished: row?.unpublished ?? 0, stuck: row?.stuck ?? 0, oldestAgeSeconds: row?.oldest ?? 0 };
}
