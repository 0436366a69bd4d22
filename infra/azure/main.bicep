// launchq on Azure: one Function App (functions/azure/function_app.py: api, dispatcher,
// reconciler) on the Flex Consumption plan, its state in Azure Tables, the Service Bus doorbell,
// ACR for images built from code, Application Insights. Every data-plane access is the Function
// App's managed identity (no keys in app settings); tests/unit/test_azure_infra.py checks this
// file against the code it deploys, and checkov scans it (`make test`).
//
//   az deployment group create -g <group> -f infra/azure/main.bicep -p infra/azure/main.parameters.json

targetScope = 'resourceGroup'

@description('Where everything goes.')
param location string = resourceGroup().location

@description('Prefix of every resource name (letters and digits, 3-11).')
@minLength(3)
@maxLength(11)
param name string = 'launchq'

@description('The Service Bus doorbell queue (the trigger reads it from LAUNCHQ_DOORBELL_QUEUE).')
param doorbellQueue string = 'launchq-doorbell'

@description('Tables are <tablePrefix><kind> (launchq.adapters.stores.azure_tables_entities.TABLES).')
param tablePrefix string = 'launchq'

@description('Entity of queues created without one.')
param entity string = 'default'

@description('An AKS cluster in this resource group that runs jobs (and Kaniko builds); empty: none.')
param aksClusterName string = ''

@description('The ACR repository images built from code go to (with aksClusterName: builds on).')
param imageRepository string = 'launchq'

@description('Maximum instances of the Function App (Flex Consumption).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

var suffix = uniqueString(resourceGroup().id, name)
var storageName = toLower('${name}${take(suffix, 13)}')
var builds = !empty(aksClusterName)
// launchq.adapters.stores.azure_tables_entities.TABLES
var tableKinds = ['runs', 'runindex', 'queues', 'jobs', 'schedules', 'apikeys', 'tails']
var roles = {
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  acrPush: '8311e382-0749-4cb8-b61a-304f252e45ec'
  aksClusterUser: '4abbcc35-e782-43d8-92c5-2d3f1bd2253f'
  aksRbacWriter: 'a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// -- monitoring ---------------------------------------------------------------------------------
resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${name}-logs-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 90
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${name}-insights-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true // telemetry is sent with the managed identity (Monitoring Metrics Publisher)
  }
}

// -- storage: the state (tables), the app's package and build contexts (blobs) -----------------------
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:a Flex Consumption app without VNet integration reaches its storage over the public endpoint; access is Entra ID only (shared keys off unless builds are on)
  //checkov:skip=CKV_AZURE_59:same: public endpoint, Entra ID (RBAC) access only, no anonymous blob access
  //checkov:skip=CKV_AZURE_43:the name is toLower(<name 3-11><13 hex>), 3-24 lowercase letters and digits by construction; checkov cannot evaluate the expression
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_GRS' } // the state store survives a regional outage
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Kaniko reads build contexts with the account key only (kaniko_context_azure.py): shared
    // keys stay off unless builds are on.
    allowSharedKeyAccess: builds
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow' // a Flex Consumption app without a VNet reaches its storage publicly
      bypass: 'AzureServices'
    }
    encryption: {
      requireInfrastructureEncryption: true
      keySource: 'Microsoft.Storage'
      services: {
        blob: { enabled: true }
        file: { enabled: true }
        table: { enabled: true, keyType: 'Account' }
        queue: { enabled: true, keyType: 'Account' }
      }
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource deployments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'deployments'
  properties: { publicAccess: 'None' }
}

resource buildContexts 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: 'build-contexts'
  properties: { publicAccess: 'None' }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for kind in tableKinds: {
    parent: tableService
    name: '${tablePrefix}${kind}'
  }
]

// -- the doorbell ---------------------------------------------------------------------------------
resource bus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${name}-bus-${suffix}'
  location: location
  sku: { name: 'Standard', tier: 'Standard' } // duplicate detection needs Standard or Premium
  properties: {
    minimumTlsVersion: '1.2'
    disableLocalAuth: true // Entra ID only: no SAS keys to leak
    publicNetworkAccess: 'Enabled'
  }
}

