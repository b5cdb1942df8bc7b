import type { TokenCredential } from '@azure/identity';
import type { InProcessTransport } from './in-process-transport.js';
import type { QueueName } from './queue-names.js';
import {
  defaultCreateClient,
  defaultCreateCredential,
  type ServiceBusClientTarget,
  type ServiceBusConnectionConfig,
} from './service-bus-publisher.js';

/**
 * The broker's dead-letter sub-queue of each queue (`<queue>/$DeadLetterQueue` in Service Bus): messages the broker
 * gave up on itself — every delivery failed and the consumer could not record them (the database was down), so no
 * `dead_letters` row exists. Peeked for listing; received, re-sent and completed for a redrive.
 */
export interface BrokerDeadLetter {
  queue: QueueName;
  /** The broker's number for the message in its queue (a 64-bit integer, as decimal text). */
  sequenceNumber: string;
  messageId: string | undefined;
  body: unknown;
  deliveryCount: number;
  /** Why the broker dead-lettered it (`MaxDeliveryCountExceeded: …`). */
  reason: string;
  deadLetteredAt: string | null;
}

/** `resend` says whether it re-sent the message: only then is it completed (taken off the sub-queue). */
export type Resend = (message: BrokerDeadLetter) => Promise<boolean>;

export interface BrokerDeadLetterQueue {
  /** Up to `limit` messages, oldest first, from `fromSequenceNumber` on (inclusive). */
  peek(queue: QueueName, fromSequenceNumber: string, limit: number): Promise<BrokerDeadLetter[]>;
  /** Receives the message with this sequence number, hands it to `resend`, completes it if that re-sent it. */
  redrive(
    queue: QueueName,
    sequenceNumber: string,
    resend: Resend,
  ): Promise<'redriven' | 'kept' | 'not-found'>;
  close(): Promise<void>;
}

/** The in-process transport's sub-queue (the local host and tests). */
export function inProcessDeadLetterQueue(transport: InProcessTransport): BrokerDeadLetterQueue {
  const toBrokerDeadLetter = (m: InProcessTransport['deadLetters'][number]): BrokerDeadLetter => ({
    queue: m.queue,
    sequenceNumber: String(m.sequenceNumber),
    messageId: m.messageId,
    body: m.body,
    deliveryCount: m.deliveryCount,
    reason: `MaxDeliveryCountExceeded: ${m.error}`,
    deadLetteredAt: m.deadLetteredAt,
  });
  return {
    async peek(queue, fromSequenceNumber, limit) {
      return transport.peekDeadLetters(queue, Number(fromSequenceNumber), limit).map(toBrokerDeadLetter);
    },
    async redrive(queue, sequenceNumber, resend) {
      const [message] = transport.peekDeadLetters(queue, Number(sequenceNumber), 1);
      if (!message || String(message.sequenceNumber) !== sequenceNumber) return 'not-found';
      if (!(await resend(toBrokerDeadLetter(message)))) return 'kept';
      transport.completeDeadLetter(queue, message.sequenceNumber);
      return 'redriven';
    },
    async close() {},
  };
}

/** The part of `ServiceBusReceivedMessage` this module reads. */
export interface ReceivedMessageLike {
  sequenceNumber?: { toString(): string } | undefined;
  messageId?: string | number | unknown;
  body: unknown;
  deliveryCount?: number | undefined;
  deadLetterReason?: string | undefined;
  deadLetterErrorDescription?: string | undefined;
  enqueuedTimeUtc?: Date | undefined;
}

/** The part of `ServiceBusReceiver` this module uses. */
export interface DeadLetterReceiverLike {
  peekMessages(
    maxMessageCount: number,
    options?: { fromSequenceNumber?: unknown },
  ): Promise<ReceivedMessageLike[]>;
  receiveMessages(
    maxMessageCount: number,
    options?: { maxWaitTimeInMs?: number },
  ): Promise<ReceivedMessageLike[]>;
  completeMessage(message: ReceivedMessageLike): Promise<void>;
  abandonMessage(message: ReceivedMessageLike): Promise<void>;
  close(): Promise<void>;
}

/** The part of `ServiceBusClient` this module uses. */
export interface DeadLetterClientLike {
  createReceiver(
    queueName: string,
    options: { subQueueType: 'deadLetter'; receiveMode: 'peekLock' },
  ): DeadLetterReceiverLike;
  close(): Promise<void>;
}

export interface ServiceBusDeadLetterDeps {
  createClient?: (target: ServiceBusClientTarget) => DeadLetterClientLike | Promise<DeadLetterClientLike>;
  createCredential?: (clientId: string | undefined) => TokenCredential | Promise<TokenCredential>;
  /** Turns a decimal sequence number into what `fromSequenceNumber` takes (a `Long`). */
  toLong?: (sequenceNumber: string) => unknown;
}

