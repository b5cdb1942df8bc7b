import type { HandlerLoader } from './definitions.js';
import { SERVICE_BUS_CONNECTION } from './definitions.js';
import type { Runtime } from './runtime.js';

/**
 * The settings without which no function can do anything, checked when the entry point is imported (a presence
 * check, no zod). Missing, the app fails to load and the host never starts its triggers: queue messages wait in
 * their queue instead of failing delivery after delivery into the dead-letter queue. Formats, numbers and the
 * other settings are validated with zod on the first invocation.
 */
export function assertConnectionSettings(env: Record<string, string | undefined> = process.env): void {
  const set = (name: string) => Boolean(env[name]?.trim());
  const missing: string[] = [];
  if (!set('DATABASE_URL')) missing.push('DATABASE_URL (the PostgreSQL URL)');
  if (!set(SERVICE_BUS_CONNECTION) && !set(`${SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace`)) {
    missing.push(
      `${SERVICE_BUS_CONNECTION} (connection string) or ${SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace (managed identity)`,
    );
  }
  if (missing.length > 0) {
    throw new Error(
      `The Functions app needs these app settings: ${missing.join('; ')}. \`npm run dev\` runs without them (embedded PostgreSQL, in-process queues).`,
    );
  }
}

/**
 * The Functions host's runtime, built on the first invocation rather than when the entry point is imported:
 * registering the function table needs none of zod, pg, cockatiel, OpenTelemetry or Application Insights, so a
 * cold instance reports its functions to the host at the cost of `@azure/functions` alone, and each handler's
 * code loads when it is first called (`npm run bench` measures both).
 *
 * Trade-offs, on purpose:
 * - Beyond the presence check above, settings are validated on the first invocation: a malformed setting fails
 *   every invocation (and `GET /api/health`, which `deploy.sh` checks) with a message naming it.
 * - Application Insights starts at module load of the entry (functions/index.ts, shared/telemetry/start-at-entry.ts)
 *   without being waited for; the first invocation waits for it here, before any handler module (and with it `pg`
 *   or the Azure SDK) is loaded, so the ESM hook and the instrumentations see them load.
 */
let runtime: Promise<Runtime> | undefined;

export function appRuntime(env: Record<string, string | undefined> = process.env): Promise<Runtime> {
  runtime ??= buildRuntime(env).catch((err: unknown) => {
    runtime = undefined; // nothing was built: the next invocation tries again (and reports the same error)
    throw err;
  });
  return runtime;
}

async function buildRuntime(env: Record<string, string | undefined>): Promise<Runtime> {
  assertConnectionSettings(env); // done at import already; here too for callers that come without it (the bench)
  const { loadSettings } = await import('../shared/config/settings.js');
  const settings = loadSettings(env);
  // The start the entry began (the same promise), or, for callers without the entry (the bench), this one.
  const { startTelemetryAtEntry } = await import('../shared/telemetry/start-at-entry.js');
  await startTelemetryAtEntry(env);
  const { startTelemetry } = await import('../shared/telemetry/app-insights.js');
  await startTelemetry(settings);
  const { createRuntime } = await import('./runtime.js');
  return createRuntime(settings);
}

/** Closes the runtime if one was built and sends buffered telemetry (the host's appTerminate hook). */
export async function closeAppRuntime(): Promise<void> {
  const built = await runtime?.catch(() => undefined);
  runtime = undefined;
  if (!built) return;
  await built.close();
  const { flushTelemetry } = await import('../shared/telemetry/app-insights.js');
  await flushTelemetry();
}

/**
 * A handler that, on its first call, builds the runtime and then loads its own code — in that order, so that
 * telemetry is running before the handler's modules load. Concurrent first calls share one load; a failed load
 * is retried by the next call.
 */
export function onFirstUse<A extends unknown[], R>(
  load: HandlerLoader<(...args: A) => Promise<R>>,
): (...args: A) => Promise<R> {
  let handler: Promise<(...args: A) => Promise<R>> | undefined;
  return async (...args) => {
    handler ??= (async () => {
      const rt = await appRuntime();
      return (await load())(rt);
    })().catch((err: unknown) => {
      handler = undefined;
      throw err;
    });
    return (await handler)(...args);
  };
}
