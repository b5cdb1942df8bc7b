import type { Envelope, QueueName } from './contracts.js';

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
  /** Sends all messages (batched per queue where the transport can); resolves once the broker has them. */
  publish(messages: readonly OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** Trigger metadata as the Functions host gives it for a Service Bus message (the fields we read). */
export interface DeliveryMetadata {
  messageId?: string;
  deliveryCount?: number;
  enqueuedTimeUtc?: string;
}
