// Storage account for the Functions host (AzureWebJobsStorage, identity-based), the Flex Consumption deployment
// package container, and the daily logical backup exports. Shared-key access is off: every caller authenticates
// with Microsoft Entra ID (the app's managed identity, or the deploying user for restores).

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Blob container for the daily logical exports of both schemas.')
param backupContainerName string = 'backups'

@description('Refuse traffic that does not come through a private endpoint or a trusted Azure service (private networking).')
param privateNetwork bool = false

@description('Days a deleted blob or container stays recoverable (protects the deployment package and the backups).')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int = 7

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // identity-based access only (Functions host, deployment, backups)
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    dnsEndpointType: 'Standard'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Private mode, as in Azure's Flex Consumption quickstarts: only the app's private endpoints (the Flex
    // deployment service publishes through the platform, not this endpoint). Restoring a backup from a laptop means
    // opening public access to that laptop's IP for the time of the restore.
    publicNetworkAccess: privateNetwork ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetwork ? 'Deny' : 'Allow'
      bypass: privateNetwork ? 'None' : 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource backupContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: backupContainerName
  properties: {
    publicAccess: 'None'
  }
}

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainer.name
output backupContainerName string = backupContainer.name
output backupContainerUrl string = '${storage.properties.primaryEndpoints.blob}${backupContainer.name}'
