import { describe, expect, it } from 'vitest';
import { envelope } from '../../shared/messaging/contracts.js';
import { InProcessTransport } from '../../shared/messaging/in-process-transport.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';

const message = (orderId = crypto.randomUUID()) => ({
  queue: QUEUES.reservations,
  envelope: envelope('OrderPlaced', { orderId, customerId: 'c', productId: 'PROD-001', quantity: 1 }),
});

describe('in-process transport (a Service Bus queue where it matters)', () => {
  it('delivers at least once, with deliveryCount, and redelivers after a throw', async () => {
    const t = new InProcessTransport({ maxDeliveryCount: 5 });
    const counts: number[] = [];
    t.subscribe(QUEUES.reservations, async (_body, meta) => {
      counts.push(meta.deliveryCount);
      if (meta.deliveryCount < 3) throw new Error('not yet');
    });
    await t.publish([message()]);
    await t.idle();
    expect(counts).toEqual([1, 2, 3]);
    expect(t.deadLetters).toEqual([]);
    await t.close();
  });

  it('dead-letters after maxDeliveryCount', async () => {
    const t = new InProcessTransport({ maxDeliveryCount: 3 });
    t.subscribe(QUEUES.reservations, async () => {
      throw new Error('always');
    });
    const m = message();
    await t.publish([m]);
    await t.idle();
    expect(t.deadLetters).toHaveLength(1);
    expect(t.deadLetters[0]).toMatchObject({
      deliveryCount: 3,
      error: 'always',
      body: { messageId: m.envelope.messageId },
    });
    await t.close();
  });

  it('redelivers at once, as Service Bus does: a failure longer than the deliveries dead-letters the message', async () => {
    const t = new InProcessTransport({ maxDeliveryCount: 10 });
    let failing = true;
    const counts: number[] = [];
    t.subscribe(QUEUES.reservations, async (_body, meta) => {
      counts.push(meta.deliveryCount);
      if (failing) throw new Error('database down');
    });
    await t.publish([message()]);
    await t.idle();
    // A "database outage" that lasts as long as this test never ends before all ten deliveries are used up.
    failing = false;
    expect(counts).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(t.deadLetters).toHaveLength(1);
    await t.close();
  });

  it('holds a scheduled message until its time and deduplicates on the broker-level id', async () => {
    const t = new InProcessTransport({ maxDeliveryCount: 3 });
    const got: { id: string; envelopeId: string; round: number | undefined }[] = [];
    t.subscribe(QUEUES.reservations, async (body, meta) => {
      got.push({ id: meta.messageId, envelopeId: body.messageId, round: body.retryRound });
    });
    const m = message();
    const copy = {
      ...m,
      envelope: { ...m.envelope, retryRound: 1 },
      scheduledEnqueueTime: new Date(Date.now() + 150),
    };
    await t.publish([m]);
    await t.publish([copy]);
    await t.publish([copy]); // the same round scheduled twice: dropped
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toHaveLength(1);
    expect(t.scheduled).toBe(1);
    await t.idle();
    expect(got).toEqual([
      { id: m.envelope.messageId, envelopeId: m.envelope.messageId, round: undefined },
      { id: `${m.envelope.messageId}:retry-1`, envelopeId: m.envelope.messageId, round: 1 },
    ]);
    expect(t.duplicatesDropped).toBe(1);
    await t.close();
  });

  it('drops a re-sent message id (duplicate detection) and can deliver every message several times', async () => {
    const t = new InProcessTransport({ maxDeliveryCount: 3, deliveryCopies: 2 });
    const seen: string[] = [];
    t.subscribe(QUEUES.reservations, async (body) => {
      seen.push(body.messageId);
    });
    const m = message();
    await t.publish([m]);
    await t.publish([m]);
    await t.idle();
    expect(seen).toEqual([m.envelope.messageId, m.envelope.messageId]);
    expect(t.duplicatesDropped).toBe(1);
    await t.close();
  });

  it('refuses to publish while unavailable, like a broker that is down', async () => {
    const t = new InProcessTransport({ maxDeliveryCount: 3 });
    t.setAvailable(false);
    await expect(t.publish([message()])).rejects.toThrow(/unavailable/);
    t.setAvailable(true);
    await expect(t.publish([message()])).resolves.toHaveProperty('handled');
    await t.close();
  });

  it("resolves a publish's receipt only once the message is handled; a lost one rejects and may be sent again", async () => {
    const t = new InProcessTransport({ maxDeliveryCount: 2 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let failing = false;
    const handled: string[] = [];
    t.subscribe(QUEUES.reservations, async (body) => {
      if (failing) throw new Error('database down');
      await gate;
      handled.push(body.messageId);
    });
    const m = message();
    const receipt = await t.publish([m]);
    let settled = false;
    void receipt.handled.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false); // queued in memory is not safe yet
    // A re-send meanwhile is dropped, and its receipt waits for the same delivery.
    const again = await t.publish([m]);
    release();
    await Promise.all([receipt.handled, again.handled]);
    expect(handled).toEqual([m.envelope.messageId]);
    expect(t.duplicatesDropped).toBe(1);

    failing = true;
    const lost = message();
    const first = await t.publish([lost]);
    await expect(first.handled).rejects.toThrow(/dead-lettered by the in-process transport/);
    // Forgotten with the dead letter: the outbox relay's re-send is accepted, not dropped as a duplicate.
    failing = false;
    const resent = await t.publish([lost]);
    await resent.handled;
    expect(handled).toEqual([m.envelope.messageId, lost.envelope.messageId]);
    await t.close();
  });

  it('a message handed on to a delayed retry is handled once the copy is, and lost (re-sendable) if the copy is', async () => {
    const t = new InProcessTransport({ maxDeliveryCount: 2 });
    let copyFails = false;
    const seen: string[] = [];
    t.subscribe(QUEUES.reservations, async (body, meta) => {
      seen.push(meta.messageId);
      if (!body.retryRound) {
        // The consumer met a transient failure: it schedules round 1 and completes this delivery.
        await t.publish([
          {
            queue: QUEUES.reservations,
            envelope: { ...body, retryRound: 1 },
            scheduledEnqueueTime: new Date(Date.now() + 20),
          },
        ]);
        return;
      }
      if (copyFails) throw new Error('database still down');
    });

    const ok = message();
    const okReceipt = await t.publish([ok]);
    await okReceipt.handled;
    expect(seen).toEqual([ok.envelope.messageId, `${ok.envelope.messageId}:retry-1`]);

    copyFails = true;
    const lost = message();
    const lostReceipt = await t.publish([lost]);
    await expect(lostReceipt.handled).rejects.toThrow(/dead-lettered/);
    // The original id is forgotten: the outbox relay's re-send is accepted, not dropped as a duplicate.
    copyFails = false;
    const resent = await t.publish([lost]);
    await resent.handled;
    expect(t.duplicatesDropped).toBe(0);
    await t.close();
  });
});
