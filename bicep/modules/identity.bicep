// User-assigned managed identity used by the Function App for everything it touches: host storage, the deployment
// container, Service Bus, PostgreSQL (as an Entra role) and Application Insights (Entra ingestion).
// A user-assigned identity (rather than system-assigned) exists before the app does, so role assignments and the
// PostgreSQL administrator entry can be created first and the app starts with working permissions.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
