import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../functions/function-table.js';
import { renderAzdParameters } from '../../infra/scripts/azd-parameters.js';
import { loadSettings, SETTING_NAMES } from '../../shared/config/settings.js';
import { QUEUES } from '../../shared/messaging/queue-names.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import { type ArmTemplate, Deployment, type Json, origin } from '../support/arm-template.js';
import { findBicepCli } from '../support/bicep-cli.js';

/**
 * bicep/ compiled by the real Bicep CLI and linted with zero diagnostics, then the compiled ARM JSON evaluated with
 * the shipped parameters (bicep/main.parameters.json) and checked against the code: the settings it reads, its
 * queues, its delivery count, its connection pool. In CI a missing CLI fails the suite (.ci/run restores it from
 * NuGet); on a laptop without one the suite is skipped and says how to get one.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const mainBicep = join(root, 'bicep', 'main.bicep');
const parametersText = readFileSync(join(root, 'bicep', 'main.parameters.json'), 'utf8');
/** What azd (or deploy.sh) fills in: the environment name, region and signed-in principal. */
const AZD_ENV = {
  AZURE_ENV_NAME: 'valerix',
  AZURE_LOCATION: 'swedencentral',
  AZURE_PRINCIPAL_ID: '11111111-2222-3333-4444-555555555555',
};
const parametersOf = (text: string) =>
  Object.fromEntries(
    Object.entries((JSON.parse(text) as { parameters: Record<string, { value: unknown }> }).parameters).map(
      ([k, v]) => [k, v.value],
    ),
  );
const shippedParameters = parametersOf(renderAzdParameters(parametersText, AZD_ENV));
const hostJson = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8')) as {
  extensions: { serviceBus: { maxConcurrentCalls: number } };
};

const bicep = findBicepCli();
const inCi = Boolean(process.env.CI);

/** Settings the code reads but Azure deliberately does not set (each is explained in main.bicep). */
const SKIPPED_IN_AZURE = [
  'EMBEDDED_DATA_DIR',
  'PORT',
  'LOCAL_FUNCTION_KEY',
  'LOCAL_DELIVERY_COPIES',
  'OUTBOX_RELAY_INTERVAL_MS',
  'ServiceBusConnection',
  'BACKUP_CONNECTION_STRING',
  'BACKUP_CONTAINER',
];

/** Settings for the Functions host and SDKs rather than for shared/config/settings.ts. */
const isPlatformSetting = (name: string) =>
  name.startsWith('AzureWebJobsStorage__') ||
  name === 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING' ||
  name === 'ServiceBusConnection__credential' ||
  name === 'ServiceBusConnection__clientId';

