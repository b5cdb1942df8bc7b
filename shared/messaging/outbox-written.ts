import type { Envelope } from './contracts.js';
import type { OutgoingMessage } from './publisher.js';
import type { QueueName } from './queue-names.js';

/**
 * The grace period during which a fresh row is left to the request that wrote it before the relay picks it up,
 * as the `interval` parameter the statements bind it to (`now() + $n::interval`): the writers' next_attempt_at,
 * and the relay's for a row it set aside in the in-process transport.
 */
export const RELAY_GRACE = '5000 milliseconds';

/**
 * An outbox row as a writing statement returns it (`RETURNING … id AS outbox_id, queue, body AS envelope`); null
 * where it wrote none. The `body` column holds the message's envelope; the TypeScript name is `envelope`.
 */
export interface WrittenOutboxRow {
  /** bigint: pg hands it over as a string. */
  outbox_id: number | string | null;
  queue: string | null;
  envelope: Envelope | null;
}

/** What a writer hands on to be published right after its commit: its outbox rows' ids and messages. */
export interface WrittenMessages {
  outboxIds: number[];
  messages: OutgoingMessage[];
}

/** The rows a statement wrote, as what is published right after commit: exactly the envelopes the outbox holds. */
export function writtenMessages(rows: readonly WrittenOutboxRow[]): WrittenMessages {
  const outboxIds: number[] = [];
  const messages: OutgoingMessage[] = [];
  for (const row of rows) {
    if (row.outbox_id === null || row.queue === null || row.envelope === null) continue;
    outboxIds.push(Number(row.outbox_id));
    messages.push({ queue: row.queue as QueueName, envelope: row.envelope });
  }
  return { outboxIds, messages };
}
