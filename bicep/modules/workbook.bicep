// Azure Monitor Workbook: the 30-second green/red tile for the order API (KQL over `requests`) and charts of the
// custom metrics. The definition lives in bicep/workbook/valerix-workbook.json, which can be edited in the portal's
// Advanced Editor and pasted back; the placeholder __APPINSIGHTS_RESOURCE_ID__ is replaced with the real component.

@description('Azure region.')
param location string

@description('Tags applied to the workbook.')
param tags object = {}

@description('Resource id of the Application Insights component the workbook queries.')
param applicationInsightsId string

@description('Name shown in the Workbooks gallery (unique within the resource group).')
param displayName string = 'Valerix order pipeline'

var definition = loadTextContent('../workbook/valerix-workbook.json')

resource workbook 'Microsoft.Insights/workbooks@2022-04-01' = {
  name: guid(resourceGroup().id, applicationInsightsId, 'valerix-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    version: '1.0'
    serializedData: replace(definition, '__APPINSIGHTS_RESOURCE_ID__', applicationInsightsId)
  }
}

output id string = workbook.id
output name string = workbook.name
