import { createRequire } from 'node:module';
import type { TokenCredential } from '@azure/identity';
import type { AzureMonitorOpenTelemetryOptions } from 'applicationinsights';
import { afterEach, describe, expect, it } from 'vitest';
import {
  OFFLINE_STORAGE_DIR,
  parseAuthenticationString,
  resetTelemetryForTests,
  SAMPLING_RATIO,
  startTelemetry,
} from '../../shared/telemetry/app-insights.js';

/** Start-up wiring of Application Insights, with the distro and the credential replaced by fakes. */

const CONNECTION_STRING =
  'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/';
const fakeCredential = { getToken: async () => null } as unknown as TokenCredential;

afterEach(() => resetTelemetryForTests());

describe('parseAuthenticationString', () => {
  it.each([
    ['ClientId=abc;Authorization=AAD', { entra: true, clientId: 'abc' }],
    ['Authorization=AAD;ClientId=abc', { entra: true, clientId: 'abc' }],
    ['authorization=aad', { entra: true, clientId: undefined }],
    ['', { entra: false, clientId: undefined }],
    [undefined, { entra: false, clientId: undefined }],
    ['ClientId=abc', { entra: false, clientId: undefined }],
  ])('%j', (value, expected) => {
    expect(parseAuthenticationString(value)).toEqual(expected);
  });
});

describe('startTelemetry', () => {
  it('without a connection string loads nothing and reports why', async () => {
    const status = await startTelemetry(
      { appInsightsConnectionString: undefined },
      {
        useAzureMonitor: () => {
          throw new Error('must not be called');
        },
      },
    );
    expect(status).toMatchObject({ enabled: false, reason: expect.stringMatching(/not set/) });
    const cache = Object.keys(createRequire(import.meta.url).cache);
    expect(cache.some((p) => p.includes('/node_modules/applicationinsights/'))).toBe(false);
  });

  it('with Entra auth: a managed identity for the client id, offline storage, live metrics, ratio sampling', async () => {
    let options: AzureMonitorOpenTelemetryOptions | undefined;
    const clientIds: (string | undefined)[] = [];
    const status = await startTelemetry(
      { appInsightsConnectionString: CONNECTION_STRING },
      {
        env: { APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=client-1;Authorization=AAD' },
        createCredential: async (clientId) => {
          clientIds.push(clientId);
          return fakeCredential;
        },
        useAzureMonitor: (o) => {
          options = o;
        },
      },
    );
    expect(status).toMatchObject({ enabled: true, auth: 'entra', functionsInstrumentation: 'not-needed' });
    expect(clientIds).toEqual(['client-1']);
    expect(options).toMatchObject({
      azureMonitorExporterOptions: {
        connectionString: CONNECTION_STRING,
        credential: fakeCredential,
        storageDirectory: OFFLINE_STORAGE_DIR,
        disableOfflineStorage: false,
      },
      enableLiveMetrics: true,
      samplingRatio: SAMPLING_RATIO,
      tracesPerSecond: 0,
    });
  });

  it('without an authentication string uses the connection string key, and starts once', async () => {
    let calls = 0;
    const deps = {
      env: {},
      useAzureMonitor: (o: AzureMonitorOpenTelemetryOptions) => {
        calls++;
        expect(o.azureMonitorExporterOptions?.credential).toBeUndefined();
      },
    };
    const first = await startTelemetry({ appInsightsConnectionString: CONNECTION_STRING }, deps);
    const second = await startTelemetry({ appInsightsConnectionString: CONNECTION_STRING }, deps);
    expect(first).toMatchObject({ enabled: true, auth: 'instrumentation-key' });
    expect(second).toBe(first);
    expect(calls).toBe(1);
  });

  it('never throws: a distro that fails to start leaves the app running without it', async () => {
    const logged: string[] = [];
    const status = await startTelemetry(
      { appInsightsConnectionString: CONNECTION_STRING },
      {
        env: {},
        log: (m) => logged.push(m),
        useAzureMonitor: () => {
          throw new Error('bad connection string');
        },
      },
    );
    expect(status).toMatchObject({ enabled: false, reason: expect.stringMatching(/bad connection string/) });
    expect(logged).toHaveLength(1);
  });

  it('host.json in OpenTelemetry mode: wires the Functions instrumentation if installed, warns if not', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const root = await mkdtemp(join(tmpdir(), 'valerix-host-'));
    await writeFile(
      join(root, 'host.json'),
      JSON.stringify({ version: '2.0', telemetryMode: 'OpenTelemetry' }),
    );
    const logged: string[] = [];
    const status = await startTelemetry(
      { appInsightsConnectionString: CONNECTION_STRING },
      { env: { AzureWebJobsScriptRoot: root }, log: (m) => logged.push(m), useAzureMonitor: () => {} },
    );
    expect(status).toMatchObject({ enabled: true, hostTelemetryMode: 'OpenTelemetry' });
    // The package is optional (not a dependency today): without it, start-up degrades to a warning.
    expect(['wired', 'unavailable']).toContain(status.functionsInstrumentation);
    if (status.functionsInstrumentation === 'unavailable') {
      expect(logged.join('\n')).toMatch(/@azure\/functions-opentelemetry-instrumentation/);
    }
  });
});
