import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HangingBroker } from '../support/hanging-broker.js';
import { postOrder, startTestHost, type TestHost } from '../support/test-host.js';

// Under steady intake, every order's publish-after-commit used to take the publish breaker's half-open trial, so
// the relay — the one that carries the backlog — got its first try only once intake stopped. The trial is now the
// relay's: writers leave their rows to it while the breaker is not closed, until a trial has waited one more
// half-open delay (in Azure the relay runs once a minute). Here the relay runs only when the test says so (no
// timers), and the half-open delay is long enough that each step falls well inside its window.
const HALF_OPEN_MS = 2000;
let host: TestHost;
let broker: HangingBroker;

beforeAll(async () => {
  broker = new HangingBroker({ maxDeliveryCount: 10, concurrency: 16 });
  host = await startTestHost(
    { PUBLISH_TIMEOUT_MS: '150' },
    { timers: false, runtime: { publisher: broker, resilience: { breakerHalfOpenAfterMs: HALF_OPEN_MS } } },
  );
});
afterAll(async () => {
  broker?.answer();
  await host?.stop();
});

async function place(i: number): Promise<number> {
  const res = await postOrder(host.url, { customerId: `trial-${i}`, productId: 'PROD-002', quantity: 1 });
  await res.body?.cancel();
  return res.status;
}

const publishState = () => host.runtime.policies.breakerStates().publish;
/** The relay's next pass takes every unpublished row now, without waiting out its grace. */
const makeRowsDue = () =>
  host.runtime.db.query('UPDATE orders.outbox SET next_attempt_at = now() WHERE published_at IS NULL');
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the publish breaker’s half-open trial', () => {
  it('goes to the relay, not to the order that happens to be placed first once it is due', async () => {
    broker.hang();
    // Orders whose publish-after-commit hangs until the publish timeout open the breaker (3 in a row).
    for (let i = 0; publishState() !== 'open'; i++) {
      expect(i).toBeLessThan(20);
      expect(await place(i)).toBe(202);
      await pause(50);
    }
    const openedAt = Date.parse(host.runtime.policies.breakerChanges().publish?.at ?? '');
    // The trial is due (past the half-open delay) but not yet overdue (one more delay).
    await pause(Math.max(0, openedAt + HALF_OPEN_MS + 300 - Date.now()));

    const before = broker.hungCalls;
    for (let i = 100; i < 105; i++) expect(await place(i)).toBe(202);
    await pause(50);
    expect(Date.now()).toBeLessThan(openedAt + 2 * HALF_OPEN_MS); // still inside the window the rule is about
    expect(broker.hungCalls).toBe(before); // no order took the trial
    expect(publishState()).toBe('open');

    // The relay's pass finds the rows left to it (made due now: no waiting out its grace) and takes the trial.
    await makeRowsDue();
    await host.runtime.outbox('orders').relay();
    expect(broker.hungCalls).toBeGreaterThan(before);

    // When the broker answers, the relay's next trial closes the breaker and drains what intake left.
    broker.answer();
    await pause(HALF_OPEN_MS + 100);
    await makeRowsDue();
    await expect
      .poll(
        async () => {
          await host.runtime.outbox('orders').relay();
          const { rows } = await host.runtime.db.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM orders.outbox WHERE published_at IS NULL',
          );
          return rows[0]!.n;
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBe(0);
    expect(publishState()).toBe('closed');
  }, 30_000);
});
