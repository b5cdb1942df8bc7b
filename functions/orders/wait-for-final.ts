import type { Runtime } from '../runtime.js';
import { FINAL_STATUSES, type Order } from './order-model.js';
import { findOrder } from './orders-repository.js';

const POLL_MS = 200;

/**
 * Waits up to `ms` for an order to reach a final status without holding a pool connection: a status applied
 * by this instance wakes it at once; one applied by another instance is seen by a short poll.
 */
export function waitForFinal(rt: Runtime, orderId: string, ms: number): Promise<Order | undefined> {
  return new Promise((resolve) => {
    const event = `final:${orderId}`;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (order: Order | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      rt.orderEvents.off(event, finish);
      resolve(order);
    };
    rt.orderEvents.on(event, finish);
    const deadline = Date.now() + ms;
    let reported = false;
    const poll = async () => {
      if (settled) return;
      const order = await findOrder(rt.db, orderId).catch((error: unknown) => {
        // Once per wait, however many polls fail: the wait goes on, and ends in 202 pending at worst.
        if (!reported) {
          reported = true;
          rt.reportIgnored({
            kind: 'wait_poll',
            orderId,
            error,
            fallback: 'the wait goes on; past its deadline the answer is 202 pending',
          });
        }
        return undefined;
      });
      if (order && FINAL_STATUSES.includes(order.status)) return finish(order);
      const left = deadline - Date.now();
      if (left <= 0) return finish(undefined);
      timer = setTimeout(poll, Math.min(POLL_MS, left));
    };
    timer = setTimeout(poll, Math.min(POLL_MS, ms));
  });
}
