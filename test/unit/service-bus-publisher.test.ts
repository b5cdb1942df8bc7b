import type { TokenCredential } from '@azure/identity';
import type { ServiceBusMessage } from '@azure/service-bus';
import { describe, expect, it } from 'vitest';
import { type Envelope, envelope } from '../../shared/messaging/contracts.js';
import type { OutgoingMessage } from '../../shared/messaging/publisher.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import {
  createServiceBusPublisher,
  DIAGNOSTIC_ID_PROPERTY,
  MessageTooLargeError,
  type ServiceBusBatchLike,
  type ServiceBusClientLike,
  type ServiceBusClientTarget,
  type ServiceBusConnectionConfig,
  type ServiceBusSenderLike,
  toServiceBusMessage,
} from '../../shared/messaging/service-bus-publisher.js';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const CONNECTION: ServiceBusConnectionConfig = {
  kind: 'connection-string',
  connectionString: 'Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=x',
};

/** A batch that holds at most `maxCount` messages and `maxSizeInBytes` bytes of JSON body. */
class FakeBatch implements ServiceBusBatchLike {
  readonly messages: ServiceBusMessage[] = [];
  sizeInBytes = 0;
  constructor(
    private readonly maxCount: number,
    readonly maxSizeInBytes: number,
  ) {}
  get count() {
    return this.messages.length;
  }
  tryAddMessage(message: ServiceBusMessage): boolean {
    const size = Buffer.byteLength(JSON.stringify(message.body));
    if (this.count >= this.maxCount || this.sizeInBytes + size > this.maxSizeInBytes) return false;
    this.messages.push(message);
    this.sizeInBytes += size;
    return true;
  }
}

interface FakeOptions {
  maxCount?: number;
  maxSizeInBytes?: number;
  /** Called before a batch is "sent"; throw to simulate a broker failure. */
  onSend?: (queue: string, batch: FakeBatch) => Promise<void> | void;
}

class FakeSender implements ServiceBusSenderLike {
  readonly sent: ServiceBusMessage[][] = [];
  readonly scheduled: { messages: ServiceBusMessage[]; at: Date }[] = [];
  closeCalls = 0;
  constructor(
    readonly queue: string,
    private readonly options: FakeOptions,
  ) {}
  async createMessageBatch(): Promise<FakeBatch> {
    return new FakeBatch(this.options.maxCount ?? 100, this.options.maxSizeInBytes ?? 256 * 1024);
  }
  async sendMessages(batch: ServiceBusBatchLike): Promise<void> {
    const fake = batch as FakeBatch;
    await this.options.onSend?.(this.queue, fake);
    // Checked after the (possibly slow) send, as a real link closed mid-send would fail it.
    if (this.closeCalls > 0) throw new Error(`sender for ${this.queue} is closed`);
    this.sent.push([...fake.messages]);
  }
  async scheduleMessages(messages: ServiceBusMessage[], at: Date): Promise<unknown> {
    this.scheduled.push({ messages, at });
    return messages.map((_, i) => i);
  }
  async close(): Promise<void> {
    this.closeCalls++;
  }
}

class FakeClient implements ServiceBusClientLike {
  readonly senders: FakeSender[] = [];
  closeCalls = 0;
  constructor(private readonly options: FakeOptions) {}
  createSender(queue: string): FakeSender {
    if (this.closeCalls > 0) throw new Error('client is closed');
    const sender = new FakeSender(queue, this.options);
    this.senders.push(sender);
    return sender;
  }
  async close(): Promise<void> {
    this.closeCalls++;
  }
  sentTo(queue: string): ServiceBusMessage[][] {
    return this.senders.filter((s) => s.queue === queue).flatMap((s) => s.sent);
  }
}

function setup(options: FakeOptions = {}, config: ServiceBusConnectionConfig = CONNECTION) {
  const targets: ServiceBusClientTarget[] = [];
  const clients: FakeClient[] = [];
  const publisher = createServiceBusPublisher(config, {
    createClient: (target) => {
      targets.push(target);
      const client = new FakeClient(options);
      clients.push(client);
      return client;
    },
    createCredential: () => fakeCredential,
  });
  return { publisher, targets, clients };
}

const fakeCredential: TokenCredential = { getToken: async () => null };

