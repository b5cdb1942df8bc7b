// Valerix on Azure Functions: everything the app needs in one resource group.
//
//   az group create -n <rg> -l <region>
//   az deployment group create -g <rg> -f bicep/main.bicep -p bicep/main.parameters.json -p alertEmail=<you>
//
// (infra/scripts/deploy.sh does this, publishes the code, runs the migrations and prints the URLs.)
//
// Layout follows Azure-Samples/functions-quickstart-typescript-azd: a user-assigned managed identity, a Flex
// Consumption app with identity-based connections, shared keys and SAS disabled everywhere, role assignments with
// least privilege. No secret appears in an app setting.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(20)
@description('Short name used in every resource name, e.g. valerix or valerix-dev.')
param environmentName string = 'valerix'

@description('Azure region. It must offer the Flex Consumption plan and PostgreSQL flexible server.')
param location string = resourceGroup().location

@description('Email address for alerts. Empty = alert rules are created without notifications.')
param alertEmail string = ''

// Deploying principal: becomes a second PostgreSQL Entra administrator (migrations) and may read/write backups.
@description('Object id of the user or service principal running the deployment. Empty = not added.')
param deployerObjectId string = ''

@description('PostgreSQL name of the deployer: user principal name for a user, display name for a service principal.')
param deployerPrincipalName string = ''

