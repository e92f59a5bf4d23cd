// Service Bus namespace with the two AOS topics: `aos-events` (ingress, read by the kernel through the
// `aos-kernel` subscription) and `aos-outbox` (egress, drained through `aos-egress`). Local (SAS) auth is
// disabled: the function app connects with its managed identity via
// ServiceBusConnection__fullyQualifiedNamespace.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Service Bus namespace name.')
param name string

@description('Topic names.')
param topics array = [
  'aos-events'
  'aos-outbox'
]

@description('Subscriptions, each on one of `topics`.')
param subscriptions array = [
  {
    topic: 'aos-events'
    name: 'aos-kernel'
  }
  {
    topic: 'aos-outbox'
    name: 'aos-egress'
  }
]

@description('Window in which a message with a repeated MessageId is dropped (ISO 8601 duration).')
param duplicateDetectionWindow string = 'PT10M'

@description('How long an undelivered message lives before it is dead-lettered (ISO 8601 duration).')
param messageTimeToLive string = 'P14D'

@description('Deliveries before a message is dead-lettered.')
param maxDeliveryCount int = 10

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource topicResources 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = [for t in topics: {
  parent: namespace
  name: t
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    supportOrdering: false
    maxSizeInMegabytes: 1024
  }
}]

resource subscriptionResources 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = [for s in subscriptions: {
  name: '${namespace.name}/${s.topic}/${s.name}'
  properties: {
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    defaultMessageTimeToLive: messageTimeToLive
    lockDuration: 'PT1M'
    maxDeliveryCount: maxDeliveryCount
    enableBatchedOperations: true
  }
  dependsOn: [
    topicResources
  ]
}]

output name string = namespace.name
output id string = namespace.id
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
