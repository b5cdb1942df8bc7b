// Function App on the Flex Consumption plan (FC1), following Azure-Samples/functions-quickstart-typescript-azd:
// Linux, runtime and scale settings in functionAppConfig (no FUNCTIONS_WORKER_RUNTIME / WEBSITE_RUN_FROM_PACKAGE
// app settings on Flex), the deployment package in a blob container read with the user-assigned identity, and
// identity-based connections only. The app settings themselves are assembled in main.bicep (one block, checked by
// test/unit/bicep-template.test.ts) and passed in unchanged.

@description('Function App name (globally unique; becomes <name>.azurewebsites.net).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region (must offer Flex Consumption).')
param location string

@description('Tags applied to the plan and the app.')
param tags object = {}

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Blob endpoint of the storage account, e.g. https://<account>.blob.core.windows.net/.')
param storageBlobEndpoint string

@description('Container that holds the deployment package.')
param deploymentContainerName string

@description('Language runtime.')
param runtimeName string = 'node'

@description('Language runtime version.')
param runtimeVersion string = '22'

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on instances. Keep instances x DATABASE_POOL_MAX under the PostgreSQL connection limit.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@description('Subnet for outbound virtual network integration (private networking); empty = none.')
param virtualNetworkSubnetId string = ''

@description('App settings (name -> string value). Replaces every setting on the app.')
param appSettings object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

@description('CUSTOMER_AUTH=appservice: turn App Service authentication with Entra ID on.')
param appServiceAuth bool = false

@description('appservice: application (client) id of the Entra app registration.')
param authClientId string = ''

@description('appservice: the Entra issuer, https://login.microsoftonline.com/<tenant>/v2.0.')
param authOpenIdIssuer string = ''

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: runtimeName
        version: runtimeVersion
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: appSettings
  }

  // App Service authentication (Easy Auth) with Entra ID, in front of the app for CUSTOMER_AUTH=appservice. Requests
  // without a sign-in are let through (AllowAnonymous) so that the app answers its own 401 problem documents and
  // anonymous routes (health, inventory, the page) stay anonymous. No client secret: the sign-in at /.auth/login/aad
  // uses the ID-token flow, which the app registration must allow (docs/deploy.md).
  resource auth 'config' = if (appServiceAuth) {
    name: 'authsettingsV2'
    properties: {
      platform: {
        enabled: true
      }
      globalValidation: {
        requireAuthentication: false
        unauthenticatedClientAction: 'AllowAnonymous'
      }
      httpSettings: {
        requireHttps: true
      }
      identityProviders: {
        azureActiveDirectory: {
          enabled: true
          registration: {
            clientId: authClientId
            openIdIssuer: authOpenIdIssuer
          }
          validation: {
            allowedAudiences: [
              'api://${authClientId}'
              authClientId
            ]
          }
        }
      }
      login: {
        tokenStore: {
          enabled: true
        }
      }
    }
  }

  // No publishing with user names and passwords (FTP or SCM basic auth): deployments authenticate with Entra ID.
  resource ftpCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }
}

output id string = functionApp.id
output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
output url string = 'https://${functionApp.properties.defaultHostName}'
