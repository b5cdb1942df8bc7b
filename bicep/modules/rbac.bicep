// Role assignments for the app identity on storage (blob only: the host keeps its keys, timer schedule locks and the
// deployment package in blobs, and no trigger of this app uses storage queues or tables, so Storage Queue/Table Data
// Contributor are not granted; "Connecting to host storage with an identity" lists them for blob, queue-based and
// Durable triggers only) and Application Insights (Service Bus roles are per queue in
// servicebus.bicep), plus read/write access for the deploying principal to the backups container only, so that the
// documented restore path works without shared keys.

@description('Storage account name.')
param storageAccountName string

@description('Backups container name.')
param backupContainerName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Principal (object) id of the app managed identity.')
param appPrincipalId string

@description('Object id of the deploying principal; empty = no assignment.')
param deployerObjectId string = ''

@description('Principal type of the deployer.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

// Built-in role definition ids.
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // host leases/timers + deployment package
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // deployer on the backups container
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb' // Entra-authenticated telemetry

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource backups 'containers' existing = {
      name: backupContainerName
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageBlobDataOwnerRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, monitoringMetricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerBackups 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerObjectId)) {
  name: guid(storage::blobService::backups.id, deployerObjectId, storageBlobDataContributorRoleId)
  scope: storage::blobService::backups
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: deployerObjectId
    principalType: deployerPrincipalType
  }
}
