import { BrokenCircuitError } from 'cockatiel';
import { BatchingQueue } from '../concurrency/batching-queue.js';
import type { Database } from '../db/database.js';
import { pruneInBatches } from '../db/prune.js';
import type { IgnoredFailure, IgnoredFailureReporter, Log } from '../telemetry/ignored-failures.js';
import type { OutgoingMessage, Publisher } from './publisher.js';

/** The schemas that hold an outbox table (`<schema>.outbox`): each service owns its schema and its outbox. */
export const OUTBOX_SCHEMAS = ['orders', 'inventory'] as const;
export type OutboxSchema = (typeof OUTBOX_SCHEMAS)[number];
/** The service that owns an outbox, named by its schema. */
export type OutboxOwner = OutboxSchema;

/** Grace period during which a fresh row is left to the request that wrote it before the relay picks it up. */
export const RELAY_GRACE_MS = 5000;
/** A row that failed this many times stops being retried and shows up as stuck in health. */
export const MAX_RELAY_ATTEMPTS = 25;

export interface OutboxRow {
  id: number;
  queue: string;
  body: OutgoingMessage['envelope'];
}

/**
 * The outbox statements. Each one is shared by both services, each on its own `<schema>.outbox`, so every
 * statement is written out once per schema (a whole SQL text each, PREPAREd in test/integration/sql-statements).
 */
