// Key Vault in RBAC mode (no access policies) with soft delete and purge protection. It holds secrets such as
// the OpenAI key; the function app reads them as Key Vault references with its managed identity (Key Vault
// Secrets User, see roles.bicep). Secrets are never written by this template: set them with
// `az keyvault secret set` so they do not pass through deployment parameters.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Key Vault name (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Days a deleted vault or secret stays recoverable.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:Key Vault references of a Flex Consumption app without VNet integration are not a trusted service, so a deny-by-default firewall would break them; access is RBAC-only
  // checkov:skip=CKV_AZURE_189:no VNet in this template; the Flex Consumption app reaches it over the public endpoint with Entra ID auth only (local auth off)
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
