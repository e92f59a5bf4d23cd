// Cosmos DB for NoSQL holding the AOS storage map (see shared DESIGN.md): `agents` (/tenant), `runtime`
// (/agentKey: mailbox, step journal, outbox), `context` (/agentKey: context blocks and journal) and `audit`
// (/tenant, hash-chained). Serverless by default: an idle platform costs storage only. Keys are disabled;
// the function app gets the data-plane role through a sqlRoleAssignment (see roles.bicep).

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Cosmos DB account name.')
param name string

@description('Database name (app setting AOS_COSMOS_DATABASE).')
param databaseName string = 'aos'

@description('Containers and their partition key paths.')
param containers array = [
  {
    name: 'agents'
    partitionKey: '/tenant'
  }
  {
    name: 'runtime'
    partitionKey: '/agentKey'
  }
  {
    name: 'context'
    partitionKey: '/agentKey'
  }
  {
    name: 'audit'
    partitionKey: '/tenant'
  }
]

@description('serverless: pay per request (default). provisioned: shared autoscale throughput on the database.')
@allowed([
  'serverless'
  'provisioned'
])
param capacityMode string = 'serverless'

@description('Autoscale maximum RU/s of the database when capacityMode is provisioned.')
@minValue(1000)
param autoscaleMaxThroughput int = 1000

var serverless = capacityMode == 'serverless'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  // checkov:skip=CKV_AZURE_101:no VNet in this template; the Flex Consumption app reaches it over the public endpoint with Entra ID auth only (local auth off)
  // checkov:skip=CKV_AZURE_99:outbound IPs of Flex Consumption instances are not fixed, so an IP filter cannot admit them; data access is Entra ID only (disableLocalAuth)
  // checkov:skip=CKV_AZURE_100:customer-managed keys add a Key Vault key and its rotation for no gain at this tier; data is encrypted at rest with Microsoft-managed keys
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: serverless ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: serverless ? {} : {
      autoscaleSettings: {
        maxThroughput: autoscaleMaxThroughput
      }
    }
  }
}

resource containerResources 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for c in containers: {
  parent: database
  name: c.name
  properties: {
    resource: {
      id: c.name
      partitionKey: {
        paths: [
          c.partitionKey
        ]
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            path: '/"_etag"/?'
          }
        ]
      }
    }
  }
}]

output name string = account.name
output id string = account.id
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
