import { BrokenCircuitError } from 'cockatiel';
import { BatchingQueue } from '../concurrency/batching-queue.js';
import type { Database } from '../db/database.js';
import { pruneInBatches } from '../db/prune.js';
import type { IgnoredFailure, IgnoredFailureReporter } from '../telemetry/ignored-failures.js';
import {
  RELAY_GRACE,
  type WrittenMessages,
  type WrittenOutboxRow,
  writtenMessages,
} from './outbox-written.js';
import type { OutgoingMessage, Publisher, PublishReceipt } from './publisher.js';

/**
 * The services that own an outbox, each named by its schema (`<owner>.outbox`): each service owns its schema and
 * its outbox.
 */
export const OUTBOX_OWNERS = ['orders', 'inventory'] as const;
export type OutboxOwner = (typeof OUTBOX_OWNERS)[number];

/** A row that failed this many times stops being retried and shows up as stuck in health. */
export const MAX_RELAY_ATTEMPTS = 25;

/** An outbox row as the relay's statements read it (`id AS outbox_id`, `body AS envelope`, like the writers'). */
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
SELECT id AS outbox_id, queue, body AS envelope FROM orders.outbox
 WHERE message_id = ANY($1::text[]) AND ($2::boolean OR published_at IS NULL)`,
    inventory: `
