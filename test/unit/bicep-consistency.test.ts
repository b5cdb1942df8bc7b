import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SETTING_NAMES } from '../../shared/config/settings.js';
import { QUEUES } from '../../shared/messaging/contracts.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';

/**
 * The Bicep in bicep/ and the code must agree: every setting the code reads is set on the Function App, nothing
 * unknown is set, queues and their delivery count match what the code expects, and the Workbook charts the metrics
 * the code writes. There is no Bicep compiler here, so the files are read as text; main.bicep keeps the app
 * settings in one flat `var appSettings = { ... }` block so that this stays simple.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

const mainBicep = read('bicep/main.bicep');
const parametersJson = JSON.parse(read('bicep/main.parameters.json')) as {
  parameters: Record<string, { value: unknown }>;
};
const serviceBusBicep = read('bicep/modules/servicebus.bicep');
const storageBicep = read('bicep/modules/storage.bicep');
const functionAppBicep = read('bicep/modules/functionapp.bicep');
const monitoringBicep = read('bicep/modules/monitoring.bicep');
const postgresBicep = read('bicep/modules/postgres.bicep');
const alertsBicep = read('bicep/modules/alerts.bicep');
const workbookBicep = read('bicep/modules/workbook.bicep');
const workbookText = read('bicep/workbook/valerix-workbook.json');

/** Settings the code reads but Azure deliberately does not set (documented in main.bicep). */
const SKIPPED_IN_AZURE = [
  'EMBEDDED_DATA_DIR',
  'PORT',
  'LOCAL_FUNCTION_KEY',
  'LOCAL_DELIVERY_COPIES',
  'ServiceBusConnection',
  'BACKUP_CONNECTION_STRING',
  'BACKUP_CONTAINER',
];

/** Settings for the Functions host and SDKs rather than for shared/config/settings.ts. */
const isPlatformSetting = (name: string) =>
  name.startsWith('AzureWebJobsStorage__') ||
  name.startsWith('FUNCTIONS_') ||
  name === 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING' ||
  name === 'ServiceBusConnection__credential' ||
  name === 'ServiceBusConnection__clientId';

/** The text between `<opening>` and the first line that is exactly `<closing>` (a top-level block). */
function block(text: string, opening: RegExp, closing = '}'): string {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => opening.test(l));
  if (start < 0) throw new Error(`block ${opening} not found`);
  const end = lines.findIndex((l, i) => i > start && l === closing);
  if (end < 0) throw new Error(`block ${opening} has no closing "${closing}"`);
  return lines.slice(start + 1, end).join('\n');
}

/** `key: value` entries of a flat Bicep object block (comments ignored). */
function entries(objectBody: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const raw of objectBody.split('\n')) {
    const line = raw.replace(/\s\/\/.*$/, '').trim();
    if (line === '' || line.startsWith('//')) continue;
    const m = /^'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:\s*(.+)$/.exec(line);
    if (!m) throw new Error(`not a flat "name: value" entry: ${line}`);
    const [, key, value] = m as unknown as [string, string, string];
    if (result.has(key)) throw new Error(`${key} is set twice`);
    result.set(key, value.trim());
  }
  return result;
}

/** Value of a Bicep parameter of main.bicep: main.parameters.json wins over the default. */
function paramValue(name: string): string {
  const fromFile = parametersJson.parameters[name];
  if (fromFile !== undefined) return String(fromFile.value);
  const m = new RegExp(`^param ${name} \\w+ = (.+)$`, 'm').exec(mainBicep);
  if (!m?.[1]) throw new Error(`param ${name} has no default and no value in main.parameters.json`);
  return m[1].trim().replace(/^'(.*)'$/, '$1');
}

/** Resolves the simple expressions used for app setting values: 'literal' or string(param). */
function resolve(expression: string): string {
  const literal = /^'([^']*)'$/.exec(expression);
  if (literal) return literal[1] ?? '';
  const fromParam = /^string\((\w+)\)$/.exec(expression);
  if (fromParam?.[1]) return paramValue(fromParam[1]);
  const bare = /^(\w+)$/.exec(expression);
  if (bare?.[1]) return paramValue(bare[1]);
  throw new Error(`cannot resolve ${expression}`);
}

