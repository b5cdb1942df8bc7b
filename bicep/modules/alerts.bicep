// Alert rules and the action group that emails about them.
//
// - Latency: a metric alert on Application Insights `requests/duration`, average over the shortest window Azure
//   Monitor metric alerts accept (PT1M, evaluated every minute). Azure cannot alert on a 30-second window; the
//   30-second green/red signal lives in the Workbook and in GET /api/stats. `requests` in a Function App includes
//   every invocation (queue triggers too), so a gremlin delay in Inventory also raises this alert, which is intended.
// - Dead letters, two views: the broker's own count of dead-lettered messages per queue (Service Bus platform
//   metric) and the app's `valerix.messages.dead_letters` custom metric (messages it dead-lettered).

@description('Azure region for the log alert (metric alerts and action groups are global).')
param location string

@description('Tags applied to the rules.')
param tags object = {}

@description('Prefix for rule names.')
param namePrefix string

@description('Resource id of the Application Insights component.')
param applicationInsightsId string

@description('Resource id of the Service Bus namespace.')
param serviceBusNamespaceId string

@description('Queues whose dead-letter sub-queues are watched.')
param queueNames array

@description('Latency threshold in ms (the same value as LATENCY_RED_THRESHOLD_MS).')
param latencyThresholdMs int

@description('Email address that receives alerts. Empty = rules are created without notifications.')
param alertEmail string = ''

@description('Metric name of the dead-letter counter (shared/telemetry/metric-names.ts METRICS.deadLetters).')
param deadLetterMetricName string

var notify = !empty(alertEmail)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (notify) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'valerix' // at most 12 characters
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var metricAlertActions = notify ? [{ actionGroupId: actionGroup.id }] : []

resource latencyAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-request-duration'
  location: 'global'
  tags: tags
  properties: {
    description: 'Average server response time of the Function App above ${latencyThresholdMs} ms over 1 minute (the shortest window metric alerts support).'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT1M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'AverageRequestDuration'
          metricNamespace: 'microsoft.insights/components'
          metricName: 'requests/duration'
          operator: 'GreaterThan'
          threshold: latencyThresholdMs
          timeAggregation: 'Average'
        }
      ]
    }
    autoMitigate: true
    actions: metricAlertActions
  }
}

resource brokerDeadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-servicebus-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'A queue holds dead-lettered messages (delivery attempts exhausted or expired).'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: queueNames
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: metricAlertActions
  }
}

resource appDeadLetterAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-app-dead-letters'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Valerix: messages dead-lettered by the app'
    description: 'The app dead-lettered messages (failed validation or exhausted deliveries) in the last 5 minutes; the affected orders are marked failed.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'customMetrics\n| where name == "${deadLetterMetricName}"\n| summarize DeadLetters = sum(valueSum)'
          timeAggregation: 'Total'
          metricMeasureColumn: 'DeadLetters'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: notify ? [actionGroup.id] : []
    }
  }
}

output actionGroupId string = notify ? actionGroup.id : ''
output latencyAlertId string = latencyAlert.id
