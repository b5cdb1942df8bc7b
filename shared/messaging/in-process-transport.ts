import type { Envelope } from './contracts.js';
import { transportMessageId } from './delayed-retry.js';
import type { DeliveryMetadata, OutgoingMessage, Publisher, PublishReceipt } from './publisher.js';
import type { QueueName } from './queue-names.js';

/** Called for each delivery; throwing abandons the message (it is redelivered at once, until maxDeliveryCount). */
export type DeliveryHandler = (body: Envelope, metadata: Required<DeliveryMetadata>) => Promise<void>;

export interface DeadLetteredMessage {
  queue: QueueName;
  body: Envelope;
  deliveryCount: number;
  error: string;
  /** Its place in the dead-letter sub-queue (Service Bus numbers every message of a queue, this one too). */
  sequenceNumber: number;
  /** What the broker knew it by. */
  messageId: string;
  deadLetteredAt: string;
}

export interface InProcessTransportOptions {
  maxDeliveryCount: number;
  /** Deliver every message this many times (at-least-once made visible, for tests and demos). */
  deliveryCopies?: number;
  /** Deliveries in flight per queue (like the trigger's maxConcurrentCalls). */
  concurrency?: number;
  /** Service Bus drops a re-sent messageId within this window; so does this transport. */
  duplicateDetectionWindowMs?: number;
}

/** A message id the transport has accepted: when, and whether it has been handled yet. */
interface Accepted {
  at: number;
  handled: Promise<void>;
  settle(error?: Error): void;
  settled: boolean;
  /**
   * The delayed-retry copy a delivery handed the message on to (the consumer scheduled it and returned): the
   * message is handled only once that copy is, and lost if that copy is.
   */
  successor?: Accepted;
}

function accepted(at: number): Accepted {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const handled = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  handled.catch(() => {}); // a loss nobody asked about is not an unhandled rejection
  const entry: Accepted = {
    at,
    handled,
    settled: false,
    settle(error) {
      if (entry.settled) return;
      entry.settled = true;
      if (error) reject(error);
      else resolve();
    },
  };
  return entry;
}

interface Delivery {
  queue: QueueName;
  body: Envelope;
  deliveryCount: number;
  enqueuedTimeUtc: string;
  /** What the broker knows the message by (differs from the envelope's id for a delayed-retry copy). */
  messageId: string;
}

/**
 * A Service Bus queue stand-in for the local host and tests, faithful where it matters: at-least-once delivery,
 * `deliveryCount` in the metadata, a throwing handler gets the message again AT ONCE (as an abandoned Service
 * Bus message is), and after `maxDeliveryCount` deliveries the message is dead-lettered — so a failure that
 * lasts longer than a few quick deliveries behaves here as it does in Azure. Duplicate detection drops a re-sent
 * message id when it is sent (scheduled messages included); a message with `scheduledEnqueueTime` is delivered
 * no earlier than that.
 *
 * Unlike Service Bus it keeps messages in memory, so it never claims they are safe before they are: `publish`
 * returns a receipt whose `handled` resolves once a delivery completed, and the sender marks its outbox row
 * published only then. A message dead-lettered here is lost with the process, so its receipt rejects and its id
 * is forgotten: the outbox relay's re-send is accepted again.
 */
export class InProcessTransport implements Publisher {
  readonly kind = 'in-process' as const;
  readonly deadLetters: DeadLetteredMessage[] = [];
  /** Re-sent message ids dropped by duplicate detection. */
  duplicatesDropped = 0;
  private deadLetterSequence = 0;
  private readonly handlers = new Map<QueueName, DeliveryHandler>();
  private readonly pending = new Map<QueueName, Delivery[]>();
  private readonly active = new Map<QueueName, number>();
  private readonly seen = new Map<string, Accepted>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private paused = false;
  private readonly opts: Required<InProcessTransportOptions>;

  constructor(options: InProcessTransportOptions) {
    this.opts = {
      deliveryCopies: 1,
      concurrency: 16,
      duplicateDetectionWindowMs: 10 * 60_000,
      ...options,
    };
  }

  /** Binds the consumer of a queue (one per queue, like a queue trigger). */
  subscribe(queue: QueueName, handler: DeliveryHandler): void {
    this.handlers.set(queue, handler);
    this.pump(queue);
  }

