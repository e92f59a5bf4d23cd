// Event Grid example: a system topic on the storage account and, once the app is published, a subscription
// that delivers `BlobCreated` events from the `aos-ingress` container to the function app's Event Grid
// trigger (function `eventgrid_ingress` by default), which publishes them into AOS as events.
//
// Events Event Grid gives up on (after the retry policy) are dead-lettered as blobs into
// `deadLetterContainerName`, written with the system topic's own managed identity.
//
// Event Grid validates an AzureFunction destination when the subscription is created, so the function must
// already exist: deploy once with createSubscription=false (the default), publish the app, then deploy
// again with createSubscription=true.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('System topic name.')
param systemTopicName string

@description('Storage account whose events the system topic carries.')
param storageAccountName string

@description('Function app receiving the events.')
param functionAppName string

@description('Name of the Event Grid trigger function in function_app.py.')
param functionName string = 'eventgrid_ingress'

@description('Blob container whose new blobs become AOS events.')
param sourceContainerName string = 'aos-ingress'

@description('Blob container receiving events that could not be delivered.')
param deadLetterContainerName string = 'aos-eventgrid-deadletter'

@description('Create the event subscription (needs the function to be published first).')
param createSubscription bool = false

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${storageAccountName}/default/${deadLetterContainerName}'
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// Storage Blob Data Contributor on the dead-letter container only.
resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, systemTopic.id, 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  scope: deadLetterContainer
  properties: {
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  }
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (createSubscription) {
  parent: systemTopic
  // Event subscription names allow letters, digits and hyphens only.
  name: 'aos-ingress-to-${replace(functionName, '_', '-')}'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionApp.id}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${sourceContainerName}/'
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
  dependsOn: [
    deadLetterWriter
  ]
}

output systemTopicName string = systemTopic.name
output subscriptionCreated bool = createSubscription