export const OUTBOX_STATEMENTS = {
  /**
   * Marks rows published, committed asynchronously: `set_config(…, true)` is `SET LOCAL synchronous_commit = off`
   * for this statement's own (implicit) transaction, in the same round trip.
   */
  markPublished: {
    orders: `
WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE orders.outbox SET published_at = now()
 WHERE id = ANY($1::bigint[]) AND EXISTS (SELECT FROM async_commit)`,
    inventory: `
WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE inventory.outbox SET published_at = now()
 WHERE id = ANY($1::bigint[]) AND EXISTS (SELECT FROM async_commit)`,
  },
  /** Rows by message id: the unpublished ones, or every one when $2 is true. */
  pending: {
    orders: `
SELECT id, queue, body FROM orders.outbox
 WHERE message_id = ANY($1::text[]) AND ($2::boolean OR published_at IS NULL)`,
    inventory: `
SELECT id, queue, body FROM inventory.outbox
 WHERE message_id = ANY($1::text[]) AND ($2::boolean OR published_at IS NULL)`,
  },
  /**
   * The relay's claim: at most $1 due rows below $2 attempts, leased for $3 ms, but none of $4 (the rows whose
   * messages this process holds in the in-process transport, not handled yet: see `inFlightIds`).
   */
  claim: {
    orders: `
UPDATE orders.outbox o SET lease_until = now() + make_interval(secs => $3::float8 / 1000)
 WHERE o.id IN (
   SELECT id FROM orders.outbox
    WHERE published_at IS NULL AND next_attempt_at <= now() AND attempts < $2
      AND (lease_until IS NULL OR lease_until <= now()) AND id <> ALL($4::bigint[])
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED)
RETURNING o.id, o.queue, o.body`,
    inventory: `
UPDATE inventory.outbox o SET lease_until = now() + make_interval(secs => $3::float8 / 1000)
 WHERE o.id IN (
   SELECT id FROM inventory.outbox
    WHERE published_at IS NULL AND next_attempt_at <= now() AND attempts < $2
      AND (lease_until IS NULL OR lease_until <= now()) AND id <> ALL($4::bigint[])
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED)
RETURNING o.id, o.queue, o.body`,
  },
  /** Claimed rows given back untried (the breaker opened meanwhile). */
  release: {
    orders: `UPDATE orders.outbox SET lease_until = NULL WHERE id = ANY($1::bigint[])`,
    inventory: `UPDATE inventory.outbox SET lease_until = NULL WHERE id = ANY($1::bigint[])`,
  },
  /**
   * A failed publish, or a message the in-process transport lost: one more attempt, due again after exponential
   * backoff (at most 300 s).
   */
  failed: {
    orders: `
UPDATE orders.outbox
   SET attempts = attempts + 1, last_error = $2, lease_until = NULL,
       next_attempt_at = now() + make_interval(secs => least(300, power(2, attempts + 1)))
 WHERE id = ANY($1::bigint[]) AND published_at IS NULL`,
    inventory: `
UPDATE inventory.outbox
   SET attempts = attempts + 1, last_error = $2, lease_until = NULL,
       next_attempt_at = now() + make_interval(secs => least(300, power(2, attempts + 1)))
 WHERE id = ANY($1::bigint[]) AND published_at IS NULL`,
  },
  /** Sent to the in-process transport, not handled yet: not due again for $2 ms. */
  held: {
    orders: `
UPDATE orders.outbox SET lease_until = NULL, next_attempt_at = now() + make_interval(secs => $2::float8 / 1000)
 WHERE id = ANY($1::bigint[])`,
    inventory: `
UPDATE inventory.outbox SET lease_until = NULL, next_attempt_at = now() + make_interval(secs => $2::float8 / 1000)
 WHERE id = ANY($1::bigint[])`,
  },
  /** Sent by the relay to a durable broker. */
  published: {
    orders: `
UPDATE orders.outbox SET published_at = now(), attempts = attempts + 1, lease_until = NULL
 WHERE id = ANY($1::bigint[])`,
    inventory: `
UPDATE inventory.outbox SET published_at = now(), attempts = attempts + 1, lease_until = NULL
 WHERE id = ANY($1::bigint[])`,
  },
  /** Published rows older than $2 hours, at most $1 of them (see pruneInBatches). */
  prune: {
    orders: `
DELETE FROM orders.outbox WHERE id IN (
  SELECT id FROM orders.outbox
   WHERE published_at IS NOT NULL AND published_at < now() - make_interval(hours => $2::int) LIMIT $1::int)`,
    inventory: `
DELETE FROM inventory.outbox WHERE id IN (
  SELECT id FROM inventory.outbox
   WHERE published_at IS NOT NULL AND published_at < now() - make_interval(hours => $2::int) LIMIT $1::int)`,
  },
  /** The unpublished rows, those at $1 attempts or more (stuck), and the age of the oldest. */
  backlog: {
    orders: `
SELECT count(*)::int AS unpublished,
       count(*) FILTER (WHERE attempts >= $1)::int AS stuck,
       extract(epoch FROM now() - min(created_at))::float8 AS oldest
  FROM orders.outbox WHERE published_at IS NULL`,
    inventory: `
SELECT count(*)::int AS unpublished,
       count(*) FILTER (WHERE attempts >= $1)::int AS stuck,
       extract(epoch FROM now() - min(created_at))::float8 AS oldest
  FROM inventory.outbox WHERE published_at IS NULL`,
  },
} as const satisfies Record<string, Record<OutboxSchema, string>>;

/** What `publish` resolves to: nothing (a durable broker) or a receipt (the in-process transport). */
type PublishResult = Awaited<ReturnType<Publisher['publish']>>;

export interface PublishDeps {
  db: Database;
  publisher: Publisher;
  /** Timeout + retry + breaker for the broker. */
  publishPolicy: { execute<T>(fn: () => Promise<T>): Promise<T> };
  /** Told about a failure survived on purpose (a mark that failed: the relay re-sends). */
  reportIgnored?: IgnoredFailureReporter;
}

/**
 * Right after commit: sends what was just written, then has it marked published in the background — at once
 * for a durable broker, once the messages are handled for the in-process one (see `PublishReceipt`). Any
 * failure is fine and only reported: the rows stay unpublished and the relay sends them later.
 */