resource doorbell 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: bus
  name: doorbellQueue
  properties: {
    requiresDuplicateDetection: true // rings of one queue in one second share a message id
    duplicateDetectionHistoryTimeWindow: 'PT1M'
    maxDeliveryCount: 10 // then dead-lettered: `launchq dlq drain --from sb://<namespace>/<queue>`
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P1D'
    lockDuration: 'PT5M'
    requiresSession: false
    enablePartitioning: false
  }
}

// -- images ---------------------------------------------------------------------------------------
resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  //checkov:skip=CKV_AZURE_166:quarantine is a Premium feature; launchq pushes images it built itself from a content-hashed plan
  //checkov:skip=CKV_AZURE_139:the Function App (no VNet) and the AKS nodes pull and push over the public endpoint, with Entra tokens; use Premium + private endpoints to close it
  name: toLower('${name}acr${take(suffix, 8)}')
  location: location
  sku: { name: 'Standard' }
  properties: {
    adminUserEnabled: false // pushes use Entra tokens exchanged for ACR refresh tokens (acr.py)
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
    policies: {
      retentionPolicy: { status: 'disabled', days: 7 }
    }
  }
}

// -- the Function App -------------------------------------------------------------------------------
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Flex Consumption zone redundancy is offered in some regions only; set zoneRedundant where it is
  name: '${name}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: {
    reserved: true // Linux
  }
}

// Every LAUNCHQ_* name is an AzureSettings field (tests/unit/test_azure_infra.py)
var launchqSettings = [
  { name: 'AzureWebJobsStorage__accountName', value: storage.name }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
  { name: 'LAUNCHQ_SERVICEBUS__fullyQualifiedNamespace', value: '${bus.name}.servicebus.windows.net' }
  { name: 'LAUNCHQ_DOORBELL_QUEUE', value: doorbell.name }
  { name: 'LAUNCHQ_TABLE_ENDPOINT', value: storage.properties.primaryEndpoints.table }
  { name: 'LAUNCHQ_TABLE_PREFIX', value: tablePrefix }
  { name: 'LAUNCHQ_AUTH', value: 'keys' }
  { name: 'LAUNCHQ_ENTITY', value: entity }
]

// aks.id is only a resourceId() string: nothing is looked up while builds are off
var buildSettings = [
  { name: 'LAUNCHQ_IMAGE_REPOSITORY', value: '${registry.properties.loginServer}/${imageRepository}' }
  { name: 'LAUNCHQ_BUILD_CLUSTER', value: aks.id }
  { name: 'LAUNCHQ_BUILD_CONTEXT_STORE', value: '${storage.properties.primaryEndpoints.blob}build-contexts/' }
]

resource app 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222:the API is for callers outside Azure (the launchq CLI); every request needs a launchq API key (LAUNCHQ_AUTH=keys)
  //checkov:skip=CKV_AZURE_17:callers authenticate with launchq API keys (roles, entities), not client certificates
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero; the doorbell and the timer wake it, and always-ready instances are a cost choice
  //checkov:skip=CKV_AZURE_213:GET /healthz is public for an external probe; an App Service health check would keep instances of a scale-to-zero plan busy
  name: '${name}-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deployments.name}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: concat(launchqSettings, builds ? buildSettings : [])
    }
  }
}

// -- what the Function App's identity may do ------------------------------------------------------
resource aks 'Microsoft.ContainerService/managedClusters@2024-09-01' existing = if (builds) {
  name: builds ? aksClusterName : 'none'
}

var storageRoles = [roles.storageTableDataContributor, roles.storageBlobDataOwner, roles.storageQueueDataContributor]

resource storageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: {
    scope: storage
    name: guid(storage.id, app.id, role)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: app.identity.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource doorbellAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.serviceBusDataSender, roles.serviceBusDataReceiver]: {
    scope: doorbell
    name: guid(doorbell.id, app.id, role)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: app.identity.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource registryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: registry
  name: guid(registry.id, app.id, roles.acrPush)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPush)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource telemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, app.id, roles.monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource clusterAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in (builds ? [roles.aksClusterUser, roles.aksRbacWriter] : []): {
    scope: aks
    name: guid(aksClusterName, app.id, role)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: app.identity.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

output apiUrl string = 'https://${app.properties.defaultHostName}'
output functionAppName string = app.name
output serviceBusQueue string = 'sb://${bus.name}.servicebus.windows.net/${doorbell.name}'
output registryLoginServer string = registry.properties.loginServer
output tableEndpoint string = storage.properties.primaryEndpoints.table
