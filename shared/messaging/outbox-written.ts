import type { Envelope } from './contracts.js';
import { RELAY_GRACE_MS } from './outbox.js';
import type { OutgoingMessage } from './publisher.js';
import type { QueueName } from './queue-names.js';

/**
 * The value of the `interval` parameter a statement that writes outbox rows sets `next_attempt_at` with
 * (`now() + $n::interval`): the relay leaves a fresh row to the request that wrote it for RELAY_GRACE_MS.
 */
export const RELAY_GRACE = `${RELAY_GRACE_MS} milliseconds`;

/** An outbox row as a writing statement returns it (`RETURNING id, queue, body`); null where it wrote none. */
export interface WrittenOutboxRow {
  /** bigint: pg hands it over as a string. */
  outbox_id: number | string | null;
  queue: string | null;
  body: Envelope | null;
}

/** The rows a statement wrote, as what is published right after commit: exactly the bodies the outbox holds. */
export function writtenMessages(rows: readonly WrittenOutboxRow[]): {
  outboxIds: number[];
  messages: OutgoingMessage[];
} {
  const outboxIds: number[] = [];
  const messages: OutgoingMessage[] = [];
  for (const row of rows) {
    if (row.outbox_id === null || row.queue === null || row.body === null) continue;
    outboxIds.push(Number(row.outbox_id));
    messages.push({ queue: row.queue as QueueName, envelope: row.body });
  }
  return { outboxIds, messages };
}