  async publish(messages: readonly OutgoingMessage[]): Promise<PublishReceipt> {
    if (this.closed) throw new Error('in-process transport is closed');
    if (this.paused) throw new Error('in-process transport is unavailable (paused)');
    const now = Date.now();
    // The map is in insertion (= time) order: evict from the front until the first id still inside the window.
    for (const [id, entry] of this.seen) {
      if (now - entry.at <= this.opts.duplicateDetectionWindowMs) break;
      this.seen.delete(id);
    }
    const handled: Promise<void>[] = [];
    for (const { queue, envelope, scheduledEnqueueTime } of messages) {
      const messageId = transportMessageId(envelope);
      const known = this.seen.get(messageId);
      if (known) {
        // Dropped, like Service Bus does; handled when the copy already accepted is.
        this.duplicatesDropped++;
        handled.push(known.handled);
        continue;
      }
      const entry = accepted(now);
      this.seen.set(messageId, entry);
      handled.push(entry.handled);
      if (envelope.retryRound) {
        // A delayed-retry copy, published by the consumer of the round before while it is being handled.
        const previous = this.seen.get(
          transportMessageId({ ...envelope, retryRound: envelope.retryRound - 1 }),
        );
        if (previous && !previous.settled) previous.successor = entry;
      }
      // Deep copy: a consumer must never see the publisher's object (a real broker serializes).
      const body = JSON.parse(JSON.stringify(envelope)) as Envelope;
      const enqueue = () => {
        const enqueuedTimeUtc = new Date().toISOString();
        for (let i = 0; i < this.opts.deliveryCopies; i++) {
          this.enqueue({ queue, body, deliveryCount: 1, enqueuedTimeUtc, messageId });
        }
      };
      const delayMs = scheduledEnqueueTime ? scheduledEnqueueTime.getTime() - now : 0;
      if (delayMs <= 0) {
        enqueue();
        continue;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!this.closed) enqueue();
      }, delayMs);
      this.timers.add(timer);
    }
    const all = Promise.all(handled).then(() => undefined);
    all.catch(() => {});
    return { handled: all, settled: false };
  }

  /** The dead-letter sub-queue of `queue`, oldest first, from a sequence number on (Service Bus's peek). */
  peekDeadLetters(queue: QueueName, fromSequenceNumber: number, limit: number): DeadLetteredMessage[] {
    return this.deadLetters
      .filter((m) => m.queue === queue && m.sequenceNumber >= fromSequenceNumber)
      .slice(0, limit);
  }

  /** Takes a message out of the dead-letter sub-queue (Service Bus's receive + complete). */
  completeDeadLetter(queue: QueueName, sequenceNumber: number): boolean {
    const at = this.deadLetters.findIndex((m) => m.queue === queue && m.sequenceNumber === sequenceNumber);
    if (at < 0) return false;
    this.deadLetters.splice(at, 1);
    return true;
  }

  /** Messages scheduled for later and not yet enqueued. */
  get scheduled(): number {
    return this.timers.size;
  }

  /** Simulates the broker being unreachable: publish rejects until resumed. */
  setAvailable(available: boolean): void {
    this.paused = !available;
  }

  /** Messages waiting or being handled. */
  get inFlight(): number {
    let n = this.timers.size;
    for (const q of this.pending.values()) n += q.length;
    for (const a of this.active.values()) n += a;
    return n;
  }

  /** Resolves when nothing is queued, scheduled for later or being handled. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pending.clear();
    await this.waitForActive();
    this.notifyIdle();
  }

  private async waitForActive(): Promise<void> {
    while ([...this.active.values()].some((n) => n > 0)) await new Promise((r) => setTimeout(r, 10));
  }

  private enqueue(delivery: Delivery): void {
    const queue = this.pending.get(delivery.queue) ?? [];
    queue.push(delivery);
    this.pending.set(delivery.queue, queue);
    this.pump(delivery.queue);
  }

  private pump(queueName: QueueName): void {
    const handler = this.handlers.get(queueName);
    const queue = this.pending.get(queueName);
    if (!handler || !queue || this.closed) return;
    while (queue.length > 0 && (this.active.get(queueName) ?? 0) < this.opts.concurrency) {
      const delivery = queue.shift()!;
      this.active.set(queueName, (this.active.get(queueName) ?? 0) + 1);
      void this.deliver(handler, delivery).finally(() => {
        this.active.set(queueName, (this.active.get(queueName) ?? 1) - 1);
        this.pump(queueName);
        this.notifyIdle();
      });
    }
  }

  private async deliver(handler: DeliveryHandler, delivery: Delivery): Promise<void> {
    try {
      await handler(delivery.body, {
        messageId: delivery.messageId,
        deliveryCount: delivery.deliveryCount,
        enqueuedTimeUtc: delivery.enqueuedTimeUtc,
      });
      this.completed(delivery.messageId);
    } catch (err) {
      if (this.closed) return;
      if (delivery.deliveryCount >= this.opts.maxDeliveryCount) {
        const error = (err as Error)?.message ?? String(err);
        this.deadLetters.push({
          queue: delivery.queue,
          body: delivery.body,
          deliveryCount: delivery.deliveryCount,
          error,
          sequenceNumber: ++this.deadLetterSequence,
          messageId: delivery.messageId,
          deadLetteredAt: new Date().toISOString(),
        });
        this.forgetLost(delivery.messageId, error);
        return;
      }
      // Abandoned: available again at once, one delivery more.
      this.enqueue({ ...delivery, deliveryCount: delivery.deliveryCount + 1 });
    }
  }

  /** A delivery succeeded: the message is handled, or, if it was handed on to a delayed retry, once that is. */
  private completed(messageId: string): void {
    const entry = this.seen.get(messageId);
    if (!entry || entry.settled) return;
    const { successor } = entry;
    if (!successor) {
      entry.settle();
      return;
    }
    successor.handled.then(
      () => entry.settle(),
      (err: Error) => this.forget(messageId, entry, err),
    );
  }

  /** A dead letter here lives in memory only: the sender must not count the message as safe, and may send it again. */
  private forgetLost(messageId: string, error: string): void {
    const entry = this.seen.get(messageId);
    if (!entry || entry.settled) return;
    this.forget(
      messageId,
      entry,
      new Error(`dead-lettered by the in-process transport (kept in memory only): ${error}`),
    );
  }

  /** Its receipt rejects (the sender counts a failed attempt) and its id may be sent again (the relay's re-send). */
  private forget(messageId: string, entry: Accepted, error: Error): void {
    entry.settle(error);
    if (this.seen.get(messageId) === entry) this.seen.delete(messageId);
  }

  private notifyIdle(): void {
    if (this.inFlight !== 0 && !this.closed) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
