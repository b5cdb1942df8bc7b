import type { TokenCredential } from '@azure/identity';
import type { ServiceBusClient, ServiceBusMessage } from '@azure/service-bus';
import type { Settings } from '../config/settings.js';
import type { Envelope } from './contracts.js';
import { transportMessageId } from './delayed-retry.js';
import { type OutgoingMessage, type Publisher, SETTLED_RECEIPT } from './publisher.js';
import type { QueueName } from './queue-names.js';

/**
 * The Azure Service Bus transport of the `Publisher` port.
 *
 * - One long-lived `ServiceBusClient` per publisher (one AMQP connection) and one `ServiceBusSender` per queue,
 *   both created on first use. `@azure/service-bus` and `@azure/identity` are imported only then, so a process
 *   that runs the in-process transport (or a test with a fake client) never pays for loading them.
 * - Every message carries the envelope's deterministic `messageId`, so a re-send (outbox relay after a crash,
 *   a retry after a timeout) is dropped by the queue's duplicate detection.
 * - Messages are sent in batches per queue; within a queue they keep the order they were given in.
 * - A message with `scheduledEnqueueTime` (a delayed retry) goes through `scheduleMessages`: the broker holds it
 *   until then. Its messageId is derived per round (see delayed-retry.ts), or duplicate detection would drop it.
 */

/** How to reach the namespace: the non-local variants of `Settings['serviceBus']`. */
export type ServiceBusConnectionConfig = Exclude<Settings['serviceBus'], { kind: 'in-process' }>;

/** What the client factory receives: a connection string, or a namespace and a ready credential. */
export type ServiceBusClientTarget =
  | { kind: 'connection-string'; connectionString: string }
  | { kind: 'identity'; fullyQualifiedNamespace: string; credential: TokenCredential };

/** The part of `ServiceBusMessageBatch` this module uses. */
export interface ServiceBusBatchLike {
  readonly count: number;
  readonly sizeInBytes: number;
  readonly maxSizeInBytes: number;
  tryAddMessage(message: ServiceBusMessage): boolean;
}

/** The part of `ServiceBusSender` this module uses. */
export interface ServiceBusSenderLike {
  createMessageBatch(): Promise<ServiceBusBatchLike>;
  sendMessages(batch: ServiceBusBatchLike): Promise<void>;
  /** Resolves to the sequence numbers (Long in the SDK) of the scheduled messages. */
  scheduleMessages(messages: ServiceBusMessage[], scheduledEnqueueTimeUtc: Date): Promise<unknown>;
  close(): Promise<void>;
}

/** The part of `ServiceBusClient` this module uses. */
export interface ServiceBusClientLike {
  createSender(queueOrTopicName: string): ServiceBusSenderLike;
  close(): Promise<void>;
}

export interface ServiceBusPublisherDeps {
  /** Builds the client; defaults to `new ServiceBusClient(...)`. Called at most once per publisher. */
  createClient?: (target: ServiceBusClientTarget) => ServiceBusClientLike | Promise<ServiceBusClientLike>;
  /**
   * Builds the credential for identity-based connections; defaults to `ManagedIdentityCredential({ clientId })`
   * when a client id (user-assigned identity) is set, `DefaultAzureCredential` otherwise.
   */
  createCredential?: (clientId: string | undefined) => TokenCredential | Promise<TokenCredential>;
}

/** A single message that does not fit even into an empty batch: it can never be sent, retrying will not help. */
export class MessageTooLargeError extends Error {
  constructor(
    readonly messageId: string,
    readonly messageType: string,
    readonly queue: string,
    readonly maxSizeInBytes: number,
  ) {
    super(
      `Message "${messageId}" (${messageType}) is too large for Service Bus queue "${queue}": ` +
        `it does not fit into an empty batch (maximum ${maxSizeInBytes} bytes)`,
    );
    this.name = 'MessageTooLargeError';
  }
}

/** Application property the Azure SDK and the Functions host read the W3C trace parent from. */
export const DIAGNOSTIC_ID_PROPERTY = 'Diagnostic-Id';

/** Maps an envelope to the Service Bus message that carries it. */
export function toServiceBusMessage(envelope: Envelope): ServiceBusMessage {
  const applicationProperties: Record<string, string> = { type: envelope.type };
  if (envelope.traceparent) {
    applicationProperties.traceparent = envelope.traceparent;
    // Set before sending, so the SDK's own instrumentation keeps it instead of starting a new trace.
    applicationProperties[DIAGNOSTIC_ID_PROPERTY] = envelope.traceparent;
  }
  if (envelope.tracestate) applicationProperties.tracestate = envelope.tracestate;
  return {
    messageId: transportMessageId(envelope),
    body: envelope,
    contentType: 'application/json',
    subject: envelope.type,
    correlationId: envelope.correlationId,
    applicationProperties,
  };
}