export async function publishCommitted(
  deps: PublishDeps,
  schema: OutboxSchema,
  ids: readonly number[],
  messages: readonly OutgoingMessage[],
): Promise<{ published: boolean; error?: Error }> {
  if (ids.length === 0) return { published: true };
  let receipt: PublishResult;
  try {
    receipt = await deps.publishPolicy.execute(() => deps.publisher.publish(messages));
  } catch (err) {
    return { published: false, error: err as Error };
  }
  // Bookkeeping, not part of the answer: the caller (an HTTP response, a consumer's next message) does not wait
  // for it. Sent but not marked (the update failed, the process died first): the relay sends it again after
  // RELAY_GRACE_MS; duplicate detection and the idempotent consumers absorb it.
  markWhenSafe(deps, schema, ids, messages, receipt);
  return { published: true };
}

/**
 * A failed mark is survived (the relay sends the messages again) and reported once per failed statement, naming
 * the orders whose messages it was to mark: one line and one count for a burst, not one per message.
 */
function reportMarkFailure(
  report: IgnoredFailureReporter | undefined,
  orderIds: readonly string[],
  error: unknown,
): void {
  const shown = orderIds.slice(0, 5).join(', ') + (orderIds.length > 5 ? ', …' : '');
  report?.({
    kind: 'mark_published',
    orderId: orderIds.length === 1 ? orderIds[0] : undefined,
    error,
    fallback:
      orderIds.length === 1
        ? 'the outbox relay sends it again; duplicate detection absorbs it'
        : `the outbox relay sends these ${orderIds.length} messages (orders ${shown}) again; duplicate detection absorbs it`,
  });
}

/** What one caller asks to mark: its rows, and the orders they concern (for a failure report). */
interface MarkRequest {
  ids: readonly number[];
  orderIds: readonly string[];
  report: IgnoredFailureReporter | undefined;
}

/**
 * Marks the rows published once their messages cannot be lost any more: now for a durable broker, once handled
 * for the in-process one. A message the in-process transport lost counts as a failed attempt, and the relay
 * sends it again (after backoff; a row lost MAX_RELAY_ATTEMPTS times shows up as stuck in health).
 */
function markWhenSafe(
  deps: PublishDeps,
  schema: OutboxSchema,
  ids: readonly number[],
  messages: readonly OutgoingMessage[],
  receipt: PublishResult,
): void {
  const request: MarkRequest = {
    ids,
    orderIds: messages.map((m) => m.envelope.correlationId),
    report: deps.reportIgnored,
  };
  if (!receipt) {
    void markPublished(deps.db, schema, request);
    return;
  }
  const held = inFlightIds(deps.db, schema);
  for (const id of ids) held.add(id);
  receipt.handled
    .then(
      () => markPublished(deps.db, schema, request),
      (err: Error) =>
        markLost(deps.db, schema, ids, err).catch((error: unknown) =>
          reportMarkFailure(request.report, request.orderIds, error),
        ),
    )
    .finally(() => {
      for (const id of ids) held.delete(id);
    });
}

const inFlight = new WeakMap<Database, Record<OutboxSchema, Set<number>>>();

/**
 * The rows whose messages this process handed to the in-process transport and that are not handled (and marked)
 * yet. The relay's claim skips them: otherwise every row still queued in memory under load would be claimed,
 * re-sent (and dropped as a duplicate) and set aside again once per grace period. A process that dies loses this
 * set with its queue, and the next one's relay sends the rows as before.
 */
function inFlightIds(db: Database, schema: OutboxSchema): Set<number> {
  let bySchema = inFlight.get(db);
  if (!bySchema) {
    bySchema = { orders: new Set(), inventory: new Set() };
    inFlight.set(db, bySchema);
  }
  return bySchema[schema];
}

async function markLost(
  db: Database,
  schema: OutboxSchema,
  ids: readonly number[],
  err: Error,
): Promise<void> {
  await db.query(OUTBOX_STATEMENTS.failed[schema], [ids, err.message.slice(0, 500)]);
}

