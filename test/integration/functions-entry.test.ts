import type {
  HttpFunctionOptions,
  ServiceBusQueueFunctionOptions,
  TimerFunctionOptions,
} from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { appRuntime } from '../../functions/app-runtime.js';
import type { HttpMethod } from '../../functions/definitions.js';
import { FUNCTIONS } from '../../functions/function-table.js';
import { invokeHttp } from '../support/invoke.js';
import { realPostgres, type TestDatabase, testDatabase } from '../support/test-database.js';

/** What functions/index.ts hands to `app.*`, captured instead of going to the Functions worker. */
const registered = vi.hoisted(() => ({
  http: new Map<string, HttpFunctionOptions>(),
  queue: new Map<string, ServiceBusQueueFunctionOptions>(),
  timer: new Map<string, TimerFunctionOptions>(),
  terminate: [] as (() => Promise<void>)[],
}));

vi.mock('../../shared/http/azure-functions.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../shared/http/azure-functions.js')>();
  return {
    ...original,
    app: {
      setup: () => {},
      hook: { appTerminate: (hook: () => Promise<void>) => registered.terminate.push(hook) },
      http: (name: string, options: HttpFunctionOptions) => registered.http.set(name, options),
      serviceBusQueue: (name: string, options: ServiceBusQueueFunctionOptions) =>
        registered.queue.set(name, options),
      timer: (name: string, options: TimerFunctionOptions) => registered.timer.set(name, options),
    },
  };
});

let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
});

afterAll(async () => {
  for (const hook of registered.terminate) await hook();
  vi.unstubAllEnvs();
  await db.drop();
});

function registeredHttp(name: string) {
  const options = registered.http.get(name);
  if (!options) throw new Error(`${name} was not registered`);
  return {
    kind: 'http' as const,
    name,
    route: options.route ?? '',
    methods: (options.methods ?? ['GET']) as HttpMethod[],
    authLevel: options.authLevel === 'function' ? ('function' as const) : ('anonymous' as const),
    handler: options.handler as never,
  };
}

const healthFunction = (name = 'health') => registeredHttp(name);

describe('the Azure Functions entry point (functions/index.ts)', () => {
  it('refuses to load without the connection settings, naming them, and registers nothing', async () => {
    vi.stubEnv('DATABASE_URL', '');
    vi.stubEnv('ServiceBusConnection', '');
    vi.stubEnv('ServiceBusConnection__fullyQualifiedNamespace', '');
    await expect(import('../../functions/index.js')).rejects.toThrow(
      /DATABASE_URL .*; ServiceBusConnection \(connection string\) or ServiceBusConnection__fullyQualifiedNamespace/,
    );
    expect(registered.http.size + registered.queue.size + registered.timer.size).toBe(0);
    vi.resetModules();
    vi.stubEnv('DATABASE_URL', db.url);
    // Never contacted: health and the table do not publish.
    vi.stubEnv('ServiceBusConnection__fullyQualifiedNamespace', 'valerix-test.servicebus.windows.net');
    await import('../../functions/index.js');
  });

  it('registers every function of the table with its route, methods, auth level, queue or schedule', () => {
    for (const fn of FUNCTIONS) {
      switch (fn.kind) {
        case 'http':
          expect(registered.http.get(fn.name), fn.name).toMatchObject({
            route: fn.route,
            methods: fn.methods,
            authLevel: fn.authLevel,
          });
          break;
        case 'serviceBusQueue':
          expect(registered.queue.get(fn.name), fn.name).toMatchObject({
            queueName: fn.queueName,
            connection: 'ServiceBusConnection',
          });
          break;
        case 'timer':
          expect(registered.timer.get(fn.name), fn.name).toMatchObject({ schedule: fn.schedule });
          break;
      }
    }
    expect(registered.http.size + registered.queue.size + registered.timer.size).toBe(FUNCTIONS.length);
    expect(registered.terminate).toHaveLength(1);
  });

  it('fails an invocation with a message naming a malformed setting, and recovers once it is fixed', async () => {
    vi.stubEnv('DATABASE_POOL_MAX', 'lots');
    await expect(invokeHttp(healthFunction())).rejects.toThrow(/DATABASE_POOL_MAX/);
    // The embedded server can serve one connection correctly (see test/support/test-database.ts).
    vi.stubEnv('DATABASE_POOL_MAX', realPostgres ? '4' : '1');
    expect((await invokeHttp(healthFunction())).status).toBe(200);
  });

  it('puts each HTTP function behind the error boundary: an unexpected failure is a 500 problem, not a throw', async () => {
    const runtime = await appRuntime();
    await runtime.db.query('ALTER TABLE orders.orders RENAME TO orders_gone');
    try {
      const res = await invokeHttp(registeredHttp('getOrder'), {
        path: `/api/orders/${crypto.randomUUID()}`,
        params: { id: crypto.randomUUID() },
      });
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body.operationId).toMatch(/^[0-9a-f]{32}$/);
      expect(res.text).not.toMatch(/orders_gone|orders\.orders|relation/);
    } finally {
      await runtime.db.query('ALTER TABLE orders.orders_gone RENAME TO orders');
    }
  });

  it('serves every invocation, concurrent ones too, from the one runtime built on first use', async () => {
    // The details route: the anonymous one does not say which transport runs.
    const fn = healthFunction('healthDetails');
    const [first, second] = await Promise.all([invokeHttp(fn), invokeHttp(fn)]);
    for (const res of [first, second]) {
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('ok');
      expect(res.body.transport).toBe('service-bus');
    }
    const again = await invokeHttp(fn, {
      path: '/api/health/details/orders',
      params: { service: 'orders' },
    });
    expect(Object.keys(again.body.services)).toEqual(['orders']);
    const runtime = await appRuntime();
    expect(await appRuntime()).toBe(runtime);
  });
});