@description('Principal type of the deployer.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

// Function App
@description('Memory per Flex Consumption instance (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on instances of EACH per-function scale group (Flex Consumption applies it to the HTTP group and to every Service Bus or timer function separately). The template caps it so that the worst case fits the PostgreSQL SKU\'s connection budget (see connectionDemand).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 3

// Networking
@description('private: PostgreSQL and storage are reachable only from the app (virtual network, private endpoints, no allow-all-Azure rule). public: the cheaper demo mode, public endpoints with the allow-Azure-services firewall rule.')
@allowed([
  'private'
  'public'
])
param networkMode string = 'private'

// PostgreSQL
@description('PostgreSQL compute SKU.')
param postgresSkuName string = 'Standard_B1ms'

@description('PostgreSQL compute tier (must match the SKU).')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'Burstable'

@description('PostgreSQL major version.')
@allowed([
  '14'
  '15'
  '16'
  '17'
])
param postgresVersion string = '16'

@description('PostgreSQL storage (GiB) for a new server. Storage autogrow may have grown an existing server beyond it, and Azure refuses to shrink storage: deploy.sh and the azd preprovision hook pass the server\'s current size (POSTGRES_STORAGE_SIZE_GB) when it is larger.')
param postgresStorageSizeGB int = 32

@description('Days of continuous backup for point-in-time restore (7-35).')
@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int = 7

@description('Geo-redundant backup storage (only settable when the server is created).')
@allowed([
  'Disabled'
  'Enabled'
])
param postgresGeoRedundantBackup string = 'Disabled'

@description('High availability (not available on Burstable).')
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param postgresHighAvailability string = 'Disabled'

@description('Connections each Function App instance may hold (DATABASE_POOL_MAX). At least host.json maxConcurrentCalls, so that every Service Bus call in flight can get a connection.')
@minValue(1)
@maxValue(200)
param databasePoolMax int = 2

// Messaging
@description('Deliveries before Service Bus dead-letters a message; the app reads the same value (MAX_DELIVERY_COUNT).')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int = 10

@description('Message lock duration (ISO 8601); longer than the slowest handler including the gremlin delay.')
param lockDuration string = 'PT1M'

@description('Duplicate detection window (ISO 8601).')
param duplicateDetectionWindow string = 'PT10M'

// Monitoring
@description('Order API latency above which the signal is red and the alert fires (ms).')
param latencyRedThresholdMs int = 1000

@description('Log Analytics retention (days).')
param logRetentionDays int = 30

@description('Log Analytics daily ingestion cap in GB (-1 = none).')
param logDailyQuotaGb int = -1

@description('Name of the dead-letter custom metric (shared/telemetry/metric-names.ts METRICS.deadLetters).')
param deadLetterMetricName string = 'valerix.messages.dead_letters'

// Customers who sign in (CUSTOMER_AUTH, README "Customers who sign in"; docs/deploy.md registers the Entra app)
@description('none: anonymous customers (the body names them); appservice: App Service authentication with Entra ID in front of the app; jwt: the app verifies Entra access tokens itself.')
@allowed([
  'none'
  'appservice'
  'jwt'
])
param customerAuth string = 'none'

@description('Application (client) id of the API\'s Entra app registration (docs/deploy.md). Required for appservice and jwt.')
param authClientId string = ''

@description('Tenant of the app registration (default: this deployment\'s tenant).')
param authTenantId string = tenant().tenantId

@description('jwt: the token issuer. Empty: Entra ID v2 tokens of authTenantId.')
param jwtIssuer string = ''

@description('jwt: accepted audiences, comma-separated. Empty: api://<authClientId> and <authClientId>.')
param jwtAudience string = ''

// Chaos defaults (also switchable at run time through PUT /api/chaos)
@description('Start with the gremlin (processing delay in Inventory) on.')
param featureGremlin bool = false

@description('Start with the crash-after-commit simulator on.')
param featureCrashAfterCommit bool = false

// ---------------------------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var envSlug = toLower(environmentName)
var tags = {
  application: 'valerix'
  environment: environmentName
}
var functionAppName = 'func-${envSlug}-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var databaseName = 'valerix'
var privateNetwork = networkMode == 'private'

// Connection budget. On Flex Consumption maximumInstanceCount limits each per-function scale group, not the app
// ("Per-function scaling", learn.microsoft.com/azure/azure-functions/flex-consumption-plan): all HTTP functions
// scale together as one group, every other function (each Service Bus trigger, each timer) in its own set of
// instances. Every instance may open databasePoolMax connections. A timer runs on one instance at a time (its
// schedule lock), so the worst case is
//   (1 HTTP group + Service Bus functions) x instances x pool + timers x pool
// and it must fit the server's user connections (max_connections minus the 15 Azure reserves, from "Limits in Azure
// Database for PostgreSQL flexible server"), less a headroom for migrations, the deploy script and an operator's psql.
// The instance limit is capped so that it fits; a pool too large for even one instance per group, or smaller than
// host.json's maxConcurrentCalls, fails the deployment at the budgetCheck lookup (as an unknown SKU fails at the
// limits lookup). The function counts must match functions/catalog.ts (test/unit/bicep-template.test.ts checks).
// Burstable servers have no built-in PgBouncer, so the app connects directly (port 5432).
var postgresMaxUserConnections = {
  Standard_B1ms: 35
  Standard_B2s: 414
  Standard_B2ms: 844
  Standard_B4ms: 1703
  Standard_B8ms: 3422
  Standard_D2ds_v5: 844
  Standard_D4ds_v5: 1703
  Standard_D8ds_v5: 3422
  Standard_D16ds_v5: 4985
  Standard_E2ds_v5: 1703
  Standard_E4ds_v5: 3422
  Standard_E8ds_v5: 4985
}
var connectionHeadroom = 5
var serviceBusFunctionCount = 2
var timerFunctionCount = 4
var scaledGroupCount = 1 + serviceBusFunctionCount
var hostServiceBusMaxConcurrentCalls = loadJsonContent('../host.json').extensions.serviceBus.maxConcurrentCalls
var appConnectionBudget = postgresMaxUserConnections[postgresSkuName] - connectionHeadroom
var timerConnections = timerFunctionCount * databasePoolMax
var cappedMaximumInstanceCount = max(
  1,
  min(maximumInstanceCount, (appConnectionBudget - timerConnections) / (scaledGroupCount * databasePoolMax))
)
var connectionDemand = scaledGroupCount * cappedMaximumInstanceCount * databasePoolMax + timerConnections
var budgetCheck = {
  fits: cappedMaximumInstanceCount
}
var budgetVerdict = connectionDemand > appConnectionBudget
  ? 'databasePoolMax-too-large-for-postgresSkuName-even-at-one-instance-per-group'
  : databasePoolMax < hostServiceBusMaxConcurrentCalls
      ? 'databasePoolMax-below-host-json-maxConcurrentCalls'
      : 'fits'
var effectiveMaximumInstanceCount = budgetCheck[budgetVerdict]

// Must equal Object.values(QUEUES) in shared/messaging/contracts.ts (checked by the consistency test).
var queueNames = [
  'inventory-reservations'
  'order-status'
]

// ---------------------------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------------------------

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-${envSlug}-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: take('st${replace(envSlug, '-', '')}${resourceToken}', 24)
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    backupContainerName: 'backups'
    privateNetwork: privateNetwork
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${envSlug}-${resourceToken}'
    applicationInsightsName: 'appi-${envSlug}-${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionDays
    dailyQuotaGb: logDailyQuotaGb
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: 'sb-${envSlug}-${resourceToken}'
    location: location
    tags: tags
    queueNames: queueNames
    maxDeliveryCount: maxDeliveryCount
    lockDuration: lockDuration
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    appPrincipalId: identity.outputs.principalId
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    name: 'psql-${envSlug}-${resourceToken}'
    location: location
    tags: tags
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    version: postgresVersion
    storageSizeGB: postgresStorageSizeGB
    backupRetentionDays: postgresBackupRetentionDays
    geoRedundantBackup: postgresGeoRedundantBackup
    highAvailabilityMode: postgresHighAvailability
    databaseName: databaseName
    allowAzureServices: !privateNetwork
    deployerObjectId: deployerObjectId
    deployerPrincipalName: deployerPrincipalName
    deployerPrincipalType: deployerPrincipalType
  }
}