/**
 * Marks rows published, coalescing concurrent callers (BatchingQueue): while one UPDATE runs, the ids of every
 * caller that arrives queue up and go out together in the next one (no timer, so an idle instance adds no
 * delay; under load one UPDATE marks a whole burst). The mark commits asynchronously (`synchronous_commit =
 * off` for this one transaction): losing it in a database crash only means the relay sends those messages
 * again, which duplicate detection and the idempotent consumers absorb — not worth a WAL flush per request.
 * A failed mark is not retried here either: the relay is the retry. It is reported once for the batch, and the
 * callers (who do not wait for it) are not failed one by one. Never rejects.
 */
function markPublished(db: Database, schema: OutboxSchema, request: MarkRequest): Promise<void> {
  let bySchema = markers.get(db);
  if (!bySchema) {
    bySchema = new Map();
    markers.set(db, bySchema);
  }
  let marker = bySchema.get(schema);
  if (!marker) {
    const mark = async (batch: MarkRequest[]) => {
      try {
        await db.query(OUTBOX_STATEMENTS.markPublished[schema], [batch.flatMap((r) => r.ids)]);
      } catch (error) {
        const byReporter = new Map<IgnoredFailureReporter | undefined, string[]>();
        for (const r of batch) byReporter.set(r.report, [...(byReporter.get(r.report) ?? []), ...r.orderIds]);
        for (const [report, orderIds] of byReporter) reportMarkFailure(report, orderIds, error);
      }
      return batch.map(() => undefined);
    };
    marker = new BatchingQueue<MarkRequest, undefined>({
      many: mark,
      one: async (one) => (await mark([one]))[0],
    });
    bySchema.set(schema, marker);
  }
  return marker.run(request);
}

const markers = new WeakMap<Database, Map<OutboxSchema, BatchingQueue<MarkRequest, undefined>>>();

/**
 * A redelivery or a client retry is the moment we know the first attempt died after its commit. Its message may
 * still be waiting in the outbox for the relay's grace period: send it now instead (a lookup by unique message id,
 * only on this path). Racing the relay is harmless: duplicate detection and idempotent consumers absorb it.
 * `evenIfPublished` re-sends rows already marked published too: for a receiver that asks again (a re-sent
 * request means the answer may have been lost after it was sent).
 */
export async function publishPending(
  deps: PublishDeps,
  schema: OutboxSchema,
  messageIds: readonly string[],
  options: { evenIfPublished?: boolean } = {},
): Promise<{ published: boolean; error?: Error }> {
  const { rows } = await deps.db.query<OutboxRow>(OUTBOX_STATEMENTS.pending[schema], [
    messageIds,
    options.evenIfPublished === true,
  ]);
  const messages = rows.map((r) => ({ queue: r.queue, envelope: r.body }) as OutgoingMessage);
  return publishCommitted(
    deps,
    schema,
    rows.map((r) => Number(r.id)),
    messages,
  );
}

/** What a caller says of messages that stay for the outbox relay: sent later, not lost. */
export type LeftToRelay = Omit<IgnoredFailure, 'error'>;

/**
 * Awaits a send that may fail on purpose — the rows stay in the outbox and the relay sends them — and reports a
 * failure once: a log line naming the order, and a count in `valerix.failures.ignored`.
 */
export async function sendOrLeaveToRelay(
  deps: PublishDeps,
  send: Promise<{ published: boolean; error?: Error }>,
  left: LeftToRelay,
  log?: Log,
): Promise<void> {
  const result = await send.catch((error: unknown) => ({ published: false, error }));
  if (!result.published) deps.reportIgnored?.({ ...left, error: result.error }, log);
}

export interface RelayResult {
  sent: number;
  failed: number;
  /** The publish breaker was open: nothing was claimed, nothing counted as an attempt. */
  skipped?: boolean;
}

export interface RelayOptions {
  batchSize?: number;
  /** How long a claimed row stays reserved to this relay; past it, another relay may send it (a duplicate at worst). */
  leaseMs?: number;
  /** False while the publish breaker is open: the pass claims nothing rather than burn the rows' attempts. */
  publishAvailable?: () => boolean;
}

