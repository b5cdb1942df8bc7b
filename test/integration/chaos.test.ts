import { afterEach, describe, expect, it } from 'vitest';
import { loadFunctions } from '../../functions/function-table.js';
import { createRuntime, type Runtime } from '../../functions/runtime.js';
import { envelope } from '../../shared/messaging/contracts.js';
import { InProcessTransport } from '../../shared/messaging/in-process-transport.js';
import { httpFunction, invokeHttp, queueContext, queueFunction } from '../support/invoke.js';
import { realPostgres, type TestDatabase, testDatabase } from '../support/test-database.js';
import { startTestHost, type TestHost, testSettings } from '../support/test-host.js';

// The gremlin. The crash simulator (crash after commit) is specified once per writer in pipeline-invariants.test.ts
// and run at scale, with the gremlin and cancels, by `npm run chaos`.

let host: TestHost | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await host?.stop();
  host = undefined;
  for (const c of cleanups.splice(0)) await c();
});

/** An "instance": its own runtime (pool, caches, counters) and function set over a shared database. */
async function instance(
  db: TestDatabase,
  overrides: Record<string, string>,
): Promise<{ rt: Runtime; reserve: ReturnType<typeof queueFunction> }> {
  const settings = testSettings(overrides);
  const rt = createRuntime(settings, {
    databaseUrl: db.url,
    poolMax: realPostgres ? 5 : 1,
    publisher: new InProcessTransport({ maxDeliveryCount: 10 }),
  });
  cleanups.push(() => rt.close());
  return { rt, reserve: queueFunction(await loadFunctions(rt), 'reserveStock') };
}

async function runReservations(reserve: ReturnType<typeof queueFunction>, count: number, prefix: string) {
  for (let i = 0; i < count; i++) {
    const orderId = crypto.randomUUID();
    const msg = envelope('OrderPlaced', {
      orderId,
      customerId: `${prefix}-${i}`,
      productId: 'PROD-005',
      quantity: 1,
    });
    await reserve.handler(msg, queueContext('reserveStock'));
  }
}

const gremlinOn = {
  FEATURE_GREMLIN: 'true',
  GREMLIN_MODE: 'deterministic',
  GREMLIN_EVERY_N: '5',
  GREMLIN_LATENCY_MS: '1',
};

describe('gremlin', () => {
  it.runIf(realPostgres)(
    'fires on exactly every 5th unit of work across two instances sharing one database',
    async () => {
      const db = await testDatabase();
      cleanups.push(() => db.drop());
      const a = await instance(db, gremlinOn);
      const b = await instance(db, gremlinOn);
      // Both instances work at the same time, 4 workers each.
      await Promise.all([
        ...Array.from({ length: 4 }, (_, w) => runReservations(a.reserve, 25, `a${w}`)),
        ...Array.from({ length: 4 }, (_, w) => runReservations(b.reserve, 25, `b${w}`)),
      ]);
      const total = a.rt.chaos.counters.gremlinDelays + b.rt.chaos.counters.gremlinDelays;
      expect(total).toBe(40); // 200 units, every 5th
      expect(a.rt.chaos.counters.gremlinDelays).toBeGreaterThan(0);
      expect(b.rt.chaos.counters.gremlinDelays).toBeGreaterThan(0);
    },
  );

  it('fires on every 5th unit on one instance, and never when the flag is off', async () => {
    const db = await testDatabase();
    cleanups.push(() => db.drop());
    const on = await instance(db, gremlinOn);
    await runReservations(on.reserve, 23, 'on');
    expect(on.rt.chaos.counters.gremlinDelays).toBe(4);
    const off = await instance(db, { ...gremlinOn, FEATURE_GREMLIN: 'false' });
    await runReservations(off.reserve, 20, 'off');
    expect(off.rt.chaos.counters.gremlinDelays).toBe(0);
  });

  it('is switched at run time through PUT /api/chaos, delays Inventory reads and says so in a header', async () => {
    host = await startTestHost();
    const put = httpFunction(host.functions, 'putChaos');
    const res = await invokeHttp(put, { json: { gremlin: { enabled: true, everyN: 1, latencyMs: 5 } } });
    expect(res.status).toBe(200);
    expect(res.body.gremlin).toMatchObject({ enabled: true, everyN: 1, latencyMs: 5, mode: 'deterministic' });
    expect(res.body.crash.enabled).toBe(false);
    const read = await fetch(`${host.url}/api/inventory/PROD-001`);
    expect(read.headers.get('x-gremlin-delay-ms')).toBe('5');
    const got = await invokeHttp(httpFunction(host.functions, 'getChaos'));
    expect(got.body.gremlin.enabled).toBe(true);
    const bad = await invokeHttp(put, { json: { gremlin: { everyN: 0 } } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('gremlin.everyN');
  });
});
