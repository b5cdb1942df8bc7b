import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenCredential } from '@azure/identity';
import type { AzureMonitorOpenTelemetryOptions } from 'applicationinsights';
import type { Settings } from '../config/settings.js';

/**
 * Application Insights through `applicationinsights` v3 (the Azure Monitor OpenTelemetry distro): it installs the
 * global OpenTelemetry tracer, meter and logger providers, so the app's own `metrics.ts` instruments and the
 * consumer spans of `consume.ts` are exported without this module being imported anywhere else.
 *
 * Started once per instance, at module load of the entry (`shared/telemetry/start-at-entry.ts`, which registers
 * the ESM instrumentation hook first), waited for by the first invocation before any handler code loads, and only
 * when APPLICATIONINSIGHTS_CONNECTION_STRING is set.
 * `applicationinsights` costs 1–1.5 s to load, so it is imported here, dynamically, and never on a request path;
 * without a connection string nothing is loaded and the OpenTelemetry API stays a cheap no-op.
 *
 * Correlation with the Functions host: the entry's `preInvocation` hook (start-at-entry.ts) runs every handler in
 * the trace context the host gives the invocation, from the first one on (the distro registers a hook of the same
 * kind through `@azure/functions-core` once it has loaded), so what the app records nests under the host's
 * `requests`. That is all the classic host telemetry mode (our host.json) needs. Only with `"telemetryMode": "OpenTelemetry"` in host.json does the worker also have to declare
 * that it sends logs itself; `@azure/functions-opentelemetry-instrumentation` does that, and it is attempted then.
 * That mode is not supported as built: the distro is not waited for at the entry (the cold start), so it is running
 * only after the worker has locked its setup, the capability cannot be declared any more and the attempt logs a
 * warning (docs/monitoring.md).
 */

/**
 * Every trace is kept. An order is a handful of spans, volume is modest, and a sampled-out order would be a hole
 * in the transaction view. Sampling is by trace id, so an order's spans are kept or dropped together; lower this
 * (or set OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, which win) if ingestion cost matters more.
 */
export const SAMPLING_RATIO = 1;

/**
 * Offline storage is on, in the instance's temp folder: when ingestion or the Entra token endpoint blips, the
 * exporter writes the batch there and retries it later instead of dropping it. The app's own folder is read-only
 * when run from a package, and the temp folder is always writable. It is instance-local, so a batch still waiting
 * when the instance is recycled is lost; that is acceptable for telemetry (the exporter also caps the folder).
 */
export const OFFLINE_STORAGE_DIR = join(tmpdir(), 'valerix-applicationinsights');

const FUNCTIONS_INSTRUMENTATION_PACKAGE = '@azure/functions-opentelemetry-instrumentation';

export interface TelemetryStatus {
  enabled: boolean;
  /** How the exporter authenticates: Entra (managed identity) or the connection string's key. */
  auth?: 'entra' | 'instrumentation-key';
  /** host.json `telemetryMode` (undefined = classic host telemetry). */
  hostTelemetryMode?: string | undefined;
  /** Whether `@azure/functions-opentelemetry-instrumentation` was wired (only attempted in OpenTelemetry mode). */
  functionsInstrumentation?: 'not-needed' | 'wired' | 'unavailable';
  /** Why telemetry is off, or why it failed to start. */
  reason?: string;
}

export interface AuthenticationString {
  entra: boolean;
  clientId?: string | undefined;
}