SELECT id AS outbox_id, queue, body AS envelope FROM inventory.outbox
 WHERE message_id = ANY($1::text[]) AND ($2::boolean OR published_at IS NULL)`,
  },
  /**
   * The relay's claim: at most $1 due rows below $2 attempts, leased for $3 ms, but none of $4 (the rows whose
   * messages this process holds in the in-process transport, not handled yet: see `Outbox.inFlight`).
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
RETURNING o.id AS outbox_id, o.queue, o.body AS envelope`,
    inventory: `
UPDATE inventory.outbox o SET lease_until = now() + make_interval(secs => $3::float8 / 1000)
 WHERE o.id IN (
   SELECT id FROM inventory.outbox
    WHERE published_at IS NULL AND next_attempt_at <= now() AND attempts < $2
      AND (lease_until IS NULL OR lease_until <= now()) AND id <> ALL($4::bigint[])
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED)
RETURNING o.id AS outbox_id, o.queue, o.body AS envelope`,
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
  /** Sent to the in-process transport, not handled yet: not due again for $2 (RELAY_GRACE). */
  held: {
    orders: `
UPDATE orders.outbox SET lease_until = NULL, next_attempt_at = now() + $2::interval
 WHERE id = ANY($1::bigint[])`,
    inventory: `
UPDATE inventory.outbox SET lease_until = NULL, next_attempt_at = now() + $2::interval
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
} as const satisfies Record<string, Record<OutboxOwner, string>>;

export interface OutboxDeps {
  db: Database;
  publisher: Publisher;
  /** Timeout + retry + breaker for the broker. */
  publishPolicy: { execute<T>(fn: () => Promise<T>): Promise<T> };
  /** Told about a failure survived on purpose: a send left to the relay, a mark that failed (the relay re-sends). */
  reportIgnored?: IgnoredFailureReporter;
  /**
   * Whether a writer's send right after its commit may call the broker now (the publish breaker is closed, or its
   * trial is overdue). Otherwise its rows go straight to the relay: under steady intake the writers would take every
   * half-open trial of the breaker and the relay's backlog would only start to move once intake stopped.
   */
  writersMayPublish?: () => boolean;
}

/** Where a caller's line about a send left to the relay goes (its InvocationContext); absent: the runtime's log. */
export interface WarnLog {
  warn(message: string): void;
}

/** What a caller says of messages that stay for the outbox relay: sent later, not lost. */
export type LeftToRelay = Omit<IgnoredFailure, 'error'>;

interface SendOutcome {
  published: boolean;
  error?: unknown;
}

/** What one caller asks to mark: its rows, and the orders they concern (for a failure report). */
interface MarkRequest {
  ids: readonly number[];
  orderIds: readonly string[];
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
 * One service's outbox as this process uses it: sends what a writer just committed, re-sends what a retry finds
 * unsent, relays what is left, and marks rows published once their messages are safe. Built once per runtime and
 * owner (createRuntime, `rt.outbox(owner)`), because it holds the process's state of that outbox: the rows whose
 * messages the in-process transport holds and has not handled yet, and the queue that coalesces the marks.
 */
/** How long a mark waits for others to join its UPDATE: far below RELAY_GRACE, so the relay never sees it late. */
const MARK_GATHER_MS = 25;

export class Outbox {
  /**
   * The rows whose messages this process handed to the in-process transport and that are not handled (and marked)
   * yet. The relay's claim skips them: otherwise every row still queued in memory under load would be claimed,
   * re-sent (and dropped as a duplicate) and set aside again once per grace period. A process that dies loses this
   * set with its queue, and the next one's relay sends the rows as before.
   */
  private readonly inFlight = new Set<number>();
  private readonly marks: BatchingQueue<MarkRequest, undefined>;

  constructor(
    private readonly deps: OutboxDeps,
    readonly owner: OutboxOwner,
  ) {
    this.marks = new BatchingQueue<MarkRequest, undefined>({
      many: (batch) => this.markPublished(batch),
      one: async (one) => (await this.markPublished([one]))[0],
      // Nobody waits on a mark (the relay only needs it within RELAY_GRACE): gathering a few milliseconds of them
      // makes one UPDATE and one commit per burst instead of one per message batch.
      gatherMs: MARK_GATHER_MS,
    });
  }

  /**
   * Right after commit: sends what was just written, then has it marked published in the background, once the
   * receipt says the messages are safe. A failure is fine and only reported once (a log line naming the order,
   * a count in `valerix.failures.ignored`): the rows stay unpublished and the relay sends them later.
   */
  sendAfterCommit(written: WrittenMessages, left: LeftToRelay, log?: WarnLog): Promise<void> {
    if (this.deps.writersMayPublish && !this.deps.writersMayPublish()) {
      const error = new BrokenCircuitError("Publish breaker not closed: its trials are the relay's");
      return this.reportIfLeft(Promise.resolve({ published: false, error }), left, log);
    }
    return this.reportIfLeft(this.publish(written.outboxIds, written.messages), left, log);
  }

  /**
   * A redelivery or a client retry is the moment we know the first attempt died after its commit. Its message may
   * still be waiting in the outbox for the relay's grace period: send it now instead (a lookup by unique message
   * id, only on this path). Racing the relay is harmless: duplicate detection and idempotent consumers absorb it.
   * `evenIfPublished` re-sends rows already marked published too: for a receiver that asks again (a re-sent
   * request means the answer may have been lost after it was sent).
   */
  resendPending(
    messageIds: readonly string[],
    left: LeftToRelay,
    log?: WarnLog,
    options: { evenIfPublished?: boolean } = {},
  ): Promise<void> {
    const send = this.deps.db
      .query<WrittenOutboxRow>(OUTBOX_STATEMENTS.pending[this.owner], [
        messageIds,
        options.evenIfPublished === true,
      ])
      .then(({ rows }) => {
        const { outboxIds, messages } = writtenMessages(rows);
        return this.publish(outboxIds, messages);
      });
    return this.reportIfLeft(send, left, log);
  }

  /**
   * One relay pass, in three short steps so that no transaction, row lock or pooled connection is held while the
   * broker is asked (a hung broker must open the publish breaker, never the database's):
   *   1. claim: one statement picks the oldest due rows with SKIP LOCKED and sets their lease, then commits;
   *   2. publish the batch, under the publish policy only;
   *   3. mark them published, or failed with exponential backoff (stopping after MAX_RELAY_ATTEMPTS).
   * A relay that dies between 1 and 3 leaves rows leased: they are due again when the lease ends.
   */
  async relay(options: RelayOptions = {}): Promise<RelayResult> {
    if (options.publishAvailable && !options.publishAvailable()) return { sent: 0, failed: 0, skipped: true };
    const { db } = this.deps;
    const { rows } = await db.query<WrittenOutboxRow>(OUTBOX_STATEMENTS.claim[this.owner], [
      options.batchSize ?? 100,
      MAX_RELAY_ATTEMPTS,
      options.leaseMs ?? DEFAULT_RELAY_LEASE_MS,
      [...this.inFlight],
    ]);
    if (rows.length === 0) return { sent: 0, failed: 0 };
    rows.sort((a, b) => Number(a.outbox_id) - Number(b.outbox_id)); // RETURNING has no order; keep the oldest first
    const { outboxIds: ids, messages } = writtenMessages(rows);
    let receipt: PublishReceipt;
    try {
      receipt = await this.deps.publishPolicy.execute(() => this.deps.publisher.publish(messages));
    } catch (err) {
      if (err instanceof BrokenCircuitError) {
        // The breaker opened meanwhile: not an attempt. Release the rows for the next pass.
        await db.query(OUTBOX_STATEMENTS.release[this.owner], [ids]);
        return { sent: 0, failed: 0, skipped: true };
      }
      await db.query(OUTBOX_STATEMENTS.failed[this.owner], [
        ids,
        String((err as Error).message).slice(0, 500),
      ]);
      return { sent: 0, failed: rows.length };
    }
    if (receipt.settled) {
      // Safe already (a durable broker): the one UPDATE that ends the lease marks the batch published and counts
      // the attempt, so the relay costs Service Bus one statement per batch, as before the single receipt.
      await db.query(OUTBOX_STATEMENTS.published[this.owner], [ids]);
      return { sent: rows.length, failed: 0 };
    }
    // Held in memory until handled: not published yet. Not due again for a grace period (a re-send meanwhile is
    // dropped as a duplicate and harmless); marked once handled, like any send.
    await db.query(OUTBOX_STATEMENTS.held[this.owner], [ids, RELAY_GRACE]);
    this.markWhenSafe(ids, messages, receipt);
    return { sent: rows.length, failed: 0 };
  }

  private async publish(ids: readonly number[], messages: readonly OutgoingMessage[]): Promise<SendOutcome> {
    if (ids.length === 0) return { published: true };
    let receipt: PublishReceipt;
    try {
      receipt = await this.deps.publishPolicy.execute(() => this.deps.publisher.publish(messages));
    } catch (error) {
      return { published: false, error };
    }
    // Bookkeeping, not part of the answer: the caller (an HTTP response, a consumer's next message) does not wait
    // for it. Sent but not marked (the update failed, the process died first): the relay sends it again after
    // RELAY_GRACE; duplicate detection and the idempotent consumers absorb it.
    this.markWhenSafe(ids, messages, receipt);
    return { published: true };
  }

  private async reportIfLeft(send: Promise<SendOutcome>, left: LeftToRelay, log?: WarnLog): Promise<void> {
    const result = await send.catch((error: unknown): SendOutcome => ({ published: false, error }));
    if (!result.published) {
      this.deps.reportIgnored?.({ ...left, error: result.error }, log && ((line) => log.warn(line)));
    }
  }

  /**
   * Marks the rows published once the receipt says their messages cannot be lost any more: at once for a durable
   * broker, once handled for the in-process one. A message the in-process transport lost counts as a failed
   * attempt, and the relay sends it again (after backoff; a row lost MAX_RELAY_ATTEMPTS times shows up as stuck in
   * health).
   */
  private markWhenSafe(
    ids: readonly number[],
    messages: readonly OutgoingMessage[],
    receipt: PublishReceipt,
  ): void {
    const request: MarkRequest = { ids, orderIds: messages.map((m) => m.envelope.correlationId) };
    if (receipt.settled) {
      // A durable broker has them: marked at once, without waiting on the receipt (never rejects).
      void this.marks.run(request);
      return;
    }
    // Held in memory until handled: the relay's claim skips these rows meanwhile.
    for (const id of ids) this.inFlight.add(id);
    receipt.handled
      .then(
        () => this.marks.run(request),
        (err: Error) =>
          this.deps.db.query(OUTBOX_STATEMENTS.failed[this.owner], [ids, err.message.slice(0, 500)]).then(
            () => {},
            (error: unknown) => this.reportMarkFailure(request.orderIds, error),
          ),
      )
      .finally(() => {
        for (const id of ids) this.inFlight.delete(id);
      });
  }

  /**
   * Marks rows published, coalescing callers (BatchingQueue): the ids of every caller of the next MARK_GATHER_MS,
   * and of those that arrive while one UPDATE runs, go out together in one UPDATE. The mark commits asynchronously (`synchronous_commit =
   * off` for this one transaction): losing it in a database crash only means the relay sends those messages
   * again, which duplicate detection and the idempotent consumers absorb — not worth a WAL flush per request.
   * A failed mark is not retried here either: the relay is the retry. It is reported once for the batch, and the
   * callers (who do not wait for it) are not failed one by one. Never rejects.
   */
  private async markPublished(batch: readonly MarkRequest[]): Promise<undefined[]> {
    try {
      await this.deps.db.query(OUTBOX_STATEMENTS.markPublished[this.owner], [batch.flatMap((r) => r.ids)]);
    } catch (error) {
      this.reportMarkFailure(
        batch.flatMap((r) => r.orderIds),
        error,
      );
    }
    return batch.map(() => undefined);
  }

  /**
   * A failed mark is survived (the relay sends the messages again) and reported once per failed statement, naming
   * the orders whose messages it was to mark: one line and one count for a burst, not one per message.
   */
  private reportMarkFailure(orderIds: readonly string[], error: unknown): void {
    const shown = orderIds.slice(0, 5).join(', ') + (orderIds.length > 5 ? ', …' : '');
    this.deps.reportIgnored?.({
      kind: 'mark_published',
      orderId: orderIds.length === 1 ? orderIds[0] : undefined,
      error,
      fallback:
        orderIds.length === 1
          ? 'the outbox relay sends it again; duplicate detection absorbs it'
          : `the outbox relay sends these ${orderIds.length} messages (orders ${shown}) again; duplicate detection absorbs it`,
    });
  }
}

/** Deletes published rows older than the retention period, in bounded batches. */
export function pruneOutbox(db: Database, owner: OutboxOwner, retentionHours: number): Promise<number> {
  return pruneInBatches(db, OUTBOX_STATEMENTS.prune[owner], [retentionHours]);
}

export interface OutboxBacklog {
  unpublished: number;
  stuck: number;
  oldestAgeSeconds: number;
}

export async function outboxBacklog(db: Database, owner: OutboxOwner): Promise<OutboxBacklog> {
  const { rows } = await db.query<{ unpublished: number; stuck: number; oldest: number | null }>(
    OUTBOX_STATEMENTS.backlog[owner],
    [MAX_RELAY_ATTEMPTS],
  );
  const row = rows[0];
  return { unpublished: row?.unpublished ?? 0, stuck: row?.stuck ?? 0, oldestAgeSeconds: row?.oldest ?? 0 };
}