/** Messages a redrive receives while looking for one, at most (each is held locked, then given back). */
const REDRIVE_SCAN_LIMIT = 500;
const RECEIVE_BATCH = 50;
const RECEIVE_WAIT_MS = 2000;

function fromReceived(queue: QueueName, m: ReceivedMessageLike): BrokerDeadLetter {
  const reason = [m.deadLetterReason, m.deadLetterErrorDescription].filter(Boolean).join(': ');
  return {
    queue,
    sequenceNumber: String(m.sequenceNumber ?? ''),
    messageId: m.messageId === undefined ? undefined : String(m.messageId),
    body: m.body,
    deliveryCount: m.deliveryCount ?? 0,
    reason: reason || 'dead-lettered by Service Bus (no reason given)',
    deadLetteredAt: m.enqueuedTimeUtc ? m.enqueuedTimeUtc.toISOString() : null,
  };
}

async function defaultToLong(sequenceNumber: string): Promise<unknown> {
  const { default: Long } = await import('long');
  return Long.fromString(sequenceNumber);
}

/**
 * Service Bus dead-letter sub-queues, read under the app's identity (the same connection setting as the
 * publisher). Listing peeks (nothing is locked or changed); a redrive receives in peek-lock mode until it holds
 * the wanted message, re-sends it, completes it, and abandons every other message it received on the way, so they
 * stay in the sub-queue. The identity needs Azure Service Bus Data Receiver on the queues' dead-letter sub-queues
 * (receive) and Data Sender (the re-send); Data Owner covers both.
 */
export function createServiceBusDeadLetterQueue(
  config: ServiceBusConnectionConfig,
  deps: ServiceBusDeadLetterDeps = {},
): BrokerDeadLetterQueue {
  const createClient =
    deps.createClient ?? ((target) => defaultCreateClient(target) as Promise<DeadLetterClientLike>);
  const createCredential = deps.createCredential ?? defaultCreateCredential;
  const toLong = deps.toLong ?? defaultToLong;
  let clientPromise: Promise<DeadLetterClientLike> | undefined;

  function client(): Promise<DeadLetterClientLike> {
    if (!clientPromise) {
      const pending = (async () =>
        config.kind === 'connection-string'
          ? createClient({ kind: 'connection-string', connectionString: config.connectionString })
          : createClient({
              kind: 'identity',
              fullyQualifiedNamespace: config.fullyQualifiedNamespace,
              credential: await createCredential(config.clientId),
            }))();
      clientPromise = pending;
      pending.catch(() => {
        if (clientPromise === pending) clientPromise = undefined;
      });
    }
    return clientPromise;
  }

  async function withReceiver<T>(
    queue: QueueName,
    use: (r: DeadLetterReceiverLike) => Promise<T>,
  ): Promise<T> {
    const receiver = (await client()).createReceiver(queue, {
      subQueueType: 'deadLetter',
      receiveMode: 'peekLock',
    });
    try {
      return await use(receiver);
    } finally {
      await receiver.close().catch(() => {});
    }
  }

  return {
    peek(queue, fromSequenceNumber, limit) {
      return withReceiver(queue, async (receiver) => {
        const fromLong = await toLong(fromSequenceNumber);
        const messages = await receiver.peekMessages(limit, { fromSequenceNumber: fromLong });
        return messages.map((m) => fromReceived(queue, m));
      });
    },
    redrive(queue, sequenceNumber, resend) {
      return withReceiver(queue, async (receiver) => {
        const held: ReceivedMessageLike[] = [];
        try {
          while (held.length < REDRIVE_SCAN_LIMIT) {
            const batch = await receiver.receiveMessages(RECEIVE_BATCH, { maxWaitTimeInMs: RECEIVE_WAIT_MS });
            if (batch.length === 0) return 'not-found';
            const wanted = batch.find((m) => String(m.sequenceNumber) === sequenceNumber);
            held.push(...batch.filter((m) => m !== wanted));
            if (!wanted) continue;
            if (!(await resend(fromReceived(queue, wanted)))) {
              held.push(wanted);
              return 'kept';
            }
            await receiver.completeMessage(wanted);
            return 'redriven';
          }
          return 'not-found';
        } finally {
          // Given back at once, not left to their lock expiring.
          await Promise.allSettled(held.map((m) => receiver.abandonMessage(m)));
        }
      });
    },
    async close() {
      const pending = clientPromise;
      clientPromise = undefined;
      if (pending) await (await pending.catch(() => undefined))?.close();
    },
  };
}
