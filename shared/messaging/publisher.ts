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
   * Sends all messages (batched per queue where the transport can); resolves once the broker has them. A broker
   * that stores them durably (Service Bus) returns nothing: accepted is safe, the outbox row may be marked
   * published. One that holds them in memory (the in-process transport) returns a receipt instead, and the row is
   * marked only once the messages are handled — a process that dies first leaves it for the relay.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a durable broker's publish returns nothing at all
  publish(messages: readonly OutgoingMessage[]): Promise<void | PublishReceipt>;
  close(): Promise<void>;
}

export interface PublishReceipt {
  /** Resolves once every message was handled (its consumer returned); rejects if one was lost. */
  handled: Promise<void>;
}

/** Trigger metadata as the Functions host gives it for a Service Bus message (the fields we read). */
export interface DeliveryMetadata {
  messageId?: string;
  deliveryCount?: number;
  enqueuedTimeUtc?: string;
}
