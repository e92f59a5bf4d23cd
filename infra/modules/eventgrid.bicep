// Event Grid example: a system topic on the storage account and, once the app is published, a subscription
// that delivers `BlobCreated` events from the `aos-ingress` container to the function app's Event Grid
// trigger (function `eventgrid_ingress` by default), which publishes them into AOS as events.
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

@description('Create the event subscription (needs the function to be published first).')
param createSubscription bool = false

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: location
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (createSubscription) {
  parent: systemTopic
  name: 'aos-ingress-to-${functionName}'
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
  }
}

output systemTopicName string = systemTopic.name
output subscriptionCreated bool = createSubscription
