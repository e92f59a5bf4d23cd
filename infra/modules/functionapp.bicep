// The AOS function app on Flex Consumption (Linux, Python 3.11) with a system-assigned managed identity.
//
// Every app setting the platform gets is listed in `appSettings` below, in one literal array: the test
// tests/infra/test_settings_agree.py reads it and fails on a setting the code reads but this list never sets,
// or one this list sets but no code reads. Connections are identity-based (`<Connection>__accountName`,
// `__fullyQualifiedNamespace`, `__accountEndpoint`); no key or connection string appears here.
// Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE and
// the content-share settings: runtime and version live in `functionAppConfig.runtime` instead.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Function app name (also its default hostname prefix).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Blob container URL the app package is deployed to (Flex Consumption deployment storage).')
param deploymentContainerUrl string

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound of scale-out (Flex Consumption allows 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Always-ready instances per function group, e.g. [{ name: \'http\', instanceCount: 1 }]. Empty: scale to zero.')
param alwaysReady array = []

@description('Storage account of AzureWebJobsStorage (host state, Durable Functions task hub).')
param storageAccountName string

@description('Application Insights connection string (no secret in it).')
param appInsightsConnectionString string

@description('Cosmos DB account endpoint.')
param cosmosEndpoint string

@description('Cosmos DB database name.')
param cosmosDatabaseName string

@description('Service Bus fully qualified namespace (NAME.servicebus.windows.net).')
param serviceBusFullyQualifiedNamespace string

@description('Key Vault URI (https://NAME.vault.azure.net/).')
param keyVaultUri string

@description('Name of the Key Vault secret holding the OpenAI-compatible endpoint key.')
param openAiApiKeySecretName string

@description('Key Vault secret holding the bootstrap admin API key (at least 16 characters).')
param adminKeySecretName string = 'aos-admin-key'

@description('OpenAI-compatible chat endpoint for `openai` brains; empty disables them.')
param openAiBaseUrl string

@description('Default model / deployment name for `openai` brains.')
param openAiModel string

@description('Module prefixes `python` brains may import from (comma-separated; empty: any).')
param pythonBrainModules string

@description('Durable Functions task hub name.')
param taskHubName string

@description('Subscription of topic aos-events the Service Bus trigger reads.')
param serviceBusSubscriptionName string

@description('Automatic restarts of a failed agent before it stays failed.')
param agentRestartBudget int

@description('Seconds before the first automatic restart of a failed agent (doubles each time).')
param agentRestartBackoffSeconds int

@description('Event-loop lag (ms) past which a worker logs what held its loop; 0: off.')
param loopLagWarnMs int

@description('Tenant of the bootstrap admin identity.')
param defaultTenant string

@description('Python log level of the AOS loggers.')
param logLevel string

@description('Entra ID tenant (GUID) whose access tokens AOS accepts beside API keys.')
param entraTenantId string

@description('Accepted token audiences, comma-separated: the AOS app registration\'s client id and/or App ID URI. Empty: Entra ID tokens are refused.')
param entraAudience string

@description('Further accepted Entra tenants, comma-separated <tid>=<aos-tenant>. Empty: only entraTenantId.')
param entraTenants string

var appSettings = [
  // Host storage and the Durable Functions task hub, through the managed identity.
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
  {
    name: 'AOS_EVENT_TRANSPORT'
    value: 'servicebus'
  }
  {
    name: 'AOS_TASK_HUB'
    value: taskHubName
  }
  // Telemetry: the connection string carries no secret; ingestion is authenticated with Entra ID.
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'Authorization=AAD'
  }
  // AOS backends.
  {
    name: 'AOS_BACKEND'
    value: 'azure'
  }
  {
    name: 'CosmosConnection__accountEndpoint'
    value: cosmosEndpoint
  }
  {
    name: 'AOS_COSMOS_DATABASE'
    value: cosmosDatabaseName
  }
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBusFullyQualifiedNamespace
  }
  {
    name: 'AOS_SERVICEBUS_SUBSCRIPTION'
    value: serviceBusSubscriptionName
  }
  {
    name: 'AOS_KEYVAULT_URI'
    value: keyVaultUri
  }
  // Platform behaviour.
  {
    name: 'AOS_DEFAULT_TENANT'
    value: defaultTenant
  }
  {
    name: 'AOS_LOG_LEVEL'
    value: logLevel
  }
  {
    name: 'AOS_PYTHON_BRAIN_MODULES'
    value: pythonBrainModules
  }
  {
    name: 'AOS_RESTART_BUDGET'
    value: string(agentRestartBudget)
  }
  {
    name: 'AOS_RESTART_BACKOFF_S'
    value: string(agentRestartBackoffSeconds)
  }
  {
    name: 'AOS_LOOP_LAG_WARN_MS'
    value: string(loopLagWarnMs)
  }
  // Entra ID bearer tokens beside API keys (issuer, audience, signature checked by AOS itself).
  {
    name: 'AOS_ENTRA_TENANT_ID'
    value: entraTenantId
  }
  {
    name: 'AOS_ENTRA_AUDIENCE'
    value: entraAudience
  }
  {
    name: 'AOS_ENTRA_TENANTS'
    value: entraTenants
  }
  // Brains: the key is a Key Vault reference resolved by the platform with the app's identity.
  {
    name: 'AOS_OPENAI_BASE_URL'
    value: openAiBaseUrl
  }
  {
    name: 'AOS_OPENAI_MODEL'
    value: openAiModel
  }
  {
    name: 'AOS_OPENAI_API_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${openAiApiKeySecretName})'
  }
  // The first admin API key: set the secret before calling the API (see infra/README.md).
  {
    name: 'AOS_ADMIN_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${adminKeySecretName})'
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:zone redundancy on Flex Consumption needs always-ready instances in every zone, which ends scale to zero; opt in for production
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:the AOS system-call API and MCP endpoints are public by design; every request needs a bearer token (Entra ID JWT)
  // checkov:skip=CKV_AZURE_17:callers authenticate with bearer tokens; client certificates would shut out MCP clients and curl
  // checkov:skip=CKV_AZURE_212:scale to zero is the design (idle agents cost nothing); raise alwaysReady to keep instances warm
  // checkov:skip=CKV_AZURE_213:Flex Consumption does not run App Service health checks; instances come and go with load
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: 'SystemAssigned'
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReady
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      appSettings: appSettings
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      cors: {
        allowedOrigins: []
      }
    }
  }
}

output name string = site.name
output id string = site.id
output principalId string = site.identity.principalId
output defaultHostName string = site.properties.defaultHostName
