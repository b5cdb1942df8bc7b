import { pathToFileURL } from 'node:url';
import type { PreInvocationContext } from '@azure/functions';
import type { StartTelemetryDeps, TelemetryStatus } from './app-insights.js';

/**
 * Application Insights started the way Azure Functions and `@azure/monitor-opentelemetry` document it for an ESM
 * app: at module load of the entry point, before any module it instruments is imported.
 *
 * The app is ESM, and ESM imports never pass through `require`, so the distro's require hooks alone cannot patch
 * `pg`, the Service Bus SDK (its `@azure/core-tracing`) or `http` when the handlers import them. The documented
 * remedy is the distro's loader (`@azure/monitor-opentelemetry/loader`, the module `node --import` would load),
 * which registers OpenTelemetry's ESM instrumentation hook with `module.register`. Registering it here (see
 * registerEsmHook) has the same effect for everything imported afterwards, and the entry imports nothing it
 * instruments: `pg`, the Azure SDK and the handlers load on the first invocation (ADR 0001).
 *
 * The cold start stays what ADR 0001 measures: without APPLICATIONINSIGHTS_CONNECTION_STRING nothing is imported
 * (the bench measures that), and with it the entry only registers the hook (a few milliseconds) and starts loading
 * the distro (1-1.5 s) without waiting for it, so the host indexes the functions meanwhile. The first invocation
 * waits for it (`appRuntime` awaits the same start) before it loads any handler code.
 *
 * The invocation's trace: the distro nests the worker's spans under the host's request through a preInvocation
 * hook it registers when it starts, which may be after the first invocation began. `inInvocationTrace` is
 * registered at the entry instead, so every invocation, the first included, runs in the trace context the host
 * gives it (`context.traceContext`): the dependencies it records carry the invocation's operation id.
 */

/** The distro whose ESM hook is registered: its OpenTelemetry instrumentation package, resolved from it. */
const DISTRO = '@azure/monitor-opentelemetry';
const OTEL_HOOK = '@opentelemetry/instrumentation/hook.mjs';

interface HookChannel {
  registerOptions: { data?: unknown; transferList?: unknown[] };
  waitForAllMessagesAcknowledged(): Promise<void>;
}

/**
 * What `@azure/monitor-opentelemetry/loader` does (module.register of OpenTelemetry's ESM hook), with the hook
 * told which modules to wrap: only those an instrumentation hooks (import-in-the-middle's message channel, as
 * OpenTelemetry's ESM guide shows). Wrapping every module would also route the `require` calls of CommonJS
 * packages loaded by `import` (the Service Bus SDK) past the require hooks that patch `@azure/core-tracing`, and
 * would make every first import slower. Resolved from the distro's own location: the hook and the in-process
 * registry must be the same import-in-the-middle.
 */
async function registerEsmHook(): Promise<HookChannel | undefined> {
  const { createRequire, register } = await import('node:module');
  const distro = createRequire(import.meta.resolve(DISTRO));
  const instrumentation = createRequire(distro.resolve('@opentelemetry/instrumentation'));
  const iitm = instrumentation('import-in-the-middle') as {
    createAddHookMessageChannel(): HookChannel;
  };
  const channel = iitm.createAddHookMessageChannel();
  const hookUrl = pathToFileURL(distro.resolve(OTEL_HOOK)).href;
  register(hookUrl, import.meta.url, channel.registerOptions as never);
  return channel;
}

let started: Promise<TelemetryStatus> | undefined;

/** Whether the entry should start telemetry: only when a connection string is configured. */
export function telemetryConfigured(env: Record<string, string | undefined> = process.env): boolean {
  return Boolean(env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim());
}

/**
 * Registers the ESM instrumentation hook and starts the distro (not awaited by the caller). Once per process;
 * nothing happens without a connection string. Never throws: telemetry that cannot start is reported by
 * `startTelemetry` and the app runs without it.
 */
export function startTelemetryAtEntry(
  env: Record<string, string | undefined> = process.env,
  deps: StartTelemetryDeps = {},
): Promise<TelemetryStatus | undefined> {
  if (!telemetryConfigured(env)) return Promise.resolve(undefined);
  started ??= start(env, deps);
  return started;
}

async function start(
  env: Record<string, string | undefined>,
  deps: StartTelemetryDeps,
): Promise<TelemetryStatus> {
  const channel = await registerEsmHook().catch((err: unknown) => {
    console.warn(`[telemetry] ESM instrumentation hook not registered: ${(err as Error)?.message ?? err}`);
    return undefined;
  });
  const { startTelemetry } = await import('./app-insights.js');
  const status = await startTelemetry(
    { appInsightsConnectionString: env.APPLICATIONINSIGHTS_CONNECTION_STRING },
    { env, ...deps },
  );
  // The instrumentations registered their modules with the hook; it must know them before any is imported.
  await channel?.waitForAllMessagesAcknowledged();
  return status;
}

/**
 * The entry's preInvocation hook: waits until telemetry has started (at once after the first invocation), then
 * runs the handler in the host's trace context for this invocation.
 */
export async function inInvocationTrace(context: PreInvocationContext): Promise<void> {
  const status = await started;
  if (!status?.enabled) return;
  const traceparent = context.invocationContext.traceContext?.traceParent;
  const [{ context: otelContext }, { contextFromTraceContext, isTraceparent, isTracestate }] =
    await Promise.all([import('@opentelemetry/api'), import('./trace-context.js')]);
  if (!isTraceparent(traceparent)) return;
  const tracestate = context.invocationContext.traceContext?.traceState;
  const parent = contextFromTraceContext({
    traceparent,
    tracestate: isTracestate(tracestate) ? tracestate : undefined,
  });
  const handler = context.functionHandler;
  context.functionHandler = (...args) => otelContext.with(parent, () => handler(...args));
}
