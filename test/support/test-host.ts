import { expect, vi } from 'vitest';
import { silentLog } from '../../infra/local-host/invocation-context.js';
import { type LocalHost, type LocalHostOptions, startLocalHost } from '../../infra/local-host/local-host.js';
import { loadSettings, type Settings } from '../../shared/config/settings.js';
import { FUNCTION_KEY_HEADER } from '../../shared/http/function-key.js';
import { TcpProxy } from './tcp-proxy.js';
import { realPostgres, type TestDatabase, testDatabase } from './test-database.js';

/**
 * Settings as a test wants them: defaults, plus the overrides given (string values, like app settings). Relay
 * passes and delayed retries come back within a fraction of a second, so a recovery never waits for minutes.
 */
export function testSettings(overrides: Record<string, string> = {}): Settings {
  return loadSettings({
    OUTBOX_RELAY_INTERVAL_MS: '200',
    DELAYED_RETRY_BASE_MS: '100',
    DELAYED_RETRY_MAX_MS: '1000',
    ...overrides,
  });
}

export interface TestHost extends LocalHost {
  database: TestDatabase;
  /** Waits until the in-process queues are empty (every message handled or dead-lettered). */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

/** The local host on a free loopback port, over this test file's own database, quiet. */
export async function startTestHost(
  overrides: Record<string, string> = {},
  options: Partial<Omit<LocalHostOptions, 'settings' | 'databaseUrl'>> = {},
): Promise<TestHost> {
  const database = await testDatabase();
  return startHostOver(database, database.url, overrides, options);
}

export interface ProxiedTestHost extends TestHost {
  /** Between the app and its database: `proxy.stop()` is "the database is down", `proxy.start(proxy.port)` back. */
  proxy: TcpProxy;
}

/** `startTestHost`, with the app reaching its database through a TCP proxy the test can stop. */
export async function startProxiedTestHost(
  overrides: Record<string, string> = {},
  options: Partial<Omit<LocalHostOptions, 'settings' | 'databaseUrl'>> = {},
): Promise<ProxiedTestHost> {
  const database = await testDatabase();
  const target = new URL(database.url);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.start();
  const host = await startHostOver(database, proxy.urlFor(database.url), overrides, options, () =>
    proxy.stop(),
  );
  return Object.assign(host, { proxy });
}

async function startHostOver(
  database: TestDatabase,
  databaseUrl: string,
  overrides: Record<string, string>,
  options: Partial<Omit<LocalHostOptions, 'settings' | 'databaseUrl'>>,
  beforeDrop: () => Promise<void> = async () => {},
): Promise<TestHost> {
  const host = await startLocalHost({
    settings: testSettings(overrides),
    databaseUrl,
    embeddedDatabase: !realPostgres,
    port: 0,
    ...(process.env.VALERIX_TEST_LOG ? {} : { log: silentLog }),
    ...options,
  });
  return Object.assign(host, {
    database,
    async settle() {
      await host.transport?.idle();
    },
    async stop() {
      await host.close();
      await beforeDrop();
      await database.drop();
    },
  });
}

/** Headers for an operator (function-level) route of this host, plus any others given. */
export function withFunctionKey(
  host: Pick<LocalHost, 'functionKey'>,
  headers: Record<string, string> = {},
): Record<string, string> {
  return { [FUNCTION_KEY_HEADER]: host.functionKey, ...headers };
}

export async function postOrder(
  baseUrl: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${baseUrl}/api/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** Polls until the order is final (or the time is up) and returns it. */
export async function waitForOrderFinal(
  baseUrl: string,
  id: string,
  timeoutMs = 10_000,
): Promise<{ status: string; reason: string | null }> {
  const read = async () => {
    const res = await fetch(`${baseUrl}/api/orders/${id}`);
    return ((await res.json()) as { order: { status: string; reason: string | null } }).order;
  };
  // Still pending (or cancel requested) at the deadline: the order as it is, so the caller's assertion says what it saw.
  return vi
    .waitFor(
      async () => {
        const order = await read();
        expect(['pending', 'cancel_requested']).not.toContain(order.status);
        return order;
      },
      { timeout: timeoutMs, interval: 25 },
    )
    .catch(read);
}