/** `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`: `Authorization=AAD;ClientId=<id>` (keys in any order and case). */
export function parseAuthenticationString(value: string | undefined): AuthenticationString {
  const pairs = new Map<string, string>();
  for (const part of (value ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) pairs.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  const entra = pairs.get('authorization')?.toUpperCase() === 'AAD';
  return { entra, clientId: entra ? pairs.get('clientid') || undefined : undefined };
}

export interface StartTelemetryDeps {
  env?: Record<string, string | undefined>;
  log?: (message: string) => void;
  /** Builds the Entra credential (tests pass a fake). Defaults to `ManagedIdentityCredential`. */
  createCredential?: (clientId: string | undefined) => Promise<TokenCredential>;
  /** Starts the distro (tests pass a fake). Defaults to `useAzureMonitor` from `applicationinsights`. */
  useAzureMonitor?: (options: AzureMonitorOpenTelemetryOptions) => void | Promise<void>;
}

let started: Promise<TelemetryStatus> | undefined;

/**
 * Starts Application Insights once per process (later calls get the first call's result). Never throws:
 * monitoring that cannot start is reported and the app runs without it.
 */
export function startTelemetry(
  settings: Pick<Settings, 'appInsightsConnectionString'>,
  deps: StartTelemetryDeps = {},
): Promise<TelemetryStatus> {
  started ??= start(settings, deps);
  return started;
}

async function start(
  settings: Pick<Settings, 'appInsightsConnectionString'>,
  deps: StartTelemetryDeps,
): Promise<TelemetryStatus> {
  const env = deps.env ?? process.env;
  const log = deps.log ?? ((message: string) => console.warn(`[telemetry] ${message}`));
  const connectionString = settings.appInsightsConnectionString;
  if (!connectionString)
    return { enabled: false, reason: 'APPLICATIONINSIGHTS_CONNECTION_STRING is not set' };

  try {
    const auth = parseAuthenticationString(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
    // The exporter takes a credential object; the distro reads the environment variable only for Live Metrics.
    const credential = auth.entra
      ? await (deps.createCredential ?? managedIdentity)(auth.clientId)
      : undefined;
    const options: AzureMonitorOpenTelemetryOptions = {
      azureMonitorExporterOptions: {
        connectionString,
        ...(credential ? { credential } : {}),
        storageDirectory: OFFLINE_STORAGE_DIR,
        disableOfflineStorage: false,
      },
      enableLiveMetrics: true,
      samplingRatio: SAMPLING_RATIO,
      // The distro rate-limits to 5 traces/s unless this is 0, which would drop whole orders under load.
      tracesPerSecond: 0,
    };
    const useAzureMonitor = deps.useAzureMonitor ?? (await import('applicationinsights')).useAzureMonitor;
    await useAzureMonitor(options);

    const hostTelemetryMode = await hostJsonTelemetryMode(env);
    const functionsInstrumentation =
      hostTelemetryMode?.toLowerCase() === 'opentelemetry'
        ? await wireFunctionsInstrumentation(log)
        : 'not-needed';
    return {
      enabled: true,
      auth: auth.entra ? 'entra' : 'instrumentation-key',
      hostTelemetryMode,
      functionsInstrumentation,
    };
  } catch (err) {
    const reason = `Application Insights did not start, the app runs without it: ${(err as Error)?.message ?? err}`;
    log(reason);
    return { enabled: false, reason };
  }
}

async function managedIdentity(clientId: string | undefined): Promise<TokenCredential> {
  const { ManagedIdentityCredential } = await import('@azure/identity');
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

/** host.json of the running app (the worker's working directory is the app root). */
async function hostJsonTelemetryMode(env: Record<string, string | undefined>): Promise<string | undefined> {
  const root = env.AzureWebJobsScriptRoot || process.cwd();
  try {
    const hostJson = JSON.parse(await readFile(join(root, 'host.json'), 'utf8')) as {
      telemetryMode?: unknown;
    };
    return typeof hostJson.telemetryMode === 'string' ? hostJson.telemetryMode : undefined;
  } catch {
    return undefined;
  }
}

interface FunctionsInstrumentationModule {
  AzureFunctionsInstrumentationESM?: new (config?: {
    enabled?: boolean;
  }) => {
    registerAzFunc(azFunc: unknown): void;
  };
}

/**
 * `@azure/functions-opentelemetry-instrumentation` tells the host (capability `WorkerOpenTelemetryEnabled`) that
 * the worker exports its own logs, forwards `context.log` to the OpenTelemetry logger, and binds the host's trace
 * context. Its ESM entry is patched by hand because the app imports `@azure/functions` as ESM, which require
 * hooks never see. Optional: imported by name at run time, so a missing package only costs a warning.
 */
async function wireFunctionsInstrumentation(
  log: (message: string) => void,
): Promise<'wired' | 'unavailable'> {
  try {
    const specifier: string = FUNCTIONS_INSTRUMENTATION_PACKAGE;
    const imported = (await import(specifier)) as FunctionsInstrumentationModule & {
      default?: FunctionsInstrumentationModule;
    };
    const Instrumentation =
      imported.AzureFunctionsInstrumentationESM ?? imported.default?.AzureFunctionsInstrumentationESM;
    if (!Instrumentation) throw new Error('it has no AzureFunctionsInstrumentationESM export');
    const azureFunctions = (await import('@azure/functions')).default;
    // enabled: false = no require hook on top of the explicit patch (that would register every hook twice).
    new Instrumentation({ enabled: false }).registerAzFunc(azureFunctions);
    return 'wired';
  } catch (err) {
    log(
      `host.json sets telemetryMode OpenTelemetry but ${FUNCTIONS_INSTRUMENTATION_PACKAGE} could not be wired ` +
        `(${(err as Error)?.message ?? err}); invocation logs may be missing. Install it or use the classic mode.`,
    );
    return 'unavailable';
  }
}

/** Sends what is buffered (on shutdown); a no-op when telemetry is off. */
export async function flushTelemetry(): Promise<void> {
  if (!(await started)?.enabled) return;
  try {
    await (await import('applicationinsights')).flushAzureMonitor();
  } catch {
    // Best effort: the process is going away.
  }
}

/** Forgets the started state (tests). */
export function resetTelemetryForTests(): void {
  started = undefined;
}
