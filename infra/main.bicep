// AOS on Azure: one resource group holding the function app (Flex Consumption, Python 3.11) and everything it
// talks to, wired with its system-assigned managed identity only. No key, SAS or connection string is created
// or stored: Storage, Service Bus and Cosmos DB have local auth disabled, Key Vault is RBAC-only and
// Application Insights accepts Entra-authenticated telemetry only.
//
//   az deployment group create -g RG -f infra/main.bicep -p infra/main.parameters.json
//   func azure functionapp publish <functionAppName output>
//
// or `azd up` (azure.yaml at the repository root). See infra/README.md.

targetScope = 'resourceGroup'

@description('Short name of this deployment (letters, digits, hyphens); part of every resource name and the azd-env-name tag.')
@minLength(2)
@maxLength(12)
param environmentName string = 'aos'

@description('Azure region of every resource (must offer Flex Consumption).')
param location string = resourceGroup().location

@description('Memory per function instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound of the function app\'s scale-out.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Always-ready instances per function group, e.g. [{ name: \'http\', instanceCount: 1 }]; empty: scale to zero.')
param alwaysReady array = []

@description('Storage redundancy: LRS is the cheapest; Standard_GZRS for production.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_LRS'

@description('Cosmos DB capacity: serverless (pay per request) or provisioned (autoscale throughput).')
@allowed([
  'serverless'
  'provisioned'
])
param cosmosCapacityMode string = 'serverless'

@description('Autoscale maximum RU/s when cosmosCapacityMode is provisioned.')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('OpenAI-compatible chat endpoint for `openai` brains (Azure OpenAI: https://NAME.openai.azure.com/openai/v1); empty: none.')
param openAiBaseUrl string = ''

@description('Default model / deployment name for `openai` brains.')
param openAiModel string = ''

@description('Key Vault secret holding that endpoint\'s key; set it with `az keyvault secret set` after provisioning.')
param openAiApiKeySecretName string = 'openai-api-key'

@description('Module prefixes `python` brains may import from (comma-separated; empty: any importable module).')
param pythonBrainModules string = ''

@description('Durable Functions task hub name.')
param taskHubName string = 'aos'

@description('Tenant of the bootstrap admin identity.')
param defaultTenant string = 'default'

@description('Entra ID tenant (GUID) whose access tokens AOS accepts beside API keys; they act in defaultTenant.')
param entraTenantId string = tenant().tenantId

@description('Accepted token audiences, comma-separated: the AOS app registration\'s client id (v2 tokens) and/or App ID URI (v1). Empty: Entra ID tokens are refused, API keys only.')
param entraAudience string = ''

@description('Further accepted Entra tenants, comma-separated <tid>=<aos-tenant>; tokens from other tenants are refused.')
param entraTenants string = ''

@description('Python log level of the AOS loggers.')
@allowed([
  'DEBUG'
  'INFO'
  'WARNING'
  'ERROR'
])
param logLevel string = 'INFO'

@description('Automatic restarts of a failed agent (each after an exponential backoff) before it stays failed.')
@minValue(0)
param agentRestartBudget int = 3

@description('Seconds before the first automatic restart of a failed agent; doubles with each restart.')
@minValue(1)
param agentRestartBackoffSeconds int = 60

@description('Log a warning (with what was running) when a worker\'s event loop falls this many ms behind; 0 turns the watch off.')
@minValue(0)
param loopLagWarnMs int = 100

@description('Event Grid trigger function of the app that receives storage events.')
param eventGridFunctionName string = 'eventgrid_ingress'

@description('Create the Event Grid subscription; the function must be published first (deploy again with true).')
param deployEventGridSubscription bool = false

@description('Object id of a user or group that operates the platform: gets Key Vault Secrets Officer. Empty: none.')
param operatorPrincipalId string = ''

@description('Principal type of operatorPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
// Resource names: lowercase letters, digits and hyphens fit every service used here.
var stem = toLower(environmentName)
var tags = {
  'azd-env-name': environmentName
  application: 'aos'
}
var functionAppName = 'func-${stem}-${token}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}'
var payloadsContainerName = 'aos-payloads'
var ingressContainerName = 'aos-ingress'
var deadLetterContainerName = 'aos-eventgrid-deadletter'
// Service Bus topics of the storage map: events in (read by the kernel), outbox out (drained by egress).
var eventsTopicName = 'aos-events'
var outboxTopicName = 'aos-outbox'
var kernelSubscriptionName = 'aos-kernel'
var egressSubscriptionName = 'aos-egress'

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${stem}-${token}'
    appInsightsName: 'appi-${stem}-${token}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    name: 'st${token}'
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    blobContainerNames: [
      payloadsContainerName
      ingressContainerName
      deadLetterContainerName
    ]
    queueNames: [
      eventsTopicName
      outboxTopicName
    ]
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    location: location
    tags: tags
    name: 'sb-${stem}-${token}'
    topics: [
      eventsTopicName
      outboxTopicName
    ]
    subscriptions: [
      {
        topic: eventsTopicName
        name: kernelSubscriptionName
      }
      {
        topic: outboxTopicName
        name: egressSubscriptionName
      }
    ]
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    location: location
    tags: tags
    name: 'cosmos-${stem}-${token}'
    databaseName: 'aos'
    capacityMode: cosmosCapacityMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    name: 'kv-${token}'
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    tags: tags
    name: functionAppName
    planName: 'plan-${stem}-${token}'
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReady: alwaysReady
    storageAccountName: storage.outputs.name
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultUri: keyVault.outputs.uri
    openAiApiKeySecretName: openAiApiKeySecretName
    openAiBaseUrl: openAiBaseUrl
    openAiModel: openAiModel
    pythonBrainModules: pythonBrainModules
    taskHubName: taskHubName
    serviceBusSubscriptionName: kernelSubscriptionName
    agentRestartBudget: agentRestartBudget
    agentRestartBackoffSeconds: agentRestartBackoffSeconds
    loopLagWarnMs: loopLagWarnMs
    defaultTenant: defaultTenant
    logLevel: logLevel
    entraTenantId: entraTenantId
    entraAudience: entraAudience
    entraTenants: entraTenants
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: functionApp.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    cosmosAccountName: cosmos.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  params: {
    location: location
    tags: tags
    systemTopicName: 'evgt-${stem}-${token}'
    storageAccountName: storage.outputs.name
    functionAppName: functionApp.outputs.name
    functionName: eventGridFunctionName
    sourceContainerName: ingressContainerName
    deadLetterContainerName: deadLetterContainerName
    createSubscription: deployEventGridSubscription
  }
}

output AZURE_LOCATION string = location
output FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_HOSTNAME string = functionApp.outputs.defaultHostName
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output FUNCTION_APP_PRINCIPAL_ID string = functionApp.outputs.principalId
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output KEYVAULT_NAME string = keyVault.outputs.name
output KEYVAULT_URI string = keyVault.outputs.uri
output APPINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output EVENTGRID_SYSTEM_TOPIC string = eventGrid.outputs.systemTopicName
