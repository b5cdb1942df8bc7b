// Service Bus namespace (Standard: queues with duplicate detection and dead-lettering) and the two queues the code
// uses (shared/messaging/contracts.ts QUEUES). SAS keys are disabled. The app's managed identity gets
// "Azure Service Bus Data Owner" on each queue, scoped to the queue, not the namespace: the Service Bus trigger's
// scaler reads the queue's runtime properties (message count), a management operation, and the Functions docs
// ("Azure Service Bus bindings for Azure Functions", identity-based connections) require Data Owner for the trigger
// for that reason. Data Owner includes the send and receive data actions, and the app sends to and receives from both
// queues (Orders sends OrderPlaced and receives results, Inventory the other way round, and each consumer schedules
// its delayed retries back onto the queue it reads), so no separate Sender or Receiver role is needed.

@description('Service Bus namespace name (6-50 characters).')
@minLength(6)
@maxLength(50)
param name string

@description('Azure region.')
param location string

@description('Tags applied to the namespace.')
param tags object = {}

@description('Queues to create. Names must match QUEUES in shared/messaging/contracts.ts.')
param queueNames array

@description('Deliveries before Service Bus dead-letters a message. The app reads the same number (MAX_DELIVERY_COUNT) to recognise the last attempt.')
@minValue(1)
@maxValue(100)
param maxDeliveryCount int

@description('How long a received message stays locked to one consumer (ISO 8601). Must exceed the slowest handler, gremlin delay included.')
param lockDuration string = 'PT1M'

@description('Window in which a re-sent message with the same messageId is dropped (ISO 8601). Duplicate detection can only be enabled when a queue is created.')
param duplicateDetectionHistoryTimeWindow string = 'PT10M'

@description('Time to live of a message that is never received (ISO 8601); expired messages are dead-lettered.')
param defaultMessageTimeToLive string = 'P14D'

@description('Principal (object) id of the Function App managed identity.')
param appPrincipalId string

// Built-in role definition ids.
var serviceBusDataOwnerRoleId = '090c5cfd-751d-490a-894a-3ce6f1109419' // Azure Service Bus Data Owner

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true // no SAS keys / connection strings: Entra ID only
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// Every queue gets exactly the same, deliberate settings.
resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queueName in queueNames: {
    parent: namespace
    name: queueName
    properties: {
      requiresDuplicateDetection: true // cannot be switched on after creation
      duplicateDetectionHistoryTimeWindow: duplicateDetectionHistoryTimeWindow
      maxDeliveryCount: maxDeliveryCount
      lockDuration: lockDuration
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: defaultMessageTimeToLive
      requiresSession: false
      enablePartitioning: false
      enableBatchedOperations: true
      maxSizeInMegabytes: 1024
    }
  }
]

resource ownerAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (queueName, i) in queueNames: {
    name: guid(queues[i].id, appPrincipalId, serviceBusDataOwnerRoleId)
    scope: queues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwnerRoleId)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

output id string = namespace.id
output name string = namespace.name
// serviceBusEndpoint looks like https://<name>.servicebus.windows.net:443/ ; the SDK and the trigger want the host.
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
output queueNames array = [for (queueName, i) in queueNames: queues[i].name]
