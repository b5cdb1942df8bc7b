// Azure Database for PostgreSQL flexible server with Microsoft Entra authentication only (no password, no admin
// login). The deploying principal is the Entra administrator, so that the deploy script can run migrations. The
// Function App's user-assigned identity is NOT an administrator: deploy.sh creates its role (named after the
// identity, logging in with an access token) as an ordinary Entra principal and grants it the use of the app's
// schemas, which the owning role valerix_owner holds (infra/scripts/deploy.sh, docs/deploy.md). Continuous backups (point-in-time restore within backupRetentionDays) are built in.
//
// The server accepts one management operation at a time ("ServerIsBusy", and Entra admin operations fail while the
// server is still settling), so the child resources below are chained with dependsOn instead of created in parallel.

@description('Server name (3-63 lowercase letters, digits and hyphens).')
param name string

@description('Azure region.')
param location string

@description('Tags applied to the server.')
param tags object = {}

@description('Compute SKU name, e.g. Standard_B1ms (Burstable), Standard_D2ds_v5 (GeneralPurpose).')
param skuName string = 'Standard_B1ms'

@description('Compute tier matching skuName.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string = 'Burstable'

@description('PostgreSQL major version.')
@allowed([
  '14'
  '15'
  '16'
  '17'
])
param version string = '16'

@description('Provisioned storage in GiB (storage can grow, never shrink; autogrow moves it up these tiers).')
@allowed([
  32
  64
  128
  256
  512
  1024
  2048
  4096
  8192
  16384
  32767
])
param storageSizeGB int = 32

@description('Days of continuous backup kept for point-in-time restore.')
@minValue(7)
@maxValue(35)
param backupRetentionDays int = 7

@description('Geo-redundant backup storage. Can only be chosen when the server is created.')
@allowed([
  'Disabled'
  'Enabled'
])
param geoRedundantBackup string = 'Disabled'

@description('High availability mode. Not available on the Burstable tier.')
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param highAvailabilityMode string = 'Disabled'

@description('Database the app uses.')
param databaseName string = 'valerix'

@description('Add the "allow public access from any Azure service" firewall rule (0.0.0.0). Flex Consumption without a virtual network reaches the server through it.')
param allowAzureServices bool = true

@description('Object id of the deploying user or service principal, added as a second Entra administrator for migrations. Empty = none.')
param deployerObjectId string = ''

@description('Name of the deploying principal as PostgreSQL will know it: the user principal name of a user, the display name of a service principal.')
param deployerPrincipalName string = ''

@description('Principal type of the deployer.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string = 'User'

var addDeployerAdmin = !empty(deployerObjectId) && !empty(deployerPrincipalName)

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: version
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: tenant().tenantId
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup
    }
    highAvailability: {
      mode: highAvailabilityMode
    }
    network: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

resource allowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (allowAzureServices) {
  parent: server
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
  dependsOn: [
    database
  ]
}

resource deployerAdmin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = if (addDeployerAdmin) {
  parent: server
  name: addDeployerAdmin ? deployerObjectId : 'none'
  properties: {
    principalName: deployerPrincipalName
    principalType: deployerPrincipalType
    tenantId: tenant().tenantId
  }
  dependsOn: [
    database
    allowAzure
  ]
}

output id string = server.id
output name string = server.name
output fullyQualifiedDomainName string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