/** Longer than the slowest publish the policy allows (timeout × attempts + backoff), with room to mark the rows. */
export const DEFAULT_RELAY_LEASE_MS = 30_000;

/**
 * One relay pass, in three short steps so that no transaction, row lock or pooled connection is held while the
 * broker is asked (a hung broker must open the publish breaker, never the database's):
 *   1. claim: one statement picks the oldest due rows with SKIP LOCKED and sets their lease, then commits;
 *   2. publish the batch, under the publish policy only;
 *   3. mark them published, or failed with exponential backoff (stopping after MAX_RELAY_ATTEMPTS).
 * A relay that dies between 1 and 3 leaves rows leased: they are due again when the lease ends.
 */
export async function relayOutbox(
  deps: PublishDeps,
  schema: OutboxSchema,
  options: RelayOptions = {},
): Promise<RelayResult> {
  if (options.publishAvailable && !options.publishAvailable()) return { sent: 0, failed: 0, skipped: true };
  const leaseMs = options.leaseMs ?? DEFAULT_RELAY_LEASE_MS;
  const { rows } = await deps.db.query<OutboxRow>(OUTBOX_STATEMENTS.claim[schema], [
    options.batchSize ?? 100,
    MAX_RELAY_ATTEMPTS,
    leaseMs,
    [...inFlightIds(deps.db, schema)],
  ]);
  if (rows.length === 0) return { sent: 0, failed: 0 };
  rows.sort((a, b) => Number(a.id) - Number(b.id)); // RETURNING has no order; keep the oldest first
  const ids = rows.map((r) => r.id);
  const messages = rows.map((r) => ({ queue: r.queue, envelope: r.body }) as OutgoingMessage);
  let receipt: PublishResult;
  try {
    receipt = await deps.publishPolicy.execute(() => deps.publisher.publish(messages));
  } catch (err) {
    if (err instanceof BrokenCircuitError) {
      // The breaker opened meanwhile: not an attempt. Release the rows for the next pass.
      await deps.db.query(OUTBOX_STATEMENTS.release[schema], [ids]);
      return { sent: 0, failed: 0, skipped: true };
    }
    await deps.db.query(OUTBOX_STATEMENTS.failed[schema], [
      ids,
      String((err as Error).message).slice(0, 500),
    ]);
    return { sent: 0, failed: rows.length };
  }
  if (receipt) {
    // Held in memory until handled: not published yet. Not due again for a grace period (a re-send meanwhile
    // is dropped as a duplicate and harmless); marked once handled.
    await deps.db.query(OUTBOX_STATEMENTS.held[schema], [ids, RELAY_GRACE_MS]);
    markWhenSafe(deps, schema, ids.map(Number), messages, receipt);
    return { sent: rows.length, failed: 0 };
  }
  await deps.db.query(OUTBOX_STATEMENTS.published[schema], [ids]);
  return { sent: rows.length, failed: 0 };
}

/** Deletes published rows older than the retention period, in bounded batches. */
export function pruneOutbox(db: Database, schema: OutboxSchema, retentionHours: number): Promise<number> {
  return pruneInBatches(db, OUTBOX_STATEMENTS.prune[schema], [retentionHours]);
}

export interface OutboxBacklog {
  unpublished: number;
  stuck: number;
  oldestAgeSeconds: number;
}

export async function outboxBacklog(db: Database, schema: OutboxSchema): Promise<OutboxBacklog> {
  const { rows } = await db.query<{ unpublished: number; stuck: number; oldest: number | null }>(
    OUTBOX_STATEMENTS.backlog[schema],
    [MAX_RELAY_ATTEMPTS],
  );
  const row = rows[0];
  return { unpublished: row?.unpublished ?? 0, stuck: row?.stuck ?? 0, oldestAgeSeconds: row?.oldest ?? 0 };
}
