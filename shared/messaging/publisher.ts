import type { Envelope } from './contracts.js';
import type { QueueName } from './queue-names.js';

/** A message on its way to a queue. */
export interface OutgoingMessage {
  queue: QueueName;
  envelope: Envelope;
  /** Not delivered before this time (Service Bus scheduled enqueue); absent: at once. */
  scheduledEnqueueTime?: Date;
}

/**
 * The port every sender uses. Two transports implement it: Azure Service Bus and the in-process queue of the
 * local host and tests. Handlers never know which one runs.
 */
export interface Publisher {
  readonly kind: 'service-bus' | 'in-process';
  /**
   * Sends all messages (batched per queue where the transport can); resolves once the broker has them, with a
   * receipt that says when they are safe — when the outbox rows may be marked published. One shape for both
   * transports, so the outbox marks rows one way: see `PublishReceipt`.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<PublishReceipt>;
  close(): Promise<void>;
}

export interface PublishReceipt {
  /**
   * Resolves once no message can be lost any more; rejects if one was lost. A broker that stores them durably
   * (Service Bus) is safe once it accepted them; one that holds them in memory (the in-process transport) only
   * once every message was handled (its consumer returned) — a process that dies first leaves the row to the relay.
   */
  readonly handled: Promise<void>;
  /**
   * True when `handled` is resolved by the time `publish` resolves (a durable broker). The relay then marks its
   * batch published in the one UPDATE that also ends the lease, instead of setting the rows aside and marking them
   * later. False is always safe: the in-process transport says false even when every message was a duplicate.
   */
  readonly settled: boolean;
}

/** The receipt of a durable broker: the messages are safe once accepted. */
export const SETTLED_RECEIPT: PublishReceipt = Object.freeze({ handled: Promise.resolve(), settled: true });

/** Trigger metadata as the Functions host gives it for a Service Bus message (the fields we read). */
export interface DeliveryMetadata {
  messageId?: string;
  deliveryCount?: number;
  enqueuedTimeUtc?: string;
}