module network 'modules/network.bicep' = if (privateNetwork) {
  name: 'network'
  params: {
    name: 'vnet-${envSlug}-${resourceToken}'
    location: location
    tags: tags
    postgresServerId: postgres.outputs.id
    storageAccountId: storage.outputs.id
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    backupContainerName: storage.outputs.backupContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    deployerObjectId: deployerObjectId
    deployerPrincipalType: deployerPrincipalType
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Function App settings: EVERY setting the code reads (SETTING_NAMES in shared/config/settings.ts), plus the
// platform settings for identity-based connections. test/unit/bicep-template.test.ts checks the compiled block.
//
// Settings the code knows but that are deliberately NOT set in Azure (the skip list):
//   - EMBEDDED_DATA_DIR      embedded PGlite data directory; Azure uses the real server (DATABASE_URL)
//   - PORT                   port of the local host (npm run dev); the Functions host owns the port in Azure
//   - LOCAL_FUNCTION_KEY     the local host's stand-in for function keys; Azure checks its own function keys
//   - LOCAL_DELIVERY_COPIES  duplicate deliveries of the in-process transport; Azure uses Service Bus
//   - OUTBOX_RELAY_INTERVAL_MS  the local host's relay loop; in Azure the relay is a timer (once a minute, fixed)
//   - ServiceBusConnection   connection string; Azure uses the managed identity (ServiceBusConnection__*) and the
//                            code refuses both at once
//   - BACKUP_CONNECTION_STRING  storage connection string for Azurite; the account has shared keys disabled, so
//                            Azure uses BACKUP_CONTAINER_URL with the managed identity
//   - BACKUP_CONTAINER       container name used with BACKUP_CONNECTION_STRING only; BACKUP_CONTAINER_URL names it
//
// Platform settings (read by the Functions host / SDKs, not by SETTING_NAMES): AzureWebJobsStorage__*,
// APPLICATIONINSIGHTS_AUTHENTICATION_STRING, ServiceBusConnection__credential, ServiceBusConnection__clientId.
// Flex Consumption takes the runtime from functionAppConfig, so FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION are not set.
// ---------------------------------------------------------------------------------------------------------------

var entraIssuer = '${environment().authentication.loginEndpoint}${authTenantId}/v2.0'
var effectiveJwtIssuer = empty(jwtIssuer) ? entraIssuer : jwtIssuer
var effectiveJwtAudience = empty(jwtAudience) ? 'api://${authClientId},${authClientId}' : jwtAudience

var appSettings = {
  // Host storage, identity-based: blob only (keys, timer schedule locks, deployment package). No trigger of this app
  // uses storage queues or tables, so the host gets no queue or table endpoint (and the identity no role there).
  AzureWebJobsStorage__blobServiceUri: storage.outputs.blobEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  // Application Insights, Entra-authenticated ingestion (local auth is disabled on the component)
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
  LATENCY_RED_THRESHOLD_MS: string(latencyRedThresholdMs)
  // Identity used by @azure/identity (PostgreSQL tokens, Service Bus publisher)
  AZURE_CLIENT_ID: identity.outputs.clientId
  // Database: Entra token as password, role = identity name
  DATABASE_URL: 'postgres://${identity.outputs.name}@${postgres.outputs.fullyQualifiedDomainName}:5432/${databaseName}?sslmode=require'
  DATABASE_AUTH: 'entra'
  DATABASE_POOL_MAX: string(databasePoolMax)
  DATABASE_TIMEOUT_MS: '5000'
  INTAKE_BATCH_MAX: '64'
  // Messaging: the Service Bus trigger and the publisher read the same identity-based connection
  ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identity.outputs.clientId
  MAX_DELIVERY_COUNT: string(maxDeliveryCount)
  PUBLISH_TIMEOUT_MS: '3000'
  OUTBOX_RETENTION_HOURS: '72'
  DELAYED_RETRY_ROUNDS: '8'
  DELAYED_RETRY_BASE_MS: '5000'
  DELAYED_RETRY_MAX_MS: '300000'
  PROCESSED_MESSAGE_RETENTION_HOURS: '168'
  DEAD_LETTER_RETENTION_DAYS: '30'
  ORDER_HISTORY_RETENTION_DAYS: '365'
  IDEMPOTENCY_TTL_HOURS: '24'
  // Pending-order sweeper: re-send OrderPlaced after this long (above the PT10M duplicate-detection window)
  PENDING_ORDER_SWEEP_AFTER_SECONDS: '1800'
  // ... and OrderCancelled of a cancel still requested after this long (its own, shorter clock)
  CANCEL_SWEEP_AFTER_SECONDS: '60'
  // Gremlin
  FEATURE_GREMLIN: featureGremlin ? 'true' : 'false'
  GREMLIN_LATENCY_MS: '3000'
  GREMLIN_MODE: 'deterministic'
  GREMLIN_EVERY_N: '5'
  GREMLIN_PROBABILITY: '0.2'
  // Crash simulator
  FEATURE_CRASH_AFTER_COMMIT: featureCrashAfterCommit ? 'true' : 'false'
  CRASH_TARGET: 'both'
  CRASH_MODE: 'deterministic'
  CRASH_EVERY_N: '3'
  CRASH_PROBABILITY: '0.2'
  // Daily logical export (functions/platform/backup-timer.ts), written with the managed identity
  BACKUP_CONTAINER_URL: storage.outputs.backupContainerUrl
  // Customers who sign in: with appservice the platform sets WEBSITE_AUTH_ENABLED=True (authsettingsV2 below)
  CUSTOMER_AUTH: customerAuth
  JWT_ISSUER: customerAuth == 'jwt' ? effectiveJwtIssuer : ''
  JWT_AUDIENCE: customerAuth == 'jwt' ? effectiveJwtAudience : ''
  JWT_ALGORITHMS: 'RS256'
  JWT_CLOCK_SKEW_SECONDS: '60'
  // Entra's object id: one customer id for the same person in every app of the tenant (sub differs per app)
  JWT_SUBJECT_CLAIM: 'oid'
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: functionAppName
    planName: 'plan-${envSlug}-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    runtimeName: 'node'
    runtimeVersion: '22'
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: effectiveMaximumInstanceCount
    virtualNetworkSubnetId: privateNetwork ? network!.outputs.appSubnetId : ''
    appSettings: appSettings
    appServiceAuth: customerAuth == 'appservice'
    authClientId: authClientId
    authOpenIdIssuer: entraIssuer
  }
  // Start the app only once its identity can reach storage, Service Bus, PostgreSQL and Application Insights.
  dependsOn: [
    rbac
  ]
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    namePrefix: '${envSlug}-${resourceToken}'
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    serviceBusNamespaceId: serviceBus.outputs.id
    queueNames: queueNames
    latencyThresholdMs: latencyRedThresholdMs
    alertEmail: alertEmail
    deadLetterMetricName: deadLetterMetricName
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------------------------

var portal = 'https://portal.azure.com/#@${tenant().tenantId}/resource'

output functionAppName string = functionApp.outputs.name
output functionAppUrl string = functionApp.outputs.url
output uiUrl string = '${functionApp.outputs.url}/api/ui'
output healthUrl string = '${functionApp.outputs.url}/api/health'
output functionAppPortalUrl string = '${portal}${functionApp.outputs.id}/overview'
output applicationInsightsPortalUrl string = '${portal}${monitoring.outputs.applicationInsightsId}/overview'
output workbookPortalUrl string = '${portal}${workbook.outputs.id}'
output postgresPortalUrl string = '${portal}${postgres.outputs.id}/overview'
output serviceBusPortalUrl string = '${portal}${serviceBus.outputs.id}/overview'

output networkMode string = networkMode
output maximumInstanceCount int = effectiveMaximumInstanceCount
output appConnectionBudget int = appConnectionBudget
output connectionDemand int = connectionDemand
output identityPrincipalId string = identity.outputs.principalId
output resourceGroupName string = resourceGroup().name
output identityName string = identity.outputs.name
output identityClientId string = identity.outputs.clientId
output storageAccountName string = storage.outputs.name
output deploymentContainerName string = storage.outputs.deploymentContainerName
output backupContainerUrl string = storage.outputs.backupContainerUrl
output serviceBusNamespace string = serviceBus.outputs.name
output serviceBusFullyQualifiedNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output queueNames array = queueNames
output postgresServerName string = postgres.outputs.name
output postgresFqdn string = postgres.outputs.fullyQualifiedDomainName
output databaseName string = postgres.outputs.databaseName
output applicationInsightsName string = monitoring.outputs.applicationInsightsName
output logAnalyticsName string = monitoring.outputs.logAnalyticsName
output workbookName string = workbook.outputs.name