function orderId(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

function placed(n: number, trace: { traceparent?: string; tracestate?: string } = {}): OutgoingMessage {
  return {
    queue: QUEUES.reservations,
    envelope: envelope(
      'OrderPlaced',
      { orderId: orderId(n), customerId: `customer-${n}`, productId: 'PROD-001', quantity: 1 },
      trace,
    ),
  };
}

function reserved(n: number): OutgoingMessage {
  return {
    queue: QUEUES.orderStatus,
    envelope: envelope('InventoryReserved', {
      orderId: orderId(n),
      productId: 'PROD-001',
      quantity: 1,
      remaining: 9,
    }),
  };
}

const idsOf = (batches: ServiceBusMessage[][]) => batches.map((b) => b.map((m) => m.messageId));

describe('toServiceBusMessage', () => {
  it('carries the envelope with its deterministic id, type, correlation id and trace context', () => {
    const { envelope: env } = placed(1, { traceparent: TRACEPARENT, tracestate: 'vendor=value' });
    const message = toServiceBusMessage(env);
    expect(message).toEqual({
      messageId: `OrderPlaced:${orderId(1)}`,
      body: env,
      contentType: 'application/json',
      subject: 'OrderPlaced',
      correlationId: orderId(1),
      applicationProperties: {
        type: 'OrderPlaced',
        traceparent: TRACEPARENT,
        tracestate: 'vendor=value',
        'Diagnostic-Id': TRACEPARENT,
      },
    });
    expect(DIAGNOSTIC_ID_PROPERTY).toBe('Diagnostic-Id');
  });

  it('sets no trace properties when the envelope has no trace context', () => {
    const message = toServiceBusMessage(reserved(2).envelope);
    expect(message.applicationProperties).toEqual({ type: 'InventoryReserved' });
    expect(message.messageId).toBe(`InventoryReserved:${orderId(2)}`);
  });
});

describe('createServiceBusPublisher', () => {
  it('is the service-bus transport and creates nothing until the first publish', async () => {
    const { publisher, targets } = setup();
    expect(publisher.kind).toBe('service-bus');
    await publisher.publish([]);
    expect(targets).toHaveLength(0);
  });

  it('sends the mapped messages, with ids and trace context, to the queue they name', async () => {
    const { publisher, clients } = setup();
    const message = placed(1, { traceparent: TRACEPARENT });
    await publisher.publish([message]);
    const [client] = clients;
    expect(client?.senders.map((s) => s.queue)).toEqual([QUEUES.reservations]);
    const sent = client?.sentTo(QUEUES.reservations).flat();
    expect(sent).toEqual([toServiceBusMessage(message.envelope)]);
    expect(sent?.[0]?.applicationProperties?.[DIAGNOSTIC_ID_PROPERTY]).toBe(TRACEPARENT);
  });

  it('sends messages for two queues through two senders, keeping the order within each queue', async () => {
    const { publisher, clients } = setup();
    await publisher.publish([placed(1), reserved(2), placed(3), reserved(4)]);
    const client = clients[0]!;
    expect(client.senders.map((s) => s.queue).sort()).toEqual(
      [QUEUES.reservations, QUEUES.orderStatus].sort(),
    );
    expect(idsOf(client.sentTo(QUEUES.reservations))).toEqual([
      [`OrderPlaced:${orderId(1)}`, `OrderPlaced:${orderId(3)}`],
    ]);
    expect(idsOf(client.sentTo(QUEUES.orderStatus))).toEqual([
      [`InventoryReserved:${orderId(2)}`, `InventoryReserved:${orderId(4)}`],
    ]);
  });

  it("schedules a delayed-retry copy under its round's derived id, and sends the rest at once", async () => {
    const { publisher, clients } = setup();
    const at = new Date(Date.now() + 60_000);
    const copy = placed(2);
    await publisher.publish([
      placed(1),
      { ...copy, envelope: { ...copy.envelope, retryRound: 3 }, scheduledEnqueueTime: at },
    ]);
    const [sender] = clients[0]!.senders;
    expect(idsOf(sender!.sent)).toEqual([[`OrderPlaced:${orderId(1)}`]]);
    expect(sender!.scheduled).toHaveLength(1);
    expect(sender!.scheduled[0]!.at).toEqual(at);
    // Not the original id: duplicate detection would drop a re-send of it inside its window.
    expect(sender!.scheduled[0]!.messages.map((m) => m.messageId)).toEqual([
      `OrderPlaced:${orderId(2)}:retry-3`,
    ]);
    expect(sender!.scheduled[0]!.messages[0]!.body).toMatchObject({
      messageId: `OrderPlaced:${orderId(2)}`,
      retryRound: 3,
    });
  });

  it('sends a full batch and starts a new one when tryAddMessage refuses', async () => {
    const { publisher, clients } = setup({ maxCount: 2 });
    await publisher.publish([1, 2, 3, 4, 5].map((n) => placed(n)));
    expect(idsOf(clients[0]!.sentTo(QUEUES.reservations))).toEqual([
      [`OrderPlaced:${orderId(1)}`, `OrderPlaced:${orderId(2)}`],
      [`OrderPlaced:${orderId(3)}`, `OrderPlaced:${orderId(4)}`],
      [`OrderPlaced:${orderId(5)}`],
    ]);
  });

  it('rejects clearly when a single message does not fit into an empty batch', async () => {
    const { publisher, clients } = setup({ maxSizeInBytes: 50 });
    const attempt = publisher.publish([placed(7)]);
    await expect(attempt).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(attempt).rejects.toThrow(
      `Message "OrderPlaced:${orderId(7)}" (OrderPlaced) is too large for Service Bus queue "inventory-reservations": it does not fit into an empty batch (maximum 50 bytes)`,
    );
    await attempt.catch((error: MessageTooLargeError) => {
      expect(error.messageId).toBe(`OrderPlaced:${orderId(7)}`);
      expect(error.queue).toBe(QUEUES.reservations);
      expect(error.maxSizeInBytes).toBe(50);
    });
    expect(clients[0]!.sentTo(QUEUES.reservations)).toEqual([]);
  });

  it('sends the batch before an oversize message, then rejects naming that message', async () => {
    const small = placed(1);
    const big = placed(2);
    big.envelope = { ...big.envelope, tracestate: 'x'.repeat(400) } as Envelope;
    const limit = Buffer.byteLength(JSON.stringify(small.envelope)) + 100;
    const { publisher, clients } = setup({ maxSizeInBytes: limit });
    await expect(publisher.publish([small, big])).rejects.toThrow(
      new RegExp(`"OrderPlaced:${orderId(2)}".*too large.*maximum ${limit} bytes`),
    );
    expect(idsOf(clients[0]!.sentTo(QUEUES.reservations))).toEqual([[`OrderPlaced:${orderId(1)}`]]);
  });

  it('reuses one client and one sender per queue across publishes', async () => {
    const { publisher, targets, clients } = setup();
    await publisher.publish([placed(1)]);
    await publisher.publish([placed(2), reserved(2)]);
    await Promise.all([publisher.publish([placed(3)]), publisher.publish([reserved(3)])]);
    expect(targets).toHaveLength(1);
    const client = clients[0]!;
    expect(client.senders.map((s) => s.queue).sort()).toEqual(
      [QUEUES.reservations, QUEUES.orderStatus].sort(),
    );
    expect(client.sentTo(QUEUES.reservations).flat()).toHaveLength(3);
    expect(client.sentTo(QUEUES.orderStatus).flat()).toHaveLength(2);
  });

  it('rejects with the broker error and can publish again on the same sender', async () => {
    let failNext = true;
    const { publisher, clients } = setup({
      onSend: () => {
        if (failNext) {
          failNext = false;
          throw new Error('ServiceBusError: ServiceCommunicationProblem');
        }
      },
    });
    await expect(publisher.publish([placed(1)])).rejects.toThrow('ServiceCommunicationProblem');
    await publisher.publish([placed(1)]);
    expect(clients[0]!.senders).toHaveLength(1);
    expect(idsOf(clients[0]!.sentTo(QUEUES.reservations))).toEqual([[`OrderPlaced:${orderId(1)}`]]);
  });

  it('reports failures on several queues together, after trying every queue', async () => {
    const { publisher } = setup({
      onSend: (queue) => {
        throw new Error(`${queue} unavailable`);
      },
    });
    const attempt = publisher.publish([placed(1), reserved(2)]);
    await expect(attempt).rejects.toBeInstanceOf(AggregateError);
    await expect(attempt).rejects.toThrow(/failed for 2 queues.*unavailable.*unavailable/);
  });

  it('does not cache a failed client creation', async () => {
    let calls = 0;
    const publisher = createServiceBusPublisher(CONNECTION, {
      createClient: () => {
        calls++;
        if (calls === 1) throw new Error('bad connection string');
        return new FakeClient({});
      },
    });
    await expect(publisher.publish([placed(1)])).rejects.toThrow('bad connection string');
    await publisher.publish([placed(1)]);
    expect(calls).toBe(2);
  });

  it('closes every sender and then the client exactly once; publishing after close rejects', async () => {
    const { publisher, clients } = setup();
    await publisher.publish([placed(1), reserved(2)]);
    const client = clients[0]!;
    const order: string[] = [];
    for (const sender of client.senders) {
      const close = sender.close.bind(sender);
      sender.close = async () => {
        order.push(`sender:${sender.queue}`);
        await close();
      };
    }
    const closeClient = client.close.bind(client);
    client.close = async () => {
      order.push('client');
      await closeClient();
    };

    await Promise.all([publisher.close(), publisher.close()]);
    await publisher.close();

    expect(client.senders.map((s) => s.closeCalls)).toEqual([1, 1]);
    expect(client.closeCalls).toBe(1);
    expect(order.at(-1)).toBe('client');
    expect(order).toHaveLength(3);
    await expect(publisher.publish([placed(3)])).rejects.toThrow(/publisher is closed/);
    await expect(publisher.publish([])).rejects.toThrow(/publisher is closed/);
  });

  it('lets a publish that already started finish before closing', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { publisher, clients } = setup({ onSend: () => gate });
    const publishing = publisher.publish([placed(1)]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const closing = publisher.close();
    release();
    await publishing;
    await closing;
    const client = clients[0]!;
    expect(client.sentTo(QUEUES.reservations).flat()).toHaveLength(1);
    expect(client.senders[0]!.closeCalls).toBe(1);
    expect(client.closeCalls).toBe(1);
  });

  it('closing before any publish creates no client', async () => {
    const { publisher, targets } = setup();
    await publisher.close();
    expect(targets).toHaveLength(0);
    await expect(publisher.publish([placed(1)])).rejects.toThrow(/closed/);
  });

  it('passes the connection string to the client factory', async () => {
    const { publisher, targets } = setup();
    await publisher.publish([placed(1)]);
    expect(targets).toEqual([{ kind: 'connection-string', connectionString: CONNECTION.connectionString }]);
  });

  it('builds an identity-based client for the namespace with the credential for the client id', async () => {
    const clientIds: (string | undefined)[] = [];
    const targets: ServiceBusClientTarget[] = [];
    const publisher = createServiceBusPublisher(
      { kind: 'identity', fullyQualifiedNamespace: 'valerix.servicebus.windows.net', clientId: 'client-123' },
      {
        createCredential: (clientId) => {
          clientIds.push(clientId);
          return fakeCredential;
        },
        createClient: (target) => {
          targets.push(target);
          return new FakeClient({});
        },
      },
    );
    await publisher.publish([placed(1)]);
    expect(clientIds).toEqual(['client-123']);
    expect(targets).toEqual([
      {
        kind: 'identity',
        fullyQualifiedNamespace: 'valerix.servicebus.windows.net',
        credential: fakeCredential,
      },
    ]);
  });

  it('uses ManagedIdentityCredential for a user-assigned identity and DefaultAzureCredential otherwise', async () => {
    const { DefaultAzureCredential, ManagedIdentityCredential } = await import('@azure/identity');
    const credentialFor = async (clientId: string | undefined) => {
      const targets: ServiceBusClientTarget[] = [];
      const publisher = createServiceBusPublisher(
        { kind: 'identity', fullyQualifiedNamespace: 'valerix.servicebus.windows.net', clientId },
        {
          createClient: (target) => {
            targets.push(target);
            return new FakeClient({});
          },
        },
      );
      await publisher.publish([placed(1)]);
      await publisher.close();
      const [target] = targets;
      if (target?.kind !== 'identity') throw new Error('expected an identity target');
      expect(target.fullyQualifiedNamespace).toBe('valerix.servicebus.windows.net');
      return target.credential;
    };
    expect(await credentialFor('client-123')).toBeInstanceOf(ManagedIdentityCredential);
    expect(await credentialFor(undefined)).toBeInstanceOf(DefaultAzureCredential);
  });
});