const SECRET_PATTERN =
  /AccountKey=|SharedAccessKey=|SharedAccessSignature|password=|listKeys\(|listConnectionStrings\(/i;

describe('the Bicep CLI', () => {
  it.runIf(inCi || bicep)('is available (CI restores it from NuGet)', () => {
    expect(
      bicep,
      'No Bicep CLI: install `az bicep install`, put `bicep` on PATH, or run `dotnet restore infra/bicep-cli`',
    ).toBeDefined();
    console.info(`bicep-template: using ${bicep?.description}`);
  });
  it.skipIf(inCi || bicep)('is not on this machine: the template checks are skipped', () => {});
});

describe.runIf(bicep)('bicep/main.bicep compiled to ARM JSON', () => {
  let template: ArmTemplate;
  let buildDiagnostics = '';
  const deploy = (overrides: Record<string, unknown> = {}) =>
    new Deployment(template, { ...shippedParameters, ...overrides });
  const appSettingsOf = (main: Deployment) =>
    main.module('functionapp').scope.parameters.appSettings as Record<string, unknown>;

  beforeAll(() => {
    const built = bicep!.build(mainBicep);
    template = JSON.parse(built.json) as ArmTemplate;
    buildDiagnostics = built.diagnostics;
  });

  it('builds without a warning and lints with zero errors and zero warnings', () => {
    expect(buildDiagnostics).toBe('');
    const findings = bicep!
      .lint(mainBicep)
      .map(
        (r) =>
          `${r.locations?.[0]?.physicalLocation?.artifactLocation?.uri}:${r.locations?.[0]?.physicalLocation?.region?.startLine} ${r.level} ${r.ruleId}: ${r.message.text}`,
      );
    expect(findings).toEqual([]);
  });

  describe('Function App settings', () => {
    it('sets every setting the config module reads, except the documented skip list', () => {
      const settings = appSettingsOf(deploy());
      const missing = SETTING_NAMES.filter((n) => !SKIPPED_IN_AZURE.includes(n) && !(n in settings));
      expect(missing).toEqual([]);
      const mainText = readFileSync(mainBicep, 'utf8');
      for (const name of SKIPPED_IN_AZURE) {
        expect(SETTING_NAMES as string[], `${name} is no longer a setting; update the skip list`).toContain(
          name,
        );
        expect(mainText, `main.bicep explains why ${name} is not set`).toMatch(
          new RegExp(`^//\\s+- ${name}\\s`, 'm'),
        );
        expect(name in settings, `${name} must not be set in Azure`).toBe(false);
      }
    });

    it('sets nothing the code does not know, apart from platform settings', () => {
      const names = Object.keys(appSettingsOf(deploy()));
      const unknown = names.filter((n) => !(SETTING_NAMES as string[]).includes(n) && !isPlatformSetting(n));
      expect(unknown).toEqual([]);
    });

    it('holds values the app accepts (the same zod validation the app runs at its first invocation)', () => {
      const settings = appSettingsOf(deploy());
      const concrete = Object.fromEntries(
        Object.entries(settings).map(([k, v]) => [k, origin(v) ? placeholderFor(k) : String(v)]),
      );
      expect(() => loadSettings(concrete)).not.toThrow();
    });

    it('connects to everything with the managed identity: no connection string, key or password', () => {
      const settings = appSettingsOf(deploy());
      expect(settings.DATABASE_AUTH).toBe('entra');
      expect(String(settings.DATABASE_URL)).toMatch(
        /^postgres:\/\/\{identity\.outputs\.name\.value\}@\{postgres\.outputs\.fullyQualifiedDomainName\.value\}:5432\/valerix\?sslmode=require$/,
      );
      expect(settings.AzureWebJobsStorage__credential).toBe('managedidentity');
      expect(settings.ServiceBusConnection__credential).toBe('managedidentity');
      for (const name of [
        'AZURE_CLIENT_ID',
        'AzureWebJobsStorage__clientId',
        'ServiceBusConnection__clientId',
      ]) {
        expect(origin(settings[name]), name).toBe('identity.outputs.clientId');
      }
      expect(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toBe(
        'ClientId={identity.outputs.clientId.value};Authorization=AAD',
      );
      expect(settings).not.toHaveProperty('AzureWebJobsStorage');
      expect(settings).not.toHaveProperty('ServiceBusConnection');
    });

    it('contains no secret, and neither does any output', () => {
      const main = deploy();
      for (const [name, value] of Object.entries(appSettingsOf(main))) {
        expect(String(value), name).not.toMatch(SECRET_PATTERN);
      }
      for (const [name, value] of Object.entries(main.outputs())) {
        expect(JSON.stringify(String(value)), name).not.toMatch(SECRET_PATTERN);
      }
      // No expression anywhere in the template reads a key.
      expect(JSON.stringify(template)).not.toMatch(/listKeys\(|listConnectionStrings\(|listAccountSas\(/);
    });
  });

  describe('Service Bus', () => {
    const queues = () => deploy().module('servicebus').resources('Microsoft.ServiceBus/namespaces/queues');

    it('creates exactly the queues the code uses', () => {
      const sb = deploy().module('servicebus');
      expect([...(sb.scope.parameters.queueNames as string[])].sort()).toEqual(Object.values(QUEUES).sort());
      expect(queues().map((q) => q.name.split('/').pop())).toEqual(sb.scope.parameters.queueNames);
    });

    it('detects duplicates (required for the deterministic message ids) and dead-letters expired messages', () => {
      for (const queue of queues()) {
        const props = queue.properties as Record<string, unknown>;
        expect(props.requiresDuplicateDetection, queue.name).toBe(true);
        expect(props.duplicateDetectionHistoryTimeWindow).toMatch(/^PT\d+[MH]$/);
        expect(props.deadLetteringOnMessageExpiration).toBe(true);
        expect(props.requiresSession).toBe(false);
      }
    });

    it('dead-letters after the number of deliveries the app counts (MAX_DELIVERY_COUNT, also the code default)', () => {
      const main = deploy();
      for (const queue of queues()) {
        const broker = (queue.properties as Record<string, unknown>).maxDeliveryCount;
        expect(String(broker), queue.name).toBe(appSettingsOf(main).MAX_DELIVERY_COUNT);
        expect(broker).toBe(loadSettings({}).maxDeliveryCount);
      }
    });

    it('has SAS keys off and gives the app identity Data Owner on each queue (the trigger scaler reads queue properties), nothing else', () => {
      const sb = deploy().module('servicebus');
      expect(sb.props('Microsoft.ServiceBus/namespaces').disableLocalAuth).toBe(true);
      const grants = sb.resources('Microsoft.Authorization/roleAssignments').map((r) => {
        const props = r.properties as Record<string, unknown>;
        const role = String(props.roleDefinitionId).includes('090c5cfd-751d-490a-894a-3ce6f1109419')
          ? 'data owner'
          : String(props.roleDefinitionId);
        return `${role} on ${String(r.scope).split(',').pop()?.replace(/\)\}$/, '')} for ${origin(props.principalId)}`;
      });
      const expected = Object.values(QUEUES).map(
        (q) => `data owner on ${q} for identity.outputs.principalId`,
      );
      expect(grants.sort()).toEqual(expected.sort());
    });
  });

  describe('database connections fit the PostgreSQL SKU under per-function scaling', () => {
    const functionsOf = (kind: string) => FUNCTIONS.filter((f) => f.kind === kind).length;
    /**
     * The worst case the app may open: Flex Consumption applies maximumInstanceCount to each scale group (all HTTP
     * functions together, every Service Bus function and every timer on its own); a timer runs on one instance at a
     * time. Counted from the function table, not from the template's own numbers.
     */
    const connections = (overrides: Record<string, unknown> = {}) => {
      const main = deploy(overrides);
      const instances = (
        main.module('functionapp').props('Microsoft.Web/sites').functionAppConfig
          .scaleAndConcurrency as Record<string, number>
      ).maximumInstanceCount as number;
      const pool = Number(appSettingsOf(main).DATABASE_POOL_MAX);
      const sku = String(main.scope.parameters.postgresSkuName);
      const serverSku = (
        main.module('postgres').resources('Microsoft.DBforPostgreSQL/flexibleServers')[0] as Json
      ).sku.name;
      const userConnections = (main.variable('postgresMaxUserConnections') as Record<string, number>)[
        sku
      ] as number;
      const groups = (functionsOf('http') > 0 ? 1 : 0) + functionsOf('serviceBusQueue');
      const demand = groups * instances * pool + functionsOf('timer') * pool;
      return { instances, pool, demand, userConnections, serverSku, sku, outputs: main.outputs() };
    };
    const skus = () => Object.keys(deploy().variable('postgresMaxUserConnections') as Record<string, number>);

    it('counts the same Service Bus and timer functions as the function table', () => {
      const main = deploy();
      expect(main.variable('serviceBusFunctionCount')).toBe(functionsOf('serviceBusQueue'));
      expect(main.variable('timerFunctionCount')).toBe(functionsOf('timer'));
    });

    it('with the shipped parameters: every group at its instance limit stays under the limit, with headroom', () => {
      const c = connections();
      expect(c.serverSku).toBe(c.sku);
      expect(c.instances).toBe(shippedParameters.maximumInstanceCount); // not silently capped
      expect(c.demand).toBeLessThanOrEqual(c.userConnections - 5);
      expect(c.outputs.connectionDemand).toBe(c.demand);
    });

    it('fits every SKU the template offers, at the shipped pool and at a large instance limit', () => {
      for (const sku of skus()) {
        for (const maximumInstanceCount of [shippedParameters.maximumInstanceCount, 1000]) {
          const c = connections({ postgresSkuName: sku, maximumInstanceCount });
          expect(c.demand, `${sku} at ${maximumInstanceCount}`).toBeLessThanOrEqual(c.userConnections - 5);
          expect(c.instances).toBeGreaterThanOrEqual(1);
        }
      }
    });

    it('caps the instance limit when the parameters would not fit', () => {
      const c = connections({ maximumInstanceCount: 1000, databasePoolMax: 3 });
      expect(c.demand).toBeLessThanOrEqual(c.userConnections - 5);
      expect(c.instances).toBe(2); // (30 - 4 timers x 3) / (3 groups x 3)
      const bigger = connections({
        maximumInstanceCount: 100,
        databasePoolMax: 4,
        postgresSkuName: 'Standard_D4ds_v5',
        postgresSkuTier: 'GeneralPurpose',
      });
      expect(bigger.instances).toBe(100);
    });

    it('refuses a pool that does not fit even one instance per group, and a SKU whose limit it does not know', () => {
      expect(() => connections({ databasePoolMax: 10 })).toThrow(/budgetVerdict|too-large|no property/);
      expect(() => connections({ postgresSkuName: 'Standard_Unknown' })).toThrow(/Standard_Unknown/);
    });

    it("host.json's maxConcurrentCalls is no more than one instance's pool, and the template refuses a smaller pool", () => {
      const calls = hostJson.extensions.serviceBus.maxConcurrentCalls;
      expect(deploy().variable('hostServiceBusMaxConcurrentCalls')).toBe(calls);
      expect(calls).toBeLessThanOrEqual(connections().pool);
      if (calls > 1) {
        expect(() => connections({ databasePoolMax: calls - 1 })).toThrow(/maxConcurrentCalls|no property/);
      }
    });
  });

  describe('azd conventions and the deploying principal', () => {
    it('main.parameters.json maps AZURE_ENV_NAME, AZURE_LOCATION and AZURE_PRINCIPAL_ID', () => {
      const raw = parametersOf(parametersText);
      const placeholder = (name: string) => `\${${name}}`;
      expect(raw.environmentName).toBe(placeholder('AZURE_ENV_NAME'));
      expect(raw.location).toBe(placeholder('AZURE_LOCATION'));
      expect(raw.deployerObjectId).toBe(placeholder('AZURE_PRINCIPAL_ID'));
      expect(shippedParameters).toMatchObject({
        environmentName: 'valerix',
        location: 'swedencentral',
        deployerObjectId: AZD_ENV.AZURE_PRINCIPAL_ID,
        deployerPrincipalType: 'User', // AZURE_PRINCIPAL_TYPE when azd sets it
        postgresStorageSizeGB: 32,
      });
    });

    it('the deployer (AZURE_PRINCIPAL_ID under azd) gets read/write on the backups container the restore steps use', () => {
      const rbac = deploy().module('rbac');
      const backups = rbac
        .resources('Microsoft.Authorization/roleAssignments')
        .filter((r) => (r.properties as Json).principalId === AZD_ENV.AZURE_PRINCIPAL_ID);
      expect(backups).toHaveLength(1);
      expect(String((backups[0]!.properties as Json).roleDefinitionId)).toContain(
        'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
      );
      expect(String(backups[0]!.scope)).toContain('storage.outputs.backupContainerName');
    });

    it('the app identity gets blob and telemetry roles only: no storage queue or table role, no PostgreSQL administrator', () => {
      const main = deploy({ deployerPrincipalName: 'someone@example.com' });
      const appRoles = main
        .module('rbac')
        .resources('Microsoft.Authorization/roleAssignments')
        .filter((r) => origin((r.properties as Json).principalId) === 'identity.outputs.principalId')
        .map((r) => String((r.properties as Json).roleDefinitionId).match(/[0-9a-f]{8}-[0-9a-f-]{27}/)?.[0]);
      expect(appRoles.sort()).toEqual(
        ['b7e6dc6d-f1e8-4753-8033-0f276bb0955b', '3913510d-42f4-4e42-8a64-420c390055eb'].sort(),
      );
      const settings = Object.keys(appSettingsOf(main));
      expect(settings.filter((n) => /queueServiceUri|tableServiceUri/.test(n))).toEqual([]);
      const admins = main
        .module('postgres')
        .resources('Microsoft.DBforPostgreSQL/flexibleServers/administrators')
        .map((r) => (r.properties as Json).principalName);
      expect(admins).toEqual(['someone@example.com']);
    });

    it('storage: the size deploy.sh passes for a grown server reaches the server; autogrow stays on', () => {
      const grown = deploy({ postgresStorageSizeGB: 128 }).module('postgres');
      const storage = grown.props('Microsoft.DBforPostgreSQL/flexibleServers').storage;
      expect(storage).toEqual({ storageSizeGB: 128, autoGrow: 'Enabled' });
      expect(renderAzdParameters(parametersText, { ...AZD_ENV, POSTGRES_STORAGE_SIZE_GB: '256' })).toContain(
        '"postgresStorageSizeGB": { "value": 256 }',
      );
    });
  });

  describe('network and publishing', () => {
    it('private mode (the default): PostgreSQL and storage only through private endpoints in the app network', () => {
      expect(shippedParameters.networkMode).toBe('private');
      const main = deploy();
      const network = main.module('network');
      expect(network.deployed).toBe(true);
      const groups = network
        .resources('Microsoft.Network/privateEndpoints')
        .map((r) => (r.properties as Json).privateLinkServiceConnections[0].properties.groupIds[0]);
      expect(groups).toEqual(['postgresqlServer', 'blob']);
      const endpoints = (network.variable('endpoints') as { groupId: string; targetId: unknown }[]).map(
        (e) => [e.groupId, origin(e.targetId)],
      );
      expect(endpoints).toEqual([
        ['postgresqlServer', 'postgres.outputs.id'],
        ['blob', 'storage.outputs.id'],
      ]);
      expect(
        main.module('postgres').resources('Microsoft.DBforPostgreSQL/flexibleServers/firewallRules'),
      ).toEqual([]);
      const storage = main.module('storage').props('Microsoft.Storage/storageAccounts');
      expect(storage.publicNetworkAccess).toBe('Disabled');
      expect(storage.networkAcls.defaultAction).toBe('Deny');
      expect(storage.allowSharedKeyAccess).toBe(false);
      const site = main.module('functionapp').props('Microsoft.Web/sites');
      expect(origin(site.virtualNetworkSubnetId)).toBe('network.outputs.appSubnetId');
    });

    it("public mode (cheap demos) keeps today's public endpoints and the allow-Azure-services rule", () => {
      const main = deploy({ networkMode: 'public' });
      expect(main.module('network').deployed).toBe(false);
      const rules = main
        .module('postgres')
        .resources('Microsoft.DBforPostgreSQL/flexibleServers/firewallRules');
      expect(rules.map((r) => (r.properties as Json).startIpAddress)).toEqual(['0.0.0.0']);
      expect(main.module('storage').props('Microsoft.Storage/storageAccounts').publicNetworkAccess).toBe(
        'Enabled',
      );
      const site = main.module('functionapp').props('Microsoft.Web/sites');
      expect(site.virtualNetworkSubnetId).toBeNull();
    });

    describe('customers who sign in (customerAuth)', () => {
      const authConfig = (main: Deployment) =>
        main
          .module('functionapp')
          .resources('Microsoft.Web/sites/config')
          .filter((r) => r.name.endsWith('/authsettingsV2'));
      const clientId = '0b7f3c2e-1111-2222-3333-444455556666';

      it('none (the shipped default): no App Service authentication, CUSTOMER_AUTH=none', () => {
        const main = deploy();
        expect(authConfig(main)).toEqual([]);
        expect(appSettingsOf(main).CUSTOMER_AUTH).toBe('none');
      });

      it('appservice: Entra ID in front, unauthenticated requests let through to the app', () => {
        const main = deploy({ customerAuth: 'appservice', authClientId: clientId });
        const [auth] = authConfig(main);
        const props = auth?.properties as Json;
        expect(props.platform.enabled).toBe(true);
        expect(props.globalValidation).toEqual({
          requireAuthentication: false,
          unauthenticatedClientAction: 'AllowAnonymous',
        });
        expect(props.identityProviders.azureActiveDirectory.registration.clientId).toBe(clientId);
        expect(props.identityProviders.azureActiveDirectory.validation.allowedAudiences).toContain(
          `api://${clientId}`,
        );
        expect(appSettingsOf(main).CUSTOMER_AUTH).toBe('appservice');
      });

      it('jwt: issuer and audience of the app registration, values the app accepts', () => {
        const main = deploy({ customerAuth: 'jwt', authClientId: clientId });
        expect(authConfig(main)).toEqual([]);
        const settings = appSettingsOf(main);
        // Entra ID v2 tokens of the tenant (the evaluator leaves environment() and tenant() as they are written).
        expect(settings.JWT_ISSUER).toBe(
          '{environment().authentication.loginEndpoint}{tenant().tenantId}/v2.0',
        );
        expect(settings.JWT_AUDIENCE).toBe(`api://${clientId},${clientId}`);
        const concrete = Object.fromEntries(
          Object.entries(settings).map(([k, v]) => [
            k,
            origin(v) || k === 'JWT_ISSUER' ? placeholderFor(k) : String(v),
          ]),
        );
        expect(loadSettings(concrete).customerAuth).toMatchObject({ mode: 'jwt', subjectClaim: 'oid' });
        const custom = appSettingsOf(
          deploy({ customerAuth: 'jwt', jwtIssuer: 'https://issuer.example/', jwtAudience: 'api://x' }),
        );
        expect([custom.JWT_ISSUER, custom.JWT_AUDIENCE]).toEqual(['https://issuer.example/', 'api://x']);
      });
    });

    it('runs Node 22 on Flex Consumption, https only, FTPS off, no basic-auth publishing', () => {
      const app = deploy().module('functionapp');
      const site = app.props('Microsoft.Web/sites');
      expect(site.functionAppConfig.runtime).toEqual({ name: 'node', version: '22' });
      expect(site.httpsOnly).toBe(true);
      expect(site.siteConfig.ftpsState).toBe('Disabled');
      const plan = app.resources('Microsoft.Web/serverfarms')[0] as Json;
      expect(plan.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
      const policies = app.resources('Microsoft.Web/sites/basicPublishingCredentialsPolicies');
      expect(policies.map((p) => [p.name.split('/').pop(), (p.properties as Json).allow])).toEqual([
        ['ftp', false],
        ['scm', false],
      ]);
    });

    it('Application Insights and PostgreSQL accept Entra authentication only', () => {
      const main = deploy();
      const ai = main.module('monitoring').props('Microsoft.Insights/components');
      expect(ai.DisableLocalAuth).toBe(true);
      const pg = main.module('postgres').props('Microsoft.DBforPostgreSQL/flexibleServers');
      expect(pg.authConfig.passwordAuth).toBe('Disabled');
      expect(pg.authConfig.activeDirectoryAuth).toBe('Enabled');
    });
  });

  describe('monitoring', () => {
    it('the latency alert uses the shortest window and the same threshold as the app', () => {
      const main = deploy();
      const alerts = main.module('alerts').resources('Microsoft.Insights/metricAlerts');
      const latency = alerts.find((a) => a.name.endsWith('-request-duration'))?.properties as Json;
      expect(latency.evaluationFrequency).toBe('PT1M');
      expect(latency.windowSize).toBe('PT1M');
      const criterion = latency.criteria.allOf[0];
      expect(criterion.metricName).toBe('requests/duration');
      expect(String(criterion.threshold)).toBe(appSettingsOf(main).LATENCY_RED_THRESHOLD_MS);
      expect(main.module('alerts').scope.parameters.deadLetterMetricName).toBe(METRICS.deadLetters);
    });

    it('the Workbook charts every custom metric and has the 30-second tile with the app threshold', () => {
      const main = deploy();
      const workbook = main.module('workbook').props('Microsoft.Insights/workbooks');
      // serializedData is replace(definition, placeholder, <the component id, known at deployment>).
      const definition = String(main.module('workbook').variable('definition'));
      expect(String(workbook.serializedData)).toContain('__APPINSIGHTS_RESOURCE_ID__');
      const content = JSON.parse(definition) as { items: { content?: { query?: string } }[] };
      const queries = JSON.stringify(content.items);
      expect(Object.values(METRICS).filter((name) => !queries.includes(`\\"${name}\\"`))).toEqual([]);
      const tile = content.items.find(
        (i) => i.content?.query?.includes('30s') && i.content.query.includes('requests'),
      );
      const threshold = appSettingsOf(main).LATENCY_RED_THRESHOLD_MS;
      expect(tile?.content?.query).toContain('createOrder');
      expect(tile?.content?.query).toContain(`AvgMs > ${threshold}`);
      expect(JSON.stringify(tile)).toContain(`"thresholdValue":"${threshold}"`);
    });
  });
});

/** A well-formed stand-in for a value Azure fills in at deployment time, so the settings can be validated. */
function placeholderFor(name: string): string {
  if (name === 'DATABASE_URL')
    return 'postgres://id-valerix@psql-valerix.postgres.database.azure.com:5432/valerix?sslmode=require';
  if (name.endsWith('Uri') || name.endsWith('_URL')) return 'https://stvalerix.blob.core.windows.net/backups';
  if (name.endsWith('clientId') || name === 'AZURE_CLIENT_ID') return '00000000-0000-0000-0000-000000000000';
  if (name === 'JWT_ISSUER')
    return 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0';
  if (name === 'APPLICATIONINSIGHTS_CONNECTION_STRING') {
    return 'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://example.in.applicationinsights.azure.com/';
  }
  return 'sb-valerix.servicebus.windows.net';
}
