import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFunctions } from '../../functions/function-table.js';
import { createRuntime, type Runtime } from '../../functions/runtime.js';
import { envelope } from '../../shared/messaging/contracts.js';
import { type OutgoingMessage, type Publisher, SETTLED_RECEIPT } from '../../shared/messaging/publisher.js';
import { queueContext, queueFunction } from '../support/invoke.js';
import { realPostgres, type TestDatabase, testDatabase } from '../support/test-database.js';
import { testSettings } from '../support/test-host.js';

// A duplicate OrderPlaced moves no stock. What it sends depends on why it came: a redelivery or a relay re-send
// sends nothing when the result already went out (and the result the first delivery left unsent when it did not);
// the pending-order sweeper's re-send (`reask`) is Orders asking again, and gets the result again.
let database: TestDatabase;
let rt: Runtime;
let reserve: ReturnType<typeof queueFunction>;
const sent: OutgoingMessage[] = [];

beforeAll(async () => {
  database = await testDatabase();
  // A durable broker that records what it is given: rows are marked published at once.
  const publisher: Publisher = {
    kind: 'service-bus',
    publish: async (messages) => {
      sent.push(...messages);
      return SETTLED_RECEIPT;
    },
    close: async () => {},
  };
  rt = createRuntime(testSettings(), { databaseUrl: database.url, poolMax: realPostgres ? 4 : 1, publisher });
  reserve = queueFunction(await loadFunctions(rt), 'reserveStock');
});
afterAll(async () => {
  await rt?.close();
  await database?.drop();
});

const results = (orderId: string) =>
  sent.filter((m) => m.envelope.type === 'InventoryReserved' && m.envelope.correlationId === orderId).length;
const published = async (orderId: string) =>
  (
    await rt.db.query<{ published: boolean }>(
      'SELECT published_at IS NOT NULL AS published FROM inventory.outbox WHERE message_id = $1',
      [`InventoryReserved:${orderId}`],
    )
  ).rows[0]?.published;
const available = async () =>
  (
    await rt.db.query<{ available: number }>(
      `SELECT available FROM inventory.products WHERE product_id = 'PROD-002'`,
    )
  ).rows[0]!.available;

/** An OrderPlaced delivered once: stock reserved, its result sent and marked published. */
async function reservedOrder(quantity: number) {
  const orderId = crypto.randomUUID();
  const message = envelope('OrderPlaced', { orderId, customerId: 'dup', productId: 'PROD-002', quantity });
  await reserve.handler(message, queueContext('reserveStock'));
  await expect.poll(() => published(orderId)).toBe(true);
  return { orderId, message };
}

describe('a duplicate OrderPlaced', () => {
  it('re-sends a result already sent only when the sweeper asks again', async () => {
    const before = await available();
    const { orderId, message } = await reservedOrder(2);
    expect(results(orderId)).toBe(1);

    // A redelivery (say the lock was lost) or a relay re-send: absorbed, nothing sent.
    await reserve.handler(message, queueContext('reserveStock', { deliveryCount: 2 }));
    expect(results(orderId)).toBe(1);

    // The sweeper's re-send: Orders may have lost the result, so it goes again.
    await reserve.handler({ ...message, reask: true }, queueContext('reserveStock'));
    expect(results(orderId)).toBe(2);
    expect(await available()).toBe(before - 2);
  });

  it('sends the result the first delivery committed but never sent (it died after its commit)', async () => {
    const { orderId, message } = await reservedOrder(1);
    // As if the process had died between the commit and the publish.
    await rt.db.query('UPDATE inventory.outbox SET published_at = NULL WHERE message_id = $1', [
      `InventoryReserved:${orderId}`,
    ]);
    sent.length = 0;
    await reserve.handler(message, queueContext('reserveStock', { deliveryCount: 2 }));
    expect(results(orderId)).toBe(1);
    await expect.poll(() => published(orderId)).toBe(true);
  });
});
