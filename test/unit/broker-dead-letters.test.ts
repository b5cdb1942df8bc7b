import { describe, expect, it } from 'vitest';
import {
  createServiceBusDeadLetterQueue,
  type DeadLetterClientLike,
  type DeadLetterReceiverLike,
  inProcessDeadLetterQueue,
  type ReceivedMessageLike,
} from '../../shared/messaging/broker-dead-letters.js';
import { envelope } from '../../shared/messaging/contracts.js';
import { InProcessTransport } from '../../shared/messaging/in-process-transport.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';

const orderId = '7c0b6a52-3a43-4d36-9a55-0a4b6f0d6c11';
const placed = envelope('OrderPlaced', { orderId, customerId: 'c', productId: 'PROD-001', quantity: 1 });

/** A dead-letter sub-queue as Service Bus keeps it: messages, each locked while received, until completed. */
function fakeServiceBus(messages: ReceivedMessageLike[]) {
  const calls: string[] = [];
  const queue = [...messages];
  const locked = new Set<ReceivedMessageLike>();
  const receiver: DeadLetterReceiverLike = {
    async peekMessages(max, options) {
      const from = Number(String(options?.fromSequenceNumber ?? '0'));
      return queue.filter((m) => Number(String(m.sequenceNumber)) >= from).slice(0, max);
    },
    async receiveMessages(max) {
      const batch = queue.filter((m) => !locked.has(m)).slice(0, max);
      for (const m of batch) locked.add(m);
      return batch;
    },
    async completeMessage(m) {
      calls.push(`complete ${m.sequenceNumber}`);
      queue.splice(queue.indexOf(m), 1);
      locked.delete(m);
    },
    async abandonMessage(m) {
      calls.push(`abandon ${m.sequenceNumber}`);
      locked.delete(m);
    },
    async close() {},
  };
  const client: DeadLetterClientLike = {
    createReceiver(queueName, options) {
      calls.push(`receiver ${queueName} ${options.subQueueType} ${options.receiveMode}`);
      return receiver;
    },
    async close() {
      calls.push('close');
    },
  };
  return { client, calls, queue };
}

const sb = (sequenceNumber: number, body: unknown = placed): ReceivedMessageLike => ({
  sequenceNumber: { toString: () => String(sequenceNumber) },
  messageId: placed.messageId,
  body,
  deliveryCount: 10,
  deadLetterReason: 'MaxDeliveryCountExceeded',
  deadLetterErrorDescription: 'Message could not be consumed after 10 delivery attempts.',
  enqueuedTimeUtc: new Date('2026-01-01T00:00:00Z'),
});

function serviceBusQueue(messages: ReceivedMessageLike[]) {
  const fake = fakeServiceBus(messages);
  const dlq = createServiceBusDeadLetterQueue(
    {
      kind: 'connection-string',
      connectionString: 'Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v',
    },
    { createClient: () => fake.client, toLong: (s) => s },
  );
  return { ...fake, dlq };
}

describe('Service Bus dead-letter sub-queues', () => {
  it('lists by peeking the $DeadLetterQueue, with the broker reason, from a sequence number on', async () => {
    const { dlq, calls, queue } = serviceBusQueue([sb(3), sb(4), sb(9)]);
    const listed = await dlq.peek(QUEUES.reservations, '4', 10);
    expect(listed.map((m) => m.sequenceNumber)).toEqual(['4', '9']);
    expect(listed[0]).toMatchObject({
      queue: QUEUES.reservations,
      messageId: placed.messageId,
      body: placed,
      deliveryCount: 10,
      reason: 'MaxDeliveryCountExceeded: Message could not be consumed after 10 delivery attempts.',
      deadLetteredAt: '2026-01-01T00:00:00.000Z',
    });
    expect(calls).toEqual([`receiver ${QUEUES.reservations} deadLetter peekLock`]);
    expect(queue).toHaveLength(3);
  });

  it('a redrive receives until it holds the message, re-sends it, completes it and gives the others back', async () => {
    const { dlq, calls, queue } = serviceBusQueue([sb(3), sb(4), sb(9)]);
    const resent: string[] = [];
    const outcome = await dlq.redrive(QUEUES.reservations, '4', async (m) => {
      resent.push(m.sequenceNumber);
      return true;
    });
    expect(outcome).toBe('redriven');
    expect(resent).toEqual(['4']);
    expect(calls).toContain('complete 4');
    expect(calls.filter((c) => c.startsWith('abandon')).sort()).toEqual(['abandon 3', 'abandon 9']);
    expect(queue.map((m) => String(m.sequenceNumber))).toEqual(['3', '9']);
  });

  it('a message the re-send refuses stays in the sub-queue; an unknown one is not found', async () => {
    const { dlq, queue } = serviceBusQueue([sb(3)]);
    expect(await dlq.redrive(QUEUES.reservations, '3', async () => false)).toBe('kept');
    expect(await dlq.redrive(QUEUES.reservations, '77', async () => true)).toBe('not-found');
    expect(queue).toHaveLength(1);
  });
});

describe("the in-process transport's dead-letter sub-queue", () => {
  it('holds what exhausted its deliveries, numbered; a redrive re-sends and completes it', async () => {
    const transport = new InProcessTransport({ maxDeliveryCount: 2 });
    transport.subscribe(QUEUES.reservations, async () => {
      throw new Error('consumer broken');
    });
    const receipt = await transport.publish([{ queue: QUEUES.reservations, envelope: placed }]);
    await expect(receipt?.handled).rejects.toThrow(/dead-lettered/);
    const dlq = inProcessDeadLetterQueue(transport);
    const [message] = await dlq.peek(QUEUES.reservations, '0', 10);
    expect(message).toMatchObject({ sequenceNumber: '1', deliveryCount: 2, messageId: placed.messageId });
    expect(message!.reason).toMatch(/consumer broken/);
    expect(await dlq.peek(QUEUES.orderStatus, '0', 10)).toEqual([]);
    expect(await dlq.redrive(QUEUES.reservations, '1', async () => true)).toBe('redriven');
    expect(await dlq.peek(QUEUES.reservations, '0', 10)).toEqual([]);
    await transport.close();
  });
});