/** A module invocation's params block in main.bicep, e.g. module serviceBus 'modules/servicebus.bicep'. */
function moduleParams(modulePath: string): Map<string, string> {
  const body = block(mainBicep, new RegExp(`^module \\w+ '${modulePath.replace('.', '\\.')}' = \\{$`));
  return entries(block(`${body}\n`, /^ {2}params: \{$/, '  }'));
}

const appSettings = entries(block(mainBicep, /^var appSettings = \{$/));
const settingNames = [...SETTING_NAMES] as string[];

describe('Function App settings in bicep/main.bicep', () => {
  it('sets every setting the config module reads, except the documented skip list', () => {
    const missing = settingNames.filter((n) => !SKIPPED_IN_AZURE.includes(n) && !appSettings.has(n));
    expect(missing).toEqual([]);
  });

  it('documents the skip list in main.bicep and sets none of it', () => {
    for (const name of SKIPPED_IN_AZURE) {
      expect(settingNames, `${name} is no longer a setting; update the skip list`).toContain(name);
      expect(mainBicep).toMatch(new RegExp(`^//\\s+- ${name}\\s`, 'm'));
      expect(appSettings.has(name), `${name} must not be set in Azure`).toBe(false);
    }
  });

  it('sets nothing the code does not know, apart from platform settings', () => {
    const unknown = [...appSettings.keys()].filter((n) => !settingNames.includes(n) && !isPlatformSetting(n));
    expect(unknown).toEqual([]);
  });

  it('uses identity-based connections only', () => {
    expect(resolve(appSettings.get('DATABASE_AUTH') ?? '')).toBe('entra');
    expect(appSettings.get('DATABASE_URL')).toMatch(
      /^'postgres:\/\/\$\{identity\.outputs\.name\}@.+:5432\/.+\?sslmode=require'$/,
    );
    expect(appSettings.get('AzureWebJobsStorage__credential')).toBe("'managedidentity'");
    expect(appSettings.get('ServiceBusConnection__credential')).toBe("'managedidentity'");
    for (const name of ['blobServiceUri', 'queueServiceUri', 'tableServiceUri', 'clientId']) {
      expect(appSettings.has(`AzureWebJobsStorage__${name}`), name).toBe(true);
    }
    expect(appSettings.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')).toMatch(
      /^'ClientId=\$\{identity\.outputs\.clientId\};Authorization=AAD'$/,
    );
    for (const name of [
      'AZURE_CLIENT_ID',
      'AzureWebJobsStorage__clientId',
      'ServiceBusConnection__clientId',
    ]) {
      expect(appSettings.get(name), name).toBe('identity.outputs.clientId');
    }
    // No secret anywhere: no connection string with a key, no AzureWebJobsStorage connection string.
    expect(appSettings.has('AzureWebJobsStorage')).toBe(false);
    expect(mainBicep).not.toMatch(/AccountKey=|SharedAccessKey=|listKeys\(/);
  });
});

describe('Service Bus in bicep/modules/servicebus.bicep', () => {
  const queueNames = [...block(mainBicep, /^var queueNames = \[$/, ']').matchAll(/'([^']+)'/g)].map(
    (m) => m[1],
  );
  const queueResource = block(
    serviceBusBicep,
    /^resource queues 'Microsoft\.ServiceBus\/namespaces\/queues@/,
    ']',
  );

  it('creates exactly the queues the code uses', () => {
    expect([...queueNames].sort()).toEqual(Object.values(QUEUES).sort());
    expect(moduleParams('modules/servicebus.bicep').get('queueNames')).toBe('queueNames');
    expect(queueResource).toMatch(/^\s+for queueName in queueNames: \{$/m);
  });

  it('turns duplicate detection on for every queue', () => {
    expect(queueResource).toMatch(/^\s+requiresDuplicateDetection: true\b/m);
    expect(queueResource).toMatch(/^\s+duplicateDetectionHistoryTimeWindow: \S+/m);
    expect(queueResource).toMatch(/^\s+deadLetteringOnMessageExpiration: true\b/m);
    expect(queueResource).toMatch(/^\s+lockDuration: \S+/m);
  });

  it('dead-letters after the same number of deliveries the app expects (MAX_DELIVERY_COUNT)', () => {
    expect(queueResource).toMatch(/^\s+maxDeliveryCount: maxDeliveryCount$/m);
    const passed = moduleParams('modules/servicebus.bicep').get('maxDeliveryCount');
    expect(passed).toBeDefined();
    const brokerValue = resolve(passed ?? '');
    const appValue = resolve(appSettings.get('MAX_DELIVERY_COUNT') ?? '');
    expect(brokerValue).toBe(appValue);
    expect(Number(appValue)).toBeGreaterThan(1);
  });

  it('disables SAS keys and gives the identity sender and receiver roles per queue', () => {
    expect(serviceBusBicep).toMatch(/disableLocalAuth: true/);
    for (const roleId of ['69a216fc-b8fb-44d8-bc22-1f3c2cd27a39', '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0']) {
      expect(serviceBusBicep).toContain(roleId);
    }
    expect(serviceBusBicep.match(/scope: queues\[i\]/g)).toHaveLength(2);
  });
});

describe('Other resources', () => {
  it('storage allows no shared-key access and only TLS 1.2 over https', () => {
    expect(storageBicep).toMatch(/allowSharedKeyAccess: false/);
    expect(storageBicep).toMatch(/minimumTlsVersion: 'TLS1_2'/);
    expect(storageBicep).toMatch(/supportsHttpsTrafficOnly: true/);
  });

  it('the Function App runs Node 22 on Flex Consumption', () => {
    const params = moduleParams('modules/functionapp.bicep');
    expect(params.get('runtimeName')).toBe("'node'");
    expect(params.get('runtimeVersion')).toBe("'22'");
    expect(functionAppBicep).toMatch(/name: 'FC1'/);
    expect(functionAppBicep).toMatch(/tier: 'FlexConsumption'/);
    expect(functionAppBicep).toMatch(/httpsOnly: true/);
    expect(functionAppBicep).toMatch(/type: 'UserAssignedIdentity'/);
  });

  it('Application Insights and PostgreSQL accept Entra authentication only', () => {
    expect(monitoringBicep).toMatch(/DisableLocalAuth: true/);
    expect(postgresBicep).toMatch(/passwordAuth: 'Disabled'/);
    expect(postgresBicep).toMatch(/activeDirectoryAuth: 'Enabled'/);
    expect(postgresBicep).toMatch(/flexibleServers\/administrators@/);
  });

  it('the latency alert uses the shortest window and the same threshold as the app', () => {
    expect(alertsBicep).toMatch(/metricName: 'requests\/duration'/);
    const latency = block(alertsBicep, /^resource latencyAlert /);
    expect(latency).toMatch(/evaluationFrequency: 'PT1M'/);
    expect(latency).toMatch(/windowSize: 'PT1M'/);
    expect(moduleParams('modules/alerts.bicep').get('latencyThresholdMs')).toBe('latencyRedThresholdMs');
    expect(resolve(appSettings.get('LATENCY_RED_THRESHOLD_MS') ?? '')).toBe(
      paramValue('latencyRedThresholdMs'),
    );
    expect(paramValue('deadLetterMetricName')).toBe(METRICS.deadLetters);
  });
});

describe('Workbook (bicep/workbook/valerix-workbook.json)', () => {
  const workbook = JSON.parse(workbookText) as { version: string; items: { content?: { query?: string } }[] };
  const queries = JSON.stringify(workbook.items);

  it('is valid workbook JSON loaded by the workbook module', () => {
    expect(workbook.version).toBe('Notebook/1.0');
    expect(workbookBicep).toContain("loadTextContent('../workbook/valerix-workbook.json')");
    expect(workbookBicep).toContain('__APPINSIGHTS_RESOURCE_ID__');
  });

  it('charts every custom metric the code writes', () => {
    const missing = Object.values(METRICS).filter((name) => !queries.includes(`\\"${name}\\"`));
    expect(missing).toEqual([]);
  });

  it('has the 30-second order API tile that turns red above the app threshold', () => {
    const tile = workbook.items.find(
      (i) => i.content?.query?.includes('30s') && i.content.query.includes('requests'),
    );
    expect(tile?.content?.query).toContain('/api/orders');
    expect(tile?.content?.query).toContain('createOrder');
    const threshold = paramValue('latencyRedThresholdMs');
    expect(JSON.stringify(tile)).toContain(`"thresholdValue":"${threshold}"`);
    expect(tile?.content?.query).toContain(`AvgMs > ${threshold}`);
  });
});
