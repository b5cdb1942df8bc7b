import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadSettings, SETTING_NAMES, SettingsError } from '../../shared/config/settings.js';

describe('settings', () => {
  it('has safe defaults for a fresh machine: embedded database, in-process transport, chaos off', () => {
    const s = loadSettings({});
    expect(s.database.url).toBeUndefined();
    expect(s.serviceBus).toEqual({ kind: 'in-process', deliveryCopies: 1 });
    expect(s.gremlin).toEqual({
      enabled: false,
      latencyMs: 3000,
      mode: 'deterministic',
      everyN: 5,
      probability: 0.2,
    });
    expect(s.crash.enabled).toBe(false);
    expect(s.port).toBe(7071);
    expect(s.idempotencyTtlHours).toBe(24);
  });

  it('re-asks a requested cancel on its own, shorter clock (CANCEL_SWEEP_AFTER_SECONDS)', () => {
    const s = loadSettings({});
    expect(s.cancelSweepAfterSeconds).toBe(60);
    expect(s.cancelSweepAfterSeconds).toBeLessThan(s.pendingOrderSweepAfterSeconds);
    expect(loadSettings({ CANCEL_SWEEP_AFTER_SECONDS: '300' })).toMatchObject({
      cancelSweepAfterSeconds: 300,
      pendingOrderSweepAfterSeconds: 1800,
    });
    expect(() => loadSettings({ CANCEL_SWEEP_AFTER_SECONDS: '0' })).toThrow(/CANCEL_SWEEP_AFTER_SECONDS/);
  });

  it('picks the Service Bus transport from the connection settings', () => {
    expect(
      loadSettings({ ServiceBusConnection: 'Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b' })
        .serviceBus.kind,
    ).toBe('connection-string');
    expect(
      loadSettings({
        ServiceBusConnection__fullyQualifiedNamespace: 'ns.servicebus.windows.net',
        AZURE_CLIENT_ID: 'id',
      }).serviceBus,
    ).toEqual({ kind: 'identity', fullyQualifiedNamespace: 'ns.servicebus.windows.net', clientId: 'id' });
  });

  it.each([
    [{ GREMLIN_LATENCY_MS: 'slow' }, 'GREMLIN_LATENCY_MS'],
    [{ GREMLIN_MODE: 'sometimes' }, 'GREMLIN_MODE'],
    [{ GREMLIN_PROBABILITY: '1.5' }, 'GREMLIN_PROBABILITY'],
    [{ FEATURE_GREMLIN: 'maybe' }, 'FEATURE_GREMLIN'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ PORT: '70000' }, 'PORT'],
    [{ CRASH_TARGET: 'payments' }, 'CRASH_TARGET'],
    [{ DATABASE_AUTH: 'entra' }, 'DATABASE_URL'],
    [{ DELAYED_RETRY_ROUNDS: '-1' }, 'DELAYED_RETRY_ROUNDS'],
    [{ DELAYED_RETRY_BASE_MS: '60000', DELAYED_RETRY_MAX_MS: '1000' }, 'DELAYED_RETRY_MAX_MS'],
    // 12 rounds of up to a day outlast a week of processed-message records: a late copy would apply again.
    [
      { DELAYED_RETRY_ROUNDS: '12', DELAYED_RETRY_BASE_MS: '3600000', DELAYED_RETRY_MAX_MS: '86400000' },
      'PROCESSED_MESSAGE_RETENTION_HOURS',
    ],
    [{ DEAD_LETTER_RETENTION_DAYS: '0' }, 'DEAD_LETTER_RETENTION_DAYS'],
    [{ ORDER_HISTORY_RETENTION_DAYS: 'forever' }, 'ORDER_HISTORY_RETENTION_DAYS'],
  ])('fails fast naming the bad setting: %o', (env, name) => {
    expect(() => loadSettings(env)).toThrow(SettingsError);
    expect(() => loadSettings(env)).toThrow(new RegExp(name));
  });

  it('has delayed-retry and retention defaults that fit together', () => {
    const s = loadSettings({});
    expect(s.delayedRetry).toEqual({ rounds: 8, baseMs: 5000, maxMs: 300_000 });
    expect(s.retention).toEqual({ processedMessageHours: 168, deadLetterDays: 30, orderHistoryDays: 365 });
  });

  it('accepts the usual spellings of booleans', () => {
    for (const yes of ['true', 'TRUE', '1', 'yes', 'on'])
      expect(loadSettings({ FEATURE_GREMLIN: yes }).gremlin.enabled).toBe(true);
    for (const no of ['false', '0', 'no', 'off', ''])
      expect(loadSettings({ FEATURE_GREMLIN: no }).gremlin.enabled).toBe(false);
  });

  it('local.settings.sample.json shows every setting, and only known ones besides the host’s own', () => {
    const sample = JSON.parse(readFileSync('local.settings.sample.json', 'utf8')).Values as Record<
      string,
      string
    >;
    for (const name of SETTING_NAMES) expect(Object.keys(sample), name).toContain(name);
    const hostOwn = ['FUNCTIONS_WORKER_RUNTIME', 'AzureWebJobsStorage', 'AzureWebJobsFeatureFlags'];
    for (const name of Object.keys(sample)) expect([...SETTING_NAMES, ...hostOwn], name).toContain(name);
  });

  it('the README documents every setting', () => {
    const readme = readFileSync('README.md', 'utf8');
    for (const name of SETTING_NAMES) expect(readme, name).toContain(`\`${name}\``);
  });
});
