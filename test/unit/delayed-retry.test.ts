import { describe, expect, it } from 'vitest';
import { SimulatedCrashError } from '../../shared/chaos/chaos-flags.js';
import { consume, type DeadLetter } from '../../shared/messaging/consume.js';
import { envelope, orderPlaced } from '../../shared/messaging/contracts.js';
import {
  delayedRetryDelayMs,
  delayedRetrySpanMs,
  nextDelayedRetry,
  transportMessageId,
} from '../../shared/messaging/delayed-retry.js';
import type { OutgoingMessage } from '../../shared/messaging/publisher.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { BrokenCircuitError, TaskCancelledError } from '../../shared/resilience/policies.js';
import { queueContext } from '../support/invoke.js';

const policy = { rounds: 3, baseMs: 100, maxMs: 250 };
const placed = () =>
  envelope('OrderPlaced', {
    orderId: crypto.randomUUID(),
    customerId: 'c',
    productId: 'PROD-001',
    quantity: 1,
  });

/** Runs one delivery through `consume` with a `process` that throws `err`; returns what happened. */
async function deliver(
  body: unknown,
  err: unknown,
  opts: { deliveryCount?: number; scheduleFails?: boolean; brokerMessageId?: string } = {},
) {
  const scheduled: OutgoingMessage[] = [];
  const deadLettered: DeadLetter[] = [];
  const run = consume(
    body,
    queueContext('reserveStock', {
      deliveryCount: opts.deliveryCount ?? 1,
      ...(opts.brokerMessageId ? { messageId: opts.brokerMessageId } : {}),
    }),
    {
      schema: orderPlaced,
      maxDeliveryCount: 5,
      deadline: { execute: (fn) => fn() },
      async process() {
        throw err;
      },
      async deadLetter(letter) {
        deadLettered.push(letter);
      },
      delayedRetry: {
        queue: QUEUES.reservations,
        policy,
        async schedule(message) {
          if (opts.scheduleFails) throw new Error('broker down too');
          scheduled.push(message);
        },
      },
    },
  );
  const outcome = await run.then(
    () => 'completed' as const,
    () => 'abandoned' as const,
  );
  return { outcome, scheduled, deadLettered };
}

describe('delayed retries', () => {
  it('back off exponentially up to the cap; the span is what processed-message retention must outlive', () => {
    expect([1, 2, 3, 4].map((r) => delayedRetryDelayMs(policy, r))).toEqual([100, 200, 250, 250]);
    expect(delayedRetrySpanMs(policy)).toBe(550);
  });

  it('a transient failure is re-sent for later and the original completed, even on its last delivery', async () => {
    const body = placed();
    const before = Date.now();
    const { outcome, scheduled, deadLettered } = await deliver(body, new BrokenCircuitError(), {
      deliveryCount: 5,
    });
    expect(outcome).toBe('completed');
    expect(deadLettered).toEqual([]);
    expect(scheduled).toHaveLength(1);
    const [copy] = scheduled;
    expect(copy!.queue).toBe(QUEUES.reservations);
    // Same logical id (the processed-message record), a derived broker id (duplicate detection would drop it).
    expect(copy!.envelope).toEqual({ ...body, retryRound: 1 });
    expect(transportMessageId(copy!.envelope)).toBe(`${body.messageId}:retry-1`);
    const delay = copy!.scheduledEnqueueTime!.getTime() - before;
    expect(delay).toBeGreaterThanOrEqual(80 - 5);
    expect(delay).toBeLessThanOrEqual(120 + 50);
  });

  it('other failures are thrown back to the broker for an immediate redelivery', async () => {
    const { outcome, scheduled } = await deliver(placed(), new SimulatedCrashError('inventory'));
    expect(outcome).toBe('abandoned');
    expect(scheduled).toEqual([]);
  });

  it('when the copy cannot be scheduled, the broker redelivers instead', async () => {
    const { outcome } = await deliver(placed(), new BrokenCircuitError(), { scheduleFails: true });
    expect(outcome).toBe('abandoned');
  });

  it('after the last round the message goes the ordinary way: redelivered, then dead-lettered on its last delivery', async () => {
    // A transient failure that is not the database being away (a timeout): a dead letter once deliveries are used up.
    const last = { ...placed(), retryRound: policy.rounds };
    expect(nextDelayedRetry(last, QUEUES.reservations, policy)).toBeUndefined();
    expect((await deliver(last, new TaskCancelledError(), { deliveryCount: 1 })).outcome).toBe('abandoned');
    const final = await deliver(last, new TaskCancelledError(), {
      deliveryCount: 5,
      brokerMessageId: transportMessageId(last),
    });
    expect(final.outcome).toBe('completed');
    expect(final.deadLettered).toHaveLength(1);
    // The dead letter claims the logical id, so no other copy of this message can apply later.
    expect(final.deadLettered[0]!.messageId).toBe(last.messageId);
    expect(final.scheduled).toEqual([]);
  });

  it('with the database still away after the last round, the message is left to the broker, not dead-lettered', async () => {
    // Failing the order would give it a false final status; the pending-order sweeper re-sends it once it is back.
    const last = { ...placed(), retryRound: policy.rounds };
    const final = await deliver(last, new BrokenCircuitError(), {
      deliveryCount: 5,
      brokerMessageId: transportMessageId(last),
    });
    expect(final.outcome).toBe('abandoned');
    expect(final.deadLettered).toEqual([]);
  });
});