/** The app's identity: its user-assigned managed identity when a client id is set (also the dead-letter reader's). */
export async function defaultCreateCredential(clientId: string | undefined): Promise<TokenCredential> {
  const { DefaultAzureCredential, ManagedIdentityCredential } = await import('@azure/identity');
  return clientId ? new ManagedIdentityCredential({ clientId }) : new DefaultAzureCredential();
}

export async function defaultCreateClient(target: ServiceBusClientTarget): Promise<ServiceBusClient> {
  const { ServiceBusClient } = await import('@azure/service-bus');
  return target.kind === 'connection-string'
    ? new ServiceBusClient(target.connectionString)
    : new ServiceBusClient(target.fullyQualifiedNamespace, target.credential);
}

export function createServiceBusPublisher(
  config: ServiceBusConnectionConfig,
  deps: ServiceBusPublisherDeps = {},
): Publisher {
  const createClient = deps.createClient ?? defaultCreateClient;
  const createCredential = deps.createCredential ?? defaultCreateCredential;

  let clientPromise: Promise<ServiceBusClientLike> | undefined;
  const senders = new Map<string, ServiceBusSenderLike>();
  const inFlight = new Set<Promise<void>>();
  let closing: Promise<void> | undefined;

  async function buildClient(): Promise<ServiceBusClientLike> {
    if (config.kind === 'connection-string') {
      return createClient({ kind: 'connection-string', connectionString: config.connectionString });
    }
    const credential = await createCredential(config.clientId);
    return createClient({
      kind: 'identity',
      fullyQualifiedNamespace: config.fullyQualifiedNamespace,
      credential,
    });
  }

  function client(): Promise<ServiceBusClientLike> {
    if (!clientPromise) {
      const pending = buildClient();
      clientPromise = pending;
      // A failed creation is not cached: the next publish tries again.
      pending.catch(() => {
        if (clientPromise === pending) clientPromise = undefined;
      });
    }
    return clientPromise;
  }

  function sender(sbClient: ServiceBusClientLike, queue: QueueName): ServiceBusSenderLike {
    let existing = senders.get(queue);
    if (!existing) {
      existing = sbClient.createSender(queue);
      senders.set(queue, existing);
    }
    return existing;
  }

  async function sendToQueue(sbSender: ServiceBusSenderLike, queue: QueueName, envelopes: Envelope[]) {
    let batch = await sbSender.createMessageBatch();
    for (const env of envelopes) {
      const message = toServiceBusMessage(env);
      if (batch.tryAddMessage(message)) continue;
      if (batch.count > 0) {
        await sbSender.sendMessages(batch);
        batch = await sbSender.createMessageBatch();
        if (batch.tryAddMessage(message)) continue;
      }
      throw new MessageTooLargeError(env.messageId, env.type, queue, batch.maxSizeInBytes);
    }
    if (batch.count > 0) await sbSender.sendMessages(batch);
  }

  async function doPublish(messages: readonly OutgoingMessage[]): Promise<void> {
    const byQueue = new Map<QueueName, Envelope[]>();
    const scheduled: OutgoingMessage[] = [];
    for (const message of messages) {
      if (message.scheduledEnqueueTime) {
        scheduled.push(message);
        continue;
      }
      const list = byQueue.get(message.queue);
      if (list) list.push(message.envelope);
      else byQueue.set(message.queue, [message.envelope]);
    }
    const sbClient = await client();
    const results = await Promise.allSettled([
      ...[...byQueue].map(([queue, envelopes]) => sendToQueue(sender(sbClient, queue), queue, envelopes)),
      ...scheduled.map((m) =>
        sender(sbClient, m.queue).scheduleMessages(
          [toServiceBusMessage(m.envelope)],
          m.scheduledEnqueueTime as Date,
        ),
      ),
    ]);
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new AggregateError(
        errors,
        `Publishing to Service Bus failed for ${errors.length} queues: ${errors.map(String).join('; ')}`,
      );
    }
  }

  async function closeAll(): Promise<void> {
    // Let publishes that already started finish (their sends are bounded by the SDK's retry policy).
    await Promise.allSettled([...inFlight]);
    const errors: unknown[] = [];
    for (const r of await Promise.allSettled([...senders.values()].map((s) => s.close()))) {
      if (r.status === 'rejected') errors.push(r.reason);
    }
    senders.clear();
    // A client whose creation failed has nothing to close.
    const sbClient = clientPromise ? await clientPromise.catch(() => undefined) : undefined;
    if (sbClient) {
      try {
        await sbClient.close();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  }

  return {
    kind: 'service-bus',
    async publish(messages) {
      if (closing) {
        throw new Error(`Service Bus publisher is closed: cannot publish ${messages.length} message(s)`);
      }
      if (messages.length === 0) return SETTLED_RECEIPT;
      const run = doPublish(messages);
      inFlight.add(run);
      try {
        await run;
      } finally {
        inFlight.delete(run);
      }
      // Durable once accepted: safe now.
      return SETTLED_RECEIPT;
    },
    close() {
      closing ??= closeAll();
      return closing;
    },
  };
}
